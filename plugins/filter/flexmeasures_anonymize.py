# Copyright: Digitribe
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SQL that anonymizes a copy of a FlexMeasures 1.0.1 database (playbooks/refresh-test.yml)."""

from __future__ import annotations

import base64
import json
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: flexmeasures_anonymize_sql
short_description: SQL that removes what identifies people from a copy of a FlexMeasures database
version_added: 0.1.0
description:
  - Returns one SQL script for C(psql --single-transaction) against a restored copy of a
    FlexMeasures 1.0.1 database. It first refuses a schema it was not written for (a column
    added to or missing from one of the tables it knows people are stored in), then rewrites
    every user, the accounts that are not kept, the data sources and audit log entries named
    after users, and empties the accounts' and assets' stored secrets. Sensor data
    (C(timed_belief)), assets and sensors are left as they are.
  - "Users: e-mail C(user-ID@DOMAIN), username C(user-ID), a password hash in argon2 format
    whose digest is random (no password matches it; the fixed salt marks it as anonymized),
    a new random C(fs_uniquifier) (every token and session of the user is invalid), no TOTP
    secret, no login or last-seen times."
  - "Accounts: C(account-ID) unless their name is in the input list; every account's and
    asset's C(secrets) emptied."
  - "Data sources: a user's is named like the user (C(user-ID)); one of type C(user) without a
    user, or named after a user's username or e-mail, becomes C(source-ID)."
  - "Audit logs: C(active_user_name) is the acting user's new name; a user audit log event
    keeps its kind and loses the names in it (C(User created), C(Password changed), ...), one
    that is not known to hold no name loses its text."
  - "Idempotent: a row already in its anonymized form is left alone, so a second run changes
    nothing. The script's last statement returns a JSON object with the number of rows changed
    per kind."
positional: _input
options:
  _input:
    description: Names of the accounts to keep (the company's own, not a person's).
    type: list
    elements: str
    required: true
  email_domain:
    description:
      - The domain of the e-mail addresses given to users.
      - C(.invalid) cannot receive mail (RFC 2606).
    type: str
    default: anonymized.invalid
"""

EXAMPLES = r"""
- name: Anonymize the restored copy in one transaction
  community.docker.docker_container_exec:
    container: flexmeasures-db
    argv: [psql, -X, -q, -tA, -v, ON_ERROR_STOP=1, --single-transaction,
           -U, flexmeasures, -d, flexmeasures_refresh_test]
    stdin: >-
      {{ ['Digitribe'] | digitribe.cariflex.flexmeasures_anonymize_sql(
           email_domain='anonymized.invalid') }}
"""

RETURN = r"""
_value:
  description: The SQL script. Its last statement prints one JSON object, kind to rows changed.
  type: str
"""

# Every column of the tables that hold people, as FlexMeasures 1.0.1 has them (alembic head
# 3bc1e29ca1f4). Another set means a schema this script was not reviewed for: it refuses.
KNOWN_COLUMNS: dict[str, tuple[str, ...]] = {
    "fm_user": (
        "id",
        "email",
        "username",
        "password",
        "last_login_at",
        "login_count",
        "active",
        "timezone",
        "fs_uniquifier",
        "account_id",
        "last_seen_at",
        "tf_totp_secret",
        "tf_primary_method",
    ),
    "account": (
        "id",
        "name",
        "consultancy_account_id",
        "primary_color",
        "secondary_color",
        "logo_url",
        "attributes",
        "secrets",
        "plan_id",
    ),
    "data_source": (
        "id",
        "name",
        "type",
        "user_id",
        "model",
        "version",
        "attributes",
        "attributes_hash",
        "account_id",
    ),
    "audit_log": (
        "id",
        "event_datetime",
        "event",
        "active_user_id",
        "active_user_name",
        "affected_user_id",
        "affected_account_id",
    ),
    "asset_audit_log": (
        "id",
        "event_datetime",
        "event",
        "active_user_name",
        "active_user_id",
        "affected_asset_id",
    ),
}

# argon2 parameters as Flask-Security writes them, and a fixed salt that marks the hash as ours.
PASSWORD_MARKER = (
    "$argon2id$v=19$m=65536,t=3,p=4$"
    + base64.b64encode(b"cariflex-anonymized").decode().rstrip("=")
    + "$"
)

# What a user audit log event becomes: its kind without the names in it. Kept as they are: these
# results, and events FlexMeasures writes without any name in them.
REMOVED_EVENT = "Text removed by refresh-test (it may name people)"
EVENT_KINDS: tuple[tuple[str, str], ...] = (
    (r"^User .* created$", "User created"),
    (r"^User .* deleted$", "User deleted"),
    (r"^Password changed for user ", "Password changed"),
    (r"^Password reset for user ", "Password reset"),
    (r"^Reset password instructions sent for user ", "Reset password instructions sent"),
    (r"^Created account .* via CLI$", "Account created"),
    (r"^Account .* created while creating user ", "Account created"),
)
EVENTS_WITHOUT_NAMES: tuple[str, ...] = (
    r"^Account Updated, Field: [A-Za-z0-9_, ]*$",
    r"^((Removed|Added) role\(s\): \[[A-Za-z0-9_, -]*\]\.|Active status set to '(True|False)'\.)+$",
)

_DOMAIN = re.compile(r"^(?=.{4,200}$)([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]([a-z0-9-]*[a-z0-9])?$")
_ACCOUNT_NAME_MAX = 100


def sql_literal(value: str) -> str:
    """A PostgreSQL string constant (standard_conforming_strings: only quotes are doubled)."""
    if "\x00" in value:
        raise AnsibleFilterError("a value for SQL contains a NUL character")
    return "'" + value.replace("'", "''") + "'"


def _event_rewrite(column: str) -> str:
    """CASE expression: the anonymized form of an audit log event; a fixpoint of itself."""
    results = sorted({kind for _pattern, kind in EVENT_KINDS} | {REMOVED_EVENT})
    lines = [
        "CASE",
        f"    WHEN {column} IS NULL THEN NULL",
        f"    WHEN {column} IN ({', '.join(sql_literal(r) for r in results)}) THEN {column}",
    ]
    lines += [f"    WHEN {column} ~ {sql_literal(p)} THEN {column}" for p in EVENTS_WITHOUT_NAMES]
    lines += [f"    WHEN {column} ~ {sql_literal(p)} THEN {sql_literal(k)}" for p, k in EVENT_KINDS]
    lines += [f"    ELSE {sql_literal(REMOVED_EVENT)}", "  END"]
    return "\n  ".join(lines)


def _schema_guard() -> str:
    known = sql_literal(json.dumps({t: list(c) for t, c in KNOWN_COLUMNS.items()}, sort_keys=True))
    return f"""DO $guard$
DECLARE
  known jsonb := {known}::jsonb;
  tbl text;
  unknown text;
  missing text;
BEGIN
  FOR tbl IN SELECT jsonb_object_keys(known) LOOP
    SELECT string_agg(a.attname, ', ' ORDER BY a.attname) INTO unknown
      FROM pg_attribute a
     WHERE a.attrelid = to_regclass('public.' || tbl) AND a.attnum > 0 AND NOT a.attisdropped
       AND NOT (known -> tbl) ? a.attname;
    SELECT string_agg(c, ', ' ORDER BY c) INTO missing
      FROM jsonb_array_elements_text(known -> tbl) AS c
     WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = to_regclass('public.' || tbl)
                        AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped);
    IF unknown IS NOT NULL OR missing IS NOT NULL THEN
      RAISE EXCEPTION '%', format('refresh-test: the table %s is not the one this anonymization '
        'was written for (columns not known: %s; missing: %s). Nothing was changed. Review '
        'whether the new columns identify people, then update KNOWN_COLUMNS and the statements '
        'in plugins/filter/flexmeasures_anonymize.py.',
        tbl, coalesce(unknown, 'none'), coalesce(missing, 'none'));
    END IF;
  END LOOP;
END
$guard$;"""


def flexmeasures_anonymize_sql(
    keep_accounts: object, email_domain: str = "anonymized.invalid"
) -> str:
    """The anonymization script; see DOCUMENTATION."""
    if isinstance(keep_accounts, str) or not isinstance(keep_accounts, (list, tuple)):
        raise AnsibleFilterError("the accounts to keep must be a list of account names")
    for name in keep_accounts:
        if not isinstance(name, str) or not name or len(name) > _ACCOUNT_NAME_MAX:
            raise AnsibleFilterError(
                "an account to keep must be a non-empty name of at most "
                f"{_ACCOUNT_NAME_MAX} characters, got {name!r}"
            )
    if not isinstance(email_domain, str) or not _DOMAIN.match(email_domain):
        raise AnsibleFilterError(
            "email_domain must be a lowercase domain name such as anonymized.invalid, "
            f"got {email_domain!r}"
        )

    domain = sql_literal("@" + email_domain)
    marker = sql_literal(PASSWORD_MARKER)
    kept = (
        f"name NOT IN ({', '.join(sql_literal(n) for n in sorted(set(keep_accounts)))})"
        if keep_accounts
        else "true"
    )
    user_done = (
        f"coalesce(email = 'user-' || id || {domain} AND username = 'user-' || id"
        f" AND left(password, length({marker})) = {marker}, false)"
        " AND tf_totp_secret IS NULL AND last_login_at IS NULL AND last_seen_at IS NULL"
        " AND login_count IS NULL"
    )
    # 32 random bytes (two version-4 UUIDs through SHA-256), in unpadded base64 like argon2's.
    random_digest = (
        "rtrim(encode(sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())),"
        " 'base64'), '=')"
    )
    user_name = "CASE WHEN active_user_id IS NULL THEN NULL ELSE 'user-' || active_user_id END"

    def counted(kind: str, update: str) -> str:
        return (
            f"WITH changed AS (\n  {update}\n  RETURNING 1\n)\n"
            f"INSERT INTO pg_temp.anonymized SELECT {sql_literal(kind)}, count(*) FROM changed;"
        )

    statements = [
        "-- digitribe.cariflex.flexmeasures_anonymize_sql: run with psql --single-transaction.",
        "SET LOCAL lock_timeout = '30s';",
        "CREATE TEMP TABLE anonymized (kind text PRIMARY KEY, changed bigint NOT NULL)"
        " ON COMMIT DROP;",
        _schema_guard(),
        # Before the users are renamed: sources named after a user's current name or address.
        counted(
            "data_sources",
            "UPDATE data_source d SET name = CASE WHEN d.user_id IS NOT NULL"
            " THEN 'user-' || d.user_id ELSE 'source-' || d.id END\n"
            "  WHERE (d.user_id IS NOT NULL AND d.name <> 'user-' || d.user_id)\n"
            "     OR (d.user_id IS NULL AND d.name <> 'source-' || d.id AND (d.type = 'user'\n"
            "         OR EXISTS (SELECT 1 FROM fm_user u WHERE d.name IN (u.username, u.email))))",
        ),
        # Two steps, so that a user already called user-N cannot collide on the way.
        counted(
            "users",
            "UPDATE fm_user SET email = '~anonymizing-' || id,"
            " username = '~anonymizing-' || id\n"
            f"  WHERE NOT ({user_done})",
        ),
        "UPDATE fm_user SET\n"
        f"    email = 'user-' || id || {domain},\n"
        "    username = 'user-' || id,\n"
        f"    password = {marker} || {random_digest},\n"
        "    fs_uniquifier = replace(gen_random_uuid()::text, '-', ''),\n"
        "    tf_totp_secret = NULL, last_login_at = NULL, last_seen_at = NULL,"
        " login_count = NULL\n"
        "  WHERE username = '~anonymizing-' || id;",
        counted(
            "accounts",
            f"UPDATE account SET name = '~anonymizing-' || id WHERE {kept}"
            " AND name IS DISTINCT FROM 'account-' || id",
        ),
        "UPDATE account SET name = 'account-' || id WHERE name = '~anonymizing-' || id;",
        counted(
            "account_secrets",
            "UPDATE account SET secrets = '{}'::jsonb WHERE secrets <> '{}'::jsonb",
        ),
        counted(
            "asset_secrets",
            "UPDATE generic_asset SET secrets = '{}'::jsonb WHERE secrets <> '{}'::jsonb",
        ),
        counted(
            "audit_log",
            f"UPDATE audit_log SET active_user_name = {user_name},\n"
            f"  event = {_event_rewrite('event')}\n"
            f"  WHERE active_user_name IS DISTINCT FROM ({user_name})\n"
            f"     OR event IS DISTINCT FROM ({_event_rewrite('event')})",
        ),
        counted(
            "asset_audit_log",
            f"UPDATE asset_audit_log SET active_user_name = {user_name}\n"
            f"  WHERE active_user_name IS DISTINCT FROM ({user_name})",
        ),
        "SELECT json_object_agg(kind, changed ORDER BY kind) FROM pg_temp.anonymized;",
    ]
    return "\n\n".join(statements) + "\n"


class FilterModule:
    """digitribe.cariflex.flexmeasures_anonymize_sql"""

    def filters(self) -> dict[str, object]:
        return {"flexmeasures_anonymize_sql": flexmeasures_anonymize_sql}
