"""The VEN: registers with the VTN, answers events by policy, feeds FlexMeasures and S2."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from openleadr import OpenADRClient

from cariflex_openadr.config import Config, ConfigError, read_secret
from cariflex_openadr.s2.service import S2Service
from cariflex_openadr.signals import InvalidEvent
from cariflex_openadr.ven.event_parse import ReceivedEvent, parse_event
from cariflex_openadr.ven.flexmeasures import (
    Deliverer,
    FlexMeasuresClient,
    FlexMeasuresRefused,
    FlexMeasuresUnavailable,
)
from cariflex_openadr.ven.instants import EPOCH, InstantSampler
from cariflex_openadr.ven.outbox import Outbox, Post
from cariflex_openadr.ven.publisher import posts_for_event
from cariflex_openadr.ven.s2_forwarder import S2Forwarder
from cariflex_openadr.ven.sign_conventions import SignConventions

log = logging.getLogger(__name__)

MAX_HELD_POWER = 1000


class _Answers(dict[str, str]):
    """openleadr 0.5.36 drops its answer to a cancelled event but looks it up again when the event
    comes back unchanged, and then opts out of every event of that message (KeyError). We
    answer from our own record instead."""

    def __init__(self, known: dict[str, str]) -> None:
        super().__init__()
        self._known = known

    def __missing__(self, event_id: object) -> str:
        # openleadr hands an id of digits over as an int; ours are kept by their text.
        return self._known.get(str(event_id), "optOut")


class VEN:
    def __init__(self, config: Config, password: str | None = None) -> None:
        self.config = config
        fm = config.flexmeasures
        if password is None:
            if not fm.password_file:
                raise ConfigError("flexmeasures.password_file is required")
            password = read_secret(fm.password_file)
        self.outbox = Outbox(Path(config.ven.state_dir) / "outbox.sqlite3")
        self.flexmeasures = FlexMeasuresClient(fm.url, fm.email, password, fm.timeout_seconds)
        self.deliverer = Deliverer(self.outbox, self.flexmeasures, fm.retry_seconds)
        self.s2 = S2Service(config.s2, self._write_s2_sensor, self.status)
        self.forwarder = S2Forwarder(self.s2)
        self.events: dict[str, ReceivedEvent] = {}
        self.opt_answers: dict[str, str] = {}
        self._received: asyncio.Queue[ReceivedEvent] = asyncio.Queue()
        self.client = self._new_client()
        self.refused_events: list[str] = []
        self.received_at: dict[str, float] = {}  # perf_counter per event id, for benchmarks
        self._tasks: list[asyncio.Task[None]] = []
        self._missing_sensors: set[str] = set()
        self._last_written: dict[str, tuple[datetime, float]] = {}
        self._soc_instants: dict[str, InstantSampler] = {}
        self._held_power: list[tuple[str, datetime, float, str]] = []
        self.soc_sensors = {r.soc_sensor for r in config.s2.resources if r.soc_sensor}
        self.signs = SignConventions(
            {
                r.power_sensor: r.power_sensor_consumption_is_positive
                for r in config.s2.resources
                if r.power_sensor
            }
        )

    def _new_client(self) -> OpenADRClient:
        ven = self.config.ven
        client = OpenADRClient(
            ven_name=ven.ven_name,
            vtn_url=ven.vtn_url,
            ca_file=ven.vtn_ca_file or None,
            cert=ven.cert or None,
            key=ven.key or None,
            disable_signature=not (ven.cert and ven.key),
            show_fingerprint=False,
        )
        client.on_event = self.on_event
        client.on_update_event = self.on_event
        client.responded_events = _Answers(self.opt_answers)
        return client

    def status(self) -> dict[str, object]:
        return {
            "ven_name": self.config.ven.ven_name,
            "registered": self.registered,
            "ven_id": self.client.ven_id,
            "events": {
                event_id: {"opt": self.opt_answers.get(event_id), "status": event.status}
                for event_id, event in self.events.items()
            },
            "refused_events": self.refused_events[-20:],
            "outbox_pending": self.outbox.pending(),
            "outbox_rejected": self.outbox.rejected(),
            "flexmeasures_error": self.deliverer.last_error,
        }

    @property
    def registered(self) -> bool:
        return self.client.registration_id is not None

    # --- events ---------------------------------------------------------------------------------

    async def on_event(self, event: dict[str, Any]) -> str:
        """openleadr calls this for new and for modified events; the answer is optIn/optOut."""
        started = time.perf_counter()
        try:
            received = parse_event(event)
        except InvalidEvent as err:
            event_id = str(event.get("event_descriptor", {}).get("event_id", "?"))
            log.error("opting out of malformed event %s: %s", event_id, err)
            self.refused_events.append(event_id)
            self.opt_answers[event_id] = "optOut"
            return "optOut"
        self.received_at[received.event_id] = started
        answer = self.config.ven.opt_policy.get(received.signal_name, "optOut")
        self.opt_answers[received.event_id] = answer
        log.info(
            "event %s #%d (%s, %s): %s",
            received.event_id,
            received.modification_number,
            received.signal_name,
            received.status,
            answer,
        )
        if answer != "optIn":
            return answer
        self.events[received.event_id] = received
        # Answered first, acted on after: openleadr sends the opt response only when this
        # returns, from inside its poll job, and skips the polls due meanwhile. Instructing the
        # S2 fleet and writing the outbox (slow on a busy machine) must hold up neither.
        self._received.put_nowait(received)
        return answer

    async def _act_on_events(self) -> None:
        """Forward each answered event to S2 and FlexMeasures, in the order they came."""
        while True:
            received = await self._received.get()
            # Neither a missing sensor id nor an S2 fault may take the other path down with it.
            try:
                await self.forwarder.handle(received)
            except Exception:
                log.exception("forwarding event %s to S2 failed", received.event_id)
            try:
                self._publish(received)
            except ConfigError as err:
                log.error("event %s not posted to FlexMeasures: %s", received.event_id, err)
            except Exception:
                log.exception("event %s not posted to FlexMeasures", received.event_id)

    def _publish(self, event: ReceivedEvent) -> None:
        posts = posts_for_event(event, self.config.flexmeasures)
        version = "cancelled" if event.cancelled else "live"
        if self.outbox.put_for_event(posts, event.event_id, event.modification_number, version):
            self.deliverer.kick()

    def _write_s2_sensor(self, sensor_name: str, when: datetime, value: float, unit: str) -> None:
        sensor_id = self.config.flexmeasures.sensors.get(sensor_name)
        if sensor_id is None:
            if sensor_name not in self._missing_sensors:
                self._missing_sensors.add(sensor_name)
                log.warning(
                    "no id for sensor %s in [flexmeasures.sensors]: not recorded", sensor_name
                )
            return
        if sensor_name in self.signs.power_sensors:
            if not self.signs.complete:
                # Not yet known which sign this sensor wants: hold the value (in S2's sign)
                # until FlexMeasures has said; the newest values are the ones worth keeping.
                self._held_power = [
                    *self._held_power[-(MAX_HELD_POWER - 1) :],
                    (sensor_name, when, value, unit),
                ]
                return
            value = self.signs.to_flexmeasures(sensor_name, value)
        value = round(value, 6)
        if sensor_name in self.soc_sensors:
            # An instantaneous state, filed at each sample instant with its value at that instant
            # (interpolated from the samples around it: instants.py).
            resolution = timedelta(seconds=self.config.s2.soc_sample_seconds)
            sampler = self._soc_instants.setdefault(sensor_name, InstantSampler(resolution))
            filed = sampler.add(when, value)
            if filed is None:
                return
            start, value = filed[0], round(filed[1], 6)
        else:
            # A power sensor holds averages over its slots: the latest power known in the slot.
            resolution = timedelta(minutes=self.config.s2.sensor_resolution_minutes)
            start = when - (when - EPOCH) % resolution
            # RMs repeat their status often; the same value in the same slot is not worth a post.
            if self._last_written.get(sensor_name) == (start, value):
                return
        self._last_written[sensor_name] = (start, value)
        self.deliverer.enqueue_latest(
            Post(sensor_id, start, resolution, unit, (value,), origin="s2", prior=when)
        )

    # --- running --------------------------------------------------------------------------------

    async def _stay_registered(self) -> None:
        """openleadr stops itself for good when the VTN is away at start or refuses a
        (re-)registration; we start a fresh client then, for as long as it takes."""
        retry = self.config.ven.register_retry_seconds
        while True:
            if not (self.registered and self.client.scheduler.running):
                await self._close_client()
                self.client = self._new_client()
                await self.client.run()
                if self.registered:
                    log.info("registered with the VTN as %s", self.client.ven_id)
                else:
                    log.error(
                        "VTN at %s did not register VEN %r (unreachable, or the name is not in"
                        " its allow-list); retrying in %.0f s",
                        self.config.ven.vtn_url,
                        self.config.ven.ven_name,
                        retry,
                    )
            await asyncio.sleep(retry)

    async def _learn_sign_conventions(self) -> None:
        while not self.signs.complete:
            try:
                await self.signs.learn(self.flexmeasures, self.config.flexmeasures.sensors)
            except (FlexMeasuresUnavailable, FlexMeasuresRefused) as err:
                log.warning("power values held until FlexMeasures tells their sign: %s", err)
                await asyncio.sleep(self.config.flexmeasures.retry_seconds)
        held, self._held_power = self._held_power, []
        for sensor_name, when, value, unit in held:
            self._write_s2_sensor(sensor_name, when, value, unit)

    async def _close_client(self) -> None:
        if self.client.scheduler.running:
            self.client.scheduler.shutdown(wait=False)
        session = self.client.client_session
        if session is not None and not session.closed:
            await session.close()

    async def start(self, s2_host: str | None = None, s2_port: int | None = None) -> int:
        self._tasks.append(asyncio.create_task(self.deliverer.run(), name="fm-deliverer"))
        self._tasks.append(asyncio.create_task(self._act_on_events(), name="ven-events"))
        self._tasks.append(asyncio.create_task(self._learn_sign_conventions(), name="fm-signs"))
        s2_bound = await self.s2.start(s2_host, s2_port)
        self._tasks.append(asyncio.create_task(self._stay_registered(), name="ven-registration"))
        return s2_bound

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.forwarder.stop()
        await self._close_client()
        await self.s2.stop()
        await self.flexmeasures.close()
        self.outbox.close()
