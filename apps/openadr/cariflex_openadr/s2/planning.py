"""Turn an OpenADR event into FRBC instructions that each resource manager (RM) can carry out.

Pure functions, no I/O, so the limits can be checked by property tests.

Conventions:
- S2 power is in W, consumption positive. Our configuration speaks kW.
- An instruction picks an operation mode of the RM's own FRBC.SystemDescription and a factor
  0..1; the resulting power is start + factor * (end - start) of the mode's power range at the
  RM's present fill level. Only non-abnormal modes are used.
- Each resource stays within its band: its configured range, narrowed by the event.
- The site limit is on the sum of the absolute powers of the S2 resources: a conservative bound
  (it also bounds the net total) that stays true when a power is rounded towards zero, which is
  what discrete operation modes force us to do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from s2python.common import CommodityQuantity
from s2python.frbc import (
    FRBCActuatorDescription,
    FRBCInstruction,
    FRBCOperationMode,
    FRBCSystemDescription,
)

from cariflex_openadr.config import DRLevel
from cariflex_openadr.units import kw_to_w, w_to_kw

ELECTRIC_QUANTITIES = {
    CommodityQuantity.ELECTRIC_POWER_L1,
    CommodityQuantity.ELECTRIC_POWER_L2,
    CommodityQuantity.ELECTRIC_POWER_L3,
    CommodityQuantity.ELECTRIC_POWER_3_PHASE_SYMMETRIC,
}
# Floating-point slack when comparing watts; far below anything a meter resolves.
TOLERANCE_W = 1e-6


class NoFeasibleInstruction(ValueError):
    """The RM offers no operation mode whose power fits the band we must keep it in."""


@dataclass(frozen=True)
class ResourceState:
    """What the CEM knows about one connected RM."""

    resource_id: str
    min_power_kw: float
    max_power_kw: float
    system_description: FRBCSystemDescription
    fill_level: float
    baseline_power_kw: float  # what it ran at before any event: "normal operation"


@dataclass(frozen=True)
class Band:
    """Power window for one resource, in kW, with the power we would like it to run at."""

    low_kw: float
    high_kw: float
    target_kw: float


@dataclass(frozen=True)
class PlannedInstruction:
    resource_id: str
    power_kw: float
    instruction: FRBCInstruction


def _actuator(description: FRBCSystemDescription) -> FRBCActuatorDescription:
    # Our RMs (batteries, EV chargers) have one actuator each; further ones are left alone.
    return description.actuators[0]


def mode_power_range_w(mode: FRBCOperationMode, fill_level: float) -> tuple[float, float]:
    """Electric power at factor 0 and at factor 1 of a mode, at the given fill level."""
    elements = sorted(mode.elements, key=lambda e: e.fill_level_range.start_of_range)
    chosen = elements[-1]
    for element in elements:
        if fill_level <= element.fill_level_range.end_of_range:
            chosen = element
            break
    ranges = [r for r in chosen.power_ranges if r.commodity_quantity in ELECTRIC_QUANTITIES]
    return (
        sum(r.start_of_range for r in ranges),
        sum(r.end_of_range for r in ranges),
    )


def power_at_w(mode: FRBCOperationMode, fill_level: float, factor: float) -> float:
    start, end = mode_power_range_w(mode, fill_level)
    return start + factor * (end - start)


def mode_by_id(description: FRBCSystemDescription, mode_id: uuid.UUID) -> FRBCOperationMode | None:
    return next((m for m in _actuator(description).operation_modes if m.id == mode_id), None)


def _factor_for(start: float, end: float, power: float) -> float:
    if end == start:
        return 0.0
    return min(1.0, max(0.0, (power - start) / (end - start)))


def choose_mode(
    description: FRBCSystemDescription,
    fill_level: float,
    low_w: float,
    high_w: float,
    target_w: float,
) -> tuple[FRBCOperationMode, float, float]:
    """Pick the mode and factor whose power is nearest the target while inside [low, high]."""
    best: tuple[float, float, FRBCOperationMode, float, float] | None = None
    for mode in _actuator(description).operation_modes:
        if mode.abnormal_condition_only:
            continue
        start, end = mode_power_range_w(mode, fill_level)
        reach_low, reach_high = max(low_w, min(start, end)), min(high_w, max(start, end))
        if reach_low > reach_high + TOLERANCE_W:
            continue
        wanted = min(max(target_w, reach_low), reach_high)
        factor = _factor_for(start, end, wanted)
        power = start + factor * (end - start)
        if not low_w - TOLERANCE_W <= power <= high_w + TOLERANCE_W:
            continue
        key = (abs(power - target_w), abs(power))
        if best is None or key < best[:2]:
            best = (*key, mode, factor, power)
    if best is None:
        raise NoFeasibleInstruction(
            f"no operation mode reaches {low_w:.0f}..{high_w:.0f} W at fill level {fill_level}"
        )
    return best[2], best[3], best[4]


def _instruction(
    state: ResourceState, band_low_w: float, band_high_w: float, target_w: float, now: datetime
) -> PlannedInstruction:
    mode, factor, power_w = choose_mode(
        state.system_description, state.fill_level, band_low_w, band_high_w, target_w
    )
    instruction = FRBCInstruction(
        message_id=uuid.uuid4(),
        id=uuid.uuid4(),
        actuator_id=_actuator(state.system_description).id,
        operation_mode=mode.id,
        operation_mode_factor=factor,
        execution_time=now,
        abnormal_condition=False,
    )
    return PlannedInstruction(state.resource_id, w_to_kw(power_w), instruction)


def plan(
    states: Iterable[ResourceState],
    bands: Mapping[str, Band],
    site_limit_kw: float,
    now: datetime | None = None,
) -> list[PlannedInstruction]:
    """Instructions for every resource, each within its band, together within the site limit."""
    now = now or datetime.now(UTC)
    states = list(states)
    planned = []
    for state in states:
        band = bands[state.resource_id]
        planned.append(
            _instruction(
                state, kw_to_w(band.low_kw), kw_to_w(band.high_kw), kw_to_w(band.target_kw), now
            )
        )
    total_kw = sum(abs(p.power_kw) for p in planned)
    if total_kw <= site_limit_kw + w_to_kw(TOLERANCE_W):
        return planned
    scale = site_limit_kw / total_kw
    rescaled = []
    for state, first in zip(states, planned, strict=True):
        band = bands[state.resource_id]
        # Only ever towards zero, never past it: |new| <= scale * |old| keeps the sum in bound.
        scaled_w = kw_to_w(first.power_kw * scale)
        low_w = max(kw_to_w(band.low_kw), min(0.0, scaled_w))
        high_w = min(kw_to_w(band.high_kw), max(0.0, scaled_w))
        rescaled.append(_instruction(state, low_w, high_w, scaled_w, now))
    return rescaled


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def load_control_bands(states: Iterable[ResourceState], share: float) -> dict[str, Band]:
    """x-loadControlCapacity: each resource may use `share` of its range, either direction."""
    bands = {}
    for state in states:
        low, high = share * state.min_power_kw, share * state.max_power_kw
        bands[state.resource_id] = Band(low, high, _clamp(state.baseline_power_kw, low, high))
    return bands


def demand_response_bands(states: Iterable[ResourceState], level: DRLevel) -> dict[str, Band]:
    """A DR level caps consumption and may ask storage to discharge (see the level table)."""
    bands = {}
    for state in states:
        low, high = state.min_power_kw, level.consumption_share * state.max_power_kw
        if level.discharge_share > 0:
            target = level.discharge_share * state.min_power_kw
        else:
            target = state.baseline_power_kw
        bands[state.resource_id] = Band(low, high, _clamp(target, low, high))
    return bands
