"""Unit and sign conversions between OpenADR, S2 and FlexMeasures, in one place to test them.

Sign convention: S2 counts consumption as positive power (power drawn from the grid by the
resource). FlexMeasures power sensors declare theirs through the sensor attribute
`consumption_is_positive` (FlexMeasures' default is False: production positive).
"""

from __future__ import annotations

KWH_PER_MWH = 1000.0
W_PER_KW = 1000.0


def price_per_kwh_to_per_mwh(price_per_kwh: float) -> float:
    """OpenADR prices are per kWh; the consumption_price sensor is EUR/MWh."""
    return round(price_per_kwh * KWH_PER_MWH, 6)


def load_control_share_to_percent(share: float) -> float:
    """x-loadControlCapacity is a share 0..1; the load_control_signal sensor is in %."""
    return round(share * 100.0, 6)


def kw_to_w(kilowatts: float) -> float:
    return kilowatts * W_PER_KW


def w_to_kw(watts: float) -> float:
    return watts / W_PER_KW


def s2_power_to_flexmeasures(power_kw: float, consumption_is_positive: bool) -> float:
    """Turn S2 power (consumption positive) into the sign a FlexMeasures sensor expects."""
    return power_kw if consumption_is_positive else -power_kw
