"""End to end on 127.0.0.1 with real software: the simulator's RMs talk S2 to the real VEN and S2
service of apps/openadr, the real VTN sends a LOAD_CONTROL event, and a real FlexMeasures 1.0.1
(tests/support/flexmeasures_local.py) records what the S2 service and the simulator post."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cariflex_openadr.config import parse_config as parse_openadr_config
from cariflex_openadr.ven.app import VEN
from cariflex_openadr.vtn.prices import price_loader
from cariflex_openadr.vtn.server import VTN

from cariflex_simulator.app import Simulator
from cariflex_simulator.config import parse_config
from cariflex_simulator.weather.ingest import WeatherIngest

from .conftest import (
    S2_BATTERIES,
    S2_EVS,
    SIMULATOR_EMAIL,
    VEN_EMAIL,
    FlexMeasuresSite,
    free_port,
)
from .servers import OpenMeteoRecording

pytestmark = pytest.mark.flexmeasures

VEN_NAME = "cariflex-ven"
SHARE = 0.4  # the event's x-loadControlCapacity
NORMAL_SHARE = 0.8  # what the devices run at on their own (share of their max power)
LIMITS = {**{b: 50.0 for b in S2_BATTERIES}, **{e: 22.0 for e in S2_EVS}}
FIXTURE = Path(__file__).parent / "fixtures" / "open_meteo_minutely_15.json"
# Waits are "until" loops that end as soon as the condition holds; their limits only bound a
# failing run. They are generous because the test machines are shared and often loaded.
S2_WAIT = 120.0  # S2 messages between tasks of this process
FLEXMEASURES_WAIT = 180.0  # VEN outbox -> FlexMeasures (one POST per sensor) -> its API


def soc_sensor(resource: str) -> str:
    return resource.replace("battery_", "bat_") + "_power"


def power_sensor(resource: str) -> str:
    return resource.replace("battery_", "bat_") + "_s2_power"


async def wait_for(condition: Callable[[], Any], timeout: float = S2_WAIT, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def wait_for_async(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await asyncio.to_thread(check)
        if result:
            return result
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _quarter(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


class Site:
    """VTN, VEN (+ S2 service) and the simulator, on 127.0.0.1 in this test's event loop."""

    def __init__(self, tmp_path: Path, fm: FlexMeasuresSite) -> None:
        self.fm = fm
        tokens = tmp_path / "tokens"
        tokens.mkdir()
        for resource in LIMITS:
            (tokens / resource).write_text(secrets.token_urlsafe(24) + "\n")
            (tokens / resource).chmod(0o600)
        vtn_port, admin_port, s2_port = free_port(), free_port(), free_port()
        self.admin_url = f"http://127.0.0.1:{admin_port}"
        self.openadr = parse_openadr_config(
            {
                "vtn": {
                    "vtn_id": "CariflexVTN",
                    "listen_host": "127.0.0.1",
                    "listen_port": vtn_port,
                    "admin_port": admin_port,
                    "poll_interval_seconds": 1,
                    "allowed_ven_names": [VEN_NAME],
                    "state_dir": str(tmp_path / "vtn-state"),
                    "environment": "development",
                    "prices": {"source": "default_tariff"},
                },
                "ven": {
                    "ven_name": VEN_NAME,
                    "vtn_url": f"http://127.0.0.1:{vtn_port}/OpenADR2/Simple/2.0b",
                    "state_dir": str(tmp_path / "ven-state"),
                    "register_retry_seconds": 0.5,
                },
                "flexmeasures": {
                    "url": fm.stack.url,
                    "email": VEN_EMAIL,
                    "password_file": str(fm.password_files[VEN_EMAIL]),
                    "retry_seconds": 0.5,
                    "sensors": fm.sensors,
                },
                "s2": {
                    "listen_host": "127.0.0.1",
                    "listen_port": s2_port,
                    "site_capacity_kw": 500,
                    "resources": [
                        {
                            "id": resource,
                            "min_power_kw": -limit,
                            "max_power_kw": limit,
                            "token_file": str(tokens / resource),
                            "soc_sensor": soc_sensor(resource),
                            "power_sensor": power_sensor(resource),
                            "power_sensor_consumption_is_positive": True,
                        }
                        for resource, limit in LIMITS.items()
                    ],
                },
            }
        )
        storage: list[dict[str, Any]] = []
        for n in range(1, 11):
            for kind, prefix, limit in (("battery", "battery", 50.0), ("ev", "ev", 22.0)):
                name = f"{prefix}_{n:02d}"
                device: dict[str, Any] = {
                    "name": name,
                    "kind": kind,
                    "capacity_kwh": 200.0 if kind == "battery" else 60.0,
                    "min_power_kw": -limit if (n <= 5 or kind == "battery") else 0.0,
                    "max_power_kw": limit,
                    "initial_soc": 0.3,
                    "profile": "constant",
                    "constant_share": NORMAL_SHARE,
                }
                if n <= 5:
                    device["s2_token_file"] = str(tokens / name)
                else:
                    device["soc_sensor"] = soc_sensor(name)
                storage.append(device)
        self.simulator_config = parse_config(
            {
                "site": {"latitude": 48.85, "longitude": 2.35},
                "flexmeasures": {
                    "url": fm.stack.url,
                    "email": SIMULATOR_EMAIL,
                    "password_file": str(fm.password_files[SIMULATOR_EMAIL]),
                    "sensors": fm.sensors,
                },
                "simulator": {
                    "step_seconds": 0.2,
                    "post_interval_seconds": 2,
                    "soc_sample_seconds": 60,
                    # One wall second moves a minute's energy: the state of charge visibly moves.
                    "time_scale": 60,
                    "s2_url": f"ws://127.0.0.1:{s2_port}/s2",
                    "s2_status_interval_seconds": 0.5,
                    "s2_reconnect_seconds": 0.5,
                    "seed": 7,
                    "pv": [
                        {"name": f"pv_{n:02d}", "sensor": f"pv_{n:02d}_power", "peak_kw": 100}
                        for n in range(1, 11)
                    ],
                    "storage": storage,
                },
            }
        )
        self.vtn: VTN | None = None
        self.ven: VEN | None = None
        self.simulator: Simulator | None = None

    async def start(self) -> None:
        loader = price_loader(self.openadr.vtn.prices, self.openadr.vtn.environment)
        self.vtn = VTN(self.openadr.vtn, loader)
        await self.vtn.start()
        self.ven = VEN(self.openadr)
        await self.ven.start()
        await wait_for(lambda: self.ven.registered, what="VEN registration")
        self.simulator = Simulator(self.simulator_config)
        await self.simulator.start()

    async def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{self.admin_url}{path}", json=body) as reply,
        ):
            text = await reply.text()
            assert reply.status < 300, f"{method} {path}: {reply.status} {text}"
            return json.loads(text) if text else None

    async def close(self) -> None:
        if self.simulator is not None:
            await self.simulator.stop()
        if self.ven is not None:
            await self.ven.stop()
        if self.vtn is not None:
            await self.vtn.stop()

    def device(self, name: str):
        assert self.simulator is not None
        return next(d for d in self.simulator.storage if d.name == name)


@pytest.fixture
async def site(tmp_path: Path, flexmeasures_site: FlexMeasuresSite):
    site = Site(tmp_path, flexmeasures_site)
    yield site
    await site.close()


def _latest(fm: FlexMeasuresSite, sensor: str, since: datetime) -> float | None:
    # States of charge are sampled each minute at the minute (PT0H sensors): read them so.
    resolution = "PT1M" if fm.units[sensor] == "kWh" else ""
    values = fm.values(sensor, since.isoformat(), "PT1H", resolution)
    found = [v for v in values if v is not None]
    return found[-1] if found else None


async def test_load_control_moves_the_simulated_s2_devices_and_their_sensors(
    site: Site, flexmeasures_site: FlexMeasuresSite
) -> None:
    fm = flexmeasures_site
    await site.start()
    assert site.ven is not None and site.simulator is not None
    service = site.ven.s2
    await wait_for(lambda: len(service.status()["ready"]) == 10, what="10 RMs ready")

    # Normal operation: every S2 device runs at its own 80 % (batteries 40 kW, EVs 17.6 kW),
    # and the CEM has heard so from its RM (the power to return to after an event).
    for resource, limit in LIMITS.items():
        assert site.device(resource).power_kw == pytest.approx(NORMAL_SHARE * limit)
    await wait_for(
        lambda: all(
            service.sessions[r].baseline_power_kw == pytest.approx(NORMAL_SHARE * limit)
            for r, limit in LIMITS.items()
        ),
        S2_WAIT,
        "the CEM to know each device's normal power",
    )
    quarter = _quarter(datetime.now(UTC))
    before = {}
    for resource in ("battery_01", "ev_01"):
        before[resource] = await wait_for_async(
            lambda r=resource: _latest(fm, soc_sensor(r), quarter - timedelta(minutes=15)),
            FLEXMEASURES_WAIT,
            f"{resource}'s state of charge in FlexMeasures (written by the S2 service)",
        )

    created = await site.admin(
        "POST",
        "/events",
        {
            "kind": "load_control",
            "value": SHARE,
            "start": quarter.isoformat(),
            "duration_minutes": 60,
        },
    )
    event_id = created["event_id"]
    rms = site.simulator.rms
    await wait_for(
        lambda: all(rm.instructed_kw is not None for rm in rms.values()),
        S2_WAIT,
        "instructions to every RM",
    )
    for resource, limit in LIMITS.items():
        rm, device = rms[resource], site.device(resource)
        # Within the device's own limits and the event's share of them, and a real change.
        assert -limit <= rm.instructed_kw <= limit
        assert abs(device.power_kw) <= SHARE * limit + 1e-6
        assert device.power_kw == pytest.approx(SHARE * limit)
        assert device.power_kw != pytest.approx(NORMAL_SHARE * limit)

    # FlexMeasures shows it: the instructed power on the S2 power sensors, and a state of
    # charge that keeps rising (at the lower rate) on the SoC sensors.
    for resource, limit in (("battery_01", 50.0), ("ev_01", 22.0)):
        await wait_for_async(
            lambda r=resource, lim=limit: (
                _latest(fm, power_sensor(r), quarter) == pytest.approx(SHARE * lim)
            ),
            FLEXMEASURES_WAIT,
            f"{resource}'s instructed power in FlexMeasures",
        )
        after = await wait_for_async(
            lambda r=resource: (
                (v := _latest(fm, soc_sensor(r), quarter - timedelta(minutes=15)))
                and v > before[r] + 1.0
                and v
            ),
            FLEXMEASURES_WAIT,
            f"{resource}'s state of charge moving in FlexMeasures",
        )
        assert after <= site.device(resource).soc_kwh + 1e-6

    # The event ends (cancelled): back to normal, on the devices and in FlexMeasures.
    await site.admin("DELETE", f"/events/{event_id}")
    await wait_for(
        lambda: all(
            site.device(r).power_kw == pytest.approx(NORMAL_SHARE * limit)
            for r, limit in LIMITS.items()
        ),
        S2_WAIT,
        "every S2 device back to its normal power",
    )
    # On their own schedule again: control handed back (no instruction in force), not a
    # "release" instruction pinning them to the power they had before the event.
    assert all(rm.instructed_kw is None for rm in rms.values())
    assert all(service.sessions[r].handed_back == 1 for r in LIMITS)
    for resource, limit in (("battery_01", 50.0), ("ev_01", 22.0)):
        await wait_for_async(
            lambda r=resource, lim=limit: (
                _latest(fm, power_sensor(r), quarter) == pytest.approx(NORMAL_SHARE * lim)
            ),
            FLEXMEASURES_WAIT,
            f"{resource}'s power back to normal in FlexMeasures",
        )
    # The RMs report every 0.5 s; the VEN keeps one waiting post per S2 sensor and quarter
    # (20 sensors, at most 2 quarters) besides the event's own posts, not a backlog of every
    # report: that backlog is what delayed the release's post by minutes on a loaded machine.
    assert site.ven.outbox.pending() <= 2 * 2 * len(LIMITS) + 10

    # The devices the simulator posts itself reached FlexMeasures too (S2 ones it never posts).
    bat_06 = await wait_for_async(
        lambda: _latest(fm, "bat_06_power", quarter - timedelta(minutes=15)),
        FLEXMEASURES_WAIT,
        "bat_06's state of charge posted by the simulator",
    )
    assert 60.0 < bat_06 <= 200.0  # started at 30 % of 200 kWh and charging
    prices = fm.values("production_price", quarter.isoformat(), "PT1H")
    assert len([p for p in prices if p is not None]) == 4 and all(0 < p < 500 for p in prices)


async def test_weather_ingest_values_land_in_flexmeasures(
    tmp_path: Path, flexmeasures_site: FlexMeasuresSite
) -> None:
    """The posts the weather ingest makes are accepted by the real FlexMeasures as meant."""
    fm = flexmeasures_site
    meteo = OpenMeteoRecording()
    meteo.serve_json(json.loads(FIXTURE.read_text(encoding="utf-8")))
    url = await meteo.start()
    config = parse_config(
        {
            "flexmeasures": {
                "url": fm.stack.url,
                "email": SIMULATOR_EMAIL,
                "password_file": str(fm.password_files[SIMULATOR_EMAIL]),
                "sensors": fm.sensors,
            },
            "weather": {"base_url": f"{url}/v1/forecast", "state_file": str(tmp_path / "w.json")},
        }
    )
    ingest = WeatherIngest(config)
    try:
        result = await ingest.run_once(datetime(2026, 11, 26, 9, 50, tzinfo=UTC))
    finally:
        await ingest.close()
        await meteo.stop()
    assert result.posted == {"irradiance": 7, "temperature": 8, "wind_speed": 8}
    irradiance = fm.values("irradiance", "2026-11-26T07:45:00+00:00", "PT2H")
    assert irradiance == [12.0, 35.0, 61.0, 88.0, 110.0, 131.0, None, 168.0]
    wind = fm.values("wind_speed", "2026-11-26T08:00:00+00:00", "PT2H")
    assert [w for w in wind if w is not None][:3] == [3.12, 3.4, 3.55]
