"""Property tests: whatever the event and RM state, instructions are valid S2 and within limits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from s2python.frbc import FRBCInstruction, FRBCSystemDescription

from cariflex_openadr.config import DEFAULT_DR_LEVELS, DRLevel
from cariflex_openadr.s2.planning import (
    TOLERANCE_W,
    ResourceState,
    demand_response_bands,
    load_control_bands,
    mode_by_id,
    plan,
    power_at_w,
)
from cariflex_openadr.s2.rm_client import operation_mode, storage_system_description
from cariflex_openadr.units import kw_to_w, w_to_kw

SEED_RESOURCES = [(f"battery_{n:02d}", -50.0, 50.0) for n in range(1, 6)] + [
    (f"ev_{n:02d}", -22.0, 22.0) for n in range(1, 6)
]
EPS_KW = w_to_kw(TOLERANCE_W) * 10


@st.composite
def resource_states(draw: st.DrawFn) -> list[ResourceState]:
    """The seed's resources, each with an RM whose own range may be narrower than ours."""
    chosen = draw(st.lists(st.sampled_from(SEED_RESOURCES), min_size=1, max_size=10, unique=True))
    states = []
    for resource_id, low, high in chosen:
        rm_low = draw(st.floats(min_value=low, max_value=0.0))
        rm_high = draw(st.floats(min_value=0.0, max_value=high))
        capacity = draw(st.floats(min_value=1.0, max_value=200.0))
        # Sometimes a mode that cannot run near zero (a charger's minimum current): forces the
        # planner to round towards zero onto another mode.
        extra = []
        if draw(st.booleans()) and rm_high > 1.0:
            floor_kw = draw(st.floats(min_value=0.5, max_value=rm_high))
            extra.append(
                operation_mode("charge-min", kw_to_w(floor_kw), kw_to_w(rm_high), capacity)
            )
        description = storage_system_description(rm_low, rm_high, capacity, extra)
        # Round-trip through JSON: the CEM only ever sees what the RM sent over the wire.
        description = FRBCSystemDescription.from_json(description.to_json())
        states.append(
            ResourceState(
                resource_id=resource_id,
                min_power_kw=low,
                max_power_kw=high,
                system_description=description,
                fill_level=draw(st.floats(min_value=0.0, max_value=capacity)),
                baseline_power_kw=draw(st.floats(min_value=low, max_value=high)),
            )
        )
    return states


def _check(states, planned, site_limit_kw, bands) -> None:
    by_id = {s.resource_id: s for s in states}
    assert sorted(p.resource_id for p in planned) == sorted(by_id)
    for item in planned:
        state = by_id[item.resource_id]
        # Valid S2: survives serialisation and s2-python's validation.
        parsed = FRBCInstruction.from_json(item.instruction.to_json())
        assert 0.0 <= parsed.operation_mode_factor <= 1.0
        mode = mode_by_id(state.system_description, parsed.operation_mode)
        assert mode is not None, "the mode must be one the RM offered"
        assert not mode.abnormal_condition_only
        assert parsed.actuator_id == state.system_description.actuators[0].id
        power_kw = w_to_kw(power_at_w(mode, state.fill_level, parsed.operation_mode_factor))
        assert abs(power_kw - item.power_kw) < EPS_KW
        assert state.min_power_kw - EPS_KW <= power_kw <= state.max_power_kw + EPS_KW
        band = bands[item.resource_id]
        assert band.low_kw - EPS_KW <= power_kw <= band.high_kw + EPS_KW
    assert sum(abs(p.power_kw) for p in planned) <= site_limit_kw + EPS_KW * len(planned)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    states=resource_states(),
    share=st.floats(min_value=0.0, max_value=1.0),
    site_capacity=st.floats(min_value=1.0, max_value=400.0),
)
def test_load_control_stays_within_every_limit(states, share, site_capacity) -> None:
    bands = load_control_bands(states, share)
    planned = plan(states, bands, share * site_capacity, now=datetime.now(UTC))
    _check(states, planned, share * site_capacity, bands)
    for item in planned:
        resource = next(s for s in states if s.resource_id == item.resource_id)
        assert share * resource.min_power_kw - EPS_KW <= item.power_kw
        assert item.power_kw <= share * resource.max_power_kw + EPS_KW


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    states=resource_states(),
    level=st.sampled_from(sorted(DEFAULT_DR_LEVELS)),
    site_capacity=st.floats(min_value=1.0, max_value=400.0),
)
def test_demand_response_stays_within_every_limit(states, level, site_capacity) -> None:
    table: DRLevel = DEFAULT_DR_LEVELS[level]
    bands = demand_response_bands(states, table)
    planned = plan(states, bands, site_capacity)
    _check(states, planned, site_capacity, bands)
    for item in planned:
        resource = next(s for s in states if s.resource_id == item.resource_id)
        # A DR level never lets a resource consume more than its share.
        assert item.power_kw <= table.consumption_share * resource.max_power_kw + EPS_KW


def test_instruction_ids_are_fresh() -> None:
    states = [
        ResourceState("battery_01", -50, 50, storage_system_description(-50, 50, 100), 50.0, 20.0)
    ]
    first = plan(states, load_control_bands(states, 0.5), 100)[0]
    second = plan(states, load_control_bands(states, 0.5), 100)[0]
    assert first.instruction.message_id != second.instruction.message_id
    assert isinstance(first.instruction.id, uuid.UUID)
    assert first.power_kw == 20.0  # within 0.5 * 50 kW: the baseline is kept


def test_site_limit_scales_towards_zero() -> None:
    states = [
        ResourceState(f"battery_0{n}", -50, 50, storage_system_description(-50, 50, 100), 50, 50)
        for n in range(1, 6)
    ]
    planned = plan(states, load_control_bands(states, 0.4), 0.4 * 100)
    # Each may use 20 kW, but the site only 40 kW: 8 kW each.
    assert [round(p.power_kw, 6) for p in planned] == [8.0] * 5
