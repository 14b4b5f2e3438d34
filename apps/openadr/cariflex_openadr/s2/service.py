"""The S2 service: RMs connect here over WebSocket; OpenADR events become FRBC instructions.

RMs connect to ws://HOST:PORT/<path>/<resource_id> with `Authorization: Bearer <token>`. The
resource id must be configured and the token must match that resource's token file; anything
else is refused before the WebSocket opens.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import WSMsgType, web

from cariflex_openadr.config import S2Config, read_secret
from cariflex_openadr.s2.planning import (
    NoFeasibleInstruction,
    PlannedInstruction,
    ResourceState,
    demand_response_bands,
    load_control_bands,
    plan,
)
from cariflex_openadr.s2.session import RMSession, handle_message, open_session
from cariflex_openadr.signals import EventKind

log = logging.getLogger(__name__)

# (sensor name, time, value, unit): the VEN turns these into FlexMeasures posts. Power values
# are in S2's sign (consumption positive); the VEN converts them to each sensor's convention.
SensorSink = Callable[[str, datetime, float, str], None]


@dataclass(frozen=True)
class Control:
    event_id: str
    kind: EventKind
    value: float
    since: float  # monotonic, to order overlapping events


class S2Service:
    def __init__(
        self,
        config: S2Config,
        sensor_sink: SensorSink | None = None,
        extra_status: Callable[[], dict[str, object]] | None = None,
    ) -> None:
        self.config = config
        self._extra_status = extra_status
        self._sink = sensor_sink
        self._tokens = {r.resource_id: read_secret(r.token_file) for r in config.resources}
        self.sessions: dict[str, RMSession] = {}
        self.controls: dict[str, Control] = {}
        self.last_instructions: dict[str, PlannedInstruction] = {}
        self.last_sent_at: float | None = None  # perf_counter, for the latency benchmark
        self.refused_connections = 0
        self._runner: web.AppRunner | None = None

    # --- WebSocket endpoint -------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(f"{self.config.path.rstrip('/')}/{{resource_id}}", self._connect)
        app.router.add_get("/status", self._status)
        return app

    async def start(self, host: str | None = None, port: int | None = None) -> int:
        self._runner = web.AppRunner(self.app())
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, host or self.config.listen_host, port or self.config.listen_port
        )
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else int(port or 0)

    async def stop(self) -> None:
        for session in list(self.sessions.values()):
            await session.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorised(self, resource_id: str, header: str) -> bool:
        expected = self._tokens.get(resource_id)
        scheme, _, token = header.partition(" ")
        if expected is None or scheme.lower() != "bearer" or not token:
            return False
        return hmac.compare_digest(token.encode(), expected.encode())

    async def _connect(self, request: web.Request) -> web.StreamResponse:
        resource_id = request.match_info["resource_id"]
        if not self._authorised(resource_id, request.headers.get("Authorization", "")):
            self.refused_connections += 1
            log.warning(
                "S2 connection refused for %r from %s: unknown resource or wrong token",
                resource_id,
                request.remote,
            )
            raise web.HTTPUnauthorized(text="unknown resource or wrong token")
        resource = self.config.resource(resource_id)
        assert resource is not None
        socket = web.WebSocketResponse(heartbeat=30)
        await socket.prepare(request)
        previous = self.sessions.get(resource_id)
        if previous is not None:
            log.info("RM %s reconnected; closing its previous connection", resource_id)
            await previous.socket.close()
        session = RMSession(resource=resource, socket=socket)
        self.sessions[resource_id] = session
        log.info("RM %s connected", resource_id)
        await open_session(session)
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    await handle_message(session, message.data, self._on_change)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            if self.sessions.get(resource_id) is session:
                del self.sessions[resource_id]
            log.info("RM %s disconnected", resource_id)
        return socket

    async def _status(self, request: web.Request) -> web.Response:
        # The VEN container's one HTTP endpoint: its health check and openadr_check read it.
        extra = self._extra_status() if self._extra_status else {}
        return web.json_response({**extra, "s2": self.status()})

    def status(self) -> dict[str, object]:
        return {
            "connected": sorted(self.sessions),
            "ready": sorted(r for r, s in self.sessions.items() if s.ready),
            "controls": [
                {"event_id": c.event_id, "kind": c.kind.value, "value": c.value}
                for c in self.controls.values()
            ],
            "instructed_power_kw": {r: p.power_kw for r, p in self.last_instructions.items()},
            # What each RM last said it runs at (its actuator status), instructed or on its own.
            "reported_power_kw": {
                r: power
                for r, s in self.sessions.items()
                if (power := s.current_power_kw()) is not None
            },
            "handed_back": {r: s.handed_back for r, s in self.sessions.items() if s.handed_back},
        }

    # --- state reported by RMs ----------------------------------------------------------------

    async def _on_change(self, session: RMSession, what: str) -> None:
        now = datetime.now(UTC)
        if what == "storage_status" and self._sink:
            # RMs report their storage status periodically: the state of charge, and the power
            # the device runs at (its actuator status is sent only when that changes), so that
            # both sensors have values between events too.
            if session.resource.soc_sensor:
                self._sink(
                    session.resource.soc_sensor, now, float(session.fill_level or 0.0), "kWh"
                )
            current = session.current_power_kw()
            if session.resource.power_sensor and current is not None:
                self._sink(session.resource.power_sensor, now, current, "kW")
        if what in ("actuator_status", "storage_status") and not self.controls:
            # Between events the RM runs on its own: that is the normal operation to return to.
            current = session.current_power_kw()
            if current is not None:
                session.baseline_power_kw = current
        became_ready = session.ready and session.resource_id not in self.last_instructions
        if self.controls and (what == "system_description" or became_ready):
            await self._apply()

    # --- events -------------------------------------------------------------------------------

    def _states(self) -> list[ResourceState]:
        states = []
        for session in self.sessions.values():
            if not session.ready:
                continue
            assert session.system_description is not None and session.fill_level is not None
            baseline = session.baseline_power_kw
            if baseline is None:
                baseline = session.current_power_kw() or 0.0
            states.append(
                ResourceState(
                    resource_id=session.resource_id,
                    min_power_kw=session.resource.min_power_kw,
                    max_power_kw=session.resource.max_power_kw,
                    system_description=session.system_description,
                    fill_level=session.fill_level,
                    baseline_power_kw=baseline,
                )
            )
        return states

    async def _apply(self) -> list[PlannedInstruction]:
        """Instruct every ready resource for the newest control in force."""
        if not self.controls:
            return []
        states = self._states()
        control = max(self.controls.values(), key=lambda c: c.since)
        if control.kind is EventKind.LOAD_CONTROL:
            bands = load_control_bands(states, control.value)
            limit = control.value * self.config.site_capacity_kw
        else:
            level = self.config.dr_levels[int(control.value)]
            bands = demand_response_bands(states, level)
            limit = self.config.site_capacity_kw
        try:
            planned = plan(states, bands, limit)
        except NoFeasibleInstruction as err:
            log.error("cannot instruct the resources within their limits: %s", err)
            return []
        for item in planned:
            session = self.sessions.get(item.resource_id)
            if session is None:
                continue
            # Recorded before sending: the RM's answer may be handled before send() returns.
            session.instructions_sent += 1
            self.last_instructions[item.resource_id] = item
            await session.send(item.instruction)
            self._record_power(session, item)
        self.last_sent_at = time.perf_counter()
        log.info(
            "sent %d FRBC instruction(s): %s",
            len(planned),
            ", ".join(f"{p.resource_id}={p.power_kw:.1f}kW" for p in planned),
        )
        return planned

    def _record_power(self, session: RMSession, item: PlannedInstruction) -> None:
        resource = session.resource
        if not resource.power_sensor or self._sink is None:
            return
        # S2's sign (consumption positive): the writer turns it into the sensor's own.
        self._sink(resource.power_sensor, item.instruction.execution_time, item.power_kw, "kW")

    async def process_load_control(
        self, share: float, event_id: str = "manual"
    ) -> list[PlannedInstruction]:
        """Limit every resource to `share` (0..1) of its range and the site to that share."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"load-control share {share} outside 0..1")
        self.controls[event_id] = Control(event_id, EventKind.LOAD_CONTROL, share, time.monotonic())
        return await self._apply()

    async def process_demand_response(
        self, level: int, event_id: str = "manual"
    ) -> list[PlannedInstruction]:
        """Apply the behaviour the level table gives this DR level."""
        if level not in self.config.dr_levels:
            raise ValueError(f"demand-response level {level} is not in the level table")
        self.controls[event_id] = Control(
            event_id, EventKind.DEMAND_RESPONSE, level, time.monotonic()
        )
        return await self._apply()

    async def release(self, event_id: str) -> list[PlannedInstruction]:
        """An event ended or was cancelled: fall back to the next active one, or hand back."""
        if self.controls.pop(event_id, None) is None:
            return []
        if self.controls:
            return await self._apply()
        await self._hand_back()
        return []

    async def _hand_back(self) -> None:
        """No event left: every resource we instructed returns to its own operation (its own
        schedule, not the power it ran at before the event: the world has moved on since)."""
        instructed = sorted(self.last_instructions)
        self.last_instructions.clear()
        for resource_id in instructed:
            session = self.sessions.get(resource_id)
            if session is not None:
                await session.hand_back()
        if instructed:
            log.info("no event in force: handed back %s", ", ".join(instructed))
