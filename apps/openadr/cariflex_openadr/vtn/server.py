"""The VTN: openleadr's server with our allow-list, our event store and a status endpoint.

We deliver events ourselves (openleadr's `on_poll`/`on_request_event` hooks) instead of using
openleadr's in-memory queue, so that events live in the store on the state volume and survive a
restart. Registrations are kept in memory on purpose: after a restart every VEN is asked to
re-register (openleadr answers a poll from an unknown venID with oadrRequestReregistration),
which passes it through the allow-list again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from openleadr import OpenADRServer

from cariflex_openadr.config import VTNConfig
from cariflex_openadr.signals import (
    SIGNAL_OF_KIND,
    EventKind,
    Interval,
    InvalidEvent,
    validate_intervals,
)
from cariflex_openadr.vtn.admin import admin_app
from cariflex_openadr.vtn.openadr_events import to_openleadr
from cariflex_openadr.vtn.prices import PriceLoader, prices_for_day
from cariflex_openadr.vtn.store import EventRecord, EventStore, looks_numeric, new_event_id

log = logging.getLogger(__name__)

MAX_REFUSALS_KEPT = 20


@dataclass(frozen=True)
class Registration:
    ven_id: str
    ven_name: str
    registration_id: str
    registered_at: datetime


class VTN:
    def __init__(self, config: VTNConfig, price_loader: PriceLoader | None = None) -> None:
        self.config = config
        self.store = EventStore(config.state_dir)
        self.registrations: dict[str, Registration] = {}
        self.last_poll: dict[str, datetime] = {}
        self.refusals: list[dict[str, str]] = []
        self._pending: set[str] = set()
        self._price_loader = price_loader
        self._tz = ZoneInfo(config.timezone)
        self._tasks: list[asyncio.Task[None]] = []
        self.server = OpenADRServer(
            vtn_id=config.vtn_id,
            http_host=config.listen_host,
            http_port=config.listen_port,
            http_path_prefix=config.path,
            requested_poll_freq=timedelta(seconds=config.poll_interval_seconds),
            http_cert=config.http_cert or None,
            http_key=config.http_key or None,
            http_ca_file=config.http_ca_file or None,
            ven_lookup=self.ven_lookup,
            show_fingerprint=False,
        )
        self.server.add_handler("on_create_party_registration", self.on_create_party_registration)
        self.server.add_handler("on_cancel_party_registration", self.on_cancel_party_registration)
        self.server.add_handler("on_poll", self.on_poll)
        self.server.add_handler("on_request_event", self.on_request_event)
        self.server.add_handler("on_created_event", self.on_created_event)
        self.server.app.router.add_get("/status", self._status)
        self._admin_runner: web.AppRunner | None = None

    # --- registration -------------------------------------------------------------------------

    async def ven_lookup(self, ven_id: str) -> dict[str, Any] | None:
        registration = self.registrations.get(ven_id)
        if registration is None:
            return None
        return {
            "ven_id": registration.ven_id,
            "ven_name": registration.ven_name,
            "registration_id": registration.registration_id,
            "fingerprint": None,
        }

    async def on_create_party_registration(self, payload: dict[str, Any]) -> Any:
        ven_name = str(payload.get("ven_name") or "")
        if ven_name not in self.config.allowed_ven_names:
            log.warning("registration refused: VEN name %r is not in the allow-list", ven_name)
            self.refusals = [
                *self.refusals[-(MAX_REFUSALS_KEPT - 1) :],
                {"ven_name": ven_name, "at": datetime.now(UTC).isoformat()},
            ]
            return False
        # The venID is the configured name: stable across restarts, so events keep their target.
        ven_id = ven_name
        registration = Registration(ven_id, ven_name, uuid.uuid4().hex, datetime.now(UTC))
        self.registrations[ven_id] = registration
        self._pending.add(ven_id)
        log.info("VEN %s registered (registration %s)", ven_name, registration.registration_id)
        return ven_id, registration.registration_id

    async def on_cancel_party_registration(self, payload: dict[str, Any]) -> None:
        ven_id = payload.get("ven_id")
        if ven_id in self.registrations:
            del self.registrations[ven_id]
            log.info("VEN %s cancelled its registration", ven_id)

    # --- event delivery -----------------------------------------------------------------------

    def _events_for(self, ven_id: str) -> list[Any]:
        return [
            to_openleadr(record, ven_id, self.config.market_context)
            for record in self.store.live()
            if not (record.cancelled and self._answered(record, ven_id))
        ]

    @staticmethod
    def _answered(record: EventRecord, ven_id: str) -> bool:
        # A cancellation the VEN confirmed is not sent again: openleadr 0.5.36's client forgets
        # its answer to a cancelled event and fails on the whole message if it sees it again.
        response = record.responses.get(ven_id)
        return response is not None and response.modification_number == record.modification_number

    def _unanswered(self, ven_id: str) -> bool:
        """A live event this VEN has not answered in its present version: lost on the way?"""
        return any(not self._answered(record, ven_id) for record in self.store.live())

    async def on_poll(self, ven_id: str) -> Any:
        self.last_poll[ven_id] = datetime.now(UTC)
        if ven_id not in self._pending and not self._unanswered(ven_id):
            return None
        self._pending.discard(ven_id)
        events = self._events_for(ven_id)
        if not events:
            return None
        return "oadrDistributeEvent", {"events": events}

    async def on_request_event(self, ven_id: str) -> list[Any] | None:
        self._pending.discard(ven_id)
        return self._events_for(ven_id) or None

    async def on_created_event(self, ven_id: str, event_id: Any, opt_type: str) -> None:
        # event_id is what openleadr parsed: an int when the id is made of digits.
        record = self.store.find(event_id)
        if record is None:
            log.warning("opt response %s from %s for unknown event %s", opt_type, ven_id, event_id)
            return
        self.store.record_response(record.event_id, ven_id, opt_type, record.modification_number)
        log.info("VEN %s answered %s to event %s", ven_id, opt_type, record.event_id)

    def _changed(self) -> None:
        self._pending.update(self.config.allowed_ven_names)

    # --- the operator's actions ---------------------------------------------------------------

    def create_event(
        self, kind: EventKind, intervals: list[Interval], event_id: str | None = None
    ) -> EventRecord:
        intervals = sorted(intervals, key=lambda i: i.start)
        validate_intervals(kind, intervals)
        if event_id is not None and looks_numeric(event_id):
            raise InvalidEvent(
                f"event id {event_id!r} looks like a number: openleadr would hand it back as one"
            )
        record = EventRecord(event_id or new_event_id(), kind, tuple(intervals))
        if record.event_id in self.store.events:
            raise InvalidEvent(f"event {record.event_id} exists already")
        self.store.put(record)
        self._changed()
        log.info("event %s created: %s, %d interval(s)", record.event_id, kind, len(intervals))
        return record

    def add_unchecked_event(self, record: EventRecord) -> None:
        """Store an event as given, unvalidated: what a faulty upstream could send us (tests)."""
        self.store.put(record)
        self._changed()

    def modify_event(
        self, event_id: str, values: list[float] | None, end: datetime | None
    ) -> EventRecord:
        record = self._open_event(event_id)
        intervals = list(record.intervals)
        if values is not None:
            if len(values) == 1:
                values = values * len(intervals)
            if len(values) != len(intervals):
                raise InvalidEvent(f"event {event_id} has {len(intervals)} intervals")
            intervals = [replace(i, value=v) for i, v in zip(intervals, values, strict=True)]
        if end is not None:
            intervals = [i for i in intervals if i.start < end]
            if not intervals:
                raise InvalidEvent("the new end is before the event starts")
            last = intervals[-1]
            intervals[-1] = replace(last, duration=end - last.start)
            if len(intervals) > 1 and intervals[-1].duration != intervals[0].duration:
                raise InvalidEvent("the new end must fall on an interval boundary")
        validate_intervals(record.kind, intervals)
        updated = self.store.put(record.modified(intervals=tuple(intervals)))
        self._changed()
        log.info("event %s modified (#%d)", event_id, updated.modification_number)
        return updated

    def cancel_event(self, event_id: str) -> EventRecord:
        record = self._open_event(event_id)
        updated = self.store.put(record.modified(cancelled=True))
        self._changed()
        log.info("event %s cancelled", event_id)
        return updated

    def _open_event(self, event_id: str) -> EventRecord:
        record = self.store.get(event_id)
        if record is None:
            raise KeyError(event_id)
        if record.cancelled:
            raise InvalidEvent(f"event {event_id} is cancelled already")
        return record

    async def publish_prices(self, day: date) -> EventRecord | None:
        event_id = f"price-{day.isoformat()}"
        if event_id in self.store.events:
            return self.store.events[event_id]
        if self._price_loader is None:
            return None
        document = await self._price_loader()
        resolution = timedelta(minutes=self.config.prices.resolution_minutes)
        intervals = prices_for_day(document, day, self._tz, resolution)
        return self.create_event(EventKind.PRICE, intervals, event_id=event_id)

    async def _price_schedule(self) -> None:
        while True:
            now = datetime.now(self._tz)
            try:
                await self.publish_prices(now.date())
                if now.time() >= time(self.config.prices.publish_hour):
                    await self.publish_prices(now.date() + timedelta(days=1))
            except Exception:
                log.exception("publishing prices failed; retrying in 5 minutes")
                await asyncio.sleep(300)
                continue
            publish_at = datetime.combine(
                now.date(), time(self.config.prices.publish_hour), tzinfo=self._tz
            )
            if publish_at <= now:
                publish_at += timedelta(days=1)
            await asyncio.sleep(max(1.0, (publish_at - now).total_seconds()))

    # --- status ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "vtn_id": self.config.vtn_id,
            "poll_interval_seconds": self.config.poll_interval_seconds,
            "allowed_ven_names": list(self.config.allowed_ven_names),
            "registered_vens": [
                {
                    "ven_id": r.ven_id,
                    "ven_name": r.ven_name,
                    "registered_at": r.registered_at.isoformat(),
                    "last_poll": (
                        self.last_poll[r.ven_id].isoformat() if r.ven_id in self.last_poll else None
                    ),
                }
                for r in self.registrations.values()
            ],
            "refused_registrations": self.refusals,
            "events": [self._event_status(e) for e in self.store.live()],
        }

    @staticmethod
    def _event_status(record: EventRecord) -> dict[str, Any]:
        signal_name, signal_type = SIGNAL_OF_KIND[record.kind]
        return {
            "event_id": record.event_id,
            "kind": record.kind.value,
            "signal_name": signal_name,
            "signal_type": signal_type,
            "modification_number": record.modification_number,
            "cancelled": record.cancelled,
            "start": record.start.isoformat(),
            "end": record.end.isoformat(),
            "values": [i.value for i in record.intervals],
            "responses": {
                ven: {
                    "opt_type": r.opt_type,
                    "modification_number": r.modification_number,
                    "received": r.received.isoformat(),
                }
                for ven, r in record.responses.items()
            },
        }

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(self.status())

    # --- running --------------------------------------------------------------------------------

    async def start(self, admin: bool = True) -> None:
        self._changed()
        await self.server.run()
        if admin:
            self._admin_runner = web.AppRunner(admin_app(self))
            await self._admin_runner.setup()
            await web.TCPSite(
                self._admin_runner, self.config.admin_host, self.config.admin_port
            ).start()
        if self._price_loader is not None:
            self._tasks.append(asyncio.create_task(self._price_schedule(), name="prices"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
        await self.server.stop()
