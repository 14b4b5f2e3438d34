"""Open-Meteo's forecast API: what we ask, and what its answer means (pure, no I/O).

We ask for 15-minute data (`minutely_15`), matching the sensors (irradiance PT15M, temperature and
wind speed instantaneous), in UTC unix seconds (`timeformat=unixtime`: no local-time parsing), and
wind speed in m/s (`wind_speed_unit=ms`; Open-Meteo's default is km/h).

Timing, from Open-Meteo's documentation of its variables:
- shortwave_radiation is the MEAN over the PRECEDING interval: the value stamped T (15-minute
  data) covers [T - 15 min, T). FlexMeasures stamps an average by the START of its interval, so it
  is recorded at T - 15 min with a 15-minute duration. (With hourly data it would be the preceding
  hour; we do not ask for hourly data.)
- temperature_2m and wind_speed_10m are instantaneous values at T, recorded at T.
Only values whose interval has ended by the time of the fetch are kept: these are the service's
best estimate of what happened, not forecasts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

QUARTER = timedelta(minutes=15)

# Open-Meteo variable -> (our quantity, the unit we require in minutely_15_units, averaged?)
VARIABLES = {
    "shortwave_radiation": ("irradiance", "W/m²", True),
    "temperature_2m": ("temperature", "°C", False),
    "wind_speed_10m": ("wind_speed", "m/s", False),
}
UNITS_FOR_FLEXMEASURES = {"irradiance": "W/m²", "temperature": "°C", "wind_speed": "m/s"}


class MalformedResponse(ValueError):
    """Open-Meteo's answer is not what we asked for: nothing of it is used."""


@dataclass(frozen=True)
class Reading:
    quantity: str  # irradiance, temperature, wind_speed
    start: datetime  # FlexMeasures' event start
    resolution: timedelta  # 15 min for an average, 0 for an instantaneous value
    value: float
    unit: str


def request_params(latitude: float, longitude: float, past_quarter_hours: int) -> dict[str, str]:
    return {
        "latitude": f"{latitude:.4f}",
        "longitude": f"{longitude:.4f}",
        "minutely_15": ",".join(VARIABLES),
        "wind_speed_unit": "ms",
        "timezone": "GMT",
        "timeformat": "unixtime",
        "past_minutely_15": str(past_quarter_hours),
        "forecast_minutely_15": "1",
    }


def _list(data: dict[str, Any], key: str, length: int | None) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise MalformedResponse(f"minutely_15.{key} is missing or not a list")
    if length is not None and len(value) != length:
        raise MalformedResponse(f"minutely_15.{key} has {len(value)} values, time has {length}")
    return value


def parse_response(body: Any, now: datetime) -> list[Reading]:
    """Every reading of the answer whose interval has ended by `now`; raise when malformed."""
    if not isinstance(body, dict):
        raise MalformedResponse("not a JSON object")
    if body.get("error"):
        raise MalformedResponse(f"Open-Meteo error: {body.get('reason', '?')}")
    if body.get("utc_offset_seconds", 0) != 0:
        raise MalformedResponse("answer is not in UTC (utc_offset_seconds != 0)")
    data, units = body.get("minutely_15"), body.get("minutely_15_units")
    if not isinstance(data, dict) or not isinstance(units, dict):
        raise MalformedResponse("minutely_15 or minutely_15_units missing")
    if units.get("time") != "unixtime":
        raise MalformedResponse(f"times are {units.get('time')!r}, we asked for unixtime")
    times = _list(data, "time", None)
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in times):
        raise MalformedResponse("minutely_15.time holds something else than unix seconds")
    columns = {}
    for variable, (_, unit, _) in VARIABLES.items():
        if units.get(variable) != unit:
            raise MalformedResponse(f"{variable} is in {units.get(variable)!r}, expected {unit!r}")
        column = _list(data, variable, len(times))
        for value in column:
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise MalformedResponse(f"{variable} holds a non-number: {value!r}")
        columns[variable] = column

    readings = []
    for index, stamp in enumerate(times):
        moment = datetime.fromtimestamp(stamp, UTC)
        if moment > now:
            continue  # a forecast: its interval has not ended yet
        for variable, (quantity, unit, averaged) in VARIABLES.items():
            value = columns[variable][index]
            if value is None:
                continue
            if averaged:
                readings.append(Reading(quantity, moment - QUARTER, QUARTER, float(value), unit))
            else:
                readings.append(Reading(quantity, moment, timedelta(0), float(value), unit))
    return readings
