"""The S2 resource manager (RM) of one simulated battery or EV charger, built with s2-python.

It connects to the VEN's S2 service the way a real RM does (WebSocket, `Authorization: Bearer`
with its own token), hand-shakes, offers FRBC, describes its storage (idle, charge and discharge
modes over its power range), and reports its actuator and storage status. The S2 service records
what it reports (state of charge, instructed power) into FlexMeasures: for these devices it is the
one writer of their sensors, so the simulator posts nothing for them.

Instructions: the RM follows the latest FRBC.Instruction, within its own limits (its power range,
and not past full or empty), until the next one; the CEM's instruction at the end of an event
brings it back to the power it ran at before. Without a connection, or before any instruction,
it runs its own daily schedule (profiles.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from s2python.common import (
    Commodity,
    CommodityQuantity,
    ControlType,
    Duration,
    EnergyManagementRole,
    Handshake,
    HandshakeResponse,
    NumberRange,
    PowerRange,
    ReceptionStatus,
    ReceptionStatusValues,
    ResourceManagerDetails,
    Role,
    RoleType,
    SelectControlType,
)
from s2python.frbc import (
    FRBCActuatorDescription,
    FRBCActuatorStatus,
    FRBCInstruction,
    FRBCOperationMode,
    FRBCOperationModeElement,
    FRBCStorageDescription,
    FRBCStorageStatus,
    FRBCSystemDescription,
)
from s2python.s2_parser import S2Parser
from s2python.version import S2_VERSION

from cariflex_simulator.devices import Storage

log = logging.getLogger(__name__)

W_PER_KW = 1000.0


def _mode(label: str, start_w: float, end_w: float, capacity_kwh: float) -> FRBCOperationMode:
    """One mode over the whole fill range; s2-python wants start <= end in every range."""
    return FRBCOperationMode(
        id=uuid.uuid4(),
        diagnostic_label=label,
        elements=[
            FRBCOperationModeElement(
                fill_level_range=NumberRange(start_of_range=0.0, end_of_range=capacity_kwh),
                # kWh per second at this power (the fill level is in kWh).
                fill_rate=NumberRange(start_of_range=start_w / 3.6e6, end_of_range=end_w / 3.6e6),
                power_ranges=[
                    PowerRange(
                        start_of_range=start_w,
                        end_of_range=end_w,
                        commodity_quantity=CommodityQuantity.ELECTRIC_POWER_3_PHASE_SYMMETRIC,
                    )
                ],
            )
        ],
        abnormal_condition_only=False,
    )


def system_description(storage: Storage) -> FRBCSystemDescription:
    config = storage.config
    modes = [_mode("idle", 0.0, 0.0, config.capacity_kwh)]
    if config.max_power_kw > 0:
        modes.append(_mode("charge", 0.0, config.max_power_kw * W_PER_KW, config.capacity_kwh))
    if config.min_power_kw < 0:
        modes.append(_mode("discharge", config.min_power_kw * W_PER_KW, 0.0, config.capacity_kwh))
    return FRBCSystemDescription(
        message_id=uuid.uuid4(),
        valid_from=datetime.now(UTC),
        actuators=[
            FRBCActuatorDescription(
                id=uuid.uuid4(),
                diagnostic_label="inverter" if config.kind == "battery" else "charger",
                supported_commodities=[Commodity.ELECTRICITY],
                operation_modes=modes,
                transitions=[],
                timers=[],
            )
        ],
        storage=FRBCStorageDescription(
            diagnostic_label=config.kind,
            fill_level_label="kWh",
            provides_leakage_behaviour=False,
            provides_fill_level_target_profile=False,
            provides_usage_forecast=False,
            fill_level_range=NumberRange(start_of_range=0.0, end_of_range=config.capacity_kwh),
        ),
    )


def power_of(mode: FRBCOperationMode, factor: float) -> float:
    """kW of a mode at a factor: start + factor x (end - start) of its electric power range."""
    ranges = mode.elements[0].power_ranges
    start = sum(r.start_of_range for r in ranges)
    end = sum(r.end_of_range for r in ranges)
    return (start + factor * (end - start)) / W_PER_KW


class SimulatedRM:
    def __init__(
        self,
        storage: Storage,
        url: str,
        token: str,
        reconnect_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.storage = storage
        self._clock = clock
        self.url = url  # ws://host:port/s2/<resource_id>
        self._token = token
        self._reconnect_seconds = reconnect_seconds
        self.description: FRBCSystemDescription | None = None
        self.instructed_kw: float | None = None
        self.instructions_received = 0
        self.ready = False  # FRBC selected and described
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._reported_power: float | None = None

    @property
    def name(self) -> str:
        return self.storage.name

    def wanted_kw(self, autonomous_kw: float) -> float:
        """The power the device should run at: the CEM's instruction, else its own schedule."""
        return self.instructed_kw if self.instructed_kw is not None else autonomous_kw

    # --- connection -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Stay connected for as long as the task runs; reconnect after any failure."""
        while True:
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.ws_connect(
                        self.url,
                        headers={"Authorization": f"Bearer {self._token}"},
                        heartbeat=30,
                    ) as socket,
                ):
                    self._socket = socket
                    log.info("RM %s connected to %s", self.name, self.url)
                    await self._converse(socket)
                log.warning("RM %s: the S2 service closed the connection", self.name)
            except aiohttp.WSServerHandshakeError as err:
                log.error(
                    "RM %s refused by the S2 service (HTTP %s): check its token",
                    self.name,
                    err.status,
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as err:
                log.warning("RM %s cannot reach the S2 service: %r", self.name, err)
            finally:
                # Without a CEM the device runs on its own again.
                self._socket = None
                self.ready = False
                self.instructed_kw = None
            await asyncio.sleep(self._reconnect_seconds)

    async def _send(self, message: Any) -> None:
        if self._socket is None or self._socket.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._socket.send_str(message.to_json())

    async def _converse(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        await self._send(
            Handshake(
                message_id=uuid.uuid4(),
                role=EnergyManagementRole.RM,
                supported_protocol_versions=[S2_VERSION],
            )
        )
        async for raw in socket:
            if raw.type != aiohttp.WSMsgType.TEXT:
                break
            try:
                message = S2Parser.parse_as_any_message(raw.data)
            except Exception as err:  # s2-python raises its own validation errors
                log.warning("RM %s: unreadable message from the CEM: %s", self.name, err)
                continue
            if isinstance(message, ReceptionStatus):
                if message.status != ReceptionStatusValues.OK:
                    log.warning(
                        "RM %s: CEM answered %s: %s",
                        self.name,
                        message.status.value,
                        message.diagnostic_label,
                    )
                continue
            await self._send(
                ReceptionStatus(
                    subject_message_id=message.message_id, status=ReceptionStatusValues.OK
                )
            )
            if isinstance(message, HandshakeResponse):
                await self._send(self._details())
            elif isinstance(message, SelectControlType):
                if message.control_type == ControlType.FILL_RATE_BASED_CONTROL:
                    self.description = system_description(self.storage)
                    await self._send(self.description)
                    await self.report(force=True)
                    self.ready = True
                else:
                    self.ready = False
                    self.instructed_kw = None
            elif isinstance(message, FRBCInstruction):
                await self._follow(message)

    def _details(self) -> ResourceManagerDetails:
        return ResourceManagerDetails(
            message_id=uuid.uuid4(),
            resource_id=uuid.uuid5(uuid.NAMESPACE_URL, self.name),
            name=self.name,
            roles=[Role(role=RoleType.ENERGY_STORAGE, commodity=Commodity.ELECTRICITY)],
            instruction_processing_delay=Duration(100),
            available_control_types=[ControlType.FILL_RATE_BASED_CONTROL],
            provides_forecast=False,
            provides_power_measurement_types=[CommodityQuantity.ELECTRIC_POWER_3_PHASE_SYMMETRIC],
        )

    # --- instructions and status ----------------------------------------------------------------

    async def _follow(self, instruction: FRBCInstruction) -> None:
        if self.description is None:
            return
        actuator = self.description.actuators[0]
        mode = next(
            (m for m in actuator.operation_modes if m.id == instruction.operation_mode), None
        )
        if mode is None or instruction.actuator_id != actuator.id:
            log.error("RM %s: instruction names an unknown actuator or mode; ignored", self.name)
            return
        self.instructions_received += 1
        self.instructed_kw = power_of(mode, instruction.operation_mode_factor)
        # From the moment it arrives: the energy up to it still moves at the old power.
        actual = self.storage.set_power(self.instructed_kw, self._clock())
        log.info("RM %s instructed %.2f kW, runs at %.2f kW", self.name, self.instructed_kw, actual)
        await self.report(force=True)

    def _actuator_status(self) -> FRBCActuatorStatus:
        assert self.description is not None
        actuator = self.description.actuators[0]
        by_label = {m.diagnostic_label: m for m in actuator.operation_modes}
        power = self.storage.power_kw
        config = self.storage.config
        if power > 0:
            mode, factor = by_label["charge"], power / config.max_power_kw
        elif power < 0:
            mode, factor = by_label["discharge"], 1.0 - power / config.min_power_kw
        else:
            mode, factor = by_label["idle"], 0.0
        return FRBCActuatorStatus(
            message_id=uuid.uuid4(),
            actuator_id=actuator.id,
            active_operation_mode_id=mode.id,
            operation_mode_factor=min(max(factor, 0.0), 1.0),
        )

    async def report(self, force: bool = False) -> None:
        """Actuator status when the power changed (or forced), storage status every time."""
        if self.description is None or self._socket is None:
            return
        # The state of charge as it is now, not as the last simulation step left it.
        self.storage.advance_to(self._clock())
        power = round(self.storage.power_kw, 6)
        if force or power != self._reported_power:
            await self._send(self._actuator_status())
            self._reported_power = power
        await self._send(
            FRBCStorageStatus(message_id=uuid.uuid4(), present_fill_level=self.storage.soc_kwh)
        )
