"""scripts/dev_host.py (`make up`, `make down`): one run at a time, and docker's own words when a
docker command fails. A stand-in `docker` records its calls; no engine is touched."""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
spec = importlib.util.spec_from_file_location("dev_host", ROOT / "scripts" / "dev_host.py")
dev_host = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dev_host)

CONFLICT = 'Conflict. The container name "/cariflex-dev" is already in use by container "0123abc".'


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A docker client that fails every command the way a name conflict does, and logs calls."""
    folder = tmp_path / "bin"
    folder.mkdir()
    calls = tmp_path / "docker-calls"
    script = folder / "docker"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\necho '{CONFLICT}' >&2\nexit 125\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    monkeypatch.setenv("CARIFLEX_CACHE", str(tmp_path / "cache"))
    return calls


def test_a_failed_docker_command_says_what_docker_said(fake_docker: Path) -> None:
    with pytest.raises(SystemExit) as failed:
        dev_host.docker("run", "-d", "--name", "cariflex-dev", "image")
    assert str(failed.value) == f"dev-host: `docker run` failed: {CONFLICT}"
    # check=False: the caller reads the result itself.
    assert dev_host.docker("inspect", "cariflex-dev", check=False).returncode == 125


def test_a_second_make_up_is_refused_while_one_runs(fake_docker: Path) -> None:
    with dev_host.only_one("up"):
        second = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "dev_host.py"), "up"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert second.returncode == 1
    assert f"`make up` (pid {os.getpid()}) is already working on cariflex-dev" in second.stderr
    assert "Traceback" not in second.stderr
    assert not fake_docker.exists()  # refused before touching the dev host
    # Once the first has ended, the next run goes ahead (here: to docker's own refusal).
    third = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dev_host.py"), "down"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert fake_docker.exists()
    assert "already working" not in third.stderr
