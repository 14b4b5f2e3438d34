"""Gather simulated values into the posts FlexMeasures wants, as few as its API allows.

- AverageSeries: a power averaged over fixed slots (the sensors' PT15M); a slot is posted once,
  when it is complete.
- InstantSeries: instantaneous samples (a state of charge, PT0H) at a fixed spacing.
flush() turns everything complete into posts: one per sensor for each run of consecutive slots
(FlexMeasures takes equally spaced values from one start per request).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cariflex_simulator.flexmeasures import Post

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def floor_time(moment: datetime, spacing: timedelta) -> datetime:
    return moment - (moment - EPOCH) % spacing


def _runs(
    points: list[tuple[datetime, float]], spacing: timedelta
) -> list[list[tuple[datetime, float]]]:
    runs: list[list[tuple[datetime, float]]] = []
    for point in sorted(points):
        if runs and point[0] - runs[-1][-1][0] == spacing:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def _posts(
    sensor_id: int, unit: str, spacing: timedelta, points: list[tuple[datetime, float]]
) -> list[Post]:
    return [
        Post(sensor_id, run[0][0], spacing, unit, tuple(round(v, 4) for _, v in run))
        for run in _runs(points, spacing)
    ]


@dataclass
class AverageSeries:
    sensor_id: int
    unit: str
    resolution: timedelta = timedelta(minutes=15)
    # slot start -> (sum of value x seconds, seconds)
    _slots: dict[datetime, tuple[float, float]] = field(default_factory=dict)

    def add(self, start: datetime, end: datetime, value: float) -> None:
        """The value held from start to end (split across slot boundaries)."""
        while start < end:
            slot = floor_time(start, self.resolution)
            piece_end = min(end, slot + self.resolution)
            seconds = (piece_end - start).total_seconds()
            total, weight = self._slots.get(slot, (0.0, 0.0))
            self._slots[slot] = (total + value * seconds, weight + seconds)
            start = piece_end

    def flush(self, now: datetime) -> list[Post]:
        done = [slot for slot in self._slots if slot + self.resolution <= now]
        points = []
        for slot in done:
            total, weight = self._slots.pop(slot)
            if weight > 0:
                points.append((slot, total / weight))
        return _posts(self.sensor_id, self.unit, self.resolution, points)


@dataclass
class InstantSeries:
    sensor_id: int
    unit: str
    spacing: timedelta
    _samples: dict[datetime, float] = field(default_factory=dict)
    _last_sampled: datetime | None = None

    def sample(self, now: datetime, value: float) -> None:
        """Keep one sample per spacing, at the spacing's own instants."""
        instant = floor_time(now, self.spacing)
        if instant != self._last_sampled:
            self._samples[instant] = value
            self._last_sampled = instant

    def flush(self) -> list[Post]:
        points = sorted(self._samples.items())
        self._samples.clear()
        return _posts(self.sensor_id, self.unit, self.spacing, points)
