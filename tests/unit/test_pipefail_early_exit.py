"""No pipeline under `pipefail` ends in a reader that stops early (`grep -q`, `grep -m`, `head`).

Such a reader exits at its first match; the command before it is then killed by SIGPIPE while it
still writes, and under `pipefail` the whole pipeline fails although the match was found. That is
how `make up` failed on a fresh machine: `docker info | grep -qx "$addr false"` in scripts/engine
said the engine did not trust the registry it did trust (4 false failures in 40 tries). Read the
whole output first (a variable, a here-string, `grep -c`, `sed -n 1p`) instead.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# `| grep ... -q/-l/-m N/--quiet/--max-count ...` or `| head ...`, up to the next `|`, `;`, `&`.
EARLY_EXIT = re.compile(
    r"\|\s*(?:grep\b[^|;&\n]*?\s(?:-[a-zA-Z]*[qlm][a-zA-Z0-9]*|--quiet|--silent|--max-count\S*"
    r"|--files-with-matches)(?=\s|$)|head\b)"
)
SHELL_KEYS = ("ansible.builtin.shell", "shell")
# Every recipe of the Makefile runs under its .SHELLFLAGS (-eu -o pipefail), mk/*.mk's too.
ALWAYS_PIPEFAIL = re.compile(r"^(Makefile|mk/.*\.mk)$")
NOT_SHELL = re.compile(r"\.(md|py|yml|yaml|json|toml|txt|cfg|sql|ini|lock|pem|tsv|csv)$|\.sql\.j2$")


def early_exits(script: str) -> list[str]:
    """The pipelines of a shell script that end in a reader that stops early."""
    # Continuation lines are one command: after a backslash, and after a trailing `|`.
    joined = re.sub(r"\|[ \t]*\n", "| ", re.sub(r"\\\n", " ", script))
    found = []
    for line in joined.splitlines():
        code = line.strip()
        if code.startswith("#"):
            continue
        if EARLY_EXIT.search(code):
            found.append(code)
    return found


def yaml_shell_scripts(text: str) -> list[str]:
    scripts: list[str] = []

    def walk(node: yaml.Node) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if getattr(key, "value", None) in SHELL_KEYS:
                    command = value
                    if isinstance(value, yaml.MappingNode):
                        command = {k.value: v for k, v in value.value}.get("cmd")
                    if isinstance(command, yaml.ScalarNode):
                        scripts.append(command.value)
                walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)

    for document in yaml.compose_all(text, Loader=yaml.SafeLoader):
        if document is not None:
            walk(document)
    return scripts


def scripts_under_pipefail(name: str, text: str) -> list[str]:
    """The shell scripts of one tracked file that run with pipefail set."""
    if name.endswith((".yml", ".yaml")):
        try:
            return [s for s in yaml_shell_scripts(text) if "pipefail" in s]
        except yaml.YAMLError:
            return []
    if ALWAYS_PIPEFAIL.match(name):
        return [text]
    if NOT_SHELL.search(name) or "pipefail" not in text:
        return []
    return [text]


def tracked() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [name for name in listed if (ROOT / name).is_file()]


def test_the_check_finds_what_failed_make_up() -> None:
    engine_before = (
        "set -euo pipefail\n"
        "  timeout 20 docker info -f '{{.Name}}' 2>/dev/null |\n"
        '    grep -qx "$1 false"\n'
    )
    assert scripts_under_pipefail("scripts/engine", engine_before) == [engine_before]
    assert len(early_exits(engine_before)) == 1
    assert early_exits("x | \\\n  grep -qx y") == ["x |    grep -qx y"]
    assert early_exits("x |\n    grep -qx y") == ["x |     grep -qx y"]
    assert early_exits("sort -n | head -n 1") == ["sort -n | head -n 1"]
    assert early_exits("dpkg-query -W x | grep -q 'ok installed'")
    assert early_exits("a | grep --max-count=1 b")
    # Readers that read everything are fine, and so is grep on a file or a here-string.
    assert early_exits('registries=$(docker info)\ngrep -qx "$1 false" <<<"$registries"') == []
    assert early_exits("a | grep -c b; a | grep -ho x | sed -n 1p; grep -q x file") == []
    assert early_exits("# docker info | grep -q x: the old way") == []
    # Without pipefail the pipeline's status is grep's own: nothing to find there.
    assert scripts_under_pipefail("roles/x/files/run.sh", "#!/bin/sh\na | grep -q b\n") == []
    task = "- ansible.builtin.shell: |\n    set -o pipefail\n    a | grep -q b\n"
    assert [early_exits(s) for s in scripts_under_pipefail("t.yml", task)] == [["a | grep -q b"]]


@pytest.mark.parametrize("name", tracked())
def test_no_pipeline_under_pipefail_ends_in_an_early_exit(name: str) -> None:
    path = Path(ROOT / name)
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        pytest.skip("not text")
    found = [line for script in scripts_under_pipefail(name, text) for line in early_exits(script)]
    assert found == [], (
        f"{name}: under pipefail these pipelines fail when the reader stops early (SIGPIPE);"
        f" read the whole output first: {found}"
    )
