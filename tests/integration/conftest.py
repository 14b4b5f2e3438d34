"""Integration tests: the collection's modules against a real FlexMeasures on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support import fixtures  # noqa: E402

# The session fixture itself, made visible to the tests of this folder.
flexmeasures_local = fixtures.flexmeasures_local

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def ansible_env() -> dict:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".cache" / "collections"),
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="0",
    )
    return env


def ensure_collection_link() -> None:
    """`make venv` makes it; tests run alone (pytest tests/integration) need it too."""
    link = REPO_ROOT / ".cache" / "collections" / "ansible_collections" / "digitribe" / "cariflex"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../../../.."))


def run_module(
    module_args: dict,
    check: bool = False,
    diff: bool = False,
    vars_files: list[Path] | None = None,
) -> dict:
    """Run digitribe.cariflex.flexmeasures_sensors through ansible-playbook; return its result.

    The arguments (password included) go through a 0600 vars file, never the command line.
    """
    ensure_collection_link()
    with tempfile.TemporaryDirectory(prefix="fm-sensors-play-") as tmp:
        args_file = Path(tmp) / "module_args.json"
        args_file.write_text(json.dumps({"fm_module_args": module_args}))
        args_file.chmod(0o600)
        inventory = Path(tmp) / "inventory"
        inventory.write_text(
            f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        )
        playbook = Path(tmp) / "play.yml"
        files = [str(args_file)] + [str(f) for f in vars_files or []]
        playbook.write_text(
            json.dumps(
                [
                    {
                        "hosts": "localhost",
                        "gather_facts": False,
                        "vars_files": files,
                        "tasks": [
                            {
                                "name": "flexmeasures_sensors",
                                "digitribe.cariflex.flexmeasures_sensors": ("{{ fm_module_args }}"),
                            }
                        ],
                    }
                ]
            )
        )
        cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(playbook)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=ansible_env(), timeout=300, check=False
        )
    try:
        report = json.loads(proc.stdout[proc.stdout.index("{") :])
        result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError(
            f"ansible-playbook gave no result (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        ) from None
    return result


def fm_args(fm, **extra) -> dict:
    """Connection arguments for the local FlexMeasures (its admin, its account by default)."""
    args = {
        "url": fm.url,
        "user": fm.admin_email,
        "password": fm.admin_password,
        "account": str(fm.account_id),
        "timeout": 30,
    }
    args.update(extra)
    return args


def new_account(fm) -> int:
    """A fresh account, so that each scenario starts from an empty FlexMeasures account."""
    status, body = fm.api(
        "POST", "/api/v3_0/accounts", {"name": f"it-{uuid.uuid4().hex[:8]}"}, token=fm.token()
    )
    assert status == 201, (status, body)
    return body["id"]


def writes(entries) -> list:
    """Requests that could have changed something (the token request does not)."""
    return [
        e for e in entries if e.method != "GET" and not e.path.endswith("/api/requestAuthToken")
    ]


@pytest.fixture(scope="session")
def fm(flexmeasures_local):
    return flexmeasures_local
