"""Shell commands written as YAML folded scalars (`cmd: >-`) must fold into one line.

In a folded scalar, a line indented more than the first keeps its line break. Bash reads that
break as the end of a command: `find ... -type f` newline `! -name '*.pyc' ...` runs `find` with no
filter and then fails on `!` — silently, inside a `{ ...; }` group. This bug once made the openadr
and simulator roles hash file names instead of contents, so new app code was never built.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

SHELL_KEYS = ("ansible.builtin.shell", "shell")


def folded_shell_commands_with_breaks(text: str) -> list[tuple[int, str]]:
    """(line of its `cmd:`, command) of each folded shell command that keeps a line break."""
    found: list[tuple[int, str]] = []

    def walk(node: yaml.Node) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if getattr(key, "value", None) in SHELL_KEYS:
                    command = value
                    if isinstance(value, yaml.MappingNode):
                        command = {k.value: v for k, v in value.value}.get("cmd")
                    if (
                        isinstance(command, yaml.ScalarNode)
                        and command.style == ">"
                        and "\n" in command.value
                    ):
                        found.append((command.start_mark.line + 1, command.value))
                walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)

    for document in yaml.compose_all(text, Loader=yaml.SafeLoader):
        if document is not None:
            walk(document)
    return found


def test_the_check_finds_a_more_indented_line() -> None:
    broken = "- ansible.builtin.shell:\n    cmd: >-\n      find . -type f\n        ! -name x\n"
    assert folded_shell_commands_with_breaks(broken) == [(2, "find . -type f\n  ! -name x")]
    fixed = "- ansible.builtin.shell:\n    cmd: >-\n      find . -type f\n      ! -name x\n"
    assert folded_shell_commands_with_breaks(fixed) == []
    # A literal block is a script on purpose: its lines are commands.
    script = "- ansible.builtin.shell: |\n    set -e\n    true\n"
    assert folded_shell_commands_with_breaks(script) == []


def test_folded_shell_commands_are_one_line(yaml_path: Path) -> None:
    # yaml_path: each tracked YAML file (conftest.py).
    try:
        found = folded_shell_commands_with_breaks(yaml_path.read_text())
    except yaml.YAMLError:
        pytest.skip("not plain YAML (a Jinja template)")
    assert found == [], f"{yaml_path}: folded shell command keeps a line break: {found}"
