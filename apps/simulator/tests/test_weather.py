"""Weather ingest against recorded-shape Open-Meteo answers served on 127.0.0.1."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cariflex_simulator.config import parse_config
from cariflex_simulator.weather.ingest import WeatherIngest

from .servers import OpenMeteoRecording, RecordingFlexMeasures

FIXTURE = Path(__file__).parent / "fixtures" / "open_meteo_minutely_15.json"
SENSORS = {"irradiance": 81, "temperature": 82, "wind_speed": 83}
# The fixture runs 08:00..10:00 UTC; at 09:50 the 10:00 value is still a forecast.
NOW = datetime(2026, 11, 26, 9, 50, tzinfo=UTC)


def recorded() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture
async def servers():
    meteo, fm = OpenMeteoRecording(), RecordingFlexMeasures()
    meteo_url, fm_url = await meteo.start(), await fm.start()
    yield meteo, meteo_url, fm, fm_url
    await meteo.stop()
    await fm.stop()


def make_ingest(tmp_path: Path, meteo_url: str, fm_url: str, timeout: float = 2.0) -> WeatherIngest:
    config = parse_config(
        {
            "site": {"latitude": 48.8566, "longitude": 2.3522},
            "flexmeasures": {"url": fm_url, "email": "simulator@digitribe.fr", "sensors": SENSORS},
            "weather": {
                "base_url": f"{meteo_url}/v1/forecast",
                "timeout_seconds": timeout,
                "state_file": str(tmp_path / "state" / "weather.json"),
            },
        }
    )
    return WeatherIngest(config, password="stand-in-password")


def by_sensor(fm: RecordingFlexMeasures) -> dict[int, list[dict]]:
    found: dict[int, list[dict]] = {}
    for post in fm.posts:
        found.setdefault(post.sensor_id, []).append(post.body)
    return found


async def test_asks_open_meteo_for_what_the_sensors_hold(servers, tmp_path: Path) -> None:
    meteo, meteo_url, _, fm_url = servers
    meteo.serve_json(recorded())
    ingest = make_ingest(tmp_path, meteo_url, fm_url)
    await ingest.run_once(NOW)
    await ingest.close()
    query = meteo.queries[0]
    assert query["wind_speed_unit"] == "ms"  # Open-Meteo's default is km/h
    assert query["minutely_15"].split(",") == [
        "shortwave_radiation",
        "temperature_2m",
        "wind_speed_10m",
    ]
    assert query["timeformat"] == "unixtime" and query["timezone"] == "GMT"
    assert (query["latitude"], query["longitude"]) == ("48.8566", "2.3522")


async def test_posts_right_values_units_and_times(servers, tmp_path: Path) -> None:
    meteo, meteo_url, fm, fm_url = servers
    meteo.serve_json(recorded())
    ingest = make_ingest(tmp_path, meteo_url, fm_url)
    result = await ingest.run_once(NOW)
    await ingest.close()
    posts = by_sensor(fm)

    # Irradiance: mean over the PRECEDING quarter hour, so the value stamped 08:00 is the
    # 07:45-08:00 average. The null at 09:30 splits the run in two posts; 10:00 is a forecast.
    irradiance = posts[81]
    assert [p["start"] for p in irradiance] == [
        "2026-11-26T07:45:00+00:00",
        "2026-11-26T09:30:00+00:00",
    ]
    assert irradiance[0]["values"] == [12.0, 35.0, 61.0, 88.0, 110.0, 131.0]
    assert irradiance[0]["duration"] == "PT5400S"  # 6 quarter hours
    assert irradiance[1]["values"] == [168.0]
    assert {p["unit"] for p in irradiance} == {"W/m²"}

    # Temperature and wind: instantaneous at their own time, 08:00..09:45 (not 10:00).
    (temperature,) = posts[82]
    assert temperature["start"] == "2026-11-26T08:00:00+00:00"
    assert temperature["values"] == [4.1, 4.3, 4.6, 5.0, 5.4, 5.9, 6.3, 6.6]
    assert temperature["unit"] == "°C" and temperature["duration"] == "PT7200S"
    (wind,) = posts[83]
    assert wind["values"] == [3.12, 3.4, 3.55, 3.9, 4.02, 4.4, 4.1, 3.8]
    assert wind["unit"] == "m/s"
    # Known when fetched: the belief time is the run's time.
    assert {p.body["prior"] for p in fm.posts} == {NOW.isoformat()}
    assert result.posted == {"irradiance": 7, "temperature": 8, "wind_speed": 8}


async def test_nothing_is_posted_twice(servers, tmp_path: Path) -> None:
    meteo, meteo_url, fm, fm_url = servers
    meteo.serve_json(recorded())
    ingest = make_ingest(tmp_path, meteo_url, fm_url)
    await ingest.run_once(NOW)
    first = len(fm.posts)
    await ingest.close()
    # A new process (container restart) reads the state file: the same answer posts nothing.
    again = make_ingest(tmp_path, meteo_url, fm_url)
    result = await again.run_once(NOW)
    assert len(fm.posts) == first and result.fetched and result.posted == {}
    # Fifteen minutes later the 10:00 value has happened: only it is posted.
    later = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)
    result = await again.run_once(later)
    await again.close()
    new = fm.posts[first:]
    assert [(p.sensor_id, p.body["start"], p.body["values"]) for p in new] == [
        (81, "2026-11-26T09:45:00+00:00", [182.0]),
        (82, "2026-11-26T10:00:00+00:00", [6.9]),
        (83, "2026-11-26T10:00:00+00:00", [3.61]),
    ]


def _without_wind(body: dict) -> dict:
    del body["minutely_15"]["wind_speed_10m"]
    return body


def _kmh(body: dict) -> dict:
    body["minutely_15_units"]["wind_speed_10m"] = "km/h"
    return body


def _short_column(body: dict) -> dict:
    body["minutely_15"]["temperature_2m"].pop()
    return body


def _text_value(body: dict) -> dict:
    body["minutely_15"]["shortwave_radiation"][2] = "61"
    return body


def _local_time(body: dict) -> dict:
    body["minutely_15_units"]["time"] = "iso8601"
    body["minutely_15"]["time"] = ["2026-11-26T08:00"] * 9
    return body


def _error(body: dict) -> dict:
    return {"error": True, "reason": "Parameter 'minutely_15' invalid"}


@pytest.mark.parametrize(
    "mutate",
    [_without_wind, _kmh, _short_column, _text_value, _local_time, _error],
    ids=["missing-column", "km/h", "short-column", "text-value", "iso-times", "error-body"],
)
async def test_a_malformed_answer_changes_nothing(servers, tmp_path: Path, mutate) -> None:
    meteo, meteo_url, fm, fm_url = servers
    meteo.serve_json(mutate(copy.deepcopy(recorded())))
    ingest = make_ingest(tmp_path, meteo_url, fm_url)
    result = await ingest.run_once(NOW)
    assert fm.posts == [] and not result.fetched and result.error
    assert not (tmp_path / "state" / "weather.json").exists()
    # The next run, with a good answer, posts everything: nothing was lost.
    meteo.serve_json(recorded())
    result = await ingest.run_once(NOW)
    await ingest.close()
    assert result.posted == {"irradiance": 7, "temperature": 8, "wind_speed": 8}


@pytest.mark.parametrize("status,body", [(500, "{}"), (503, "busy"), (200, "<html>not json")])
async def test_http_failures_are_logged_and_retried(servers, tmp_path: Path, status, body) -> None:
    meteo, meteo_url, fm, fm_url = servers
    meteo.next.status, meteo.next.body = status, body
    ingest = make_ingest(tmp_path, meteo_url, fm_url)
    result = await ingest.run_once(NOW)
    await ingest.close()
    assert fm.posts == [] and result.error and not result.fetched


async def test_a_timeout_is_logged_and_retried(servers, tmp_path: Path) -> None:
    meteo, meteo_url, fm, fm_url = servers
    meteo.serve_json(recorded())
    meteo.next.delay = 1.5
    ingest = make_ingest(tmp_path, meteo_url, fm_url, timeout=0.5)
    result = await ingest.run_once(NOW)
    assert fm.posts == [] and "unreachable" in (result.error or "")
    meteo.next.delay = 0
    assert (await ingest.run_once(NOW)).posted
    await ingest.close()


async def test_flexmeasures_down_keeps_the_values_for_the_next_run(servers, tmp_path: Path) -> None:
    meteo, meteo_url, fm, fm_url = servers
    meteo.serve_json(recorded())
    ingest = make_ingest(tmp_path, meteo_url, fm_url)
    fm.fail_posts_with = 503
    result = await ingest.run_once(NOW)
    assert result.fetched and result.posted == {} and fm.posts == []
    fm.fail_posts_with = None
    result = await ingest.run_once(NOW)
    await ingest.close()
    assert result.posted == {"irradiance": 7, "temperature": 8, "wind_speed": 8}
