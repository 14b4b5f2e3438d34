"""Where the sun is, and how much light a clear sky gives (the PV fallback without weather data).

Solar position from the NOAA approximations (declination and equation of time from the fractional
year, good to a fraction of a degree); clear-sky global horizontal irradiance from Haurwitz's model
(GHI = 1098 cos(z) exp(-0.057 / cos(z)) W/m²), which needs nothing but the zenith angle.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime


def cos_zenith(moment: datetime, latitude: float, longitude: float) -> float:
    moment = moment.astimezone(UTC)
    day_of_year = moment.timetuple().tm_yday
    hours = moment.hour + moment.minute / 60 + moment.second / 3600
    gamma = 2 * math.pi / 365 * (day_of_year - 1 + (hours - 12) / 24)
    equation_of_time = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    declination = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    true_solar_minutes = hours * 60 + equation_of_time + 4 * longitude
    hour_angle = math.radians(true_solar_minutes / 4 - 180)
    lat = math.radians(latitude)
    return math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(declination) * math.cos(
        hour_angle
    )


def clear_sky_ghi(moment: datetime, latitude: float, longitude: float) -> float:
    """W/m² on a horizontal surface under a clear sky; 0 at night."""
    cz = cos_zenith(moment, latitude, longitude)
    if cz <= 0.01:
        return 0.0
    return 1098.0 * cz * math.exp(-0.057 / cz)
