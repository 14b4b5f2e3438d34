"""An on-disk queue of FlexMeasures posts, so that values survive FlexMeasures (or us) being down.

SQLite in the state volume: each row is one POST /api/v3_0/sensors/<id>/data body. A row is
deleted only in the same transaction that follows FlexMeasures' success answer, so a value is
posted until FlexMeasures has it. The one window left (FlexMeasures saved, we died before the
delete) re-posts identical beliefs, which FlexMeasures drops (it saves changed beliefs only).

Sampled S2 values (a state of charge, an instructed power) go in with `put_latest`: a newer
value for the same sensor slot replaces the one still waiting, so a chatty RM keeps at most one
row per sensor and slot in the queue instead of a backlog that grows faster than FlexMeasures
takes it (which delayed every later post, the end of an event included).

Calls are synchronous but tiny (local file, a few rows); the asyncio loop is not held up.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sensor_id INTEGER NOT NULL,
    start TEXT NOT NULL,
    duration_seconds REAL NOT NULL,
    unit TEXT NOT NULL,
    vals TEXT NOT NULL,
    origin TEXT NOT NULL,
    created TEXT NOT NULL,
    prior TEXT
);
CREATE TABLE IF NOT EXISTS published_events (
    event_id TEXT NOT NULL,
    modification_number INTEGER NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (event_id, modification_number, status)
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    sensor_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Post:
    """One sensor-data post: consecutive values of equal duration from `start`."""

    sensor_id: int
    start: datetime
    resolution: timedelta
    unit: str
    values: tuple[float, ...]
    origin: str = ""  # what it came from (event id), for logs and the status of the VEN
    row_id: int | None = None
    # When the values were known (FlexMeasures' belief time); FlexMeasures' receipt if unset. A
    # sampled value carries its own, so that a later sample of the same slot is a new belief
    # rather than a replacement of one with the same belief time (refused, HTTP 403).
    prior: datetime | None = None

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {
            "values": list(self.values),
            "start": self.start.isoformat(),
            "duration": _iso_duration(self.resolution * len(self.values)),
            "unit": self.unit,
        }
        if self.prior is not None:
            body["prior"] = self.prior.isoformat()
        return body


def _iso_or_none(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _iso_duration(duration: timedelta) -> str:
    return f"PT{int(duration.total_seconds())}S"


class Outbox:
    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "prior" not in columns:  # an outbox written before the column existed
            self._db.execute("ALTER TABLE outbox ADD COLUMN prior TEXT")

    def close(self) -> None:
        self._db.close()

    def put(self, post: Post) -> int:
        return self._insert(post)

    def put_latest(self, post: Post) -> int:
        """Queue a sampled value, replacing a not yet delivered one of the same sensor slot.

        The replaced row keeps its place in the queue. A row being posted right now may be
        replaced too: `delivered` then keeps it (its values changed), so the newer value is
        posted next.
        """
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT id FROM outbox WHERE sensor_id = ? AND start = ? AND duration_seconds = ?"
                " AND unit = ? AND origin = ? ORDER BY id DESC LIMIT 1",
                (
                    post.sensor_id,
                    post.start.isoformat(),
                    post.resolution.total_seconds(),
                    post.unit,
                    post.origin,
                ),
            ).fetchone()
            if row is None:
                return self._insert(post)
            self._db.execute(
                "UPDATE outbox SET vals = ?, created = ?, prior = ? WHERE id = ?",
                (
                    json.dumps(list(post.values)),
                    datetime.now().astimezone().isoformat(),
                    _iso_or_none(post.prior),
                    row[0],
                ),
            )
            return int(row[0])

    def put_for_event(
        self, posts: list[Post], event_id: str, modification_number: int, status: str
    ) -> bool:
        """Queue an event version's posts once: False when this version was queued before.

        A VEN restart makes the VTN hand us every event again; this is what keeps those from
        being posted twice.
        """
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            seen = self._db.execute(
                "SELECT 1 FROM published_events"
                " WHERE event_id = ? AND modification_number = ? AND status = ?",
                (event_id, modification_number, status),
            ).fetchone()
            if seen:
                return False
            for post in posts:
                self._insert(post)
            self._db.execute(
                "INSERT INTO published_events VALUES (?, ?, ?)",
                (event_id, modification_number, status),
            )
        return True

    def _insert(self, post: Post) -> int:
        cursor = self._db.execute(
            "INSERT INTO outbox"
            " (sensor_id, start, duration_seconds, unit, vals, origin, created, prior)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                post.sensor_id,
                post.start.isoformat(),
                post.resolution.total_seconds(),
                post.unit,
                json.dumps(list(post.values)),
                post.origin,
                datetime.now().astimezone().isoformat(),
                _iso_or_none(post.prior),
            ),
        )
        return int(cursor.lastrowid or 0)

    def oldest(self) -> Post | None:
        row = self._db.execute(
            "SELECT id, sensor_id, start, duration_seconds, unit, vals, origin, prior"
            " FROM outbox ORDER BY id LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        row_id, sensor_id, start, seconds, unit, values, origin, prior = row
        return Post(
            sensor_id=sensor_id,
            start=datetime.fromisoformat(start),
            resolution=timedelta(seconds=seconds),
            unit=unit,
            values=tuple(json.loads(values)),
            origin=origin,
            row_id=row_id,
            prior=datetime.fromisoformat(prior) if prior else None,
        )

    def delivered(self, post: Post) -> bool:
        """Drop the row FlexMeasures took; kept (False) when `put_latest` changed it meanwhile."""
        cursor = self._db.execute(
            "DELETE FROM outbox WHERE id = ? AND vals = ?",
            (post.row_id, json.dumps(list(post.values))),
        )
        return cursor.rowcount == 1

    def reject(self, post: Post, reason: str) -> None:
        """FlexMeasures refused the content itself: keep it aside so the queue moves on."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO rejected (id, sensor_id, body, reason) VALUES (?, ?, ?, ?)",
                (post.row_id, post.sensor_id, json.dumps(post.body()), reason),
            )
            self._db.execute("DELETE FROM outbox WHERE id = ?", (post.row_id,))

    def pending(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def pending_origins(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT origin FROM outbox ORDER BY id")]

    def rejected(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0])
