"""The CEM side of one S2 connection: hand-shake, FRBC selection, state, reception statuses.

Every message is parsed and built with s2-python's models. Every message the RM sends, except a
ReceptionStatus, is answered with a ReceptionStatus, as S2 requires.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from s2python.common import (
    ControlType,
    EnergyManagementRole,
    Handshake,
    HandshakeResponse,
    ReceptionStatus,
    ReceptionStatusValues,
    ResourceManagerDetails,
    SelectControlType,
)
from s2python.frbc import (
    FRBCActuatorStatus,
    FRBCStorageStatus,
    FRBCSystemDescription,
)
from s2python.s2_parser import S2Parser
from s2python.s2_validation_error import S2ValidationError
from s2python.version import S2_VERSION

from cariflex_openadr.config import S2ResourceConfig
from cariflex_openadr.s2.planning import mode_by_id, power_at_w
from cariflex_openadr.units import w_to_kw

log = logging.getLogger(__name__)

NIL_UUID = uuid.UUID(int=0)


@dataclass
class RMSession:
    """What we know of one connected resource manager."""

    resource: S2ResourceConfig
    socket: web.WebSocketResponse
    handshake_done: bool = False
    details: ResourceManagerDetails | None = None
    frbc_selected: bool = False
    system_description: FRBCSystemDescription | None = None
    actuator_status: FRBCActuatorStatus | None = None
    fill_level: float | None = None
    baseline_power_kw: float | None = None
    instructions_sent: int = 0
    handed_back: int = 0
    statuses_received: dict[str, str] = field(default_factory=dict)

    @property
    def resource_id(self) -> str:
        return self.resource.resource_id

    @property
    def ready(self) -> bool:
        """Enough is known to instruct it."""
        return (
            self.frbc_selected
            and self.system_description is not None
            and self.fill_level is not None
        )

    def current_power_kw(self) -> float | None:
        if self.system_description is None or self.actuator_status is None:
            return None
        mode = mode_by_id(self.system_description, self.actuator_status.active_operation_mode_id)
        if mode is None or self.fill_level is None:
            return None
        factor = self.actuator_status.operation_mode_factor
        return w_to_kw(power_at_w(mode, self.fill_level, factor))

    async def send(self, message: Any) -> None:
        await self.socket.send_str(message.to_json())

    async def hand_back(self) -> None:
        """End our control: the RM runs on its own again, ready for the next event.

        NO_SELECTION is S2's way to end the instructions in force: the RM returns to its own
        operation. FRBC is selected again at once, as after the hand-shake, so that the RM
        describes itself and goes on reporting its state (the S2 service records it) and the
        next event can instruct it; until it has described itself anew it is not ready, so no
        instruction names a mode of the old description.
        """
        await self.send(
            SelectControlType(message_id=uuid.uuid4(), control_type=ControlType.NO_SELECTION)
        )
        self.system_description = None
        self.actuator_status = None
        self.baseline_power_kw = None
        self.handed_back += 1
        await self.send(
            SelectControlType(
                message_id=uuid.uuid4(), control_type=ControlType.FILL_RATE_BASED_CONTROL
            )
        )

    async def reception(
        self, subject: uuid.UUID, status: ReceptionStatusValues, label: str | None = None
    ) -> None:
        await self.send(
            ReceptionStatus(subject_message_id=subject, status=status, diagnostic_label=label)
        )


StateChanged = Callable[[RMSession, str], Awaitable[None]]


async def open_session(session: RMSession) -> None:
    """The CEM's own hand-shake opens the conversation."""
    await session.send(
        Handshake(
            message_id=uuid.uuid4(),
            role=EnergyManagementRole.CEM,
            supported_protocol_versions=[S2_VERSION],
        )
    )


def _message_id(raw: str) -> uuid.UUID:
    """The id of a message we could not parse, to say which one was refused."""
    try:
        return uuid.UUID(str(S2Parser._parse_json_if_required(raw).get("message_id")))
    except (ValueError, AttributeError, TypeError):
        return NIL_UUID


async def handle_message(session: RMSession, raw: str, on_change: StateChanged) -> None:
    try:
        message = S2Parser.parse_as_any_message(raw)
    except (S2ValidationError, ValueError) as err:
        log.warning("RM %s sent an invalid message: %s", session.resource_id, err)
        await session.reception(
            _message_id(raw), ReceptionStatusValues.INVALID_MESSAGE, str(err)[:200]
        )
        return

    if isinstance(message, ReceptionStatus):
        session.statuses_received[str(message.subject_message_id)] = message.status.value
        if message.status != ReceptionStatusValues.OK:
            log.warning(
                "RM %s answered %s to %s: %s",
                session.resource_id,
                message.status.value,
                message.subject_message_id,
                message.diagnostic_label,
            )
        return

    if isinstance(message, Handshake):
        if message.role != EnergyManagementRole.RM:
            await session.reception(
                message.message_id, ReceptionStatusValues.INVALID_CONTENT, "expected role RM"
            )
            return
        versions = message.supported_protocol_versions or []
        if versions and S2_VERSION not in versions:
            await session.reception(
                message.message_id,
                ReceptionStatusValues.INVALID_CONTENT,
                f"no common protocol version (we speak {S2_VERSION})",
            )
            return
        await session.reception(message.message_id, ReceptionStatusValues.OK)
        session.handshake_done = True
        await session.send(
            HandshakeResponse(message_id=uuid.uuid4(), selected_protocol_version=S2_VERSION)
        )
        return

    if not session.handshake_done:
        await session.reception(
            message.message_id, ReceptionStatusValues.INVALID_MESSAGE, "hand-shake first"
        )
        return

    if isinstance(message, ResourceManagerDetails):
        session.details = message
        await session.reception(message.message_id, ReceptionStatusValues.OK)
        if ControlType.FILL_RATE_BASED_CONTROL in message.available_control_types:
            await session.send(
                SelectControlType(
                    message_id=uuid.uuid4(), control_type=ControlType.FILL_RATE_BASED_CONTROL
                )
            )
            session.frbc_selected = True
        else:
            log.warning("RM %s does not offer FRBC; leaving it uncontrolled", session.resource_id)
            await session.send(
                SelectControlType(message_id=uuid.uuid4(), control_type=ControlType.NO_SELECTION)
            )
        return

    if isinstance(message, FRBCSystemDescription):
        session.system_description = message
        await session.reception(message.message_id, ReceptionStatusValues.OK)
        await on_change(session, "system_description")
        return

    if isinstance(message, FRBCActuatorStatus):
        session.actuator_status = message
        await session.reception(message.message_id, ReceptionStatusValues.OK)
        await on_change(session, "actuator_status")
        return

    if isinstance(message, FRBCStorageStatus):
        session.fill_level = message.present_fill_level
        await session.reception(message.message_id, ReceptionStatusValues.OK)
        await on_change(session, "storage_status")
        return

    # Anything else valid (measurements, forecasts, timer statuses) is acknowledged, not used.
    await session.reception(message.message_id, ReceptionStatusValues.OK)
