"""Read an event as openleadr's client hands it to us, and refuse anything we cannot act on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cariflex_openadr.signals import (
    KIND_OF_SIGNAL,
    EventKind,
    Interval,
    InvalidEvent,
    validate_intervals,
)


@dataclass(frozen=True)
class ReceivedEvent:
    event_id: str
    modification_number: int
    status: str  # far, near, active, completed, cancelled
    signal_name: str
    kind: EventKind
    intervals: tuple[Interval, ...]

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def start(self) -> datetime:
        return self.intervals[0].start

    @property
    def end(self) -> datetime:
        return self.intervals[-1].end


def parse_event(event: dict[str, Any]) -> ReceivedEvent:
    try:
        descriptor = event["event_descriptor"]
        signals = event["event_signals"]
        if isinstance(signals, dict):
            signals = signals.get("event_signals", [])
        if len(signals) != 1:
            raise InvalidEvent(f"expected exactly one signal, got {len(signals)}")
        signal = signals[0]
        key = (signal["signal_name"], signal["signal_type"])
        if key not in KIND_OF_SIGNAL:
            raise InvalidEvent(f"unsupported signal {key[0]}/{key[1]}")
        kind = KIND_OF_SIGNAL[key]
        intervals = []
        for raw in signal["intervals"]:
            start, duration = raw["dtstart"], raw["duration"]
            if not isinstance(start, datetime) or not isinstance(duration, timedelta):
                raise InvalidEvent("interval without a proper dtstart and duration")
            intervals.append(Interval(start, duration, raw["signal_payload"]))
        intervals.sort(key=lambda i: i.start)
        validate_intervals(kind, intervals)
        return ReceivedEvent(
            event_id=str(descriptor["event_id"]),
            modification_number=int(descriptor["modification_number"]),
            status=str(descriptor.get("event_status", "far")),
            signal_name=key[0],
            kind=kind,
            intervals=tuple(intervals),
        )
    except (KeyError, TypeError) as err:
        raise InvalidEvent(f"event is missing {err}") from err
