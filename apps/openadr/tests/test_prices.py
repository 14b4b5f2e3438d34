"""Day-ahead prices: the local day's slots (DST) and the production guard on the dev tariff."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cariflex_openadr.config import ConfigError, PriceConfig
from cariflex_openadr.signals import InvalidEvent
from cariflex_openadr.vtn.prices import DEFAULT_TARIFF, day_slots, price_loader, prices_for_day

PARIS = ZoneInfo("Europe/Paris")
HOUR, QUARTER = timedelta(hours=1), timedelta(minutes=15)


@pytest.mark.parametrize(
    ("day", "resolution", "count"),
    [
        (date(2026, 11, 27), HOUR, 24),
        (date(2026, 3, 29), HOUR, 23),  # clocks go forward
        (date(2026, 10, 25), HOUR, 25),  # clocks go back
        (date(2026, 3, 29), QUARTER, 92),
        (date(2026, 10, 25), QUARTER, 100),
    ],
)
def test_a_day_is_the_sites_local_day(day: date, resolution: timedelta, count: int) -> None:
    slots = day_slots(day, PARIS, resolution)
    assert len(slots) == count
    assert slots[0][0].astimezone(PARIS).hour == 0
    assert (slots[-1][0] + resolution).astimezone(PARIS).date() == day + timedelta(days=1)


def test_daily_curve_follows_local_time_on_dst_day() -> None:
    intervals = prices_for_day({"daily": DEFAULT_TARIFF}, date(2026, 10, 25), PARIS, HOUR)
    by_local_hour = [(i.start.astimezone(PARIS).hour, i.value) for i in intervals]
    assert len(by_local_hour) == 25
    assert by_local_hour[0] == (0, 0.12)
    assert (17, 0.28) in by_local_hour and (21, 0.14) in by_local_hour


def test_listed_day_must_have_one_value_per_slot() -> None:
    document = {"days": {"2026-03-29": [0.1] * 24}}
    with pytest.raises(InvalidEvent, match="23 slots"):
        prices_for_day(document, date(2026, 3, 29), PARIS, HOUR)


def test_production_refuses_the_development_tariff() -> None:
    with pytest.raises(ConfigError, match="production"):
        price_loader(PriceConfig(source="default_tariff"), "production")
    price_loader(PriceConfig(source="default_tariff"), "development")
    price_loader(
        PriceConfig(source="default_tariff", allow_default_tariff_in_production=True), "production"
    )


async def test_file_source(tmp_path: Path) -> None:
    schedule = tmp_path / "prices.json"
    schedule.write_text(json.dumps({"daily": {"00:00": 0.3}}))
    loader = price_loader(PriceConfig(source="file", path=str(schedule)), "production")
    assert await loader() == {"daily": {"00:00": 0.3}}
