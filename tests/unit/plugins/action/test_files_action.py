"""The files action plugin through ansible-playbook on this machine (connection local, files in a
temporary folder): templates rendered on the controller with the role's variables, checksums of
what was rendered, --diff that shows configuration and never a secret, and a second run that
changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
SECRET = "s3cret-Zq8xTq2vLw"

TASKS = """
- name: Converge the demo files
  digitribe.cariflex.files:
    files:
      - {{path: "{out}", state: directory, mode: "0750"}}
      - path: "{out}/app.conf"
        template: app.conf.j2
        mode: "0640"
        validate: "grep -q name= %s"
      - {{path: "{out}/static.txt", src: static.txt}}
      - {{path: "{out}/item.conf", template: app.conf.j2, template_vars: {{demo_name: two}}}}
      - {{path: "{out}/password", content: "{{{{ demo_password }}}}", mode: "0600", secret: true}}
  register: demo__files

- name: Converge a file under no_log
  digitribe.cariflex.files:
    files:
      - {{path: "{out}/quiet.conf", template: app.conf.j2}}
  no_log: true

- name: Save what the first task returned
  ansible.builtin.copy:
    content: "{{{{ demo__files | to_json }}}}"
    dest: "{out}.json"
    mode: "0600"
  when: demo__files is changed
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    role = tmp_path / "roles" / "demo"
    for folder in ("tasks", "templates", "files"):
        (role / folder).mkdir(parents=True)
    (role / "templates" / "app.conf.j2").write_text(
        "name={{ demo_name }}\npassword={{ demo_password }}\n"
    )
    (role / "files" / "static.txt").write_text("static\n")
    (role / "tasks" / "main.yml").write_text(TASKS.format(out=tmp_path / "out"))
    (tmp_path / "play.yml").write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles: [demo]\n"
    )
    return tmp_path


def play(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "play.yml",
            "-e",
            json.dumps({"demo_name": "one", "demo_password": SECRET}),
            *args,
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_render_checksums_diff_without_secrets_and_a_quiet_second_run(project: Path) -> None:
    first = play(project, "--diff", "-v")
    assert first.returncode == 0, first.stdout + first.stderr
    out = project / "out"
    rendered = f"name=one\npassword={SECRET}\n"
    assert (out / "app.conf").read_text() == rendered
    assert (out / "static.txt").read_text() == "static\n"
    assert (out / "item.conf").read_text() == f"name=two\npassword={SECRET}\n"
    assert (out / "password").read_text() == SECRET
    result = json.loads((project / "out.json").read_text())
    assert (
        result["checksums"][str(out / "app.conf")] == hashlib.sha256(rendered.encode()).hexdigest()
    )
    assert result["changed_paths"] == [
        str(out),
        str(out / "app.conf"),
        str(out / "static.txt"),
        str(out / "item.conf"),
        str(out / "password"),
    ]
    # The diff shows configuration; the secret (a content of its own, or inside a rendered
    # file) is masked everywhere Ansible prints.
    assert "+name=one" in first.stdout
    assert "(a secret, changed: its content is not shown)" in first.stdout
    assert SECRET not in first.stdout + first.stderr
    second = play(project, "--diff")
    assert second.returncode == 0
    assert "changed=0" in second.stdout.replace(" ", "")
    check = play(project, "--check", "--diff")
    assert check.returncode == 0 and "changed=0" in check.stdout.replace(" ", "")
