"""Event ids the VTN makes, and finding an event by the id openleadr parsed from an answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cariflex_openadr.signals import EventKind, Interval, InvalidEvent
from cariflex_openadr.vtn import store as store_module
from cariflex_openadr.vtn.server import VTN
from cariflex_openadr.vtn.store import EventRecord, EventStore, looks_numeric, new_event_id

from .loopback import site_config


def _record(event_id: str) -> EventRecord:
    start = datetime.now(UTC).replace(microsecond=0)
    return EventRecord(
        event_id, EventKind.LOAD_CONTROL, (Interval(start, timedelta(hours=1), 0.5),)
    )


@pytest.mark.parametrize(
    ("event_id", "numeric"),
    [
        ("183973031365", True),
        ("-12", True),
        ("1.5", True),
        ("1e5", False),
        ("a83973031365", False),
        ("price-2026-12-07", False),
    ],
)
def test_what_openleadr_would_turn_into_a_number(event_id: str, numeric: bool) -> None:
    assert looks_numeric(event_id) is numeric


def test_new_ids_are_never_all_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["183973031365" + "4" * 20, "1839730313a5" + "4" * 20])
    monkeypatch.setattr(store_module.uuid, "uuid4", lambda: uuid.UUID(next(drawn)))
    assert new_event_id() == "1839730313a5"


def test_find_by_the_parsed_id(tmp_path: Path) -> None:
    events = EventStore(tmp_path)
    for event_id in ("183973031365", "000000000042", "1.2.3", "abc"):
        events.put(_record(event_id))
    assert events.find("abc").event_id == "abc"
    assert events.find(183973031365).event_id == "183973031365"
    assert events.find(42).event_id == "000000000042"
    assert events.find("183973031365").event_id == "183973031365"
    assert events.find(7) is None
    assert events.find(True) is None


def test_the_vtn_refuses_to_create_an_id_of_digits(tmp_path: Path) -> None:
    vtn = VTN(site_config(tmp_path, tmp_path).vtn)
    with pytest.raises(InvalidEvent, match="looks like a number"):
        vtn.create_event(EventKind.LOAD_CONTROL, list(_record("x").intervals), event_id="20261207")
