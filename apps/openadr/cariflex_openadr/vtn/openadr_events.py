"""Our stored events as openleadr Event objects, built fresh for every distribution."""

from __future__ import annotations

from datetime import UTC, datetime

from openleadr import objects

from cariflex_openadr.signals import SIGNAL_OF_KIND
from cariflex_openadr.vtn.store import EventRecord


def to_openleadr(record: EventRecord, ven_id: str, market_context: str) -> objects.Event:
    signal_name, signal_type = SIGNAL_OF_KIND[record.kind]
    intervals = [
        objects.Interval(dtstart=i.start, duration=i.duration, signal_payload=i.value, uid=n)
        for n, i in enumerate(record.intervals)
    ]
    active_period = objects.ActivePeriod(dtstart=record.start, duration=record.end - record.start)
    event = objects.Event(
        event_descriptor=objects.EventDescriptor(
            event_id=record.event_id,
            modification_number=record.modification_number,
            market_context=market_context,
            event_status="far",
            created_date_time=record.created,
            modification_date_time=datetime.now(UTC),
        ),
        active_period=active_period,
        event_signals=[
            objects.EventSignal(
                intervals=intervals,
                signal_name=signal_name,
                signal_type=signal_type,
                signal_id=f"{record.event_id}-0",
            )
        ],
        targets=[objects.Target(ven_id=ven_id)],
        response_required="always",
    )
    # openleadr's Event derives the status from the period when built; cancelling is ours to say.
    if record.cancelled:
        event.event_descriptor.event_status = "cancelled"
    return event
