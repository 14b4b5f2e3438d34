"""Shared fixtures: the real FlexMeasures stack with the users and sensors of the seed."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest

logging.getLogger("openleadr").setLevel(logging.WARNING)

REPO_ROOT = Path(__file__).resolve().parents[3]
FLEXMEASURES_LOCAL = REPO_ROOT / "tests" / "support" / "flexmeasures_local.py"
VEN_EMAIL = "openadr-ven@digitribe.fr"
SIMULATOR_EMAIL = "simulator@digitribe.fr"

S2_BATTERIES = [f"battery_{n:02d}" for n in range(1, 6)]
S2_EVS = [f"ev_{n:02d}" for n in range(1, 6)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _load_flexmeasures_local() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flexmeasures_local", FLEXMEASURES_LOCAL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["flexmeasures_local"] = module
    spec.loader.exec_module(module)
    return module


def seed_sensors() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """The seed's sensors the data sources write (roles/flexmeasures/defaults/main/sensors.yml)."""
    wanted: dict[str, tuple[str, str, dict[str, Any]]] = {
        "irradiance": ("W/m²", "PT15M", {}),
        "temperature": ("°C", "PT0H", {}),
        "wind_speed": ("m/s", "PT0H", {}),
        "production_price": ("EUR/MWh", "PT15M", {}),
        "consumption_price": ("EUR/MWh", "PT15M", {}),
        "load_control_signal": ("%", "PT15M", {}),
        "demand_response_signal": ("dimensionless", "PT15M", {}),
    }
    for n in range(1, 11):
        wanted[f"pv_{n:02d}_power"] = ("kW", "PT15M", {"consumption_is_positive": False})
        wanted[f"bat_{n:02d}_power"] = ("kWh", "PT0H", {})
        wanted[f"ev_{n:02d}_power"] = ("kWh", "PT0H", {})
    for n in range(1, 6):
        wanted[f"bat_{n:02d}_s2_power"] = ("kW", "PT15M", {"consumption_is_positive": True})
        wanted[f"ev_{n:02d}_s2_power"] = ("kW", "PT15M", {"consumption_is_positive": True})
    return wanted


class FlexMeasuresSite:
    def __init__(self, stack: Any, workdir: Path) -> None:
        self.stack = stack
        self.password_files: dict[str, Path] = {}
        for email in (VEN_EMAIL, SIMULATOR_EMAIL):
            password = secrets.token_urlsafe(16)
            path = workdir / email.split("@")[0]
            path.write_text(password + "\n")
            path.chmod(0o600)
            self.password_files[email] = path
            self._add_user(email, password)
        self.units: dict[str, str] = {}
        self.sensors = self._create_sensors()

    def _add_user(self, email: str, password: str) -> None:
        # As the role does: the CLI, password on stdin, never on the command line.
        result = subprocess.run(
            [
                str(Path(self.stack.venv) / "bin" / "flexmeasures"),
                "add",
                "user",
                "--username",
                email.split("@")[0],
                "--email",
                email,
                "--account",
                str(self.stack.account_id),
                "--timezone",
                "Europe/Paris",
            ],
            input=f"{password}\n{password}\n",
            env=self.stack._fm_env(),
            cwd=str(self.stack.workdir),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]

    def _create_sensors(self) -> dict[str, int]:
        token = self.stack.token()
        status, types = self.stack.api("GET", "/api/v3_0/assets/types", token=token)
        assert status == 200, types
        status, asset = self.stack.api(
            "POST",
            "/api/v3_0/assets",
            {
                "name": "Cariflex",
                "generic_asset_type_id": types[0]["id"],
                "account_id": self.stack.account_id,
                "latitude": 48.85,
                "longitude": 2.35,
            },
            token=token,
        )
        assert status == 201, asset
        sensors = {}
        for name, (unit, resolution, attributes) in seed_sensors().items():
            body: dict[str, Any] = {
                "name": name,
                "unit": unit,
                "event_resolution": resolution,
                "generic_asset_id": asset["id"],
            }
            if attributes:
                body["attributes"] = json.dumps(attributes)
            status, sensor = self.stack.api("POST", "/api/v3_0/sensors", body, token=token)
            assert status == 201, (name, sensor)
            sensors[name] = int(sensor["id"])
            self.units[name] = unit
        return sensors

    def values(
        self, sensor_name: str, start: str, duration: str, resolution: str = ""
    ) -> list[float | None]:
        """What FlexMeasures' API gives back, read as the admin."""
        fields = {"start": start, "duration": duration, "unit": self.units[sensor_name]}
        if resolution:
            fields["resolution"] = resolution
        query = urlencode(fields)
        status, body = self.stack.api(
            "GET",
            f"/api/v3_0/sensors/{self.sensors[sensor_name]}/data?{query}",
            token=self.stack.token(),
        )
        assert status == 200, body
        return list(body["values"])


@pytest.fixture(scope="session")
def flexmeasures_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlexMeasuresSite]:
    if os.environ.get("CARIFLEX_SIMULATOR_SKIP_FLEXMEASURES") == "1":
        pytest.skip("CARIFLEX_SIMULATOR_SKIP_FLEXMEASURES=1")
    stack = _load_flexmeasures_local().FlexMeasuresLocal.start()
    try:
        yield FlexMeasuresSite(stack, tmp_path_factory.mktemp("fm-secrets"))
    finally:
        stack.close()
