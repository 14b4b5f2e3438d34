"""Shared fixtures: loopback ports, configuration files, and the real FlexMeasures stack."""

from __future__ import annotations

import importlib.util
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

import pytest

# openleadr logs every XML message at INFO: too much to read a failure's log.
logging.getLogger("openleadr").setLevel(logging.WARNING)

REPO_ROOT = Path(__file__).resolve().parents[3]
FLEXMEASURES_LOCAL = REPO_ROOT / "tests" / "support" / "flexmeasures_local.py"
VEN_EMAIL = "openadr-ven@digitribe.fr"

SEED_RESOURCES = [(f"battery_{n:02d}", -50.0, 50.0) for n in range(1, 6)] + [
    (f"ev_{n:02d}", -22.0, 22.0) for n in range(1, 6)
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _load_flexmeasures_local() -> ModuleType:
    # Imported by path: this suite's own `tests` folder would shadow the repository's.
    spec = importlib.util.spec_from_file_location("flexmeasures_local", FLEXMEASURES_LOCAL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["flexmeasures_local"] = module
    spec.loader.exec_module(module)
    return module


class FlexMeasuresSite:
    """The real FlexMeasures stack plus what the VEN needs in it: its user and its sensors."""

    def __init__(self, stack: Any, workdir: Path) -> None:
        self.stack = stack
        self.ven_password = secrets.token_urlsafe(16)
        self.password_file = workdir / "fm_password"
        self.password_file.write_text(self.ven_password + "\n")
        self.password_file.chmod(0o600)
        self._create_ven_user()
        self.sensors = self._create_sensors()

    def _create_ven_user(self) -> None:
        # FlexMeasures' API cannot set a password (it mails a reset link): use its CLI, with the
        # password on stdin, never on the command line.
        flexmeasures = Path(self.stack.venv) / "bin" / "flexmeasures"
        result = subprocess.run(
            [
                str(flexmeasures),
                "add",
                "user",
                "--username",
                "openadr-ven",
                "--email",
                VEN_EMAIL,
                "--account",
                str(self.stack.account_id),
                "--timezone",
                "Europe/Paris",
            ],
            input=f"{self.ven_password}\n{self.ven_password}\n",
            env=self.stack._fm_env(),
            cwd=str(self.stack.workdir),  # FlexMeasures writes flexmeasures.log where it runs
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
        type_id = next((t["id"] for t in types if t["name"] == "battery"), types[0]["id"])
        status, asset = self.stack.api(
            "POST",
            "/api/v3_0/assets",
            {
                "name": "Cariflex site",
                "generic_asset_type_id": type_id,
                "account_id": self.stack.account_id,
                "latitude": 16.24,
                "longitude": -61.53,
            },
            token=token,
        )
        assert status == 201, asset
        wanted = {
            "consumption_price": ("EUR/MWh", "PT1H", {}),
            "load_control_signal": ("%", "PT15M", {}),
            "demand_response_signal": ("dimensionless", "PT15M", {}),
        }
        for resource_id, _, _ in SEED_RESOURCES:
            # Instantaneous, as production's bat_XX_power / ev_XX_power state-of-charge sensors.
            wanted[f"{resource_id}_soc"] = ("kWh", "PT0H", {})
            # battery_01's sensor says the opposite of the VEN's configuration (false for all):
            # the tests show the sensor's own word wins.
            positive = resource_id == "battery_01"
            wanted[f"{resource_id}_power"] = ("kW", "PT15M", {"consumption_is_positive": positive})
        sensors = {}
        for name, (unit, resolution, attributes) in wanted.items():
            body = {
                "name": name,
                "unit": unit,
                "event_resolution": resolution,
                "generic_asset_id": asset["id"],
            }
            if attributes:
                import json

                body["attributes"] = json.dumps(attributes)
            status, sensor = self.stack.api("POST", "/api/v3_0/sensors", body, token=token)
            assert status == 201, (name, sensor)
            sensors[name] = int(sensor["id"])
        return sensors

    def values(
        self, sensor_name: str, start: str, duration: str, resolution: str = ""
    ) -> list[float | None]:
        """What FlexMeasures' API gives back, read as the admin (not as the VEN)."""
        from urllib.parse import urlencode

        fields = {"start": start, "duration": duration, "unit": self.unit(sensor_name)}
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

    @staticmethod
    def unit(sensor_name: str) -> str:
        if sensor_name == "consumption_price":
            return "EUR/MWh"
        if sensor_name == "load_control_signal":
            return "%"
        if sensor_name.endswith("_soc"):
            return "kWh"
        if sensor_name.endswith("_power"):
            return "kW"
        return "dimensionless"


@pytest.fixture(scope="session")
def flexmeasures_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlexMeasuresSite]:
    if os.environ.get("CARIFLEX_OPENADR_SKIP_FLEXMEASURES") == "1":
        pytest.skip("CARIFLEX_OPENADR_SKIP_FLEXMEASURES=1")
    module = _load_flexmeasures_local()
    stack = module.FlexMeasuresLocal.start()
    try:
        yield FlexMeasuresSite(stack, tmp_path_factory.mktemp("fm-secrets"))
    finally:
        stack.close()


@pytest.fixture
def token_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "tokens"
    directory.mkdir()
    for resource_id, _, _ in SEED_RESOURCES:
        token_file = directory / resource_id
        token_file.write_text(secrets.token_urlsafe(24) + "\n")
        token_file.chmod(0o600)
    return directory
