"""The harness's connection asks again when the Docker API hands back an empty answer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ansible_collections.community.docker.plugins.connection.docker_api import (
    Connection as DockerApiConnection,
)

PLUGIN = (
    Path(__file__).resolve().parents[3]
    / "molecule/resources/plugins/connection/cariflex_docker_api.py"
)
TMP_CMD = (
    '/bin/sh -c \'( umask 77 && mkdir -p "` echo ~/.ansible/tmp `"&& mkdir "` echo '
    '~/.ansible/tmp/ansible-tmp-1-2-3 `" && echo ansible-tmp-1-2-3="` echo '
    "~/.ansible/tmp/ansible-tmp-1-2-3 `\" ) && sleep 0'"
)


@pytest.fixture
def plugin(monkeypatch):
    spec = importlib.util.spec_from_file_location("cariflex_docker_api", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module.time, "sleep", lambda seconds: None)
    return module


def _connection(plugin, monkeypatch, answers):
    calls = []

    def exec_command(self, cmd, in_data=None, sudoable=False):
        calls.append(cmd)
        return answers.pop(0)

    monkeypatch.setattr(DockerApiConnection, "exec_command", exec_command)
    connection = plugin.Connection.__new__(plugin.Connection)
    return connection, calls


def test_empty_temporary_directory_answer_is_asked_again_idempotently(plugin, monkeypatch) -> None:
    path = b"ansible-tmp-1-2-3=/root/.ansible/tmp/ansible-tmp-1-2-3\n"
    connection, calls = _connection(plugin, monkeypatch, [(0, b"", b""), (0, path, b"")])
    assert connection.exec_command(TMP_CMD) == (0, path, b"")
    assert len(calls) == 2
    # The first try may have made the task's directory: the second must not fail on it.
    assert '&& mkdir -p "` echo ~/.ansible/tmp/ansible-tmp-1-2-3' in calls[1]
    assert '&& mkdir "' not in calls[1]


def test_a_failure_is_not_retried(plugin, monkeypatch) -> None:
    connection, calls = _connection(plugin, monkeypatch, [(1, b"", b"mkdir: denied")])
    assert connection.exec_command(TMP_CMD) == (1, b"", b"mkdir: denied")
    assert len(calls) == 1


def test_other_commands_with_no_output_are_left_alone(plugin, monkeypatch) -> None:
    connection, calls = _connection(plugin, monkeypatch, [(0, b"", b"")])
    assert connection.exec_command("rm -f -r /root/.ansible/tmp/x > /dev/null 2>&1") == (
        0,
        b"",
        b"",
    )
    assert len(calls) == 1


def test_gives_up_after_five_more_tries(plugin, monkeypatch) -> None:
    connection, calls = _connection(plugin, monkeypatch, [(0, b"", b"")] * 6)
    assert connection.exec_command(TMP_CMD.encode()) == (0, b"", b"")
    assert len(calls) == 6
