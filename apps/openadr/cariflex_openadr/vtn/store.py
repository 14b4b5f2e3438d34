"""The VTN's events and the opt responses to them, kept in a JSON file on the state volume.

Written whole to a temporary file and renamed over the old one, so a crash never leaves half a
file. Events that ended more than a day ago are dropped when the store is saved.
"""

from __future__ import annotations

import json
import os
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


def new_event_id() -> str:
    return uuid.uuid4().hex[:12]


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
