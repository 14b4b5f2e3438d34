"""What the devices do on their own, and the production price: smooth daily shapes, local time.

- Batteries charge around midday (when PV produces) and discharge in the evening peak.
- EVs charge from arrival until full (workplace charging: mornings).
- production_price: EUR/MWh with a morning and an evening peak and a solar dip at midday.
Each device is shifted a little in time so that ten of them do not move in lockstep.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cariflex_simulator.config import StorageConfig


def _local_hour(moment: datetime, timezone: str) -> float:
    local = moment.astimezone(ZoneInfo(timezone))
    return local.hour + local.minute / 60 + local.second / 3600


def _device_offset_hours(name: str) -> float:
    # Stable per device (not Python's salted hash): 0, 0.25, ... 1.0 h.
    return (sum(name.encode()) % 5) * 0.25


def storage_setpoint_kw(config: StorageConfig, moment: datetime, timezone: str) -> float:
    """The power a device wants when nobody instructs it (S2 sign: +kW charges)."""
    if config.profile == "constant":
        share = config.constant_share
        return share * (config.max_power_kw if share >= 0 else -config.min_power_kw)
    hour = (_local_hour(moment, timezone) - _device_offset_hours(config.name)) % 24
    if config.kind == "battery":
        if 10 <= hour < 16:
            return 0.6 * config.max_power_kw
        if 17 <= hour < 22:
            return 0.6 * config.min_power_kw  # min is negative: discharge
        return 0.0
    # EV: plugged in from 08:00 to 18:00, charging at full rate (until full: see devices.py).
    if 8 <= hour < 18:
        return config.max_power_kw
    return 0.0


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2))


def production_price(moment: datetime, timezone: str, base: float, rng: random.Random) -> float:
    """EUR/MWh for the quarter hour starting at `moment`."""
    hour = _local_hour(moment, timezone)
    shape = 1.0 + 0.45 * _bump(hour, 8.0, 1.5) + 0.6 * _bump(hour, 19.0, 1.8)
    shape -= 0.5 * _bump(hour, 13.5, 2.0)
    return round(base * shape + rng.gauss(0.0, base * 0.03), 2)


def local_day_quarters(day: datetime, timezone: str) -> list[datetime]:
    """Every quarter-hour start of a local day (92 or 100 on DST days), as aware datetimes."""
    zone = ZoneInfo(timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    following = start.date() + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    utc_start, utc_end = start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))
    count = int((utc_end - utc_start) / timedelta(minutes=15))
    return [utc_start + timedelta(minutes=15 * i) for i in range(count)]
