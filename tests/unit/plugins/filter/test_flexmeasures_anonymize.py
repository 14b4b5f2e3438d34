"""Unit tests of the digitribe.cariflex.flexmeasures_anonymize_sql filter (refresh-test).

What the generated script does to a real FlexMeasures database is tested against PostgreSQL in
tests/integration/test_flexmeasures_anonymize.py and end to end in molecule/backup.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

_PLUGIN = Path(__file__).resolve().parents[4] / "plugins" / "filter" / "flexmeasures_anonymize.py"
_spec = importlib.util.spec_from_file_location("flexmeasures_anonymize", _PLUGIN)
assert _spec is not None and _spec.loader is not None
plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plugin)
anonymize_sql = plugin.flexmeasures_anonymize_sql


def test_the_filter_is_registered_under_its_documented_name() -> None:
    assert plugin.FilterModule().filters() == {"flexmeasures_anonymize_sql": anonymize_sql}


def test_quotes_are_doubled_and_nul_is_refused() -> None:
    assert plugin.sql_literal("O'Brien") == "'O''Brien'"
    assert plugin.sql_literal("back\\slash") == "'back\\slash'"
    with pytest.raises(AnsibleFilterError):
        plugin.sql_literal("a\x00b")


def test_kept_accounts_are_quoted_literals_in_the_rename() -> None:
    sql = anonymize_sql(["Digitribe", "O'Brien Energy"])
    assert "name NOT IN ('Digitribe', 'O''Brien Energy')" in sql


def test_an_injection_attempt_stays_inside_its_literal() -> None:
    sql = anonymize_sql(["x'); DROP TABLE timed_belief; --"])
    assert "NOT IN ('x''); DROP TABLE timed_belief; --')" in sql
    # Nothing in the script writes to the readings.
    assert not re.search(
        r"(?i)(update|delete from|truncate|drop table)\s+timed_belief",
        sql.replace("'x''); DROP TABLE timed_belief; --'", ""),
    )


def test_without_accounts_to_keep_every_account_is_renamed() -> None:
    sql = anonymize_sql([])
    assert "NOT IN ()" not in sql
    assert "UPDATE account SET name = '~anonymizing-' || id WHERE true AND" in sql


def test_users_get_addresses_in_the_given_domain() -> None:
    assert "'@anonymized.invalid'" in anonymize_sql(["Digitribe"])
    assert "'@example.invalid'" in anonymize_sql(["Digitribe"], email_domain="example.invalid")


@pytest.mark.parametrize(
    "domain",
    ["", "invalid", "Anonymized.Invalid", "a@b.invalid", "x'.invalid", "-x.invalid", "x..invalid"],
)
def test_a_bad_domain_is_refused_naming_the_option(domain: str) -> None:
    with pytest.raises(AnsibleFilterError, match="email_domain"):
        anonymize_sql(["Digitribe"], email_domain=domain)


@pytest.mark.parametrize("keep", ["Digitribe", None, [""], ["x" * 101], [3]])
def test_bad_account_lists_are_refused(keep: object) -> None:
    with pytest.raises(AnsibleFilterError, match="account"):
        anonymize_sql(keep)


def test_the_password_marker_is_an_argon2_hash_prefix_with_a_recognisable_salt() -> None:
    marker = plugin.PASSWORD_MARKER
    assert marker.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and marker.endswith("$")
    salt = marker.split("$")[4]
    assert base64.b64decode(salt + "=" * (-len(salt) % 4)) == b"cariflex-anonymized"
    # A salt of standard base64 without padding, as the PHC format wants.
    assert re.fullmatch(r"[A-Za-z0-9+/]+", salt)


def test_the_schema_guard_lists_every_known_column() -> None:
    sql = anonymize_sql(["Digitribe"])
    literal = re.search(r"known jsonb := '(.*?)'::jsonb;", sql)
    assert literal is not None
    known = json.loads(literal.group(1).replace("''", "'"))
    assert known == {table: list(columns) for table, columns in plugin.KNOWN_COLUMNS.items()}
    assert "RAISE EXCEPTION" in sql
    # The guard comes before the first change.
    assert sql.index("DO $guard$") < sql.index("UPDATE ")


def test_every_personal_column_is_rewritten() -> None:
    sql = anonymize_sql(["Digitribe"])
    for assignment in (
        "email = 'user-' || id ||",
        "username = 'user-' || id",
        "password = '$argon2id$",
        "fs_uniquifier = replace(gen_random_uuid()::text, '-', '')",
        "tf_totp_secret = NULL",
        "last_login_at = NULL",
        "last_seen_at = NULL",
        "UPDATE account SET secrets = '{}'::jsonb",
        "UPDATE generic_asset SET secrets = '{}'::jsonb",
        "UPDATE audit_log SET active_user_name",
        "UPDATE asset_audit_log SET active_user_name",
        "UPDATE data_source d SET name",
    ):
        assert assignment in sql, assignment


def test_each_change_is_counted_and_reported_as_one_json_object() -> None:
    sql = anonymize_sql(["Digitribe"])
    kinds = re.findall(
        r"INSERT INTO pg_temp\.anonymized SELECT '([a-z_]+)', count\(\*\) FROM changed;", sql
    )
    assert kinds == [
        "data_sources",
        "users",
        "accounts",
        "account_secrets",
        "asset_secrets",
        "audit_log",
        "asset_audit_log",
    ]
    assert sql.rstrip().endswith(
        "SELECT json_object_agg(kind, changed ORDER BY kind) FROM pg_temp.anonymized;"
    )


def _event_rewrite_in_python(event: str) -> str:
    """The script's CASE expression, evaluated as PostgreSQL's ~ does for these patterns."""
    results = {kind for _pattern, kind in plugin.EVENT_KINDS} | {plugin.REMOVED_EVENT}
    if event in results or any(re.search(p, event) for p in plugin.EVENTS_WITHOUT_NAMES):
        return event
    for pattern, kind in plugin.EVENT_KINDS:
        if re.search(pattern, event):
            return kind
    return plugin.REMOVED_EVENT


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("User jane.doe created", "User created"),
        ("User jane.doe deleted", "User deleted"),
        ("Password changed for user jane.doe", "Password changed"),
        ("Password reset for user jane.doe", "Password reset"),
        ("Reset password instructions sent for user jane.doe", "Reset password instructions sent"),
        ("Created account 'Jane Doe' (2) via CLI", "Account created"),
        ("Account Jane Doe created while creating user jane.doe", "Account created"),
        (
            "Account Updated, Field: name, primary_color",
            "Account Updated, Field: name, primary_color",
        ),
        (
            "Added role(s): [admin].Active status set to 'False'.",
            "Added role(s): [admin].Active status set to 'False'.",
        ),
        ("Updated user 'Jane': 2; attribute x from a to b", plugin.REMOVED_EVENT),
        ("Added role(s): [jane doe's role]. ", plugin.REMOVED_EVENT),
    ],
)
def test_audit_events_keep_their_kind_and_lose_names(event: str, expected: str) -> None:
    rewritten = _event_rewrite_in_python(event)
    assert rewritten == expected
    assert "jane" not in rewritten.lower()
    # Idempotent: the result is left as it is.
    assert _event_rewrite_in_python(rewritten) == rewritten


def test_the_patterns_in_the_script_are_the_ones_tested_here() -> None:
    sql = anonymize_sql(["Digitribe"])
    for pattern, kind in plugin.EVENT_KINDS:
        assert f"WHEN event ~ {plugin.sql_literal(pattern)} THEN {plugin.sql_literal(kind)}" in sql
    for pattern in plugin.EVENTS_WITHOUT_NAMES:
        assert f"WHEN event ~ {plugin.sql_literal(pattern)} THEN event" in sql
