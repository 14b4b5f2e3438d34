#!/usr/bin/python
# Copyright: Digitribe
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: openadr_check
short_description: Diagnose the OpenADR VTN, VEN and S2 service of a Cariflex host
version_added: 0.1.0
description:
  - Runs on the host of the C(openadr-vtn) and C(openadr-ven) containers and tells whether the
    OpenADR chain works, and if not, which link is broken and why, in words an operator can act
    on. It changes nothing.
  - Reads both containers with C(docker inspect) (running, health, networks).
  - Asks the VTN from inside C(openadr-internal), as the VEN does. From the VEN's network
    namespace (C(docker exec)) when the VEN runs, otherwise from a short-lived probe container
    (C(docker run --rm)) of the VEN's image on that network. It reads the VTN's C(/status) and
    sends one request to its OpenADR endpoint (any HTTP answer counts as answering).
  - From the VTN's status, checks that the VEN is registered and has polled within
    O(max_missed_polls) poll intervals, and that the live events were answered (opt responses)
    in their present version.
  - From the VEN's C(/status), lists the events it holds and the S2 resource managers connected,
    and, with O(s2_address), opens a TCP connection to the published S2 port (the path real RMs
    use).
  - Fails with a message listing every problem found. The results are returned on success and on
    failure.
author:
  - Digitribe (@digitribe)
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
  idempotent:
    support: full
    description: Never changes anything.
options:
  vtn_container:
    description: Name of the VTN container.
    type: str
    default: openadr-vtn
  ven_container:
    description: Name of the VEN container.
    type: str
    default: openadr-ven
  network:
    description: The internal OpenADR network both containers must be attached to.
    type: str
    default: openadr-internal
  vtn_address:
    description: The VTN's address on O(network).
    type: str
    default: 192.168.240.10
  vtn_port:
    description: The VTN's port.
    type: int
    default: 8080
  vtn_path:
    description: The VTN's OpenADR path.
    type: str
    default: /OpenADR2/Simple/2.0b
  ven_name:
    description: The VEN's name, as registered with the VTN.
    type: str
    default: cariflex-ven
  max_missed_polls:
    description: How many poll intervals may pass without a poll before the VEN counts as silent.
    type: int
    default: 3
  s2_address:
    description: Host address the S2 port is published on (the WireGuard address). Unset, the
      TCP check of the published port is skipped.
    type: str
  s2_port:
    description: The published S2 port.
    type: int
    default: 8765
  expected_rms:
    description: Resource ids whose RMs must be connected to the S2 service.
    type: list
    elements: str
    default: []
  require_events_answered:
    description: Count a live event the VEN has not answered in its present version as a
      problem. An event created a moment ago is answered at the VEN's next poll.
    type: bool
    default: true
  timeout:
    description: Seconds each probe may take.
    type: float
    default: 10
  docker_bin:
    description: The docker CLI.
    type: str
    default: docker
requirements:
  - the docker CLI on the host, and C(python) in the VEN's image (the apps' images have it)
notes:
  - The probe container, when one is needed, is removed when it exits (C(--rm)).
"""

EXAMPLES = r"""
- name: Diagnose OpenADR
  digitribe.cariflex.openadr_check:
    s2_address: 10.13.13.1
    expected_rms: [battery_01, battery_02]
  register: openadr_diagnosis

- name: Diagnose, and keep going to show the findings
  digitribe.cariflex.openadr_check:
  register: openadr_diagnosis
  failed_when: false

- name: Show what is wrong
  ansible.builtin.debug:
    msg: "{{ openadr_diagnosis.problems }}"
"""

RETURN = r"""
msg:
  description: C(OpenADR healthy ...) or every problem found, joined.
  returned: always
  type: str
  sample: "VEN not registered: name 'cariflex-ven' not in the VTN allow-list (['other-ven'])"
problems:
  description: One sentence per problem, most basic first.
  returned: always
  type: list
  elements: str
vtn:
  description: The VTN container (exists, running, status, exit_code, health, networks, image).
  returned: always
  type: dict
ven:
  description: The VEN container, same keys.
  returned: always
  type: dict
probe:
  description: How the VTN answered from inside the network (via, url, status_http, openadr_http,
    error).
  returned: always
  type: dict
registration:
  description: registered, ven_id, registered_at, last_poll, seconds_since_poll,
    poll_interval_seconds, allowed_ven_names, refused.
  returned: always
  type: dict
events:
  description: The VTN's live events, each with event_id, kind, modification_number, cancelled,
    delivered, answered and opt_type.
  returned: always
  type: list
  elements: dict
s2:
  description: connected and ready RM ids (from the VEN), and whether the published port
    accepts connections.
  returned: always
  type: dict
"""

import json  # noqa: E402
import socket  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

# Runs with the VEN image's python, inside openadr-internal: reads the VTN's /status and sends one
# request to its OpenADR endpoint. Prints one JSON line.
PROBE_SCRIPT = """
import json, sys, urllib.error, urllib.request
base, path, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
opener = urllib.request.build_opener()
out = {"status_http": None, "status": None, "openadr_http": None, "error": None}
try:
    with opener.open(base + "/status", timeout=timeout) as reply:
        out["status_http"] = reply.status
        out["status"] = json.loads(reply.read().decode())
except urllib.error.HTTPError as err:
    out["status_http"] = err.code
except Exception as err:
    out["error"] = "%s: %s" % (type(err).__name__, err)
if out["error"] is None:
    request = urllib.request.Request(base + path + "/EiRegisterParty", data=b"", method="POST",
                                     headers={"Content-Type": "application/xml"})
    try:
        with opener.open(request, timeout=timeout) as reply:
            out["openadr_http"] = reply.status
    except urllib.error.HTTPError as err:
        out["openadr_http"] = err.code
    except Exception as err:
        out["error"] = "OpenADR endpoint: %s: %s" % (type(err).__name__, err)
print(json.dumps(out))
"""

VEN_STATUS_SCRIPT = (
    "import urllib.request as u, sys; "
    "reply = u.build_opener().open('http://127.0.0.1:8765/status', timeout=float(sys.argv[1])); "
    "sys.stdout.write(reply.read().decode())"
)


# ----------------------------------------------------------------------------- pure helpers


def summarize_container(inspect: dict[str, Any] | None) -> dict[str, Any]:
    """The few facts of `docker inspect` output the diagnosis needs."""
    if not inspect:
        return dict(
            exists=False,
            running=False,
            status="missing",
            exit_code=None,
            health=None,
            networks=[],
            image=None,
        )
    state = inspect.get("State") or {}
    health = (state.get("Health") or {}).get("Status")
    networks = sorted(((inspect.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    return dict(
        exists=True,
        running=bool(state.get("Running")),
        status=state.get("Status") or "unknown",
        exit_code=state.get("ExitCode"),
        health=health,
        networks=networks,
        image=(inspect.get("Config") or {}).get("Image"),
    )


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _container_words(summary: dict[str, Any]) -> str:
    """How an operator would describe the container's state."""
    if not summary["exists"]:
        return "container missing"
    if not summary["running"]:
        code = summary.get("exit_code")
        return "container stopped" + (f" (exit code {code})" if code not in (None, 0) else "")
    if summary.get("health") == "unhealthy":
        return "container unhealthy"
    return "container running"


def diagnose(facts: dict[str, Any], params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Turn what was read from the host into results and operator-facing problems.

    facts: vtn and ven (summarize_container), probe (PROBE_SCRIPT's output plus via/url, or
    None), ven_status (the VEN's /status or None), ven_status_error, s2_tcp ({ok, error} or None).
    """
    problems: list[str] = []
    vtn, ven = facts["vtn"], facts["ven"]
    network = params["network"]
    vtn_name, ven_container = params["vtn_container"], params["ven_container"]
    ven_name = params["ven_name"]

    # Containers and their network: nothing else can work without them.
    if not vtn["exists"]:
        problems.append(
            f"VTN not answering: container {vtn_name} does not exist (run the openadr role)"
        )
    elif not vtn["running"]:
        problems.append(f"VTN not answering: {_container_words(vtn)}")
    elif network not in vtn["networks"]:
        problems.append(f"{vtn_name} not attached to {network}")
    if not ven["exists"]:
        problems.append(
            f"VEN not running: container {ven_container} does not exist (run the openadr role)"
        )
    elif not ven["running"]:
        problems.append(f"VEN not running: {_container_words(ven)}")
    elif network not in ven["networks"]:
        problems.append(f"{ven_container} not attached to {network}")

    probe = dict(facts.get("probe") or {})
    status = probe.get("status") if isinstance(probe.get("status"), dict) else None
    vtn_reachable = vtn["running"] and network in vtn["networks"]
    if vtn_reachable:
        if probe.get("error") or status is None:
            reason = probe.get("error") or f"HTTP {probe.get('status_http')} on /status"
            problems.append(f"VTN not answering at {probe.get('url')}: {reason}")
        elif probe.get("openadr_http") is None:
            problems.append(f"VTN not answering on its OpenADR endpoint {params['vtn_path']}")

    # Registration and polling, from the VTN's own account.
    registration: dict[str, Any] = dict(
        registered=False,
        ven_id=None,
        registered_at=None,
        last_poll=None,
        seconds_since_poll=None,
        poll_interval_seconds=None,
        allowed_ven_names=None,
        refused=False,
    )
    events: list[dict[str, Any]] = []
    if status is not None:
        allowed = list(status.get("allowed_ven_names") or [])
        interval = status.get("poll_interval_seconds") or 10
        refused = [
            r for r in status.get("refused_registrations") or [] if r.get("ven_name") == ven_name
        ]
        registration.update(
            allowed_ven_names=allowed, poll_interval_seconds=interval, refused=bool(refused)
        )
        mine = [r for r in status.get("registered_vens") or [] if r.get("ven_name") == ven_name]
        if ven_name not in allowed:
            problems.append(
                f"VEN not registered: name {ven_name!r} not in the VTN allow-list ({allowed})"
            )
        elif not mine:
            if refused:
                problems.append(
                    f"VEN not registered: the VTN refused {ven_name!r} at {refused[-1].get('at')}"
                )
            elif ven["running"]:
                problems.append(
                    f"VEN not registered: {ven_name!r} has not registered with the VTN "
                    f"(docker logs {ven_container})"
                )
            else:
                problems.append(f"VEN not registered: {ven_container} is not running")
        else:
            entry = mine[0]
            last_poll = _parse_time(entry.get("last_poll"))
            registration.update(
                registered=True,
                ven_id=entry.get("ven_id"),
                registered_at=entry.get("registered_at"),
                last_poll=entry.get("last_poll"),
            )
            limit = params["max_missed_polls"] * interval
            since = (
                now - (last_poll or _parse_time(entry.get("registered_at")) or now)
            ).total_seconds()
            registration["seconds_since_poll"] = round(since, 1)
            if since > limit:
                problems.append(f"no poll for {int(since)} s: VEN {_container_words(ven)}")

        delivered = set(((facts.get("ven_status") or {}).get("events") or {}).keys())
        ven_id = registration["ven_id"] or ven_name
        for event in status.get("events") or []:
            response = (event.get("responses") or {}).get(ven_id)
            answered = bool(response) and response.get("modification_number") == event.get(
                "modification_number"
            )
            item = dict(
                event_id=event.get("event_id"),
                kind=event.get("signal_name") or event.get("kind"),
                modification_number=event.get("modification_number"),
                cancelled=bool(event.get("cancelled")),
                delivered=event.get("event_id") in delivered,
                answered=answered,
                opt_type=(response or {}).get("opt_type"),
            )
            events.append(item)
            if not answered and params["require_events_answered"] and registration["registered"]:
                problems.append(
                    f"event {item['event_id']} ({item['kind']}) not answered by {ven_name}"
                    + (
                        " (delivered, no opt response yet)"
                        if item["delivered"]
                        else " (not delivered)"
                    )
                )

    # S2: what the VEN says, and the published port from the host.
    ven_status = facts.get("ven_status") or {}
    s2_status = ven_status.get("s2") or {}
    connected = sorted(s2_status.get("connected") or [])
    s2 = dict(
        connected=connected,
        ready=sorted(s2_status.get("ready") or []),
        published=facts.get("s2_tcp"),
    )
    if ven["running"] and not ven_status:
        problems.append(
            "VEN not answering on its status endpoint: "
            + (facts.get("ven_status_error") or "no answer")
        )
    missing_rms = [rm for rm in params["expected_rms"] if rm not in connected]
    if missing_rms and ven_status:
        problems.append(f"S2 resource(s) not connected: {', '.join(missing_rms)}")
    tcp = facts.get("s2_tcp")
    if tcp is not None and not tcp.get("ok"):
        problems.append(
            f"S2 endpoint not accepting connections on {tcp.get('address')}:{tcp.get('port')}: "
            f"{tcp.get('error')}"
        )

    if problems:
        msg = "; ".join(problems)
    else:
        msg = (
            f"OpenADR healthy: {ven_name} registered, "
            f"last poll {registration['seconds_since_poll']} s ago, "
            f"{len(events)} live event(s) answered, {len(connected)} S2 RM(s) connected"
        )
    return dict(
        msg=msg,
        problems=problems,
        vtn=vtn,
        ven=ven,
        probe=probe,
        registration=registration,
        events=events,
        s2=s2,
    )


# ----------------------------------------------------------------------------- reading the host


def _inspect(module: AnsibleModule, name: str) -> dict[str, Any] | None:
    rc, out, _err = module.run_command(
        [module.params["docker_bin"], "inspect", "--type", "container", name]
    )
    if rc != 0:
        return None
    try:
        return json.loads(out)[0]
    except (ValueError, IndexError):
        return None


def _probe_vtn(module: AnsibleModule, vtn: dict, ven: dict) -> dict[str, Any]:
    p = module.params
    base = f"http://{p['vtn_address']}:{p['vtn_port']}"
    timeout = str(p["timeout"])
    docker = p["docker_bin"]
    if ven["running"] and p["network"] in ven["networks"]:
        via = p["ven_container"]
        argv = [
            docker,
            "exec",
            p["ven_container"],
            "python",
            "-c",
            PROBE_SCRIPT,
            base,
            p["vtn_path"],
            timeout,
        ]
    else:
        image = ven.get("image") or vtn.get("image")
        if not image:
            return dict(via=None, url=base, error="no image to run a probe container from")
        via = "probe container"
        argv = [
            docker,
            "run",
            "--rm",
            "--network",
            p["network"],
            "--entrypoint",
            "python",
            image,
            "-c",
            PROBE_SCRIPT,
            base,
            p["vtn_path"],
            timeout,
        ]
    rc, out, err = module.run_command(argv)
    result: dict[str, Any] = dict(via=via, url=base)
    try:
        result.update(json.loads(out.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        result["error"] = (err or out).strip()[-300:] or f"probe exited {rc}"
    return result


def _ven_status(module: AnsibleModule, ven: dict) -> tuple[dict | None, str | None]:
    if not ven["running"]:
        return None, None
    p = module.params
    rc, out, err = module.run_command(
        [
            p["docker_bin"],
            "exec",
            p["ven_container"],
            "python",
            "-c",
            VEN_STATUS_SCRIPT,
            str(p["timeout"]),
        ]
    )
    if rc != 0:
        return None, (err or out).strip()[-300:]
    try:
        return json.loads(out), None
    except ValueError:
        return None, "not JSON: " + out[:200]


def _tcp(address: str, port: int, timeout: float) -> dict[str, Any]:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return dict(address=address, port=port, ok=True, error=None)
    except OSError as err:
        return dict(address=address, port=port, ok=False, error=str(err))


ARGUMENT_SPEC = dict(
    vtn_container=dict(type="str", default="openadr-vtn"),
    ven_container=dict(type="str", default="openadr-ven"),
    network=dict(type="str", default="openadr-internal"),
    vtn_address=dict(type="str", default="192.168.240.10"),
    vtn_port=dict(type="int", default=8080),
    vtn_path=dict(type="str", default="/OpenADR2/Simple/2.0b"),
    ven_name=dict(type="str", default="cariflex-ven"),
    max_missed_polls=dict(type="int", default=3),
    s2_address=dict(type="str"),
    s2_port=dict(type="int", default=8765),
    expected_rms=dict(type="list", elements="str", default=[]),
    require_events_answered=dict(type="bool", default=True),
    timeout=dict(type="float", default=10),
    docker_bin=dict(type="str", default="docker"),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    if p["max_missed_polls"] < 1:
        module.fail_json(msg="max_missed_polls must be at least 1")
    vtn = summarize_container(_inspect(module, p["vtn_container"]))
    ven = summarize_container(_inspect(module, p["ven_container"]))
    facts: dict[str, Any] = dict(vtn=vtn, ven=ven)
    if vtn["running"] and p["network"] in vtn["networks"]:
        facts["probe"] = _probe_vtn(module, vtn, ven)
    facts["ven_status"], facts["ven_status_error"] = _ven_status(module, ven)
    facts["s2_tcp"] = _tcp(p["s2_address"], p["s2_port"], p["timeout"]) if p["s2_address"] else None
    result = diagnose(facts, p, datetime.now(UTC))
    if result["problems"]:
        module.fail_json(changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
