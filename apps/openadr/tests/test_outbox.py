"""The outbox: kept across restarts, delivered in order, each event version queued once."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cariflex_openadr.ven.outbox import Outbox, Post


def _post(value: float) -> Post:
    return Post(1, datetime(2026, 11, 27, tzinfo=UTC), timedelta(hours=1), "%", (value,), "e#0")


def test_survives_a_restart_and_keeps_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    outbox.put(_post(1.0))
    outbox.put(_post(2.0))
    outbox.close()
    reopened = Outbox(path)
    first = reopened.oldest()
    assert first is not None and first.values == (1.0,)
    assert first.body() == {
        "values": [1.0],
        "start": "2026-11-27T00:00:00+00:00",
        "duration": "PT3600S",
        "unit": "%",
    }
    assert reopened.delivered(first)
    second = reopened.oldest()
    assert second is not None and second.values == (2.0,)


def test_an_event_version_is_queued_once(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    assert outbox.put_for_event([_post(1.0)], "e", 0, "live")
    assert not outbox.put_for_event([_post(1.0)], "e", 0, "live")  # handed to us again
    assert outbox.put_for_event([_post(5.0)], "e", 1, "live")  # a modification
    assert outbox.put_for_event([_post(100.0)], "e", 2, "cancelled")
    assert outbox.pending() == 3


def test_rejected_post_is_set_aside(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.put(_post(1.0))
    post = outbox.oldest()
    assert post is not None
    outbox.reject(post, "HTTP 422")
    assert outbox.pending() == 0 and outbox.rejected() == 1


def _s2(sensor_id: int, value: float, minute: int = 0) -> Post:
    start = datetime(2026, 11, 27, 10, minute, tzinfo=UTC)
    return Post(sensor_id, start, timedelta(minutes=15), "kWh", (value,), "s2")


def test_a_newer_sample_replaces_the_waiting_one_of_its_slot(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.put(_post(1.0))  # an event's post: never merged
    for value in (10.0, 11.0, 12.0):  # an RM reporting its state of charge often
        outbox.put_latest(_s2(7, value))
    outbox.put_latest(_s2(8, 3.0))  # another sensor
    outbox.put_latest(_s2(7, 20.0, minute=15))  # the next slot
    assert outbox.pending() == 4
    first = outbox.oldest()
    assert first is not None and first.values == (1.0,)
    assert outbox.delivered(first)
    second = outbox.oldest()
    assert second is not None and (second.sensor_id, second.values) == (7, (12.0,))


def test_a_sample_replaced_while_being_posted_is_posted_again(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.put_latest(_s2(7, 10.0))
    in_flight = outbox.oldest()
    assert in_flight is not None
    outbox.put_latest(_s2(7, 11.0))  # arrives while 10.0 is on its way to FlexMeasures
    assert not outbox.delivered(in_flight)
    again = outbox.oldest()
    assert again is not None and again.row_id == in_flight.row_id and again.values == (11.0,)
    assert outbox.delivered(again)
    assert outbox.pending() == 0


def test_a_sample_keeps_its_own_belief_time(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    seen = datetime(2026, 11, 27, 0, 7, 30, tzinfo=UTC)
    outbox.put_latest(replace(_post(1.0), prior=seen))
    later = seen + timedelta(minutes=2)
    outbox.put_latest(replace(_post(2.0), prior=later))  # the same slot: replaces, newer time
    outbox.close()
    waiting = Outbox(path).oldest()
    assert waiting is not None and waiting.values == (2.0,)
    assert waiting.body()["prior"] == "2026-11-27T00:09:30+00:00"


def test_an_outbox_from_before_belief_times_is_kept(tmp_path: Path) -> None:
    # The VEN's state volume outlives an upgrade: the rows waiting in an outbox written by the
    # previous version (no `prior` column) are delivered, not lost.
    path = tmp_path / "outbox.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, sensor_id INTEGER NOT NULL,"
        " start TEXT NOT NULL, duration_seconds REAL NOT NULL, unit TEXT NOT NULL,"
        " vals TEXT NOT NULL, origin TEXT NOT NULL, created TEXT NOT NULL);"
        "INSERT INTO outbox (sensor_id, start, duration_seconds, unit, vals, origin, created)"
        " VALUES (1, '2026-11-27T00:00:00+00:00', 3600, '%', '[7.0]', 'e#0', 'x');"
    )
    old.commit()
    old.close()
    outbox = Outbox(path)
    waiting = outbox.oldest()
    assert waiting is not None and waiting.values == (7.0,) and waiting.prior is None
    assert "prior" not in waiting.body()
    outbox.put(replace(_post(8.0), prior=datetime(2026, 11, 27, tzinfo=UTC)))
    assert outbox.pending() == 2
