"""The outbox: kept across restarts, delivered in order, each event version queued once."""

from __future__ import annotations

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
    reopened.delivered(first.row_id)
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
