"""Unit tests of the files module's comparison and convergence, on real files in a temporary
folder: each parameter that differs is changed and nothing else; a second run changes nothing;
check mode writes nothing; bad input is refused before any write; a secret never reaches a diff."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_collections.digitribe.cariflex.plugins.modules import files as module

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="changing an owner needs root")


def run_command(command: str) -> tuple[int, str, str]:
    done = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout, done.stderr


def converge(entries: list[dict], check_mode: bool = False):
    return module.converge(entries, check_mode, run_command)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def tree(tmp_path: Path) -> list[dict]:
    return [
        {"path": str(tmp_path / "conf"), "state": "directory", "mode": "0750"},
        {"path": str(tmp_path / "conf" / "app.yml"), "content": "a: 1\n", "mode": "0640"},
        {"path": str(tmp_path / "conf" / "acme.json"), "state": "exists", "mode": "0600"},
        {"path": str(tmp_path / "old.txt"), "state": "absent"},
    ]


def test_first_run_creates_then_a_second_changes_nothing(tmp_path: Path, tree) -> None:
    (tmp_path / "old.txt").write_text("left over")
    files, changed, diffs = converge(tree)
    assert changed == [e["path"] for e in tree]
    assert (tmp_path / "conf" / "app.yml").read_text() == "a: 1\n"
    assert mode_of(tmp_path / "conf") == 0o750
    assert mode_of(tmp_path / "conf" / "app.yml") == 0o640
    assert (tmp_path / "conf" / "acme.json").read_bytes() == b""
    assert not (tmp_path / "old.txt").exists()
    assert len(diffs) == 4
    files, changed, diffs = converge(tree)
    assert changed == [] and diffs == []
    assert all(not f["changed"] for f in files.values())


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (lambda p: p.write_text("a: 2\n"), ["content"]),
        (lambda p: p.chmod(0o644), ["mode"]),
        (lambda p: (p.write_text("x"), p.chmod(0o600)), ["content", "mode"]),
    ],
)
def test_a_parameter_that_differs_is_changed_and_only_it(tmp_path, tree, change, what) -> None:
    converge(tree)
    app = tmp_path / "conf" / "app.yml"
    change(app)
    files, changed, diffs = converge(tree)
    assert changed == [str(app)] and len(diffs) == 1
    assert files[str(app)]["what"] == what
    assert app.read_text() == "a: 1\n" and mode_of(app) == 0o640


@ROOT_ONLY
def test_owner_and_group_are_converged(tmp_path: Path) -> None:
    path = tmp_path / "f"
    entry = {"path": str(path), "content": "x", "owner": "1", "group": "root"}
    converge([entry])
    assert (path.stat().st_uid, path.stat().st_gid) == (1, 0)
    os.chown(path, 0, 1)
    files, changed, diffs = converge([entry])
    assert changed == [str(path)] and files[str(path)]["what"] == ["owner", "group"]
    assert (path.stat().st_uid, path.stat().st_gid) == (1, 0)
    assert diffs[0]["before"] == "x\n# owner 0, group 1\n"
    assert diffs[0]["after"] == "x\n# owner 1, group 0\n"


def test_an_exists_file_keeps_what_its_service_wrote(tmp_path: Path, tree) -> None:
    converge(tree)
    acme = tmp_path / "conf" / "acme.json"
    acme.write_text('{"certificates": []}')
    changed = converge(tree)[1]
    assert changed == [] and acme.read_text() == '{"certificates": []}'


def test_check_mode_reports_and_writes_nothing(tmp_path: Path, tree) -> None:
    files, changed, diffs = converge(tree, check_mode=True)
    assert changed == [e["path"] for e in tree[:3]]
    assert not (tmp_path / "conf").exists()
    converge(tree)
    app = tmp_path / "conf" / "app.yml"
    app.write_text("edited by hand\n")
    files, changed, diffs = converge(tree, check_mode=True)
    assert changed == [str(app)] and files[str(app)]["what"] == ["content"]
    assert diffs[0]["before"].startswith("edited by hand\n")
    assert diffs[0]["after"].startswith("a: 1\n")
    assert app.read_text() == "edited by hand\n"


def test_a_secret_never_appears_in_a_diff(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("old-secret-value")
    for entry in (
        {"path": str(path), "content": "new-secret-value", "secret": True, "mode": "0600"},
        {"path": str(path), "secret_content": "new-secret-value", "mode": "0600"},
    ):
        path.write_text("old-secret-value")
        changed, diffs = converge([entry], check_mode=True)[1:]
        assert changed == [str(path)]
        text = repr(diffs)
        assert "secret-value" not in text
        assert diffs[0]["after"].startswith(module.SECRET_CHANGED)
    # Only the mode differs: the diff says so, and that the content did not change.
    path.write_text("new-secret-value")
    path.chmod(0o644)
    diffs = converge([entry])[2]
    assert diffs[0]["before"] == module.SECRET_NOTE + "# mode 0644\n"
    assert diffs[0]["after"] == module.SECRET_NOTE + "# mode 0600\n"


def test_a_content_that_fails_validation_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "traefik.yml"
    path.write_text('{"ok": true}')
    entry = {"path": str(path), "content": "{not json", "validate": "python3 -m json.tool %s"}
    with pytest.raises(module.Refused, match="failed its validation"):
        converge([entry])
    assert path.read_text() == '{"ok": true}'
    assert os.listdir(tmp_path) == ["traefik.yml"]  # no temporary file left


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"content": "x", "owner": "no-such-user-here"}, "owner user 'no-such-user-here'"),
        ({"content": "x", "group": "no-such-group-here"}, "group group 'no-such-group-here'"),
        ({"content": "x", "mode": 420}, 'quote it in YAML, e.g. mode: "0640"'),
        ({"content": "x", "mode": "rw-r--r--"}, "not a string of octal digits"),
        ({"state": "file"}, "needs a content"),
        ({"state": "directory", "content": "x"}, "content is given but state is directory"),
        ({"content": "x", "validate": "true"}, "must contain %s"),
        ({"content": "x", "secret_content": "y"}, "not both"),
        ({"content": "x", "secret": True, "return_previous": True}, "return_previous is for"),
        ({"state": "exists", "return_previous": True}, "return_previous is for"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(tmp_path, entry, message) -> None:
    first = {"path": str(tmp_path / "first"), "content": "written?"}
    with pytest.raises(module.Refused, match=message.replace("(", r"\(").replace(")", r"\)")):
        converge([first, {"path": str(tmp_path / "second"), **entry}])
    assert not (tmp_path / "first").exists()


def test_the_previous_content_is_returned_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    entry = {"path": str(path), "content": '{"a": 2}\n', "return_previous": True}

    def previous(check_mode: bool = False):
        files, changed, diffs = converge([entry], check_mode=check_mode)
        assert len(diffs) == len(changed)
        return files[str(path)]["previous"], changed

    assert previous() == (None, [str(path)])  # no file before
    path.write_text('{"a": 1}\n')
    assert previous(check_mode=True) == ('{"a": 1}\n', [str(path)])
    assert previous() == ('{"a": 1}\n', [str(path)])
    assert path.read_text() == '{"a": 2}\n'
    assert previous() == ('{"a": 2}\n', [])
    files, changed, diffs = converge([{"path": str(path), "content": "x"}])
    assert "previous" not in files[str(path)] and changed == [str(path)] and len(diffs) == 1


def test_a_folder_where_a_file_is_wanted_is_refused_and_kept(tmp_path: Path) -> None:
    (tmp_path / "acme.json").mkdir()
    (tmp_path / "acme.json" / "keep").write_text("data")
    with pytest.raises(module.Refused, match="is a folder where a file is wanted"):
        converge([{"path": str(tmp_path / "acme.json"), "state": "exists"}])
    assert (tmp_path / "acme.json" / "keep").read_text() == "data"


def test_an_exclusive_folder_loses_what_is_not_listed(tmp_path: Path) -> None:
    folder = tmp_path / "dashboards"
    folder.mkdir()
    (folder / "old.json").write_text("{}")
    (folder / "stray").mkdir()
    entries = [
        {"path": str(folder) + "/", "state": "directory", "exclusive": True},
        {"path": str(folder / "site.json"), "content": "{}\n"},
    ]
    files, changed, diffs = converge(entries, check_mode=True)
    assert changed == [str(folder / "site.json"), str(folder / "old.json"), str(folder / "stray")]
    assert files[str(folder / "old.json")]["what"] == ["removed"]
    assert diffs[1]["after"] == "(absent)\n"
    assert (folder / "old.json").exists() and (folder / "stray").is_dir()
    converge(entries)
    assert sorted(os.listdir(folder)) == ["site.json"]
    assert converge(entries)[1] == []
    with pytest.raises(module.Refused, match="exclusive is for a directory"):
        converge([{"path": str(folder / "site.json"), "content": "{}\n", "exclusive": True}])


def test_a_path_listed_twice_is_refused(tmp_path: Path) -> None:
    entry = {"path": str(tmp_path / "a"), "content": "x"}
    with pytest.raises(module.Refused, match="listed twice"):
        converge([entry, dict(entry, content="y")])


def test_a_new_file_gets_the_umask_and_keeps_unmanaged_attributes_later(tmp_path: Path) -> None:
    path = tmp_path / "f"
    old = os.umask(0o027)
    try:
        converge([{"path": str(path), "content": "1"}])
    finally:
        os.umask(old)
    assert mode_of(path) == 0o640
    path.chmod(0o604)
    converge([{"path": str(path), "content": "2"}])  # mode not managed: kept
    assert mode_of(path) == 0o604 and path.read_text() == "2"


def test_documentation_mirrors_the_argument_spec() -> None:
    options = yaml.safe_load(module.DOCUMENTATION)["options"]
    assert set(options) == set(module.ARGUMENT_SPEC)
    documented = options["files"]["suboptions"]
    spec = module.ARGUMENT_SPEC["files"]["options"]
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
        assert documented[name].get("choices") == option.get("choices"), name
