"""The events both ends agree on: what a price, load-control or demand-response event carries.

OpenADR terms: ENERGY_PRICE/price (currency per kWh), LOAD_CONTROL/x-loadControlCapacity (the
share 0..1 of each resource's flexible capacity it may use), SIMPLE/level (levels 0..3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise


class EventKind(StrEnum):
    PRICE = "price"
    LOAD_CONTROL = "load_control"
    DEMAND_RESPONSE = "demand_response"


SIGNAL_OF_KIND: dict[EventKind, tuple[str, str]] = {
    EventKind.PRICE: ("ENERGY_PRICE", "price"),
    EventKind.LOAD_CONTROL: ("LOAD_CONTROL", "x-loadControlCapacity"),
    EventKind.DEMAND_RESPONSE: ("SIMPLE", "level"),
}
KIND_OF_SIGNAL: dict[tuple[str, str], EventKind] = {v: k for k, v in SIGNAL_OF_KIND.items()}

DR_LEVELS = (0, 1, 2, 3)


class InvalidEvent(ValueError):
    """An event whose content we refuse to act on."""


@dataclass(frozen=True)
class Interval:
    start: datetime
    duration: timedelta
    value: float

    @property
    def end(self) -> datetime:
        return self.start + self.duration


def validate_value(kind: EventKind, value: float) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidEvent(f"{kind} value {value!r} is not a finite number")
    if kind is EventKind.LOAD_CONTROL and not 0.0 <= value <= 1.0:
        raise InvalidEvent(f"load-control capacity {value} lies outside 0..1")
    if kind is EventKind.DEMAND_RESPONSE and value not in DR_LEVELS:
        raise InvalidEvent(f"demand-response level {value} is not one of {DR_LEVELS}")


def validate_intervals(kind: EventKind, intervals: list[Interval]) -> None:
    if not intervals:
        raise InvalidEvent("an event needs at least one interval")
    for interval in intervals:
        if interval.start.tzinfo is None:
            raise InvalidEvent("interval start must carry a time zone")
        if interval.duration <= timedelta(0):
            raise InvalidEvent("interval duration must be positive")
        validate_value(kind, interval.value)
    ordered = sorted(intervals, key=lambda i: i.start)
    for before, after in pairwise(ordered):
        if before.end != after.start:
            raise InvalidEvent("intervals must follow each other without gaps or overlaps")
    if len({i.duration for i in intervals}) != 1:
        # FlexMeasures takes one resolution per post; mixed durations would be resampled wrongly.
        raise InvalidEvent("all intervals of an event must have the same duration")
