"""scripts/engine against a stand-in `docker` (no engine is touched): the registry check must
read all of `docker info`, however slow or long its answer, before it decides."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# A stand-in for the docker client: answers what scripts/engine asks. `docker info -f` lists the
# registry first, then more registries, slowly: a reader that stops at the first match kills it
# with SIGPIPE while it still writes (what failed `make up` under pipefail).
FAKE_DOCKER = """#!/bin/bash
case "$1 $2" in
  "info -f")
    echo "$FAKE_LISTED false"
    sleep 0.3
    for i in $(seq 1 20000); do echo "mirror-$i.invalid:5000 true"; done ;;
  "info "*) exit 0 ;;
  "network inspect") echo docker0 ;;
  *) echo "fake docker: unexpected: $*" >&2; exit 1 ;;
esac
"""
FAKE_IP = """#!/bin/sh
echo "4: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0"
"""
FAKE_CURL = "#!/bin/sh\nexit 0\n"  # the registry answers


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, text in (("docker", FAKE_DOCKER), ("ip", FAKE_IP), ("curl", FAKE_CURL)):
        path = folder / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def run_engine(fake_bin: Path, listed: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "CARIFLEX_CACHE": str(fake_bin.parent / "cache"),
        "FAKE_LISTED": listed,
    }
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "engine")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_trusted_registry_is_seen_in_a_slow_long_docker_info(fake_bin: Path) -> None:
    for _attempt in range(5):
        result = run_engine(fake_bin, "172.17.0.1:5000")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "172.17.0.1:5000"


def test_an_untrusted_registry_is_still_refused(fake_bin: Path) -> None:
    result = run_engine(fake_bin, "10.99.0.1:5000")
    assert result.returncode != 0
    assert "172.17.0.1:5000" in result.stderr and "trust" in result.stderr
