"""A state of charge filed at fixed instants, from the samples the RMs happen to send.

FlexMeasures holds an instantaneous quantity as one value per slot of the sensor's resolution,
filed at the slot's start. The RMs report every few seconds, so the first sample after an instant
is usually close to it; but when the reports stall (a busy machine, a reconnection), that sample
can come tens of seconds late, and filing its value at the instant would put a later state of
charge at an earlier time (a 19 s stall against 60 s slots reads as a third less power). So the
value filed is the one at the instant itself: interpolated between the sample before it and the
sample after it, which is exact while the device runs at a constant power between the two.
An instant no two such samples surround is left without a value rather than given a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class InstantSampler:
    period: timedelta
    # Two samples further apart than this are not joined by a straight line (the power may have
    # changed between them): the instant between them is left without a value.
    max_gap: timedelta | None = None
    _previous: tuple[datetime, float] | None = field(default=None, init=False)
    _filed: datetime | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.period <= timedelta(0):
            raise ValueError("period must be positive")
        if self.max_gap is None:
            self.max_gap = self.period

    def instant_of(self, when: datetime) -> datetime:
        return when - (when - EPOCH) % self.period

    def add(self, when: datetime, value: float) -> tuple[datetime, float] | None:
        """(instant, value at that instant) to file for this sample, or None when there is
        nothing new to file: the instant is filed already, or its value is not known.

        A value is known at an instant only when a sample falls on it or two samples close
        enough together lie on either side of it. The first sample (after a start, or after a
        gap) says nothing about the instant before it: filing its value there would put a later
        state at an earlier time (the first report 43 s into its minute read 40 kW as 25.7 kW in
        a three-minute slope), so that instant is skipped and the next one is interpolated."""
        previous = self._previous
        if previous is not None and when < previous[0]:
            return None  # older than the newest sample: ignored, and not interpolated from
        self._previous = (when, value)
        instant = self.instant_of(when)
        if instant == self._filed:
            return None
        if when == instant:
            self._filed = instant
            return instant, value
        if previous is None:
            return None
        before, before_value = previous
        assert self.max_gap is not None
        if before >= instant or when - before > self.max_gap:
            return None
        self._filed = instant
        share = (instant - before) / (when - before)
        return instant, before_value + (value - before_value) * share
