"""Drive the S2 service from load-control and DR events: each interval's value at its start,
release at the end, at once on cancellation, rescheduled on modification."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from cariflex_openadr.s2.service import S2Service
from cariflex_openadr.signals import EventKind
from cariflex_openadr.ven.event_parse import ReceivedEvent

log = logging.getLogger(__name__)


class S2Forwarder:
    def __init__(self, s2: S2Service) -> None:
        self._s2 = s2
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def handle(self, event: ReceivedEvent) -> None:
        if event.kind not in (EventKind.LOAD_CONTROL, EventKind.DEMAND_RESPONSE):
            return
        previous = self._tasks.pop(event.event_id, None)
        if previous is not None:
            previous.cancel()
        if event.cancelled or event.status == "completed":
            await self._s2.release(event.event_id)
            return
        # Apply the interval in force right away, so receipt -> instruction is not a task hop.
        await self._apply_current(event)
        self._tasks[event.event_id] = asyncio.create_task(
            self._follow(event), name=f"s2-{event.event_id}"
        )

    async def _apply_current(self, event: ReceivedEvent) -> None:
        now = datetime.now(UTC)
        for interval in event.intervals:
            if interval.start <= now < interval.end:
                await self._apply(event, interval.value)
                return

    async def _apply(self, event: ReceivedEvent, value: float) -> None:
        if event.kind is EventKind.LOAD_CONTROL:
            await self._s2.process_load_control(float(value), event.event_id)
        else:
            await self._s2.process_demand_response(int(value), event.event_id)

    async def _follow(self, event: ReceivedEvent) -> None:
        try:
            for interval in event.intervals:
                now = datetime.now(UTC)
                if interval.end <= now:
                    continue
                if interval.start > now:
                    await asyncio.sleep((interval.start - now).total_seconds())
                    await self._apply(event, interval.value)
            remaining = (event.end - datetime.now(UTC)).total_seconds()
            if remaining > 0:
                await asyncio.sleep(remaining)
            log.info("event %s ended: releasing the S2 resources", event.event_id)
            await self._s2.release(event.event_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("following event %s failed", event.event_id)
        finally:
            if self._tasks.get(event.event_id) is asyncio.current_task():
                del self._tasks[event.event_id]

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
