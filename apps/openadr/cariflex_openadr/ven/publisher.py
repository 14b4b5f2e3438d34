"""What an OpenADR event becomes in FlexMeasures: one post of its intervals to its sensor.

- ENERGY_PRICE -> consumption_price, currency/kWh converted to EUR/MWh.
- LOAD_CONTROL -> load_control_signal, share 0..1 as %.
- SIMPLE       -> demand_response_signal, the level.
A modified event re-posts all its intervals (FlexMeasures keeps the newest belief). A cancelled
load-control or DR event posts the neutral value (100 %, level 0) over what is left of it; a
cancelled price event leaves the published prices alone, as there is no neutral price.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from cariflex_openadr.config import FlexMeasuresConfig
from cariflex_openadr.signals import EventKind, Interval
from cariflex_openadr.units import load_control_share_to_percent, price_per_kwh_to_per_mwh
from cariflex_openadr.ven.event_parse import ReceivedEvent
from cariflex_openadr.ven.outbox import Post

log = logging.getLogger(__name__)

SENSOR_OF_KIND = {
    EventKind.PRICE: "consumption_price",
    EventKind.LOAD_CONTROL: "load_control_signal",
    EventKind.DEMAND_RESPONSE: "demand_response_signal",
}
NEUTRAL_VALUE = {EventKind.LOAD_CONTROL: 1.0, EventKind.DEMAND_RESPONSE: 0}


def sensor_value(kind: EventKind, value: float) -> float:
    if kind is EventKind.PRICE:
        return price_per_kwh_to_per_mwh(value)
    if kind is EventKind.LOAD_CONTROL:
        return load_control_share_to_percent(value)
    return float(value)


def posts_for_event(
    event: ReceivedEvent, flexmeasures: FlexMeasuresConfig, now: datetime | None = None
) -> list[Post]:
    sensor_name = SENSOR_OF_KIND[event.kind]
    sensor_id = flexmeasures.sensor_id(sensor_name)
    unit = flexmeasures.unit_of(sensor_name)
    intervals: list[Interval] = list(event.intervals)
    # When we learned these values: their belief time. Left to FlexMeasures (its receipt, whole
    # seconds), an event's cancellation posted within the second of its delayed first post was
    # refused as a replacement of the same belief (HTTP 403).
    now = now or datetime.now(UTC)
    if event.cancelled:
        if event.kind not in NEUTRAL_VALUE:
            log.info("price event %s cancelled: published prices stay as they are", event.event_id)
            return []
        neutral = NEUTRAL_VALUE[event.kind]
        intervals = [Interval(i.start, i.duration, neutral) for i in intervals if i.end > now]
        if not intervals:
            return []
    return [
        Post(
            sensor_id=sensor_id,
            start=intervals[0].start,
            resolution=intervals[0].duration,
            unit=unit,
            values=tuple(sensor_value(event.kind, i.value) for i in intervals),
            origin=f"{event.event_id}#{event.modification_number}",
            prior=now,
        )
    ]
