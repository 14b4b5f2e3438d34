"""The refresh-test anonymization (digitribe.cariflex.flexmeasures_anonymize_sql) on a copy of a
real FlexMeasures 1.0.1 database: users made by FlexMeasures' own CLI, a person with an account,
data source and audit log entries of their own, stored secrets, and readings."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "flexmeasures_anonymize", REPO_ROOT / "plugins" / "filter" / "flexmeasures_anonymize.py"
)
assert _spec is not None and _spec.loader is not None
plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plugin)

PERSON = {"email": "jane.doe@example.com", "username": "jane.doe", "account": "Jane Doe"}
PEOPLE_SQL = """select json_build_object(
  'emails', (select json_agg(email order by id) from fm_user),
  'usernames', (select json_agg(username order by id) from fm_user),
  'hashes', (select json_agg(password order by id) from fm_user),
  'uniquifiers', (select json_agg(fs_uniquifier order by id) from fm_user),
  'totp', (select count(*) from fm_user where tf_totp_secret is not null),
  'accounts', (select json_agg(name order by id) from account),
  'secrets', (select count(*) from account where secrets <> '{}'::jsonb),
  'sources', (select json_agg(name order by id) from data_source),
  'audit', (select coalesce(string_agg(concat_ws(' ', event, active_user_name), E'\\n'
                              order by id), '') from audit_log))"""
KEPT_SQL = """select md5(coalesce(string_agg(t::text, ',' order by t::text), '')) from (
  select sensor_id, event_start, belief_horizon, source_id, event_value from timed_belief) t"""


def as_postgres(cmd: list[str]) -> list[str]:
    """initdb's cluster belongs to the postgres user; as root, the tools run as that user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def pg_tool(fm, tool: str, *args: str) -> list[str]:
    """A PostgreSQL client of the cluster's own binaries, as postgres, on its socket."""
    connection = ["-h", str(fm.pgdata.parent), "-p", str(fm.postgres_port), "-U", "postgres"]
    return as_postgres([str(fm.pg_bin / tool), *connection, *args])


@pytest.fixture()
def copy(flexmeasures_local):
    """A copy of the running FlexMeasures' database with a person added; dropped afterwards."""
    fm = flexmeasures_local
    name = f"anonymize_{uuid.uuid4().hex[:8]}"
    fm._psql(f'CREATE DATABASE "{name}"')
    dump = subprocess.run(
        pg_tool(fm, "pg_dump", "-Fc", "flexmeasures"),
        capture_output=True,
        check=True,
        timeout=120,
        cwd="/",
    ).stdout
    subprocess.run(
        pg_tool(fm, "pg_restore", "--no-owner", "-d", name),
        input=dump,
        capture_output=True,
        check=True,
        timeout=120,
        cwd="/",
    )
    email, username, account = PERSON["email"], PERSON["username"], PERSON["account"]
    fm._psql(
        f"""insert into account (name, secrets) values ('{account}', '{{"api_key": "prod"}}');
        insert into fm_user (email, username, password, active, fs_uniquifier, account_id,
                             last_login_at, login_count, tf_totp_secret)
          select '{email}', '{username}', (select password from fm_user order by id limit 1),
                 true, 'jane-uniquifier', id, now(), 3, '{{"key": "x"}}'
            from account where name = '{account}';
        insert into data_source (name, type, user_id, account_id)
          select username, 'user', id, account_id from fm_user where email = '{email}';
        insert into data_source (name, type) values ('{email}', 'script');
        insert into audit_log (event_datetime, event, active_user_id, active_user_name,
                               affected_user_id)
          select now(), 'Password changed for user ' || username, id, username, id
            from fm_user where email = '{email}';
        insert into audit_log (event_datetime, event, active_user_name)
          values (now(), 'Updated user ''Jane Doe'': 9; attribute phone from 0612 to 0613',
                  'jane.doe');""",
        database=name,
    )
    yield fm, name
    fm._psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_script(fm, database: str, sql: str) -> subprocess.CompletedProcess:
    cmd = pg_tool(
        fm,
        "psql",
        "-X",
        "-q",
        "-tA",
        "-v",
        "ON_ERROR_STOP=1",
        "--single-transaction",
        "-d",
        database,
        "-f",
        "-",
    )
    return subprocess.run(
        cmd, input=sql, capture_output=True, text=True, timeout=120, cwd="/", check=False
    )


def people(fm, database: str) -> dict:
    return json.loads(fm._psql(PEOPLE_SQL, database=database))


def test_no_person_is_left_and_the_readings_are(copy) -> None:
    fm, database = copy
    before = people(fm, database)
    readings_before = fm._psql(KEPT_SQL, database=database)
    assert PERSON["email"] in before["emails"] and fm.admin_email in before["emails"]

    result = run_script(fm, database, plugin.flexmeasures_anonymize_sql([fm.account_name]))
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert counts["users"] == len(before["emails"])
    assert counts["accounts"] == 1 and counts["account_secrets"] == 1
    assert (
        counts["data_sources"] >= 3
    )  # the admin's, Jane's, and the script named after her address

    after = people(fm, database)
    for kind in ("emails", "usernames", "hashes", "uniquifiers"):
        assert not set(after[kind]) & set(before[kind]), kind
    assert all(e.endswith("@anonymized.invalid") for e in after["emails"])
    assert all(h.startswith(plugin.PASSWORD_MARKER) for h in after["hashes"])
    assert after["totp"] == 0 and after["secrets"] == 0
    assert fm.account_name in after["accounts"] and PERSON["account"] not in after["accounts"]
    text = json.dumps(after).lower()
    assert "jane" not in text and "0612" not in text and fm.admin_email not in text
    assert fm._psql(KEPT_SQL, database=database) == readings_before


def test_a_second_run_changes_nothing(copy) -> None:
    fm, database = copy
    sql = plugin.flexmeasures_anonymize_sql([fm.account_name])
    assert run_script(fm, database, sql).returncode == 0
    first = people(fm, database)
    second = run_script(fm, database, sql)
    assert second.returncode == 0, second.stderr
    assert set(json.loads(second.stdout).values()) == {0}
    assert people(fm, database) == first


def test_the_new_hash_is_a_valid_argon2_hash_that_no_password_opens(copy) -> None:
    fm, database = copy
    assert (
        run_script(fm, database, plugin.flexmeasures_anonymize_sql([fm.account_name])).returncode
        == 0
    )
    hashed = fm._psql("select password from fm_user order by id limit 1", database=database)
    # Hash and password both on stdin: never a password on a command line.
    check = (
        "import sys\n"
        "from argon2 import PasswordHasher\n"
        "from argon2.exceptions import VerifyMismatchError\n"
        "hashed, password = sys.stdin.read().splitlines()[:2]\n"
        "try:\n"
        "    PasswordHasher().verify(hashed, password)\n"
        "except VerifyMismatchError:\n"
        "    print('refused')\n"
        "else:\n"
        "    print('accepted')\n"
    )
    verdict = subprocess.run(
        [str(fm.venv / "bin" / "python"), "-c", check],
        input=f"{hashed}\n{fm.admin_password}\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert verdict.stdout.strip() == "refused"


def test_an_unknown_column_is_refused_and_nothing_changes(copy) -> None:
    fm, database = copy
    fm._psql("alter table fm_user add column phone text", database=database)
    before = people(fm, database)
    result = run_script(fm, database, plugin.flexmeasures_anonymize_sql([fm.account_name]))
    assert result.returncode != 0
    assert (
        "fm_user" in result.stderr
        and "phone" in result.stderr
        and "Nothing was changed" in result.stderr
    )
    assert people(fm, database) == before
