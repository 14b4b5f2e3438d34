"""The pure parts: device physics, the clear-sky fallback, batching, price curve, configuration."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cariflex_simulator.app import Simulator
from cariflex_simulator.config import ConfigError, StorageConfig, parse_config
from cariflex_simulator.devices import Storage
from cariflex_simulator.profiles import local_day_quarters
from cariflex_simulator.series import AverageSeries, InstantSeries
from cariflex_simulator.solar import clear_sky_ghi

APPS = Path(__file__).resolve().parents[2]


def battery(**kwargs) -> Storage:
    config = StorageConfig(
        name="bat_06", kind="battery", capacity_kwh=100, min_power_kw=-50, max_power_kw=50,
        soc_sensor="bat_06_power", **kwargs,
    )  # fmt: skip
    return Storage.from_config(config)


def test_state_of_charge_follows_power_and_stops_at_the_limits() -> None:
    device = battery(initial_soc=0.5)
    assert device.set_power(80) == 50  # its rating
    device.advance(1800)  # half an hour at 50 kW
    assert device.soc_kwh == pytest.approx(75.0)
    device.advance(3600)
    assert device.soc_kwh == 100.0 and device.power_kw == 0.0  # full: stops charging
    assert device.set_power(20) == 0.0
    assert device.set_power(-30) == -30
    device.advance(3600 * 10)
    assert device.soc_kwh == 0.0 and device.power_kw == 0.0


def test_energy_does_not_depend_on_when_steps_and_instructions_come() -> None:
    # One hour: 40 kW, then an instruction to 25 kW at 00:20:30. Simulated once with a step every
    # 2 s, once as a busy machine runs it (steps stalled up to 45 s, the instruction arriving
    # between two of them): the same state of charge, 10 + 40 x 20.5/60 + 25 x 39.5/60 kWh.
    t0 = datetime(2026, 12, 7, tzinfo=UTC)
    change = t0 + timedelta(minutes=20, seconds=30)
    expected = 10.0 + 40.0 * 20.5 / 60 + 25.0 * 39.5 / 60

    def run(step_offsets: list[float]) -> float:
        device = battery(initial_soc=0.1)
        instructed: float | None = None
        for offset in step_offsets:
            now = t0 + timedelta(seconds=offset)
            if instructed is None and now > change:
                # The RM follows the instruction when it arrives, between two steps.
                instructed = device.set_power(25.0, change)
            device.advance_to(now)
            device.set_power(instructed if instructed is not None else 40.0, now)
        return device.soc_kwh

    regular = [float(s) for s in range(0, 3601, 2)]
    stalled = [0.0, 2.0, 47.0, 49.0, 600.0, 1201.0, 1246.0, 2000.0, 3599.0, 3600.0]
    assert run(regular) == pytest.approx(expected)
    assert run(stalled) == pytest.approx(expected)
    # Time never runs backwards: an older moment moves no energy.
    device = battery(initial_soc=0.5)
    device.set_power(50.0, t0 + timedelta(hours=1))
    device.advance_to(t0)
    assert device.soc_kwh == pytest.approx(50.0)


def test_clear_sky_is_dark_at_night_and_bright_at_noon_in_paris() -> None:
    night = datetime(2026, 6, 21, 0, 0, tzinfo=UTC)
    noon = datetime(2026, 6, 21, 11, 50, tzinfo=UTC)  # solar noon in Paris, summer
    winter_noon = datetime(2026, 12, 21, 11, 50, tzinfo=UTC)
    assert clear_sky_ghi(night, 48.85, 2.35) == 0.0
    assert 800 < clear_sky_ghi(noon, 48.85, 2.35) < 1000
    assert 150 < clear_sky_ghi(winter_noon, 48.85, 2.35) < 350


def test_average_series_posts_complete_quarters_once() -> None:
    series = AverageSeries(41, "kW")
    t0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    series.add(t0, t0 + timedelta(minutes=10), 30.0)
    series.add(t0 + timedelta(minutes=10), t0 + timedelta(minutes=20), 60.0)
    assert series.flush(t0 + timedelta(minutes=14)) == []  # 10:00-10:15 not complete yet
    (post,) = series.flush(t0 + timedelta(minutes=15))
    assert post.start == t0 and post.values == (40.0,)  # (10 x 30 + 5 x 60) / 15
    assert post.body()["duration"] == "PT900S"
    assert series.flush(t0 + timedelta(minutes=16)) == []  # not again


def test_instant_series_batches_consecutive_samples_in_one_post() -> None:
    series = InstantSeries(56, "kWh", timedelta(minutes=1))
    t0 = datetime(2026, 11, 26, 10, 0, 5, tzinfo=UTC)
    for minute, value in ((0, 1.0), (1, 2.0), (2, 3.0), (5, 6.0)):
        series.sample(t0 + timedelta(minutes=minute), value)
    series.sample(t0 + timedelta(minutes=5, seconds=20), 99.0)  # same minute: not kept
    first, second = series.flush()
    assert first.start == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert first.values == (1.0, 2.0, 3.0) and first.body()["duration"] == "PT180S"
    assert second.values == (6.0,)
    assert series.flush() == []


def test_a_local_day_has_92_96_or_100_quarters() -> None:
    assert len(local_day_quarters(datetime(2026, 3, 29), "Europe/Paris")) == 92
    assert len(local_day_quarters(datetime(2026, 11, 26), "Europe/Paris")) == 96
    assert len(local_day_quarters(datetime(2026, 10, 25), "Europe/Paris")) == 100
    first = local_day_quarters(datetime(2026, 11, 26), "Europe/Paris")[0]
    assert first == datetime(2026, 11, 25, 23, 0, tzinfo=UTC)


def _simulator(now: list[datetime]) -> Simulator:
    sensors = {f"pv_{n:02d}_power": 40 + n for n in range(1, 3)}
    sensors.update({"production_price": 85, "irradiance": 81})
    config = parse_config(
        {
            "flexmeasures": {"url": "http://127.0.0.1:9", "sensors": sensors},
            "simulator": {
                "seed": 3,
                "pv_noise": 0.0,
                "pv": [
                    {"name": "pv_01", "sensor": "pv_01_power", "peak_kw": 100},
                    {"name": "pv_02", "sensor": "pv_02_power", "peak_kw": 50},
                ],
            },
        }
    )
    return Simulator(config, password="unused", clock=lambda: now[0])


def test_pv_follows_recent_weather_else_clear_sky() -> None:
    t0 = datetime(2026, 6, 21, 11, 45, tzinfo=UTC)
    now = [t0]
    simulator = _simulator(now)
    simulator.irradiance = (t0 - timedelta(minutes=30), 500.0)
    simulator.step(t0)
    assert simulator.irradiance_source == "weather"
    assert simulator.pv_power == {"pv_01": pytest.approx(42.5), "pv_02": pytest.approx(21.25)}
    simulator.irradiance = (t0 - timedelta(hours=2), 500.0)  # too old: clear sky instead
    simulator.step(t0)
    assert simulator.irradiance_source == "clear-sky"
    assert simulator.pv_power["pv_01"] > 60
    # A quarter later the quarter's average is posted, one request per plant.
    now[0] = t0 + timedelta(minutes=15)
    simulator.step(now[0])
    posts = [p for p in simulator.collect_posts(now[0]) if p.sensor_id in (41, 42)]
    assert [(p.sensor_id, p.start) for p in posts] == [(41, t0), (42, t0)]


def test_production_price_posted_once_per_day_then_day_ahead() -> None:
    morning = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    now = [morning]
    simulator = _simulator(now)
    (today,) = simulator.price_posts(morning)
    assert len(today.values) == 96 and today.unit == "EUR/MWh"
    assert simulator.price_posts(morning) == []
    (tomorrow,) = simulator.price_posts(morning.replace(hour=13))  # 14:00 Paris
    assert tomorrow.start == datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
    # The same day gives the same curve whatever the run (seeded by the day).
    again = _simulator([morning]).price_posts(morning)[0]
    assert again.values == today.values
    evening_peak = today.values[4 * 19 + 1]  # 19:00 Paris
    midday = today.values[4 * 13 + 1]
    assert evening_peak > midday


@pytest.mark.parametrize(
    "change,message",
    [
        ({"simulator": {"step_secs": 1}}, "unknown key"),
        ({"simulator": {"soc_sample_seconds": 30}}, "multiple of 60"),
        (
            {"simulator": {"storage": [{"name": "b", "kind": "battery", "capacity_kwh": 1,
                                        "min_power_kw": -1, "max_power_kw": 1}]}},
            "soc_sensor",
        ),
        ({"site": {"latitude": 123}}, "latitude"),
    ],
)  # fmt: skip
def test_configuration_mistakes_are_refused_with_their_name(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(change)


def test_example_configuration_parses() -> None:
    import tomllib

    config = parse_config(tomllib.loads((APPS / "simulator/examples/config.toml").read_text()))
    assert len(config.simulator.pv) == 10 and len(config.simulator.storage) == 20
    assert sum(1 for s in config.simulator.storage if s.is_s2) == 10


def test_pins_are_the_openadr_apps_own() -> None:
    """Both ends of the S2 wire run the same s2-python (and the same everything else shared)."""

    def pins(path: Path) -> dict[str, str]:
        found = {}
        for line in path.read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, version = line.split("==")
                found[name.lower().replace("_", "-")] = version.strip()
        return found

    ours, theirs = (
        pins(APPS / "simulator/requirements.txt"),
        pins(APPS / "openadr/requirements.txt"),
    )
    assert ours["s2-python"] == "0.11.1"
    assert {name: theirs.get(name) for name in ours} == ours


def test_noise_is_reproducible_with_a_seed() -> None:
    from cariflex_simulator.config import PVConfig
    from cariflex_simulator.devices import pv_power_kw

    plant = PVConfig("pv_01", "pv_01_power", 100)
    a = [pv_power_kw(plant, 800, 0.05, random.Random(1)) for _ in range(3)]
    b = [pv_power_kw(plant, 800, 0.05, random.Random(1)) for _ in range(3)]
    assert a == b and all(0 < v <= 100 for v in a)
    assert pv_power_kw(plant, 0, 0.05, random.Random(1)) == 0.0
