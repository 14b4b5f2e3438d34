"""Unit tests of openadr_check's pure diagnosis: each failure the module knows is worded for an
operator, a healthy host passes, and the documentation mirrors the argument spec."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from ansible_collections.digitribe.cariflex.plugins.modules import (
    openadr_check as module,
)

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
PARAMS = {name: spec.get("default") for name, spec in module.ARGUMENT_SPEC.items()}


def inspect(running: bool = True, networks=("openadr-internal",), health="healthy", exit_code=0):
    return {
        "State": {
            "Running": running,
            "Status": "running" if running else "exited",
            "ExitCode": exit_code,
            "Health": {"Status": health},
        },
        "NetworkSettings": {"Networks": {name: {} for name in networks}},
        "Config": {"Image": "cariflex/openadr-ven:abc"},
    }


def vtn_status(
    last_poll_age: float = 4, allowed=("cariflex-ven",), registered=True, refused=(), events=()
):
    return {
        "vtn_id": "CariflexVTN",
        "poll_interval_seconds": 10,
        "allowed_ven_names": list(allowed),
        "registered_vens": [
            {
                "ven_id": "cariflex-ven",
                "ven_name": "cariflex-ven",
                "registered_at": (NOW - timedelta(minutes=5)).isoformat(),
                "last_poll": (NOW - timedelta(seconds=last_poll_age)).isoformat(),
            }
        ]
        if registered
        else [],
        "refused_registrations": [{"ven_name": name, "at": NOW.isoformat()} for name in refused],
        "events": list(events),
    }


def event(answered: bool = True, modification: int = 0):
    return {
        "event_id": "ev-1",
        "kind": "load_control",
        "signal_name": "LOAD_CONTROL",
        "modification_number": modification,
        "cancelled": False,
        "responses": {
            "cariflex-ven": {
                "opt_type": "optIn",
                "modification_number": 0,
                "received": NOW.isoformat(),
            }
        }
        if answered
        else {},
    }


def healthy_facts():
    return {
        "vtn": module.summarize_container(inspect()),
        "ven": module.summarize_container(
            inspect(networks=("cariflex-backend", "openadr-internal", "openadr-s2"))
        ),
        "probe": {
            "via": "openadr-ven",
            "url": "http://192.168.240.10:8080",
            "status_http": 200,
            "status": vtn_status(events=[event()]),
            "openadr_http": 400,
            "error": None,
        },
        "ven_status": {
            "ven_name": "cariflex-ven",
            "registered": True,
            "events": {"ev-1": {"opt": "optIn"}},
            "s2": {"connected": ["battery_01"], "ready": ["battery_01"]},
        },
        "ven_status_error": None,
        "s2_tcp": {"address": "10.13.13.1", "port": 8765, "ok": True, "error": None},
    }


def run(facts, **params):
    return module.diagnose(facts, {**PARAMS, **params}, NOW)


def test_healthy_host_passes():
    result = run(healthy_facts(), expected_rms=["battery_01"])
    assert result["problems"] == []
    assert result["msg"].startswith("OpenADR healthy")
    assert (
        result["registration"]["registered"] and result["registration"]["seconds_since_poll"] == 4.0
    )
    assert result["events"][0]["answered"] and result["events"][0]["delivered"]
    assert result["s2"]["connected"] == ["battery_01"]


def test_vtn_stopped():
    facts = healthy_facts()
    facts["vtn"] = module.summarize_container(inspect(running=False, exit_code=137))
    del facts["probe"]
    result = run(facts)
    assert result["problems"][0] == "VTN not answering: container stopped (exit code 137)"


def test_vtn_missing():
    facts = healthy_facts()
    facts["vtn"] = module.summarize_container(None)
    del facts["probe"]
    assert "VTN not answering: container openadr-vtn does not exist" in run(facts)["msg"]


def test_vtn_detached_from_network():
    facts = healthy_facts()
    facts["vtn"] = module.summarize_container(inspect(networks=()))
    del facts["probe"]
    assert run(facts)["problems"] == ["openadr-vtn not attached to openadr-internal"]


def test_vtn_running_but_not_answering():
    facts = healthy_facts()
    facts["probe"] = {
        "url": "http://192.168.240.10:8080",
        "error": "URLError: timed out",
        "status": None,
    }
    assert (
        run(facts)["problems"][0]
        == "VTN not answering at http://192.168.240.10:8080: URLError: timed out"
    )


def test_ven_stopped():
    facts = healthy_facts()
    facts["ven"] = module.summarize_container(inspect(running=False))
    facts["ven_status"] = None
    result = run(facts)
    assert result["problems"][0] == "VEN not running: container stopped"


def test_ven_not_in_allow_list():
    facts = healthy_facts()
    facts["probe"]["status"] = vtn_status(
        allowed=["other-ven"], registered=False, refused=["cariflex-ven"]
    )
    result = run(facts)
    assert result["problems"] == [
        "VEN not registered: name 'cariflex-ven' not in the VTN allow-list (['other-ven'])"
    ]


def test_ven_refused_and_not_registered():
    facts = healthy_facts()
    facts["probe"]["status"] = vtn_status(registered=False, refused=["cariflex-ven"])
    assert run(facts)["problems"][0].startswith(
        "VEN not registered: the VTN refused 'cariflex-ven'"
    )


@pytest.mark.parametrize(
    ("health", "words"),
    [("unhealthy", "VEN container unhealthy"), ("healthy", "VEN container running")],
)
def test_no_poll_for_too_long(health, words):
    facts = healthy_facts()
    facts["ven"]["health"] = health
    facts["probe"]["status"] = vtn_status(last_poll_age=61)
    assert run(facts)["problems"] == [f"no poll for 61 s: {words}"]


def test_poll_within_the_allowed_intervals_passes():
    facts = healthy_facts()
    facts["probe"]["status"] = vtn_status(last_poll_age=29)
    assert run(facts, max_missed_polls=3)["problems"] == []


def test_unanswered_event_and_new_version():
    facts = healthy_facts()
    facts["probe"]["status"] = vtn_status(events=[event(modification=1)])
    result = run(facts)
    assert result["problems"] == [
        "event ev-1 (LOAD_CONTROL) not answered by cariflex-ven (delivered, no opt response yet)"
    ]
    assert run(facts, require_events_answered=False)["problems"] == []


def test_s2_rm_missing_and_port_closed():
    facts = healthy_facts()
    facts["s2_tcp"] = {
        "address": "10.13.13.1",
        "port": 8765,
        "ok": False,
        "error": "Connection refused",
    }
    result = run(facts, expected_rms=["battery_01", "ev_01"])
    assert result["problems"] == [
        "S2 resource(s) not connected: ev_01",
        "S2 endpoint not accepting connections on 10.13.13.1:8765: Connection refused",
    ]


def test_diagnose_does_not_mutate_facts():
    facts = healthy_facts()
    before = copy.deepcopy(facts)
    run(facts)
    assert facts == before


def test_documentation_mirrors_argument_spec():
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert set(doc["options"]) == set(module.ARGUMENT_SPEC)
    for name, spec in module.ARGUMENT_SPEC.items():
        assert doc["options"][name]["type"] == spec["type"], name
        assert doc["options"][name].get("default") == spec.get("default"), name
