"""The VTN's events and the opt responses to them, kept in a JSON file on the state volume.

Written whole to a temporary file and renamed over the old one, so a crash never leaves half a
file. Events that ended more than a day ago are dropped when the store is saved.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cariflex_openadr.signals import EventKind, Interval

KEEP_ENDED = timedelta(days=1)


@dataclass(frozen=True)
class OptResponse:
    opt_type: str
    modification_number: int
    received: datetime


@dataclass(frozen=True)
class EventRecord:
    event_id: str
    kind: EventKind
    intervals: tuple[Interval, ...]
    modification_number: int = 0
    cancelled: bool = False
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    responses: dict[str, OptResponse] = field(default_factory=dict)  # by ven_id

    @property
    def start(self) -> datetime:
        return self.intervals[0].start

    @property
    def end(self) -> datetime:
        return self.intervals[-1].end

    def modified(self, **changes: Any) -> EventRecord:
        return replace(self, modification_number=self.modification_number + 1, **changes)


# openleadr's XML parser turns any text that looks like a number into one, on both sides: an
# event id of digits comes back in the VEN's opt response as an int ("000123" as 123).
_LOOKS_NUMERIC = re.compile(r"-?[\d.]+")


def looks_numeric(event_id: str) -> bool:
    return _LOOKS_NUMERIC.fullmatch(event_id) is not None


def new_event_id() -> str:
    """Twelve hex digits, never all of them decimal (one id in 280 would be, and openleadr would
    hand it back as a number)."""
    while True:
        candidate = uuid.uuid4().hex[:12]
        if not looks_numeric(candidate):
            return candidate


def _to_json(record: EventRecord) -> dict[str, Any]:
    return {
        "event_id": record.event_id,
        "kind": record.kind.value,
        "intervals": [
            {"start": i.start.isoformat(), "seconds": i.duration.total_seconds(), "value": i.value}
            for i in record.intervals
        ],
        "modification_number": record.modification_number,
        "cancelled": record.cancelled,
        "created": record.created.isoformat(),
        "responses": {
            ven: {
                "opt_type": r.opt_type,
                "modification_number": r.modification_number,
                "received": r.received.isoformat(),
            }
            for ven, r in record.responses.items()
        },
    }


def _from_json(raw: dict[str, Any]) -> EventRecord:
    return EventRecord(
        event_id=raw["event_id"],
        kind=EventKind(raw["kind"]),
        intervals=tuple(
            Interval(
                datetime.fromisoformat(i["start"]), timedelta(seconds=i["seconds"]), i["value"]
            )
            for i in raw["intervals"]
        ),
        modification_number=int(raw["modification_number"]),
        cancelled=bool(raw["cancelled"]),
        created=datetime.fromisoformat(raw["created"]),
        responses={
            ven: OptResponse(
                r["opt_type"], int(r["modification_number"]), datetime.fromisoformat(r["received"])
            )
            for ven, r in raw.get("responses", {}).items()
        },
    )


class EventStore:
    def __init__(self, state_dir: str | Path) -> None:
        self._path = Path(state_dir) / "events.json"
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self.events: dict[str, EventRecord] = {}
        if self._path.exists():
            raw = json.loads(self._path.read_text(encoding="utf-8"))
            self.events = {e["event_id"]: _from_json(e) for e in raw.get("events", [])}

    def save(self) -> None:
        cutoff = datetime.now(UTC) - KEEP_ENDED
        self.events = {k: e for k, e in self.events.items() if e.end > cutoff}
        payload = {"events": [_to_json(e) for e in self.events.values()]}
        tmp = self._path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)

    def put(self, record: EventRecord) -> EventRecord:
        self.events[record.event_id] = record
        self.save()
        return record

    def get(self, event_id: str) -> EventRecord | None:
        return self.events.get(event_id)

    def find(self, event_id: object) -> EventRecord | None:
        """The event an id parsed by openleadr names: the text as it is, or, when openleadr made a
        number of it, the stored id of digits with that value (events stored before ids were
        kept from looking numeric)."""
        record = self.events.get(str(event_id))
        numeric = isinstance(event_id, int | float) and not isinstance(event_id, bool)
        if record is not None or not numeric:
            return record
        for candidate in self.events.values():
            if looks_numeric(candidate.event_id):
                try:
                    if float(candidate.event_id) == float(event_id):
                        return candidate
                except ValueError:  # "1.2.3" looks numeric to openleadr's pattern, is not one
                    continue
        return None

    def live(self, now: datetime | None = None) -> list[EventRecord]:
        """Events a VEN still has to know about: not ended (cancelled ones until they end)."""
        now = now or datetime.now(UTC)
        return sorted((e for e in self.events.values() if e.end > now), key=lambda e: e.start)

    def record_response(
        self, event_id: str, ven_id: str, opt_type: str, modification_number: int
    ) -> None:
        record = self.events.get(event_id)
        if record is None:
            return
        responses = dict(record.responses)
        responses[ven_id] = OptResponse(opt_type, modification_number, datetime.now(UTC))
        self.put(replace(record, responses=responses))
