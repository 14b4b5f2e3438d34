"""End to end on 127.0.0.1 with real software: VTN and VEN over HTTP, RMs over WebSocket and a
real FlexMeasures 1.0.1 with PostgreSQL and Redis (tests/support/flexmeasures_local.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from s2python.frbc import FRBCInstruction

from cariflex_openadr.config import Config

from .conftest import VEN_EMAIL, FlexMeasuresSite
from .loopback import SITE_CAPACITY_KW, VEN_NAME, Site, site_config, wait_for

pytestmark = pytest.mark.flexmeasures


def _config(tmp_path: Path, token_dir: Path, fm: FlexMeasuresSite, **kwargs: object) -> Config:
    return site_config(
        tmp_path,
        token_dir,
        fm_url=fm.stack.url,
        fm_email=VEN_EMAIL,
        password_file=fm.password_file,
        sensors=fm.sensors,
        **kwargs,
    )


def _quarter(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def _opt(site: Site, event_id: str) -> str | None:
    assert site.vtn is not None
    for event in site.vtn.status()["events"]:
        if event["event_id"] == event_id:
            answer = event["responses"].get(VEN_NAME)
            return answer["opt_type"] if answer else None
    return None


def _data_posts(fm: FlexMeasuresSite, mark: int, sensor: str) -> list[int]:
    path = f"/api/v3_0/sensors/{fm.sensors[sensor]}/data"
    return [
        e.status for e in fm.stack.requests_since(mark) if e.method == "POST" and e.path == path
    ]


@pytest.fixture
async def site(tmp_path: Path, token_dir: Path, flexmeasures_site: FlexMeasuresSite):
    site = Site(_config(tmp_path, token_dir, flexmeasures_site))
    yield site
    await site.close()


async def test_load_control_reaches_flexmeasures_and_rms(
    site: Site, flexmeasures_site: FlexMeasuresSite
) -> None:
    fm = flexmeasures_site
    await site.start_vtn()
    ven = await site.start_ven()
    await wait_for(lambda: ven.registered, what="registration")
    connected = datetime.now(UTC).replace(second=0, microsecond=0)
    rms = await site.connect_rms(initial_power_kw=20.0)
    start = _quarter(datetime.now(UTC))
    created = await site.admin(
        "POST",
        "/events",
        {"kind": "load_control", "value": 0.4, "start": start.isoformat(), "duration_minutes": 60},
    )
    event_id = created["event_id"]

    await wait_for(lambda: _opt(site, event_id) == "optIn", what="optIn at the VTN")
    await wait_for(lambda: all(rm.instructions for rm in rms), what="S2 instructions")
    for rm in rms:
        # Valid S2 on the RM's side of the wire, within the resource's share of its range.
        FRBCInstruction.from_json(rm.instructions[-1].to_json())
        assert 0.4 * rm.min_power_kw - 1e-6 <= rm.power_kw <= 0.4 * rm.max_power_kw + 1e-6
    assert sum(abs(rm.power_kw) for rm in rms) <= 0.4 * SITE_CAPACITY_KW + 1e-6

    await wait_for(lambda: ven.outbox.pending() == 0, what="outbox emptied")
    assert fm.values("load_control_signal", start.isoformat(), "PT1H") == [40.0] * 4
    # The S2 service is the writer of the resources' sensors: state of charge, and power in
    # each sensor's own sign: battery_01's sensor says consumption_is_positive = true, the
    # others false (FlexMeasures' default), whatever the VEN's configuration says.
    now_quarter = _quarter(datetime.now(UTC)).isoformat()
    # The state of charge an RM reported on connecting is NOT filed at the minute it falls in:
    # its value at that minute is not known (instants.py). The state of charge's filing at the
    # minutes with their interpolated values: test_instants.py and the simulator's tests.
    soc = fm.values("battery_01_soc", connected.isoformat(), "PT2M", resolution="PT1M")
    assert [v for v in soc if v is not None] == []
    # Several values of one power slot (the RM's own power, then the instructed one) are each
    # a belief of their own time: none refused by FlexMeasures as a replacement.
    assert ven.outbox.rejected() == 0
    by_id = {rm.resource_id: rm for rm in rms}
    assert by_id["battery_01"].power_kw > 0  # charging: consumption
    assert fm.values("battery_01_power", now_quarter, "PT15M") == [
        pytest.approx(by_id["battery_01"].power_kw)
    ]
    assert fm.values("battery_02_power", now_quarter, "PT15M") == [
        pytest.approx(-by_id["battery_02"].power_kw)
    ]

    # Cancelled: FlexMeasures shows the neutral 100 % for what is left, and control is handed
    # back: each RM runs on its own again (20 kW), with no further instruction.
    await site.admin("DELETE", f"/events/{event_id}")
    await wait_for(lambda: all(rm.handed_back == 1 for rm in rms), what="hand-back")
    assert [rm.power_kw for rm in rms] == pytest.approx([20.0] * len(rms))
    assert [len(rm.instructions) for rm in rms] == [1] * len(rms)
    await wait_for(
        lambda: fm.values("load_control_signal", start.isoformat(), "PT1H") == [100.0] * 4,
        what="neutral value after cancellation",
    )


async def test_price_event_arrives_in_eur_per_mwh(
    tmp_path: Path, token_dir: Path, flexmeasures_site: FlexMeasuresSite
) -> None:
    fm = flexmeasures_site
    tz = ZoneInfo("Europe/Paris")
    tomorrow = datetime.now(tz).date() + timedelta(days=1)
    hours = int(
        (
            datetime.combine(tomorrow + timedelta(days=1), datetime.min.time(), tz)
            - datetime.combine(tomorrow, datetime.min.time(), tz)
        ).total_seconds()
        // 3600
    )
    per_kwh = [round(0.1 + 0.01 * h, 4) for h in range(hours)]
    schedule = tmp_path / "prices.json"
    schedule.write_text(json.dumps({"currency": "EUR", "days": {tomorrow.isoformat(): per_kwh}}))
    site = Site(_config(tmp_path, token_dir, fm, prices={"source": "file", "path": str(schedule)}))
    try:
        await site.start_vtn()
        ven = await site.start_ven()
        await wait_for(lambda: ven.registered, what="registration")
        created = await site.admin("POST", "/prices/publish", {"day": tomorrow.isoformat()})
        await wait_for(lambda: _opt(site, created["event_id"]) == "optIn", what="optIn")
        await wait_for(lambda: ven.outbox.pending() == 0, what="outbox emptied")
        start = datetime.combine(tomorrow, datetime.min.time(), tz).isoformat()
        values = fm.values("consumption_price", start, f"PT{hours}H")
        assert values == pytest.approx([p * 1000 for p in per_kwh])  # EUR/kWh -> EUR/MWh
    finally:
        await site.close()


async def test_flexmeasures_down_during_event(
    site: Site, flexmeasures_site: FlexMeasuresSite
) -> None:
    fm = flexmeasures_site
    await site.start_vtn()
    ven = await site.start_ven()
    await wait_for(lambda: ven.registered, what="registration")
    await wait_for(lambda: ven.outbox.pending() == 0, what="earlier posts delivered")
    start = _quarter(datetime.now(UTC)) + timedelta(hours=3)
    fm.stack.stop_flexmeasures()
    try:
        created = await site.admin(
            "POST",
            "/events",
            {
                "kind": "demand_response",
                "values": [2, 3],
                "start": start.isoformat(),
                "duration_minutes": 30,
            },
        )
        await wait_for(lambda: _opt(site, created["event_id"]) == "optIn", what="optIn")
        await wait_for(lambda: ven.deliverer.last_error, what="FlexMeasures seen down")
        assert ven.outbox.pending() == 1
    finally:
        mark = fm.stack.access_log_mark()
        fm.stack.start_flexmeasures()
    await wait_for(lambda: ven.outbox.pending() == 0, timeout=90, what="delivered after return")
    assert fm.values("demand_response_signal", start.isoformat(), "PT30M") == [2.0, 3.0]
    # None lost, none doubled: one accepted post for that sensor.
    assert _data_posts(fm, mark, "demand_response_signal") == [200]


async def test_vtn_restart_keeps_events_and_ven_reregisters(
    site: Site, flexmeasures_site: FlexMeasuresSite
) -> None:
    fm = flexmeasures_site
    vtn = await site.start_vtn()
    ven = await site.start_ven()
    await wait_for(lambda: ven.registered, what="registration")
    start = _quarter(datetime.now(UTC)) + timedelta(hours=6)
    created = await site.admin(
        "POST",
        "/events",
        {"kind": "load_control", "value": 0.6, "start": start.isoformat(), "duration_minutes": 60},
    )
    event_id = created["event_id"]
    await wait_for(lambda: _opt(site, event_id) == "optIn", what="optIn")
    await wait_for(lambda: ven.outbox.pending() == 0, what="posted")
    first_registration = vtn.registrations[VEN_NAME].registration_id

    await site.stop_vtn()
    mark = fm.stack.access_log_mark()
    vtn = await site.start_vtn()
    assert event_id in {e["event_id"] for e in vtn.status()["events"]}, "event kept on disk"
    await wait_for(lambda: VEN_NAME in vtn.registrations, what="re-registration")
    assert vtn.registrations[VEN_NAME].registration_id != first_registration
    await wait_for(lambda: VEN_NAME in vtn.last_poll, what="polling again")

    # The restarted VTN still drives the event: a modification reaches FlexMeasures.
    await site.admin("PATCH", f"/events/{event_id}", {"value": 0.25})
    await wait_for(
        lambda: fm.values("load_control_signal", start.isoformat(), "PT1H") == [25.0] * 4,
        what="modified values in FlexMeasures",
    )
    # Re-delivery of the unchanged event after re-registration posted nothing twice.
    assert _data_posts(fm, mark, "load_control_signal") == [200]
