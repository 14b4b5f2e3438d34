"""Unit and sign conversions: the numbers FlexMeasures receives."""

from __future__ import annotations

import pytest

from cariflex_openadr.units import (
    kw_to_w,
    load_control_share_to_percent,
    price_per_kwh_to_per_mwh,
    s2_power_to_flexmeasures,
    w_to_kw,
)


@pytest.mark.parametrize(("per_kwh", "per_mwh"), [(0.25, 250.0), (0.0, 0.0), (-0.013, -13.0)])
def test_price_per_kwh_becomes_per_mwh(per_kwh: float, per_mwh: float) -> None:
    assert price_per_kwh_to_per_mwh(per_kwh) == pytest.approx(per_mwh)


def test_load_control_share_becomes_percent() -> None:
    assert load_control_share_to_percent(0.35) == pytest.approx(35.0)


def test_kw_w_round_trip() -> None:
    assert w_to_kw(kw_to_w(22.0)) == 22.0


def test_sign_convention_s2_consumption_positive() -> None:
    # A battery charging at 10 kW: S2 says +10 (consumption positive).
    assert s2_power_to_flexmeasures(10.0, consumption_is_positive=True) == 10.0
    # FlexMeasures' default convention (consumption_is_positive false) records it as -10.
    assert s2_power_to_flexmeasures(10.0, consumption_is_positive=False) == -10.0
    assert s2_power_to_flexmeasures(-7.5, consumption_is_positive=False) == 7.5
