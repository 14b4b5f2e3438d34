"""The grafana role's provisioning against a real FlexMeasures 1.0.1 and its PostgreSQL (loopback).

No Grafana server can be obtained on our machines, so what Grafana would do with these files is
done here by hand, against the real database:

- the role's templates (datasource, dashboards provider, the read-only user's SQL) are rendered
  with Jinja2 and parsed into the keys Grafana's provisioning reads;
- the collection's dashboards are checked with the role's own filter, rendered with the sensor map
  of a real FlexMeasures account seeded with the collection's default sensors, and every panel's
  SQL is run **as the read-only user** after sample data was posted to every sensor it reads. The
  Grafana macros in that SQL are expanded by ``expand_macros`` below, the way Grafana's PostgreSQL
  datasource documents them;
- the read-only user is refused FlexMeasures' user table and every kind of write.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jinja2
import pytest
import yaml
from conftest import REPO_ROOT, fm_args, new_account, run_module

from tests.unit.plugins.filter.test_grafana_dashboards import plugin as dashboards_plugin

ROLE = REPO_ROOT / "roles" / "grafana"
PSQL = Path(os.environ.get("FLEXMEASURES_LOCAL_PG_BIN", "/usr/lib/postgresql/15/bin")) / "psql"
READER = "grafana_reader"
READER_PASSWORD = "it-" + os.urandom(12).hex()
# The dashboards' time range in these tests: sample data is posted inside it.
RANGE_FROM = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
RANGE_TO = RANGE_FROM + timedelta(days=1)


def role_vars() -> dict:
    """The role's defaults and internal vars, as the templates see them (a few resolved by hand)."""
    values = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    values.update(
        grafana__secrets_dir="/run/secrets/grafana",
        grafana__dashboards_dir="/etc/grafana/dashboards",
        grafana__datasource_type="grafana-postgresql-datasource",
        grafana_flexmeasures_db_container="flexmeasures-db",
        grafana_flexmeasures_db_name="flexmeasures",
        grafana_db_password=READER_PASSWORD,
    )
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert internal["grafana__datasource_type"] == values["grafana__datasource_type"]
    assert internal["grafana__secrets_dir"] == values["grafana__secrets_dir"]
    assert internal["grafana__dashboards_dir"] == values["grafana__dashboards_dir"]
    return values


def render_template(name: str, **overrides) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    template = env.from_string((ROLE / "templates" / name).read_text())
    return template.render({**role_vars(), **overrides})


# ------------------------------------------------------------------------ Grafana's macros
def _quote_time(moment: datetime) -> str:
    return moment.strftime("'%Y-%m-%dT%H:%M:%SZ'")


_INTERVAL = re.compile(r"'?(\d+)([smhd])'?")


def expand_macros(sql: str, time_from: datetime, time_to: datetime) -> str:
    """Expand the Grafana PostgreSQL macros the dashboards use, as Grafana documents them.

    $__time(col)               -> col AS "time"
    $__timeFilter(col)         -> col BETWEEN '<from>' AND '<to>'   (UTC, RFC 3339)
    $__timeFrom() / $__timeTo() -> '<from>' / '<to>'
    $__timeGroupAlias(col, 15m) -> floor(extract(epoch from col)/900)*900 AS "time"
    Any other $__macro is an error here, so a panel cannot use one this test does not know.
    """

    def group(match: re.Match) -> str:
        column, interval = (part.strip() for part in match.group(1).split(","))
        number, unit = _INTERVAL.fullmatch(interval).groups()
        seconds = int(number) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
        return f'floor(extract(epoch from {column})/{seconds})*{seconds} AS "time"'

    sql = re.sub(r"\$__timeGroupAlias\(([^()]*)\)", group, sql)
    sql = re.sub(r"\$__time\(([^()]*)\)", r'\1 AS "time"', sql)
    sql = re.sub(
        r"\$__timeFilter\(([^()]*)\)",
        lambda m: f"{m.group(1)} BETWEEN {_quote_time(time_from)} AND {_quote_time(time_to)}",
        sql,
    )
    sql = sql.replace("$__timeFrom()", _quote_time(time_from))
    sql = sql.replace("$__timeTo()", _quote_time(time_to))
    unknown = re.findall(r"\$__\w+", sql)
    assert not unknown, f"macros this test does not expand: {unknown}"
    return sql


def test_the_macro_expander_follows_grafanas_documentation():
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    sql = "SELECT $__time(t.a), $__timeGroupAlias(t.a, '5m') WHERE $__timeFilter(t.a)"
    assert expand_macros(sql, start, end) == (
        'SELECT t.a AS "time", floor(extract(epoch from t.a)/300)*300 AS "time" '
        "WHERE t.a BETWEEN '2026-01-01T00:00:00Z' AND '2026-01-02T00:00:00Z'"
    )
    with pytest.raises(AssertionError, match="__unixEpochFilter"):
        expand_macros("WHERE $__unixEpochFilter(a)", start, end)


# ------------------------------------------------------------------------ database helpers
def psql_as(fm, user: str, sql: str, password: str | None = None, csv_out: bool = False):
    """psql over TCP on loopback; the password goes in the environment, never in argv."""
    env = dict(os.environ, PGPASSWORD=password or "", PGCONNECT_TIMEOUT="10")
    cmd = [str(PSQL), "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"]
    cmd += ["-p", str(fm.postgres_port), "-U", user, "-d", "flexmeasures"]
    cmd += ["--csv"] if csv_out else ["-tA"]
    return subprocess.run(
        cmd, input=sql, capture_output=True, text=True, env=env, timeout=60, check=False
    )


def as_owner(fm, sql: str) -> str:
    """As a superuser, on stdin: the role runs its SQL as the database image's POSTGRES_USER, which
    is a superuser there (the local stack's `flexmeasures` user is not, `postgres` is)."""
    return fm._psql(sql, database="flexmeasures")


def reader_state(fm) -> dict:
    return json.loads(as_owner(fm, render_template("reader_state.sql.j2")))


def expected_state() -> dict:
    return {
        "exists": True,
        "login": True,
        "superuser": False,
        "createdb": False,
        "createrole": False,
        "replication": False,
        "bypassrls": False,
        "read_only": True,
        "member_of": [],
        "connect": True,
        "usage": True,
        "create": False,
        "tables": sorted(f"{t}:SELECT" for t in role_vars()["grafana_db_reader_tables"]),
    }


# ------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def sensor_map(fm) -> dict[str, int]:
    """The collection's default sensors, seeded by the collection's module in a fresh account."""
    from test_flexmeasures_sensors import default_assets

    account = new_account(fm)
    result = run_module(fm_args(fm, account=str(account), assets=default_assets()))
    assert result.get("failed") is not True, result
    return result["sensors"]


@pytest.fixture(scope="module")
def dashboards() -> list[dict]:
    paths = sorted((ROLE / "files" / "dashboards").glob("*.json"))
    assert paths
    return [{"name": p.name, "dashboard": json.loads(p.read_text())} for p in paths]


@pytest.fixture(scope="module")
def reader(fm):
    """The role's read-only user, made by the role's SQL, run as the role runs it."""
    as_owner(fm, render_template("reader.sql.j2"))
    yield READER


@pytest.fixture(scope="module")
def sample_data(fm, sensor_map, dashboards) -> set[str]:
    """Two quarter hours of values for every sensor a dashboard reads, posted over the API."""
    names = {
        name for entry in dashboards for name in dashboards_plugin.sensor_names(entry["dashboard"])
    }
    token = fm.token()
    status, body = fm.api("GET", f"/api/v3_0/sensors/{sensor_map[next(iter(names))]}", token=token)
    assert status == 200, body
    for name in sorted(names):
        status, sensor = fm.api("GET", f"/api/v3_0/sensors/{sensor_map[name]}", token=token)
        assert status == 200, sensor
        # An instantaneous sensor (PT0H) takes one value per timestamp; a PT15M one, per quarter.
        instantaneous = sensor["event_resolution"] in ("PT0H", "P0D", "PT0S", "0:00:00")
        body = {
            "values": [1.0, 2.0],
            "start": (RANGE_FROM + timedelta(hours=12)).isoformat(),
            "duration": "PT15M" if instantaneous else "PT30M",
            "unit": sensor["unit"],
        }
        status, answer = fm.api(
            "POST", f"/api/v3_0/sensors/{sensor_map[name]}/data", body, token=token
        )
        assert status in (200, 202), (name, status, answer)
    count = as_owner(
        fm,
        "SELECT count(DISTINCT sensor_id) FROM timed_belief WHERE sensor_id IN ("
        + ", ".join(str(sensor_map[n]) for n in names)
        + ")",
    )
    assert int(count) == len(names), f"data stored for {count} of {len(names)} sensors"
    return names


# ------------------------------------------------------------------------ provisioning files
def test_the_datasource_file_is_what_grafanas_provisioning_reads():
    data = yaml.safe_load(render_template("datasource.yaml.j2"))
    assert data["apiVersion"] == 1
    (source,) = data["datasources"]
    assert set(source) <= {
        "name", "uid", "type", "access", "url", "user", "isDefault", "editable", "jsonData",
        "secureJsonData", "orgId", "version", "database", "basicAuth",
    }  # fmt: skip
    assert source["uid"] == "cariflex-flexmeasures"
    assert source["type"] == "grafana-postgresql-datasource"
    assert source["access"] == "proxy"
    assert source["url"] == "flexmeasures-db:5432"
    assert source["user"] == READER
    assert source["jsonData"]["database"] == "flexmeasures"
    # The password is read by Grafana from the mounted file: this file holds no secret.
    assert source["secureJsonData"] == {"password": "$__file{/run/secrets/grafana/db_password}"}
    assert READER_PASSWORD not in render_template("datasource.yaml.j2")


def test_the_dashboards_provider_file_points_at_the_mounted_dashboards():
    data = yaml.safe_load(render_template("dashboards.yaml.j2"))
    assert data["apiVersion"] == 1
    (provider,) = data["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
    assert provider["allowUiUpdates"] is False


def test_every_dashboard_parses_and_every_panel_names_the_provisioned_uid(dashboards, sensor_map):
    uid = role_vars()["grafana_datasource_uid"]
    for entry in dashboards:
        board = entry["dashboard"]
        assert board["uid"] and board["title"] and board["panels"], entry["name"]
        for panel in dashboards_plugin.iter_panels(board):
            assert panel["datasource"]["uid"] == uid, (entry["name"], panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == uid, (entry["name"], panel["title"])
    problems = dashboards_plugin.grafana_dashboard_problems(dashboards, uid, sensor_map)
    assert problems == []


def test_the_dashboards_cover_what_the_issue_asks_for(dashboards):
    names = set()
    for entry in dashboards:
        names |= set(dashboards_plugin.sensor_names(entry["dashboard"]))
    wanted = {
        *(f"pv_{i:02d}_power" for i in range(1, 11)),
        *(f"bat_{i:02d}_power" for i in range(1, 11)),
        *(f"bat_{i:02d}_s2_power" for i in range(1, 6)),
        *(f"ev_{i:02d}_power" for i in range(1, 11)),
        *(f"ev_{i:02d}_s2_power" for i in range(1, 6)),
        "irradiance", "temperature", "wind_speed", "consumption_price", "production_price",
        "load_control_signal", "demand_response_signal",
    }  # fmt: skip
    assert wanted <= names, sorted(wanted - names)


# ------------------------------------------------------------------------ the read-only user
def test_the_reader_is_created_exactly_as_the_role_expects(fm, reader):
    assert reader_state(fm) == expected_state()
    # The role's expected state (vars/main.yml) says the same.
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["grafana__reader_expected"]
    assert {k: v for k, v in internal.items() if k != "tables"} == {
        k: v for k, v in expected_state().items() if k != "tables"
    }


def test_the_state_query_sees_a_missing_user_and_extra_rights(fm, reader):
    assert json.loads(
        as_owner(fm, render_template("reader_state.sql.j2", grafana_db_reader_user="nobody_here"))
    ) == {"exists": False}
    as_owner(fm, f"GRANT SELECT, INSERT ON fm_user TO {READER}")
    try:
        state = reader_state(fm)
        assert "fm_user:SELECT" in state["tables"] and "fm_user:INSERT" in state["tables"]
        assert state != expected_state()
    finally:
        # The role's own SQL puts it back.
        as_owner(fm, render_template("reader.sql.j2"))
    assert reader_state(fm) == expected_state()


def test_the_reader_logs_in_with_its_password_only(fm, reader):
    assert psql_as(fm, READER, "select 1", password=READER_PASSWORD).stdout.strip() == "1"
    refused = psql_as(fm, READER, "select 1", password="wrong-" + READER_PASSWORD)
    assert refused.returncode != 0 and "password authentication failed" in refused.stderr


def test_a_changed_password_is_applied_by_the_role_sql(fm, reader):
    new = "it-new-" + os.urandom(12).hex()
    as_owner(fm, render_template("reader.sql.j2", grafana_db_password=new))
    try:
        assert psql_as(fm, READER, "select 1", password=new).returncode == 0
        assert psql_as(fm, READER, "select 1", password=READER_PASSWORD).returncode != 0
    finally:
        as_owner(fm, render_template("reader.sql.j2"))
    assert psql_as(fm, READER, "select 1", password=READER_PASSWORD).returncode == 0


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT count(*) FROM fm_user",
        "SELECT * FROM fm_user LIMIT 1",
        "SELECT count(*) FROM account",
        "INSERT INTO timed_belief (event_start) VALUES (now())",
        "UPDATE sensor SET name = name",
        "DELETE FROM timed_belief",
        "TRUNCATE sensor",
        "CREATE TABLE grafana_was_here (a int)",
        "CREATE TEMP TABLE grafana_was_here (a int)",
        "SET default_transaction_read_only = off; UPDATE sensor SET name = name",
    ],
)
def test_the_reader_is_refused(fm, reader, statement):
    result = psql_as(fm, READER, statement, password=READER_PASSWORD)
    assert result.returncode != 0, f"{statement!r} was allowed: {result.stdout}"
    assert re.search(r"permission denied|read-only transaction", result.stderr), result.stderr


# ------------------------------------------------------------------------ every panel's SQL
def panel_queries(dashboards, sensor_map):
    for entry in dashboards:
        rendered = dashboards_plugin.grafana_dashboard_render(entry, sensor_ids=sensor_map)
        for panel in dashboards_plugin.iter_panels(rendered):
            for target in panel.get("targets", []):
                yield entry["name"], panel["title"], target["refId"], target["rawSql"]


def test_every_panel_returns_rows_as_the_reader(fm, reader, sensor_map, dashboards, sample_data):
    failures = []
    count = 0
    for name, title, ref, sql in panel_queries(dashboards, sensor_map):
        count += 1
        query = expand_macros(sql, RANGE_FROM, RANGE_TO)
        result = psql_as(fm, READER, query, password=READER_PASSWORD, csv_out=True)
        if result.returncode != 0:
            failures.append(f"{name} / {title} / {ref}: {result.stderr.strip()}")
            continue
        rows = list(csv.reader(io.StringIO(result.stdout)))
        header, data = rows[0], rows[1:]
        if header[0] != "time":
            failures.append(f"{name} / {title} / {ref}: first column {header[0]!r}, not time")
        if not data:
            failures.append(f"{name} / {title} / {ref}: no rows")
    assert count >= 14
    assert not failures, "\n".join(failures)


def test_a_panel_outside_the_data_range_returns_nothing(fm, reader, sensor_map, dashboards):
    """The control: the time filter really filters, so 'returns rows' above means something."""
    name, title, ref, sql = next(panel_queries(dashboards, sensor_map))
    early = RANGE_FROM - timedelta(days=30)
    query = expand_macros(sql, early, early + timedelta(days=1))
    result = psql_as(fm, READER, query, password=READER_PASSWORD, csv_out=True)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1, (name, title, ref, result.stdout)
