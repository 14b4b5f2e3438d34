#!/usr/bin/python
# Copyright: Digitribe
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_state
short_description: Read the Docker objects and files a role compares, in one call
version_added: 0.2.0
description:
  - Reads, in one module call, what a role would otherwise read with one task each. Containers,
    images, networks and volumes from the Docker engine's API (its Unix socket); files
    (existence, SHA-1 checksum, mode, owner). It changes nothing.
  - Every Ansible task that reaches a host costs a round trip of 0.3 to 0.5 s, almost all of it
    Python starting the module on the host. A role that reads its state here once and gives the
    writing tasks a C(when) on what it found runs a converge that changes nothing in a few round
    trips instead of dozens. The writing tasks still run, and still compare for themselves,
    whenever the read shows a difference.
  - A name that does not exist is reported with C(exists=false), never as a failure. The module
    fails only when the engine cannot be asked, naming the socket.
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
  containers:
    description: Names of containers to read.
    type: list
    elements: str
    default: []
  images:
    description: Image references to read (as C(docker image inspect) takes them).
    type: list
    elements: str
    default: []
  networks:
    description: Names of networks to read.
    type: list
    elements: str
    default: []
  volumes:
    description: Names of volumes to read.
    type: list
    elements: str
    default: []
  files:
    description: Paths of files (or directories) to read. Regular files up to O(max_checksum_bytes)
      get a SHA-1 checksum, the one C(ansible.builtin.copy) and C(ansible.builtin.template) report.
    type: list
    elements: path
    default: []
  packages:
    description: Names of Debian packages to look up in dpkg's status database (no C(dpkg-query)
      process, no apt cache).
    type: list
    elements: str
    default: []
  pidfiles:
    description: Paths of PID files; each is reported running when it holds the PID of a live
      process. A stale or unreadable file reads as not running.
    type: list
    elements: path
    default: []
  dpkg_status:
    description: dpkg's status database, read for O(packages).
    type: path
    default: /var/lib/dpkg/status
  max_checksum_bytes:
    description: Larger files are read without a checksum (C(checksum) is null).
    type: int
    default: 16777216
  docker_host:
    description: The engine's socket, as C(unix://PATH).
    type: str
    default: unix:///var/run/docker.sock
  timeout:
    description: Seconds each request to the engine may take.
    type: float
    default: 30
"""

EXAMPLES = r"""
- name: Read what the role compares
  digitribe.cariflex.host_state:
    containers: [flexmeasures-server, flexmeasures-worker]
    images: [ghcr.io/flexmeasures/flexmeasures:1.0.1]
    networks: [traefik-public]
    volumes: [flexmeasures-db]
    files: [/etc/cariflex/flexmeasures/flexmeasures.cfg]
  register: flexmeasures__state

- name: Write the config only when it differs
  ansible.builtin.template:
    src: flexmeasures.cfg.j2
    dest: /etc/cariflex/flexmeasures/flexmeasures.cfg
    mode: "0600"
  when: >-
    flexmeasures__state.files['/etc/cariflex/flexmeasures/flexmeasures.cfg'].checksum
    != lookup('ansible.builtin.template', 'flexmeasures.cfg.j2') | hash('sha1')
"""

RETURN = r"""
containers:
  description: >-
    By name, C(exists); and when it does, C(id), C(running), C(status), C(health) (null without a
    health check), C(restart_count), C(image) (the reference it was created from), C(image_id),
    C(labels), C(networks) (name to IPv4 address), C(started_at).
  returned: always
  type: dict
images:
  description: >-
    By reference, C(exists), and C(id), C(env) (list of C(NAME=value)), C(labels).
  returned: always
  type: dict
networks:
  description: >-
    By name, C(exists), and C(id), C(driver), C(internal), C(options) (the driver's), C(subnets),
    C(containers) (names attached).
  returned: always
  type: dict
volumes:
  description: >-
    By name, C(exists), and C(mountpoint), C(labels).
  returned: always
  type: dict
files:
  description: >-
    By path, C(exists), and C(isdir), C(mode) (four octal digits, as C(ansible.builtin.stat)
    gives it), C(uid), C(gid), C(size), C(checksum) (SHA-1 of a regular file, else null); a
    directory also has C(entries), the sorted names in it (not recursive).
  returned: always
  type: dict
packages:
  description: By name, C(installed) (dpkg's status is C(install ok installed)) and C(version) (null
    when not installed).
  returned: always
  type: dict
pidfiles:
  description: By path, C(running) and C(pid) (null when the file is missing or holds no number).
  returned: always
  type: dict
"""

import hashlib  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import stat  # noqa: E402
import urllib.parse  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "containers": {"type": "list", "elements": "str", "default": []},
    "images": {"type": "list", "elements": "str", "default": []},
    "networks": {"type": "list", "elements": "str", "default": []},
    "volumes": {"type": "list", "elements": "str", "default": []},
    "files": {"type": "list", "elements": "path", "default": []},
    "packages": {"type": "list", "elements": "str", "default": []},
    "pidfiles": {"type": "list", "elements": "path", "default": []},
    "dpkg_status": {"type": "path", "default": "/var/lib/dpkg/status"},
    "max_checksum_bytes": {"type": "int", "default": 16 * 1024 * 1024},
    "docker_host": {"type": "str", "default": "unix:///var/run/docker.sock"},
    "timeout": {"type": "float", "default": 30},
}


class EngineError(Exception):
    """The engine could not be asked (as opposed to: it answered that a name does not exist)."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class Engine:
    """A minimal client of the Docker engine API: GET of one object, 404 as None."""

    def __init__(self, docker_host: str, timeout: float) -> None:
        if not docker_host.startswith("unix://"):
            raise EngineError(
                f"docker_host {docker_host!r}: only a Unix socket (unix:///path) is supported"
            )
        self.path = docker_host[len("unix://") :]
        self.timeout = timeout
        self._conn: _UnixConnection | None = None

    def get(self, url: str) -> dict[str, Any] | None:
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = _UnixConnection(self.path, self.timeout)
            try:
                self._conn.request("GET", url)
                response = self._conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as err:
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise EngineError(
                        f"cannot ask the Docker engine at {self.path}: {err}. Is dockerd running"
                        " (systemctl status docker) and is this user allowed on its socket?"
                    ) from err
                continue
            if response.status == 404:
                return None
            if response.status != 200:
                raise EngineError(
                    f"the Docker engine answered {response.status} to GET {url}: "
                    f"{body.decode(errors='replace')[:300]}"
                )
            return json.loads(body)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def summarize_container(data: dict[str, Any] | None) -> dict[str, Any]:
    if data is None:
        return {"exists": False}
    state = data.get("State") or {}
    config = data.get("Config") or {}
    networks = (data.get("NetworkSettings") or {}).get("Networks") or {}
    return {
        "exists": True,
        "id": data.get("Id"),
        "running": bool(state.get("Running")),
        "status": state.get("Status"),
        "health": (state.get("Health") or {}).get("Status"),
        "restart_count": data.get("RestartCount", 0),
        "image": config.get("Image"),
        "image_id": data.get("Image"),
        "labels": config.get("Labels") or {},
        "networks": {name: (net or {}).get("IPAddress", "") for name, net in networks.items()},
        "started_at": state.get("StartedAt"),
    }


def summarize_image(data: dict[str, Any] | None) -> dict[str, Any]:
    if data is None:
        return {"exists": False}
    config = data.get("Config") or {}
    return {
        "exists": True,
        "id": data.get("Id"),
        "env": config.get("Env") or [],
        "labels": config.get("Labels") or {},
    }


def summarize_network(data: dict[str, Any] | None) -> dict[str, Any]:
    if data is None:
        return {"exists": False}
    ipam = (data.get("IPAM") or {}).get("Config") or []
    return {
        "exists": True,
        "id": data.get("Id"),
        "driver": data.get("Driver"),
        "internal": bool(data.get("Internal")),
        "options": data.get("Options") or {},
        "subnets": [c.get("Subnet") for c in ipam if c.get("Subnet")],
        "containers": sorted(
            (c or {}).get("Name", "") for c in (data.get("Containers") or {}).values()
        ),
    }


def summarize_volume(data: dict[str, Any] | None) -> dict[str, Any]:
    if data is None:
        return {"exists": False}
    return {
        "exists": True,
        "mountpoint": data.get("Mountpoint"),
        "labels": data.get("Labels") or {},
    }


def read_file(path: str, max_checksum_bytes: int) -> dict[str, Any]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {"exists": False}
    result: dict[str, Any] = {
        "exists": True,
        "isdir": stat.S_ISDIR(st.st_mode),
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        "uid": st.st_uid,
        "gid": st.st_gid,
        "size": st.st_size,
        "checksum": None,
    }
    if stat.S_ISDIR(st.st_mode):
        result["entries"] = sorted(os.listdir(path))
    if stat.S_ISREG(st.st_mode) and st.st_size <= max_checksum_bytes:
        digest = hashlib.sha1()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 16), b""):
                digest.update(chunk)
        result["checksum"] = digest.hexdigest()
    return result


def read_packages(names: list[str], status_path: str) -> dict[str, Any]:
    """Each name's entry in dpkg's status database (one paragraph per package)."""
    result: dict[str, Any] = {name: {"installed": False, "version": None} for name in names}
    if not names:
        return result
    with open(status_path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    for paragraph in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        name = fields.get("Package")
        if name in result and fields.get("Status", "").split() == ["install", "ok", "installed"]:
            result[name] = {"installed": True, "version": fields.get("Version")}
    return result


def read_pidfile(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return {"running": False, "pid": None}
    return {"running": pid > 0 and os.path.isdir(f"/proc/{pid}"), "pid": pid}


def read_state(engine: Engine | None, params: dict[str, Any]) -> dict[str, Any]:
    """Everything asked for; the engine is asked only when a Docker object is."""
    kinds = (
        ("containers", "/containers/{}/json", summarize_container),
        ("images", "/images/{}/json", summarize_image),
        ("networks", "/networks/{}", summarize_network),
        ("volumes", "/volumes/{}", summarize_volume),
    )
    result: dict[str, Any] = {}
    for key, url, summarize in kinds:
        result[key] = {}
        for name in params[key]:
            if engine is None:
                raise EngineError("no engine to ask")
            result[key][name] = summarize(engine.get(url.format(_quote(name))))
    result["files"] = {
        path: read_file(path, params["max_checksum_bytes"]) for path in params["files"]
    }
    result["packages"] = read_packages(params["packages"], params["dpkg_status"])
    result["pidfiles"] = {path: read_pidfile(path) for path in params["pidfiles"]}
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    needs_engine = any(params[k] for k in ("containers", "images", "networks", "volumes"))
    engine = None
    try:
        if needs_engine:
            engine = Engine(params["docker_host"], params["timeout"])
        state = read_state(engine, params)
    except EngineError as err:
        module.fail_json(msg=str(err))
    except OSError as err:
        module.fail_json(msg=f"cannot read {err.filename}: {err.strerror}")
    finally:
        if engine is not None:
            engine.close()
    module.exit_json(changed=False, **state)


if __name__ == "__main__":
    main()
