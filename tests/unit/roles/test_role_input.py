"""Bad inventory input is refused before a role changes anything, naming the variable.

Each case runs the real role with ansible-playbook against localhost in check mode and reads the
failure. A control case with good input must get past validation (and then stop at the first
check that needs the host: the Docker networks), or the refusals prove nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GOOD_SECRETS = {
    "flexmeasures_db_password": "Kq3vN8wT2pXz7LmR4sYb9HcD",
    "flexmeasures_redis_password": "Wm5tB2nQ8rVx4KzP7gLc3JdF",
    "flexmeasures_secret_key": "Zr6yH3kM9wPq2TbN5vXc8LsG4dJf7",
    "flexmeasures_security_totp_secret": "Ft4gS7mW2zKq9PxB6nVr3HcL8yDj5",
    "flexmeasures_admin_password": "Pn8wQ3zT6kLr9XvB2mHc5GsD",
}


def run_role(role: str, variables: dict[str, object], tmp_path: Path) -> str:
    """Runs `role` on localhost in check mode; returns the failure message ('' when none)."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  roles:\n"
        f"    - role: digitribe.cariflex.{role}\n"
    )
    # Variables go through a file: values on a command line would be a bad habit to test with.
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps(variables))
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="json",
        ANSIBLE_CALLBACKS_ENABLED="json",
        ANSIBLE_LOCALHOST_WARNING="false",
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "--check",
            "-e",
            f"@{extra}",
            str(playbook),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout[result.stdout.index("{") :])
    for play in report["plays"]:
        for task in play["tasks"]:
            outcome = task["hosts"].get("localhost", {})
            if outcome.get("failed"):
                return f"{task['task']['name']}: {outcome.get('msg', '')}"
    return ""


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"flexmeasures_admin_password": "admin"}, "flexmeasures_admin_password"),
        ({"flexmeasures_db_password": ""}, "flexmeasures_db_password"),
        ({"flexmeasures_redis_password": "Changeme"}, "flexmeasures_redis_password"),
        # The seed's one shared password: the second service to use it is refused too.
        (
            {"flexmeasures_db_password": GOOD_SECRETS["flexmeasures_admin_password"]},
            "flexmeasures_db_password",
        ),
        ({"flexmeasures_hostname": "Cariflex_digitribe.fr"}, "flexmeasures_hostname"),
        ({"flexmeasures_hostname": "cariflex.digitribe.fr/"}, "flexmeasures_hostname"),
        ({"flexmeasures_admin_email": "admin"}, "flexmeasures_admin_email"),
    ],
)
def test_flexmeasures_refuses_bad_input(change: dict[str, str], named: str, tmp_path: Path) -> None:
    message = run_role("flexmeasures", {**GOOD_SECRETS, **change}, tmp_path)
    assert named in message, message
    # Refused values are never echoed (a refused password may still be someone's real one).
    for value in change.values():
        if "password" in named and value:
            assert value not in message.replace(named, ""), message


def test_flexmeasures_good_input_passes_validation(tmp_path: Path) -> None:
    message = run_role("flexmeasures", GOOD_SECRETS, tmp_path)
    # Past validation, the role's first look at the host: no engine networks on this machine's
    # localhost run (or no engine at all). Either way the secrets and names were accepted.
    assert "Refused" not in message and "not a valid" not in message, message
    assert "network" in message.lower() or "docker" in message.lower(), message


REFRESH_GOOD = {
    "cariflex_environment": "test",
    "refresh_test_confirm": "yes",
    "backup_restore_identity_file": "/nonexistent/age-key.txt",
}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        # Never on production, whatever else is given.
        ({"cariflex_environment": "prod"}, "cariflex_environment"),
        ({"cariflex_environment": ""}, "cariflex_environment"),
        ({"refresh_test_email_domain": "Anonymized.Invalid"}, "refresh_test_email_domain"),
        ({"refresh_test_email_domain": "x'; drop table fm_user; --"}, "refresh_test_email_domain"),
        ({"refresh_test_keep_accounts": ["Digitribe", ""]}, "refresh_test_keep_accounts"),
        ({"flexmeasures_admin_email": "admin@anonymized.invalid"}, "flexmeasures_admin_email"),
        ({"refresh_test_confirm": "no"}, "refresh_test_confirm=yes"),
    ],
)
def test_refresh_test_refuses_before_anything(change: dict, named: str, tmp_path: Path) -> None:
    message = run_role("refresh_test", {**REFRESH_GOOD, **change}, tmp_path)
    assert named in message, message
    assert "Nothing was changed" in message, message


def test_refresh_test_good_input_stops_only_at_check_mode(tmp_path: Path) -> None:
    # These runs are in check mode, which refresh-test refuses last: everything else was accepted.
    message = run_role("refresh_test", REFRESH_GOOD, tmp_path)
    assert "not in" in message and "check mode" in message, message
    for variable in (
        "cariflex_environment",
        "refresh_test_email_domain",
        "flexmeasures_admin_email",
    ):
        assert variable not in message, message
