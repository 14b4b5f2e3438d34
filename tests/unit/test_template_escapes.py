"""`'\\n'` inside a `{{ }}` template is two characters, not a line break.

Ansible escapes backslashes in template strings before Jinja sees them (conditionals such as
`when:` are compiled as bare expressions and do get the newline). So `join('\\n')` in a variable
joins with a backslash and an `n`. This once made the firewall role compare after.rules with a
block that could never be in it: every run that changed nothing still armed the dead-man switch,
reconnected and rewrote nothing. A YAML escape (`"\\n"` in a double-quoted scalar, or a variable
holding one) is what works in a template.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
# A Jinja string literal holding a control-character escape (not a regex's `\S`, `\.` and so on).
ESCAPE_IN_LITERAL = re.compile(r"""'[^'\n]*\\[ntr][^'\n]*'|"[^"\n]*\\[ntr][^"\n]*\"""")


def escapes_in_templates(text: str) -> list[tuple[int, str]]:
    """(line, literal) of each escape in a Jinja string literal of a templated YAML scalar."""
    found: list[tuple[int, str]] = []

    def walk(node: yaml.Node) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(key)
                walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)
        elif isinstance(node, yaml.ScalarNode):
            for block in JINJA.findall(node.value):
                found.extend(
                    (node.start_mark.line + 1, m) for m in ESCAPE_IN_LITERAL.findall(block)
                )

    for document in yaml.compose_all(text, Loader=yaml.SafeLoader):
        if document is not None:
            walk(document)
    return found


def test_the_scan_finds_the_firewall_bug() -> None:
    old = "x: >-\n  {{ lines | join('\\n') ~ '\\n' not in text }}\n"
    assert [found[1] for found in escapes_in_templates(old)] == ["'\\n'", "'\\n'"]
    # A YAML double-quoted escape is a real line break by the time Jinja reads it; a regex's
    # escapes are meant literally; a bare conditional has no template.
    fine = (
        "a: \"{{ x ~ '\\n' }}\"\n"
        "b: \"{{ x | regex_replace('\\\\.sha256$', '') }}\"\n"
        "when: (x ~ '\\n') | length\n"
    )
    assert escapes_in_templates(fine) == []


def test_no_escape_sequence_in_a_template_string(yaml_path: Path) -> None:
    # yaml_path: each tracked YAML file (conftest.py).
    path = yaml_path
    text = path.read_text(encoding="utf-8")
    if "{{" not in text and "{%" not in text:
        return
    found = escapes_in_templates(text)
    assert not found, (
        f"{path.relative_to(ROOT)}: "
        + "; ".join(f"line {line}: {literal}" for line, literal in found)
        + " is a backslash and a letter in a template, not a control character: use a YAML escape"
        ' (a double-quoted scalar, or a variable such as `newline: "\\n"`)'
    )
