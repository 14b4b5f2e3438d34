"""digitribe.cariflex.flexmeasures_sensors against a real FlexMeasures 1.0.1 (loopback only).

Every run goes through ansible-playbook and the collection's FQCN. HTTP requests are counted on
the server side, from gunicorn's access log.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, fm_args, new_account, run_module, writes

DEFAULTS = REPO_ROOT / "roles" / "flexmeasures" / "defaults" / "main" / "sensors.yml"


def default_assets() -> list[dict]:
    """The collection's default data, with the site time zone variable resolved."""
    data = yaml.safe_load(DEFAULTS.read_text())
    text = yaml.safe_dump(data["flexmeasures_assets"], allow_unicode=True)
    text = text.replace("{{ flexmeasures_site_timezone }}", data["flexmeasures_site_timezone"])
    return yaml.safe_load(text)


DEFAULT_SENSOR_NAMES = {s["name"] for a in default_assets() for s in a["sensors"]}
SEED_SENSOR_NAMES = (
    {f"pv_{i:02d}_power" for i in range(1, 11)}
    | {f"bat_{i:02d}_power" for i in range(1, 11)}
    | {f"ev_{i:02d}_power" for i in range(1, 11)}
    | {
        "irradiance",
        "temperature",
        "wind_speed",
        "consumption_price",
        "production_price",
        "load_control_signal",
        "demand_response_signal",
    }
)


def account_sensors(fm, account_id: int) -> dict[str, dict]:
    status, body = fm.api("GET", f"/api/v3_0/sensors?account={account_id}", token=fm.token())
    assert status == 200, body
    return {s["name"]: s for s in body}


def account_assets(fm, account_id: int) -> dict[str, dict]:
    status, body = fm.api("GET", f"/api/v3_0/assets?account={account_id}", token=fm.token())
    assert status == 200, body
    return {a["name"]: a for a in body}


def post_data(fm, sensor_id: int, unit: str) -> None:
    status, body = fm.api(
        "POST",
        f"/api/v3_0/sensors/{sensor_id}/data",
        {
            "values": [1.5, 2.5],
            "start": "2026-11-20T00:00:00+01:00",
            "duration": "PT30M",
            "unit": unit,
        },
        token=fm.token(),
    )
    assert status in (200, 202), (status, body)


# ----------------------------------------------------------------------------- default data
@pytest.fixture(scope="module")
def default_account(fm) -> int:
    return new_account(fm)


@pytest.fixture(scope="module")
def seeded(fm, default_account) -> dict:
    """The cold run of the default data (made once; several tests look at it)."""
    mark = fm.access_log_mark()
    result = run_module(fm_args(fm, account=str(default_account), assets=default_assets()))
    result["server_requests"] = fm.requests_since(mark)
    return result


def test_the_default_data_keeps_the_seed_names_and_adds_s2_power_sensors():
    assert SEED_SENSOR_NAMES <= DEFAULT_SENSOR_NAMES
    extra = DEFAULT_SENSOR_NAMES - SEED_SENSOR_NAMES
    assert extra == {f"bat_{i:02d}_s2_power" for i in range(1, 6)} | {
        f"ev_{i:02d}_s2_power" for i in range(1, 6)
    }


def test_check_mode_on_an_empty_account_creates_nothing(fm, default_account):
    mark = fm.access_log_mark()
    result = run_module(
        fm_args(fm, account=str(default_account), assets=default_assets()), check=True, diff=True
    )
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert set(result["sensors"]) == DEFAULT_SENSOR_NAMES
    assert all(v is None for v in result["sensors"].values())  # nothing created, no id yet
    assert len([a for a in result["actions"] if a["action"] == "create"]) == 31 + 47
    assert set(result["diff"]["after"]["sensors"]) == DEFAULT_SENSOR_NAMES
    assert writes(fm.requests_since(mark)) == []
    assert account_sensors(fm, default_account) == {}
    assert account_assets(fm, default_account) == {}


def test_cold_run_creates_every_default_sensor(fm, default_account, seeded):
    assert not seeded.get("failed"), seeded.get("msg")
    assert seeded["changed"] is True
    assert set(seeded["sensors"]) == DEFAULT_SENSOR_NAMES
    in_flexmeasures = account_sensors(fm, default_account)
    assert {name: s["id"] for name, s in in_flexmeasures.items()} == seeded["sensors"]
    assert {n: a["id"] for n, a in account_assets(fm, default_account).items()} == seeded["assets"]
    price = in_flexmeasures["consumption_price"]
    assert (price["unit"], price["event_resolution"], price["timezone"]) == (
        "EUR/MWh",
        "PT15M",
        "Europe/Paris",
    )
    assert in_flexmeasures["irradiance"]["unit"] == "W/m²"
    assert in_flexmeasures["bat_01_power"]["event_resolution"] in ("PT0H", "P0D", "PT0S")
    # S2 counts consumption as positive; the sensor says so to FlexMeasures.
    assert '"consumption_is_positive": true' in in_flexmeasures["bat_01_s2_power"]["attributes"]
    assert '"consumption_is_positive": false' in in_flexmeasures["pv_01_power"]["attributes"]
    # One POST per created thing (plus the token), and the module counts what the server saw.
    posts = [r for r in seeded["server_requests"] if r.method == "POST"]
    assert len(posts) == 1 + 31 + 47
    assert seeded["http_requests"] == len(seeded["server_requests"])


def test_second_run_changes_nothing_and_makes_three_requests(fm, default_account, seeded):
    mark = fm.access_log_mark()
    result = run_module(fm_args(fm, account=str(default_account), assets=default_assets()))
    requests = fm.requests_since(mark)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    assert result["actions"] == []
    assert result["sensors"] == seeded["sensors"]
    assert [(r.method, r.path) for r in requests] == [
        ("POST", "/api/requestAuthToken"),
        ("GET", "/api/v3_0/assets"),
        ("GET", "/api/v3_0/sensors"),
    ]
    assert result["http_requests"] == 3


def test_query_returns_the_same_maps_and_changes_nothing(fm, default_account, seeded):
    mark = fm.access_log_mark()
    declared = run_module(
        fm_args(
            fm,
            account=str(default_account),
            assets=default_assets(),
            state="query",
            # as the flexmeasures role calls it: by address, with the public name as Host
            host_header="cariflex.digitribe.fr",
        )
    )
    everything = run_module(fm_args(fm, account=str(default_account), state="query"))
    assert writes(fm.requests_since(mark)) == []
    for result in (declared, everything):
        assert not result.get("failed"), result.get("msg")
        assert result["changed"] is False
        assert result["sensors"] == seeded["sensors"]
        assert result["assets"] == seeded["assets"]


def test_a_changed_attribute_is_updated_and_only_that(fm, default_account, seeded):
    assets = default_assets()
    bat = next(a for a in assets if a["name"] == "Bat_01")
    sensor = next(s for s in bat["sensors"] if s["name"] == "bat_01_s2_power")
    sensor["attributes"]["s2_max_power_kw"] = 45
    mark = fm.access_log_mark()
    result = run_module(fm_args(fm, account=str(default_account), assets=assets), diff=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    [action] = result["actions"]
    assert (action["action"], action["name"], action["id"]) == (
        "update",
        "bat_01_s2_power",
        seeded["sensors"]["bat_01_s2_power"],
    )
    assert set(action["changes"]) == {"attributes"}
    assert (
        result["diff"]["before"]["sensors"]["bat_01_s2_power"]["attributes"]["s2_max_power_kw"]
        == 50
    )
    assert (
        result["diff"]["after"]["sensors"]["bat_01_s2_power"]["attributes"]["s2_max_power_kw"] == 45
    )
    assert [(r.method, r.path) for r in writes(fm.requests_since(mark))] == [
        ("PATCH", f"/api/v3_0/sensors/{seeded['sensors']['bat_01_s2_power']}")
    ]
    stored = account_sensors(fm, default_account)["bat_01_s2_power"]["attributes"]
    assert '"s2_max_power_kw": 45' in stored
    # and back to the default data, which is again a change, then none
    assert run_module(fm_args(fm, account=str(default_account), assets=default_assets()))["changed"]
    again = run_module(fm_args(fm, account=str(default_account), assets=default_assets()))
    assert again["changed"] is False


def test_existing_sensors_are_found_by_name_and_keep_their_ids(fm):
    """The production database case: sensors made by hand, under other asset names."""
    account = new_account(fm)
    token = fm.token()
    status, legacy = fm.api(
        "POST",
        "/api/v3_0/assets",
        {"name": "Legacy site", "account_id": account, "generic_asset_type_id": 6},
        token=token,
    )
    assert status == 201, legacy
    ids = {}
    for name, unit in (("pv_01_power", "kW"), ("irradiance", "W/m²")):
        status, body = fm.api(
            "POST",
            "/api/v3_0/sensors",
            {
                "name": name,
                "unit": unit,
                "event_resolution": "PT15M",
                "timezone": "Europe/Paris",
                "generic_asset_id": legacy["id"],
            },
            token=token,
        )
        assert status == 201, body
        ids[name] = body["id"]
    result = run_module(fm_args(fm, account=str(account), assets=default_assets()))
    assert not result.get("failed"), result.get("msg")
    assert result["sensors"]["pv_01_power"] == ids["pv_01_power"]
    assert result["sensors"]["irradiance"] == ids["irradiance"]
    assert any("cannot move a sensor" in w for w in result.get("warnings", []))
    assert len(account_sensors(fm, account)) == len(DEFAULT_SENSOR_NAMES)


# ----------------------------------------------------------------------------- data protection
def small_assets(sensors_a: list[dict], sensors_b: list[dict] | None = None) -> list[dict]:
    assets = [{"name": "Site A", "asset_type": "building", "sensors": sensors_a}]
    if sensors_b is not None:
        assets.append({"name": "Site B", "asset_type": "battery", "sensors": sensors_b})
    return assets


def sensor(name: str, unit: str = "kW", resolution: str = "PT15M") -> dict:
    return {"name": name, "unit": unit, "event_resolution": resolution, "timezone": "UTC"}


def test_unit_change_on_a_sensor_with_data_needs_force(fm):
    account = new_account(fm)
    args = fm_args(fm, account=str(account))
    first = run_module(dict(args, assets=small_assets([sensor("meter"), sensor("spare")])))
    meter_id = first["sensors"]["meter"]
    post_data(fm, meter_id, "kW")

    mark = fm.access_log_mark()
    refused = run_module(dict(args, assets=small_assets([sensor("meter", "MW"), sensor("spare")])))
    assert refused.get("failed") is True
    assert "meter" in refused["msg"] and "holds data" in refused["msg"]
    assert "force: true" in refused["msg"] and "nothing was changed" in refused["msg"]
    assert writes(fm.requests_since(mark)) == []
    assert account_sensors(fm, account)["meter"]["unit"] == "kW"

    # A sensor without data may change unit without force.
    spare = run_module(
        dict(args, assets=small_assets([sensor("meter"), sensor("spare", "MW", "PT1H")]))
    )
    assert spare["changed"] is True and not spare.get("failed"), spare.get("msg")
    assert account_sensors(fm, account)["spare"]["unit"] == "MW"

    forced = run_module(
        dict(
            args,
            force=True,
            assets=small_assets([sensor("meter", "MW"), sensor("spare", "MW", "PT1H")]),
        )
    )
    assert not forced.get("failed"), forced.get("msg")
    assert forced["changed"] is True
    assert forced["sensors"]["meter"] == meter_id
    assert account_sensors(fm, account)["meter"]["unit"] == "MW"


def test_prune_removes_only_undeclared_things_and_needs_force_for_data(fm):
    account = new_account(fm)
    args = fm_args(fm, account=str(account))
    everything = small_assets([sensor("s1"), sensor("s2")], [sensor("s3")])
    created = run_module(dict(args, assets=everything))
    ids = created["sensors"]
    post_data(fm, ids["s2"], "kW")

    # Without prune, undeclared things are left alone.
    untouched = run_module(dict(args, assets=small_assets([sensor("s1")])))
    assert untouched["changed"] is False
    assert set(account_sensors(fm, account)) == {"s1", "s2", "s3"}

    # Prune without data at stake needs no force: s3 and Site B go, s2 (declared) stays.
    pruned = run_module(dict(args, prune=True, assets=small_assets([sensor("s1"), sensor("s2")])))
    assert not pruned.get("failed"), pruned.get("msg")
    assert {(a["action"], a["name"]) for a in pruned["actions"]} == {
        ("delete", "s3"),
        ("delete", "Site B"),
    }
    assert set(account_sensors(fm, account)) == {"s1", "s2"}
    assert set(account_assets(fm, account)) == {"Site A"}

    # s2 holds data: pruning it is refused without force, and nothing is deleted.
    mark = fm.access_log_mark()
    refused = run_module(dict(args, prune=True, assets=small_assets([sensor("s1")])))
    assert refused.get("failed") is True
    assert "s2" in refused["msg"] and "delete the data" in refused["msg"]
    assert writes(fm.requests_since(mark)) == []
    assert set(account_sensors(fm, account)) == {"s1", "s2"}

    forced = run_module(dict(args, prune=True, force=True, assets=small_assets([sensor("s1")])))
    assert not forced.get("failed"), forced.get("msg")
    assert set(account_sensors(fm, account)) == {"s1"}
    assert forced["sensors"] == {"s1": ids["s1"]}  # the kept sensor kept its id


# ----------------------------------------------------------------------------- faults
def assert_failed_without_writes(fm, result, mark, *phrases):
    assert result.get("failed") is True, result
    for phrase in phrases:
        assert phrase in result["msg"], result["msg"]
    assert writes(fm.requests_since(mark)) == []


def test_wrong_password_fails_clearly(fm):
    mark = fm.access_log_mark()
    result = run_module(fm_args(fm, password="not-the-password", assets=small_assets([])))
    assert_failed_without_writes(fm, result, mark, "refused the credentials", fm.admin_email)
    assert "not-the-password" not in str(result)


@pytest.mark.parametrize(
    ("bad_sensor", "phrases"),
    [
        (sensor("x", unit="kilowatts"), ["unit 'kilowatts'", "FlexMeasures accepts"]),
        (sensor("x", resolution="15 minutes"), ["event_resolution", "ISO 8601"]),
        (sensor("x", resolution="P1M"), ["months"]),
        ({**sensor("x"), "timezone": "Europe/Pariss"}, ["timezone 'Europe/Pariss'"]),
    ],
    ids=["unknown-unit", "bad-resolution", "nominal-resolution", "bad-timezone"],
)
def test_bad_input_fails_before_any_request(fm, bad_sensor, phrases):
    account = new_account(fm)
    mark = fm.access_log_mark()
    result = run_module(fm_args(fm, account=str(account), assets=small_assets([bad_sensor])))
    assert_failed_without_writes(fm, result, mark, "nothing was changed", *phrases)
    assert fm.requests_since(mark) == []  # validated before the first request
    assert account_assets(fm, account) == {}


def test_duplicate_sensor_name_fails_before_any_request(fm):
    mark = fm.access_log_mark()
    result = run_module(fm_args(fm, assets=small_assets([sensor("twin")], [sensor("twin", "MW")])))
    assert_failed_without_writes(fm, result, mark, "'twin' is declared twice")
    assert fm.requests_since(mark) == []


def test_unknown_asset_type_fails_after_reading_and_writes_nothing(fm):
    account = new_account(fm)
    mark = fm.access_log_mark()
    assets = [{"name": "Mystery", "asset_type": "flux-capacitor", "sensors": [sensor("m")]}]
    result = run_module(fm_args(fm, account=str(account), assets=assets))
    assert_failed_without_writes(fm, result, mark, "'flux-capacitor' does not exist", "battery")
    assert account_assets(fm, account) == {}


def test_an_untrusted_host_header_fails_with_a_hint(fm):
    mark = fm.access_log_mark()
    result = run_module(fm_args(fm, host_header="elsewhere.example", assets=small_assets([])))
    assert result.get("failed") is True
    assert "Host: elsewhere.example" in result["msg"] and "TRUSTED_HOSTS" in result["msg"]
    # Only the token request, refused before routing (werkzeug logs its path as None).
    assert [(r.method, r.status) for r in fm.requests_since(mark)] == [("POST", 500)]


def test_flexmeasures_down_fails_clearly(fm):
    fm.stop_flexmeasures()
    try:
        result = run_module(fm_args(fm, retries=1, timeout=5, assets=small_assets([])))
    finally:
        fm.start_flexmeasures()
    assert result.get("failed") is True
    assert "cannot be reached" in result["msg"] and fm.url in result["msg"]
    assert "after 2 attempt(s)" in result["msg"]


def test_the_default_data_file_is_valid_module_input():
    """The default data must pass the module's own validation (no FlexMeasures needed)."""
    import sys

    sys.path.insert(0, str(Path(REPO_ROOT / ".cache" / "collections")))
    from ansible_collections.digitribe.cariflex.plugins.module_utils.flexmeasures_sensors_diff import (  # noqa: E501
        validate_assets,
    )

    assets = validate_assets(default_assets(), "UTC")
    assert sum(len(a.sensors) for a in assets) == 47
