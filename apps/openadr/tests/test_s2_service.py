"""The S2 service against RMs built with s2-python, over WebSocket on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from s2python.common import ControlType, ReceptionStatusValues
from s2python.frbc import FRBCInstruction

from cariflex_openadr.s2.rm_client import ResourceManager
from cariflex_openadr.s2.service import S2Service

from .loopback import SITE_CAPACITY_KW, site_config, wait_for

FRBC = ControlType.FILL_RATE_BASED_CONTROL


@pytest.fixture
async def service(tmp_path: Path, token_dir: Path):
    config = site_config(tmp_path, token_dir).s2
    s2 = S2Service(config)
    await s2.start()
    yield s2
    await s2.stop()


def _rm(service: S2Service, resource_id: str, token: str | None = None, **kw) -> ResourceManager:
    resource = service.config.resource(resource_id)
    assert resource is not None
    return ResourceManager(
        resource_id=resource_id,
        url=f"ws://127.0.0.1:{service.config.listen_port}/s2/{resource_id}",
        token=token if token is not None else Path(resource.token_file).read_text().strip(),
        min_power_kw=resource.min_power_kw,
        max_power_kw=resource.max_power_kw,
        **kw,
    )


async def test_rm_with_wrong_token_is_refused(service: S2Service) -> None:
    rm = _rm(service, "battery_01", token="not-the-token")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await rm.connect()
    assert refused.value.status == 401
    assert service.sessions == {}
    assert service.refused_connections == 1


async def test_unknown_rm_is_refused_even_with_a_valid_token(service: S2Service) -> None:
    valid = Path(service.config.resource("battery_01").token_file).read_text().strip()
    rm = ResourceManager(
        "battery_99", f"ws://127.0.0.1:{service.config.listen_port}/s2/battery_99", valid, -50, 50
    )
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await rm.connect()
    assert refused.value.status == 401
    # Another resource's token does not open a resource's door either.
    rm = _rm(service, "battery_02", token=valid)
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await rm.connect()


async def test_handshake_frbc_selection_and_reception_statuses(service: S2Service) -> None:
    rm = _rm(service, "battery_01", initial_power_kw=30.0)
    await rm.connect()
    try:
        await wait_for(lambda: service.status()["ready"] == ["battery_01"], what="ready")
        assert rm.handshake_response is not None
        assert rm.selected_control_type == ControlType.FILL_RATE_BASED_CONTROL
        # Handshake, details, system description, actuator and storage status: all answered OK.
        assert len(rm.reception_statuses) == 5
        assert {s.status for s in rm.reception_statuses} == {ReceptionStatusValues.OK}
        session = service.sessions["battery_01"]
        assert session.current_power_kw() == pytest.approx(30.0)
        assert session.baseline_power_kw == pytest.approx(30.0)
    finally:
        await rm.close()


async def test_invalid_message_gets_invalid_reception_status(service: S2Service) -> None:
    resource = service.config.resource("ev_01")
    url = f"ws://127.0.0.1:{service.config.listen_port}/s2/ev_01"
    token = Path(resource.token_file).read_text().strip()
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, headers={"Authorization": f"Bearer {token}"}) as socket,
    ):
        first = await socket.receive_json()
        assert first["message_type"] == "Handshake" and first["role"] == "CEM"
        await socket.send_json({"message_type": "FRBC.Instruction", "message_id": "nope"})
        answer = await socket.receive_json()
        assert answer["message_type"] == "ReceptionStatus"
        assert answer["status"] == "INVALID_MESSAGE"


async def test_load_control_then_release(service: S2Service) -> None:
    rms = [_rm(service, r.resource_id, initial_power_kw=20.0) for r in service.config.resources]
    for rm in rms:
        await rm.connect()
    try:
        await wait_for(lambda: len(service.status()["ready"]) == 10, what="all ready")
        planned = await service.process_load_control(0.25, "lc-1")
        assert len(planned) == 10
        await wait_for(lambda: all(len(rm.instructions) == 1 for rm in rms), what="instructions")
        for rm in rms:
            assert abs(rm.power_kw) <= 0.25 * max(abs(rm.min_power_kw), rm.max_power_kw) + 1e-6
            FRBCInstruction.from_json(rm.instructions[-1].to_json())
        assert sum(abs(rm.power_kw) for rm in rms) <= 0.25 * SITE_CAPACITY_KW + 1e-6
        # The RM's new actuator status did not shift what "normal operation" means.
        assert service.sessions["battery_01"].baseline_power_kw == pytest.approx(20.0)

        await service.release("lc-1")
        # The event's end hands control back: NO_SELECTION ends the instructions, FRBC is
        # selected again at once; no release instruction. Each RM runs on its own again.
        handed_back = [FRBC, ControlType.NO_SELECTION, FRBC]
        await wait_for(
            lambda: all(rm.control_types_selected == handed_back for rm in rms), what="hand-back"
        )
        await wait_for(lambda: len(service.status()["ready"]) == 10, what="ready again")
        assert [len(rm.instructions) for rm in rms] == [1] * 10
        assert [rm.power_kw for rm in rms] == pytest.approx([20.0] * 10)
        assert service.controls == {} and service.last_instructions == {}
        assert {s.handed_back for s in service.sessions.values()} == {1}
        status = service.status()
        assert status["instructed_power_kw"] == {} and status["controls"] == []
        assert status["reported_power_kw"] == pytest.approx({rm.resource_id: 20.0 for rm in rms})
        assert status["handed_back"] == {rm.resource_id: 1 for rm in rms}

        # The next event instructs them again, with the modes of their new description (an
        # instruction naming a mode of the old one would be refused by the RM).
        await service.process_load_control(0.5, "lc-2")
        await wait_for(lambda: all(len(rm.instructions) == 2 for rm in rms), what="2nd event")
        for rm in rms:
            assert rm.following
            assert abs(rm.power_kw) <= 0.5 * max(abs(rm.min_power_kw), rm.max_power_kw) + 1e-6
    finally:
        for rm in rms:
            await rm.close()


async def test_overlapping_events_hand_back_only_when_the_last_ends(service: S2Service) -> None:
    rm = _rm(service, "battery_01", initial_power_kw=40.0)
    await rm.connect()
    try:
        await wait_for(lambda: service.status()["ready"] == ["battery_01"], what="ready")
        await service.process_load_control(0.5, "lc-1")
        await service.process_load_control(0.2, "lc-2")
        await wait_for(lambda: len(rm.instructions) == 2, what="both events")
        assert rm.power_kw == pytest.approx(10.0)  # the newest event: 0.2 x 50 kW

        # lc-2 ends: lc-1 is in force again, still under our control.
        await service.release("lc-2")
        await wait_for(lambda: len(rm.instructions) == 3, what="back to lc-1")
        assert rm.power_kw == pytest.approx(25.0)
        assert rm.control_types_selected == [FRBC]

        await service.release("lc-1")
        await wait_for(lambda: rm.handed_back == 1, what="hand-back")
        assert rm.control_types_selected == [FRBC, ControlType.NO_SELECTION, FRBC]
        assert rm.power_kw == pytest.approx(40.0) and not rm.following
        # Releasing an event we no longer hold changes nothing.
        assert await service.release("lc-1") == []
        assert len(rm.control_types_selected) == 3
    finally:
        await rm.close()


async def test_state_of_charge_and_power_are_recorded_without_an_event(
    tmp_path: Path, token_dir: Path
) -> None:
    recorded: list[tuple[str, float, str]] = []
    s2 = S2Service(
        site_config(tmp_path, token_dir).s2,
        sensor_sink=lambda name, when, value, unit: recorded.append((name, value, unit)),
    )
    await s2.start()
    rm = _rm(s2, "battery_01", initial_power_kw=30.0)
    await rm.connect()
    try:
        await wait_for(lambda: s2.status()["ready"] == ["battery_01"], what="ready")
        resource = s2.config.resource("battery_01")
        assert (resource.soc_sensor, 50.0, "kWh") in recorded
        assert (resource.power_sensor, pytest.approx(30.0), "kW") in recorded
        assert s2.last_instructions == {}
    finally:
        await rm.close()
        await s2.stop()


async def test_release_restores_normal_power_above_the_site_capacity(service: S2Service) -> None:
    # 5 x 40 kW + 5 x 20 kW = 300 kW, above the 200 kW site capacity: normal operation before
    # the event, so normal operation again after it.
    normal = {r.resource_id: 0.8 * r.max_power_kw for r in service.config.resources}
    assert sum(normal.values()) > SITE_CAPACITY_KW
    rms = [_rm(service, rid, initial_power_kw=kw) for rid, kw in normal.items()]
    for rm in rms:
        await rm.connect()
    try:
        await wait_for(lambda: len(service.status()["ready"]) == 10, what="all ready")
        await service.process_load_control(0.5, "lc-1")
        await wait_for(lambda: all(len(rm.instructions) == 1 for rm in rms), what="instructions")
        assert sum(abs(rm.power_kw) for rm in rms) <= 0.5 * SITE_CAPACITY_KW + 1e-6

        await service.release("lc-1")
        await wait_for(lambda: all(rm.handed_back == 1 for rm in rms), what="hand-back")
        # Their own operation again, above the site capacity as before: no limit of ours.
        assert [rm.power_kw for rm in rms] == pytest.approx(list(normal.values()))
        assert [len(rm.instructions) for rm in rms] == [1] * 10
    finally:
        for rm in rms:
            await rm.close()


async def test_demand_response_level_three_discharges(service: S2Service) -> None:
    rm = _rm(service, "battery_01", initial_power_kw=10.0)
    await rm.connect()
    try:
        await wait_for(lambda: service.status()["ready"] == ["battery_01"], what="ready")
        await service.process_demand_response(3, "dr-1")
        await wait_for(lambda: rm.instructions, what="instruction")
        assert rm.power_kw == pytest.approx(-25.0)  # discharge_share 0.5 of -50 kW
        await service.process_demand_response(2, "dr-1")
        await wait_for(lambda: len(rm.instructions) == 2, what="second instruction")
        assert rm.power_kw <= 0.0  # level 2: no consumption
    finally:
        await rm.close()
