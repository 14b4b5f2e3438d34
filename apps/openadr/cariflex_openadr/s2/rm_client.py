"""A resource manager (RM) built with s2-python: the other side of the S2 service.

Used by the tests and the benchmark, and meant for the simulator's RMs (battery_01..05,
ev_01..05) and for diagnosing a site: it connects the way real RMs do, hand-shakes, offers FRBC,
describes a storage with idle / charge / discharge modes, follows instructions within its own
limits and reports its new actuator status. Its own operation is `initial_power_kw`: it runs at
that power until instructed, and again when the CEM ends its control (NO_SELECTION).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

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

from cariflex_openadr.s2.planning import mode_by_id, power_at_w
from cariflex_openadr.units import kw_to_w, w_to_kw

log = logging.getLogger(__name__)


def operation_mode(
    label: str, start_w: float, end_w: float, capacity_kwh: float
) -> FRBCOperationMode:
    """One mode over the whole fill range; s2-python wants start <= end in every range."""
    return FRBCOperationMode(
        id=uuid.uuid4(),
        diagnostic_label=label,
        elements=[
            FRBCOperationModeElement(
                fill_level_range=NumberRange(start_of_range=0.0, end_of_range=capacity_kwh),
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


def storage_system_description(
    min_power_kw: float,
    max_power_kw: float,
    capacity_kwh: float,
    extra_modes: list[FRBCOperationMode] | None = None,
) -> FRBCSystemDescription:
    """Idle, charge (0..max) and discharge (min..0): a battery or a bidirectional EV charger."""
    modes = [operation_mode("idle", 0.0, 0.0, capacity_kwh)]
    if max_power_kw > 0:
        modes.append(operation_mode("charge", 0.0, kw_to_w(max_power_kw), capacity_kwh))
    if min_power_kw < 0:
        modes.append(operation_mode("discharge", kw_to_w(min_power_kw), 0.0, capacity_kwh))
    return FRBCSystemDescription(
        message_id=uuid.uuid4(),
        valid_from=datetime.now(UTC),
        actuators=[
            FRBCActuatorDescription(
                id=uuid.uuid4(),
                diagnostic_label="inverter",
                supported_commodities=[Commodity.ELECTRICITY],
                operation_modes=modes + list(extra_modes or []),
                transitions=[],
                timers=[],
            )
        ],
        storage=FRBCStorageDescription(
            diagnostic_label="battery",
            fill_level_label="kWh",
            provides_leakage_behaviour=False,
            provides_fill_level_target_profile=False,
            provides_usage_forecast=False,
            fill_level_range=NumberRange(start_of_range=0.0, end_of_range=capacity_kwh),
        ),
    )


@dataclass
class ResourceManager:
    resource_id: str
    url: str  # ws://host:port/s2/<resource_id>
    token: str
    min_power_kw: float
    max_power_kw: float
    capacity_kwh: float = 100.0
    fill_level: float = 50.0
    initial_power_kw: float = 0.0
    instructions: list[FRBCInstruction] = field(default_factory=list)
    instruction_powers_kw: list[float] = field(default_factory=list)
    reception_statuses: list[ReceptionStatus] = field(default_factory=list)
    control_types_selected: list[ControlType] = field(default_factory=list)
    following: bool = False  # an instruction is in force (until NO_SELECTION)
    handshake_response: HandshakeResponse | None = None
    system_description: FRBCSystemDescription | None = None
    instruction_received = None  # asyncio.Event, made in connect()

    @property
    def selected_control_type(self) -> ControlType | None:
        return self.control_types_selected[-1] if self.control_types_selected else None

    @property
    def handed_back(self) -> int:
        """How many times the CEM handed control back: NO_SELECTION, then FRBC selected again."""
        selected = self.control_types_selected
        return sum(
            1
            for before, after in itertools.pairwise(selected)
            if before == ControlType.NO_SELECTION and after == ControlType.FILL_RATE_BASED_CONTROL
        )

    @property
    def power_kw(self) -> float:
        return self.instruction_powers_kw[-1] if self.following else self.initial_power_kw

    async def connect(self) -> None:
        """Open the connection and run the S2 conversation until the socket closes."""
        self.instruction_received = asyncio.Event()
        self._http = aiohttp.ClientSession()
        try:
            self._socket = await self._http.ws_connect(
                self.url, headers={"Authorization": f"Bearer {self.token}"}
            )
        except Exception:
            await self._http.close()
            raise
        self._task = asyncio.create_task(self._converse(), name=f"rm-{self.resource_id}")

    async def close(self) -> None:
        await self._socket.close()
        await self._http.close()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _send(self, message: object) -> None:
        await self._socket.send_str(message.to_json())  # type: ignore[attr-defined]

    async def _ok(self, message_id: uuid.UUID) -> None:
        await self._send(
            ReceptionStatus(subject_message_id=message_id, status=ReceptionStatusValues.OK)
        )

    async def _converse(self) -> None:
        await self._send(
            Handshake(
                message_id=uuid.uuid4(),
                role=EnergyManagementRole.RM,
                supported_protocol_versions=[S2_VERSION],
            )
        )
        async for raw in self._socket:
            if raw.type != aiohttp.WSMsgType.TEXT:
                break
            message = S2Parser.parse_as_any_message(raw.data)
            if isinstance(message, ReceptionStatus):
                self.reception_statuses.append(message)
                continue
            await self._ok(message.message_id)
            if isinstance(message, Handshake):
                continue
            if isinstance(message, HandshakeResponse):
                self.handshake_response = message
                await self._send(self._details())
            elif isinstance(message, SelectControlType):
                self.control_types_selected.append(message.control_type)
                # Any selection ends the instructions of the previous one: own operation again.
                self.following = False
                if message.control_type == ControlType.FILL_RATE_BASED_CONTROL:
                    await self._describe()
            elif isinstance(message, FRBCInstruction):
                await self._follow(message)

    def _details(self) -> ResourceManagerDetails:
        return ResourceManagerDetails(
            message_id=uuid.uuid4(),
            resource_id=uuid.uuid5(uuid.NAMESPACE_URL, self.resource_id),
            name=self.resource_id,
            roles=[Role(role=RoleType.ENERGY_STORAGE, commodity=Commodity.ELECTRICITY)],
            instruction_processing_delay=Duration(100),
            available_control_types=[ControlType.FILL_RATE_BASED_CONTROL],
            provides_forecast=False,
            provides_power_measurement_types=[CommodityQuantity.ELECTRIC_POWER_3_PHASE_SYMMETRIC],
        )

    async def _describe(self) -> None:
        self.system_description = storage_system_description(
            self.min_power_kw, self.max_power_kw, self.capacity_kwh
        )
        await self._send(self.system_description)
        await self._send(self._actuator_status_for(self.initial_power_kw))
        await self._send(
            FRBCStorageStatus(message_id=uuid.uuid4(), present_fill_level=self.fill_level)
        )

    def _actuator_status_for(self, power_kw: float) -> FRBCActuatorStatus:
        assert self.system_description is not None
        actuator = self.system_description.actuators[0]
        by_label = {m.diagnostic_label: m for m in actuator.operation_modes}
        if power_kw > 0:
            mode, factor = by_label["charge"], power_kw / self.max_power_kw
        elif power_kw < 0:
            mode, factor = by_label["discharge"], 1.0 - power_kw / self.min_power_kw
        else:
            mode, factor = by_label["idle"], 0.0
        return FRBCActuatorStatus(
            message_id=uuid.uuid4(),
            actuator_id=actuator.id,
            active_operation_mode_id=mode.id,
            operation_mode_factor=factor,
        )

    async def _follow(self, instruction: FRBCInstruction) -> None:
        assert self.system_description is not None
        mode = mode_by_id(self.system_description, instruction.operation_mode)
        if mode is None:
            log.error("%s: instruction names an unknown mode", self.resource_id)
            return
        power_kw = w_to_kw(power_at_w(mode, self.fill_level, instruction.operation_mode_factor))
        self.instructions.append(instruction)
        self.instruction_powers_kw.append(power_kw)
        self.following = True
        await self._send(
            FRBCActuatorStatus(
                message_id=uuid.uuid4(),
                actuator_id=instruction.actuator_id,
                active_operation_mode_id=instruction.operation_mode,
                operation_mode_factor=instruction.operation_mode_factor,
            )
        )
        assert self.instruction_received is not None
        self.instruction_received.set()
