"""Day-ahead prices for the ENERGY_PRICE event: where they come from and how the day is cut.

Prices are per kWh (OpenADR's convention). A source gives a JSON document of this shape:

    {"currency": "EUR",
     "days": {"2026-11-27": [0.21, 0.19, ...]},          # one value per interval of that day
     "daily": {"00:00": 0.12, "07:00": 0.25, "21:00": 0.14}}  # piecewise constant, local time

A date listed in "days" wins; otherwise the "daily" curve is used. The day is the site's local
day, so it has 23 or 25 hours on daylight-saving days.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from cariflex_openadr.config import ConfigError, PriceConfig
from cariflex_openadr.signals import Interval, InvalidEvent

# For development only: a plausible retail curve in EUR/kWh. Production refuses it unless told.
DEFAULT_TARIFF = {"00:00": 0.12, "06:00": 0.20, "08:00": 0.16, "17:00": 0.28, "21:00": 0.14}


def day_slots(day: date, tz: ZoneInfo, resolution: timedelta) -> list[tuple[datetime, timedelta]]:
    """The intervals of one local day, as UTC starts; DST days have 92 or 100 quarter-hours."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    slots = []
    moment = start
    while moment < end:
        slots.append((moment, resolution))
        moment += resolution
    return slots


def _daily_value(curve: dict[str, float], local: datetime) -> float:
    points = sorted((time.fromisoformat(k), float(v)) for k, v in curve.items())
    if not points:
        raise InvalidEvent("empty daily price curve")
    value = points[-1][1]  # before the first point of the day, the last one still holds
    for moment, price in points:
        if moment <= local.time():
            value = price
    return value


def prices_for_day(
    document: dict[str, Any], day: date, tz: ZoneInfo, resolution: timedelta
) -> list[Interval]:
    slots = day_slots(day, tz, resolution)
    listed = document.get("days", {}).get(day.isoformat())
    if listed is not None:
        if len(listed) != len(slots):
            raise InvalidEvent(
                f"price list for {day} has {len(listed)} values, the day has {len(slots)} slots"
            )
        values = [float(v) for v in listed]
    elif "daily" in document:
        values = [_daily_value(document["daily"], s.astimezone(tz)) for s, _ in slots]
    else:
        raise InvalidEvent(f"no prices for {day}")
    return [Interval(s, d, v) for (s, d), v in zip(slots, values, strict=True)]


PriceLoader = Callable[[], Awaitable[dict[str, Any]]]


def price_loader(config: PriceConfig, environment: str, timeout: float = 10.0) -> PriceLoader:
    if config.source == "default_tariff":
        if environment == "production" and not config.allow_default_tariff_in_production:
            raise ConfigError(
                "vtn.prices.source is the development tariff; production needs a real source"
                " (file or url), or vtn.prices.allow_default_tariff_in_production = true"
            )

        async def default() -> dict[str, Any]:
            return {"currency": "EUR", "daily": DEFAULT_TARIFF}

        return default
    if config.source == "file":
        if not config.path:
            raise ConfigError("vtn.prices.path is required for source 'file'")

        async def from_file() -> dict[str, Any]:
            return dict(json.loads(Path(config.path).read_text(encoding="utf-8")))

        return from_file
    if not config.url:
        raise ConfigError("vtn.prices.url is required for source 'url'")

    async def from_url() -> dict[str, Any]:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
            http.get(config.url) as response,
        ):
            response.raise_for_status()
            return dict(await response.json(content_type=None))

    return from_url
