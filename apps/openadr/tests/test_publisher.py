"""What an event becomes in FlexMeasures: each version's post carries its own belief time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cariflex_openadr.config import FlexMeasuresConfig
from cariflex_openadr.signals import EventKind, Interval
from cariflex_openadr.ven.event_parse import ReceivedEvent
from cariflex_openadr.ven.publisher import posts_for_event

START = datetime(2026, 11, 27, 8, tzinfo=UTC)
CONFIG = FlexMeasuresConfig(sensors={"load_control_signal": 86})


def _event(status: str) -> ReceivedEvent:
    quarter = timedelta(minutes=15)
    intervals = tuple(Interval(START + n * quarter, quarter, 0.4) for n in range(4))
    return ReceivedEvent("e1", 0, status, "LOAD_CONTROL", EventKind.LOAD_CONTROL, intervals)


def test_an_event_and_its_cancellation_are_beliefs_of_their_own_time() -> None:
    learned = START + timedelta(seconds=1.25)
    (live,) = posts_for_event(_event("active"), CONFIG, now=learned)
    assert live.values == (40.0, 40.0, 40.0, 40.0)
    assert live.body()["prior"] == "2026-11-27T08:00:01.250000+00:00"

    # Cancelled within the same second: a belief of a later time (FlexMeasures refused it as a
    # replacement when both got its receipt time in whole seconds).
    cancelled_at = learned + timedelta(milliseconds=300)
    (neutral,) = posts_for_event(_event("cancelled"), CONFIG, now=cancelled_at)
    assert neutral.values == (100.0, 100.0, 100.0, 100.0)
    assert neutral.prior == cancelled_at and neutral.prior != live.prior
