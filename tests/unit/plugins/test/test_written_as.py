"""Unit tests of the digitribe.cariflex.written_as test (the comparison behind skipped writes)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

_ROOT = Path(__file__).resolve().parents[4]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


written_as = _load("written_as", _ROOT / "plugins" / "test" / "written_as.py").written_as
host_state = _load("host_state", _ROOT / "plugins" / "modules" / "host_state.py")

CONTENT = "listen = 8080\nname = 'vtn'\n"


def entry(**changes: Any) -> dict[str, Any]:
    found = {
        "exists": True,
        "isdir": False,
        "mode": "0644",
        "uid": 0,
        "gid": 0,
        "size": len(CONTENT),
        "checksum": hashlib.sha1(CONTENT.encode()).hexdigest(),
    }
    found.update(changes)
    return found


def test_a_file_read_by_host_state_is_as_written(tmp_path: Path) -> None:
    # The real pair: host_state's checksum of a file and this test's SHA-1 of the text agree,
    # including non-ASCII text (UTF-8, as ansible.builtin.copy writes it).
    text = CONTENT + "site = 'Château'\n"
    path = tmp_path / "app.toml"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o640)
    found = host_state.read_file(str(path), 1 << 20)
    me = {"owner": os.getuid(), "group": os.getgid()}
    assert written_as(found, content=text, mode="0640", **me)
    assert not written_as(found, content=text.replace("8080", "8081"), mode="0640", **me)
    assert not written_as(found, content=text, mode="0644", **me)
    assert written_as(
        host_state.read_file(str(tmp_path), 1 << 20),
        directory=True,
        mode=f"{os.stat(tmp_path).st_mode & 0o7777:04o}",
        **me,
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"checksum": "0" * 40},  # edited by hand
        {"mode": "0666"},  # loosened
        {"uid": 1000},  # chowned
        {"gid": 1000},
        {"isdir": True, "checksum": None},  # a directory where the file belongs
        {"exists": False},
    ],
)
def test_any_difference_means_the_task_must_run(changes: dict[str, Any]) -> None:
    assert written_as(entry(), content=CONTENT, mode="0644")
    assert not written_as(entry(**changes), content=CONTENT, mode="0644")


def test_checksum_may_be_given_instead_of_content_and_mode_in_three_digits() -> None:
    sha1 = hashlib.sha1(CONTENT.encode()).hexdigest()
    assert written_as(entry(), checksum=sha1, mode="644")
    assert not written_as(entry(), checksum="f" * 40, mode="0644")


def test_without_content_only_kind_mode_and_owner_are_compared() -> None:
    assert written_as(entry(checksum="1" * 40), mode="0644")
    assert not written_as(entry(), mode="0600")


def test_owner_and_group_are_compared_as_given() -> None:
    assert written_as(
        entry(uid=1000, gid=1000), content=CONTENT, mode="0644", owner=1000, group="1000"
    )
    assert not written_as(
        entry(uid=1000, gid=0), content=CONTENT, mode="0644", owner=1000, group=1000
    )


def test_directories() -> None:
    directory = {
        "exists": True,
        "isdir": True,
        "mode": "0700",
        "uid": 0,
        "gid": 0,
        "checksum": None,
    }
    assert written_as(directory, directory=True, mode="0700")
    assert not written_as(directory, directory=True, mode="0755")
    assert not written_as(
        entry(), directory=True, mode="0644"
    )  # a file where the directory belongs


@pytest.mark.parametrize("found", [None, {}, "", [], {"exists": False}])
def test_nothing_read_is_never_as_written(found: Any) -> None:
    assert not written_as(found, content=CONTENT, mode="0644")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "give the mode"),
        ({"mode": "rw-r--r--"}, "mode must be octal"),
        ({"mode": "0999"}, "mode must be octal"),
        ({"mode": "0644", "owner": "root"}, "owner must be a numeric id"),
        ({"mode": "0644", "group": True}, "group must be a numeric id"),
        ({"mode": "0644", "content": "x", "checksum": "a" * 40}, "not both"),
        ({"mode": "0700", "directory": True, "content": "x"}, "has no content"),
        ({"mode": "0644", "checksum": "ABC"}, "40 lowercase hex"),
    ],
)
def test_bad_arguments_fail_and_name_the_argument(arguments: dict[str, Any], message: str) -> None:
    # Checked before the entry: a wrong call fails even where the file is missing.
    with pytest.raises(AnsibleFilterError, match=message):
        written_as({}, **arguments)
