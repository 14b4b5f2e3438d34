"""Unit tests of host_state: what it reads from an engine API served on a real Unix socket (404 is
"does not exist", anything else a failure naming the socket), the summaries the roles compare, file
checksums equal to the ones copy and template report, and the documentation against the spec."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socketserver
import threading
from typing import ClassVar

import pytest
import yaml
from ansible_collections.digitribe.cariflex.plugins.modules import (
    host_state as module,
)

PARAMS = {name: spec.get("default") for name, spec in module.ARGUMENT_SPEC.items()}

SERVER = {
    "Id": "c1",
    "RestartCount": 2,
    "Image": "sha256:abc",
    "State": {
        "Running": True,
        "Status": "running",
        "Health": {"Status": "healthy"},
        "StartedAt": "t",
    },
    "Config": {"Image": "fm:1.0.1", "Labels": {"fr.digitribe.cariflex.spec": "x"}},
    "NetworkSettings": {"Networks": {"traefik-public": {"IPAddress": "172.29.0.5"}, "backend": {}}},
}
OBJECTS = {
    "/containers/flexmeasures-server/json": SERVER,
    "/images/fm%3A1.0.1/json": {
        "Id": "sha256:abc",
        "Config": {"Env": ["PG_MAJOR=15"], "Labels": None},
    },
    "/networks/traefik-public": {
        "Id": "n1",
        "Driver": "bridge",
        "Internal": True,
        "Options": {"com.docker.network.bridge.enable_ip_masquerade": "false"},
        "IPAM": {"Config": [{"Subnet": "172.29.0.0/16"}]},
        "Containers": {"c1": {"Name": "flexmeasures-server"}, "c2": {"Name": "traefik"}},
    },
    "/volumes/flexmeasures-db": {"Mountpoint": "/var/lib/docker/volumes/flexmeasures-db/_data"},
}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests: ClassVar[list[str]] = []
    fail_with: int | None = None

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        if type(self).fail_with:
            status, body = type(self).fail_with, b'{"message": "boom"}'
        elif self.path in OBJECTS:
            status, body = 200, json.dumps(OBJECTS[self.path]).encode()
        else:
            status, body = 404, b'{"message": "No such object"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _address = super().get_request()
        return request, ("local", 0)


@pytest.fixture
def engine_socket(tmp_path):
    path = str(tmp_path / "docker.sock")
    _Handler.requests = []
    _Handler.fail_with = None
    server = _UnixServer(path, _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()


def _read(path: str, **params) -> dict:
    engine = module.Engine("unix://" + path, 5)
    try:
        return module.read_state(engine, {**PARAMS, **params})
    finally:
        engine.close()


def test_reads_every_kind_on_one_connection_and_missing_names_do_not_fail(engine_socket):
    state = _read(
        engine_socket,
        containers=["flexmeasures-server", "flexmeasures-worker"],
        images=["fm:1.0.1", "fm:0.9"],
        networks=["traefik-public", "openadr-internal"],
        volumes=["flexmeasures-db", "grafana-data"],
    )
    assert state["containers"]["flexmeasures-server"] == {
        "exists": True,
        "id": "c1",
        "running": True,
        "status": "running",
        "health": "healthy",
        "restart_count": 2,
        "image": "fm:1.0.1",
        "image_id": "sha256:abc",
        "labels": {"fr.digitribe.cariflex.spec": "x"},
        "networks": {"traefik-public": "172.29.0.5", "backend": ""},
        "started_at": "t",
    }
    assert state["containers"]["flexmeasures-worker"] == {"exists": False}
    assert state["images"]["fm:1.0.1"] == {
        "exists": True,
        "id": "sha256:abc",
        "env": ["PG_MAJOR=15"],
        "labels": {},
    }
    assert state["images"]["fm:0.9"] == {"exists": False}
    assert state["networks"]["traefik-public"]["subnets"] == ["172.29.0.0/16"]
    assert state["networks"]["traefik-public"]["internal"] is True
    assert state["networks"]["traefik-public"]["options"] == {
        "com.docker.network.bridge.enable_ip_masquerade": "false"
    }
    assert state["networks"]["traefik-public"]["containers"] == ["flexmeasures-server", "traefik"]
    assert state["networks"]["openadr-internal"] == {"exists": False}
    assert state["volumes"]["flexmeasures-db"]["mountpoint"].endswith("/flexmeasures-db/_data")
    assert state["volumes"]["grafana-data"] == {"exists": False}
    # A reference with a colon is one path segment, quoted.
    assert "/images/fm%3A1.0.1/json" in _Handler.requests
    assert len(_Handler.requests) == 8


def test_an_engine_error_is_a_failure_not_a_missing_object(engine_socket):
    _Handler.fail_with = 500
    with pytest.raises(module.EngineError, match="answered 500 to GET /containers/x/json"):
        _read(engine_socket, containers=["x"])


def test_no_engine_names_the_socket_and_what_to_check(tmp_path):
    with pytest.raises(module.EngineError, match=r"nothing\.sock.*Is dockerd running"):
        _read(str(tmp_path / "nothing.sock"), containers=["x"])


def test_only_unix_sockets_are_accepted():
    with pytest.raises(module.EngineError, match="only a Unix socket"):
        module.Engine("tcp://127.0.0.1:2375", 5)


def test_files_only_never_ask_the_engine(tmp_path):
    (tmp_path / "b.json").write_text("{}")
    (tmp_path / "a").mkdir()
    state = module.read_state(None, {**PARAMS, "files": [str(tmp_path), str(tmp_path / "b.json")]})
    assert state["files"][str(tmp_path)]["isdir"] is True
    assert state["files"][str(tmp_path)]["entries"] == ["a", "b.json"]
    assert "entries" not in state["files"][str(tmp_path / "b.json")]
    with pytest.raises(module.EngineError):
        module.read_state(None, {**PARAMS, "volumes": ["v"]})


DPKG_STATUS = """Package: docker.io
Status: install ok installed
Version: 20.10.24+dfsg1-1+b3
Description: Linux container runtime
 Package: python3-docker
 a continuation line that looks like a field must not count

Package: python3-docker
Status: deinstall ok config-files
Version: 5.0.3-1

Package: cron
Status: install ok installed
Version: 3.0pl1-162
"""


def test_packages_are_read_from_dpkg_status_installed_only(tmp_path):
    status = tmp_path / "status"
    status.write_text(DPKG_STATUS)
    state = module.read_state(
        None,
        {
            **PARAMS,
            "packages": ["docker.io", "python3-docker", "cron", "age"],
            "dpkg_status": str(status),
        },
    )
    assert state["packages"] == {
        "docker.io": {"installed": True, "version": "20.10.24+dfsg1-1+b3"},
        # Removed with its config files left: not installed.
        "python3-docker": {"installed": False, "version": None},
        "cron": {"installed": True, "version": "3.0pl1-162"},
        "age": {"installed": False, "version": None},
    }


def test_a_pidfile_runs_only_when_its_process_is_alive(tmp_path):
    alive, stale, junk = tmp_path / "alive.pid", tmp_path / "stale.pid", tmp_path / "junk.pid"
    alive.write_text(f"{os.getpid()}\n")
    # Above the kernel's pid_max (at most 2**22): no process can have it.
    stale.write_text(f"{2**22 + 1}\n")
    junk.write_text("not a pid\n")
    paths = [str(p) for p in (alive, stale, junk, tmp_path / "missing.pid")]
    state = module.read_state(None, {**PARAMS, "pidfiles": paths})["pidfiles"]
    assert state[str(alive)] == {"running": True, "pid": os.getpid()}
    assert state[str(stale)] == {"running": False, "pid": 2**22 + 1}
    assert state[str(junk)] == {"running": False, "pid": None}
    assert state[str(tmp_path / "missing.pid")] == {"running": False, "pid": None}


def test_file_checksum_mode_and_owner_are_what_copy_and_stat_report(tmp_path):
    path = tmp_path / "flexmeasures.cfg"
    path.write_bytes(b"SECRET_KEY = 'x'\n")
    os.chmod(path, 0o600)
    big = tmp_path / "big"
    big.write_bytes(b"0" * 100)
    state = module.read_state(
        None,
        {
            **PARAMS,
            "files": [str(path), str(tmp_path / "missing"), str(big)],
            "max_checksum_bytes": 50,
        },
    )
    info = state["files"][str(path)]
    assert info == {
        "exists": True,
        "isdir": False,
        "mode": "0600",
        "uid": os.getuid(),
        "gid": os.getgid(),
        "size": 17,
        "checksum": hashlib.sha1(b"SECRET_KEY = 'x'\n").hexdigest(),
    }
    assert state["files"][str(tmp_path / "missing")] == {"exists": False}
    assert state["files"][str(big)]["checksum"] is None


def test_documentation_mirrors_the_argument_spec():
    # ansible-doc parses all three.
    assert yaml.safe_load(module.EXAMPLES) and yaml.safe_load(module.RETURN)
    options = yaml.safe_load(module.DOCUMENTATION)["options"]
    assert set(options) == set(module.ARGUMENT_SPEC)
    for name, spec in module.ARGUMENT_SPEC.items():
        assert options[name]["type"] == spec["type"], name
        assert options[name].get("default") == spec.get("default"), name
        assert options[name].get("elements") == spec.get("elements"), name
