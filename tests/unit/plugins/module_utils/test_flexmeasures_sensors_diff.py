"""Unit tests of flexmeasures_sensors' pure parts: validation and difference computation."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_FILE = (
    Path(__file__).resolve().parents[4]
    / "plugins"
    / "module_utils"
    / "flexmeasures_sensors_diff.py"
)
_spec = importlib.util.spec_from_file_location("flexmeasures_sensors_diff", _FILE)
assert _spec is not None and _spec.loader is not None
diff = importlib.util.module_from_spec(_spec)
sys.modules["flexmeasures_sensors_diff"] = diff  # dataclasses look their module up
_spec.loader.exec_module(diff)

TYPES = {"building": 6, "battery": 5, "solar": 1}


# ----------------------------------------------------------------------------- units
@pytest.mark.parametrize(
    "unit",
    ["kW", "kWh", "MW", "EUR/MWh", "W/m²", "W/m**2", "°C", "m/s", "%", "dimensionless", "kEUR",
     "m³/h", "1/h", "kW*h", "EUR/kWh", "km/h", "Hz", "kVA", "A", "V", "a.u.", "%/h", "ct/kWh"],
)  # fmt: skip
def test_units_flexmeasures_accepts(unit):
    assert diff.is_valid_unit(unit)


@pytest.mark.parametrize(
    "unit",
    ["", " kW", "kw", "KW", "kilowatts", "kvar", "VAh", "°C/h", "kW/°C", "m2", "W/m2", "foo",
     None, 5, "kW/", "/h", "k"],
)  # fmt: skip
def test_units_refused(unit):
    assert not diff.is_valid_unit(unit)


# ----------------------------------------------------------------------------- durations
@pytest.mark.parametrize(
    ("text", "seconds", "canonical"),
    [
        ("PT15M", 900, "PT15M"),
        ("PT0.25H", None, None),  # fractions only on seconds (FlexMeasures writes whole units)
        ("PT1H", 3600, "PT1H"),
        ("PT60M", 3600, "PT1H"),
        ("P1D", 86400, "PT24H"),
        ("P1W", 604800, "PT168H"),
        ("PT0H", 0, "PT0H"),
        ("P0D", 0, "PT0H"),
        ("PT1.5S", 1.5, "PT1.5S"),
        ("pt5m", 300, "PT5M"),
    ],
)
def test_durations(text, seconds, canonical):
    if seconds is None:
        with pytest.raises(ValueError):
            diff.parse_duration(text)
        return
    assert diff.parse_duration(text) == seconds
    assert diff.format_duration(seconds) == canonical


@pytest.mark.parametrize("text", ["15 minutes", "PT", "P", "P1DT", "15", "", None, "PTM"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="ISO 8601"):
        diff.parse_duration(text)


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2M"])
def test_nominal_durations_are_refused_with_a_reason(text):
    with pytest.raises(ValueError, match="years or months"):
        diff.parse_duration(text)


def test_timezones():
    assert diff.is_valid_timezone("Europe/Paris")
    assert diff.is_valid_timezone("UTC")
    assert not diff.is_valid_timezone("Europe/Pariss")
    assert not diff.is_valid_timezone("")


# ----------------------------------------------------------------------------- validation
def sensor(name, unit="kW", resolution="PT15M", **extra):
    return {"name": name, "unit": unit, "event_resolution": resolution, **extra}


def asset(name, sensors=(), asset_type="building", **extra):
    return {"name": name, "asset_type": asset_type, "sensors": list(sensors), **extra}


def test_validation_normalises_and_defaults_the_timezone():
    [site] = diff.validate_assets(
        [asset("Site", [sensor("p", resolution="PT60M"), sensor("t", timezone="UTC")])],
        "Europe/Paris",
    )
    assert [(s.name, s.event_resolution, s.timezone) for s in site.sensors] == [
        ("p", "PT1H", "Europe/Paris"),
        ("t", "PT15M", "UTC"),
    ]


def test_validation_reports_every_problem_at_once():
    with pytest.raises(diff.ValidationFailed) as failed:
        diff.validate_assets(
            [
                asset("A", [sensor("x", unit="kilowatts"), sensor("y", resolution="15m")]),
                asset("A", [sensor("x")], latitude=123),
                asset("C", [sensor("z", timezone="Mars/Olympus")], parent="Nowhere"),
                asset("D", [sensor("w", attributes={"capacity_in_mw": 1})]),
            ]
        )
    errors = "\n".join(failed.value.errors)
    assert "unit 'kilowatts'" in errors
    assert "event_resolution '15m'" in errors
    assert "asset name 'A' is declared twice" in errors
    assert "sensor name 'x' is declared twice" in errors
    assert "latitude 123.0 is outside" in errors
    assert "timezone 'Mars/Olympus'" in errors
    assert "parent 'Nowhere' is not a declared asset" in errors
    assert "capacity_in_mw" in errors
    assert len(failed.value.errors) == 8


def test_parent_loops_are_refused():
    with pytest.raises(diff.ValidationFailed, match="loop"):
        diff.validate_assets([asset("A", parent="B"), asset("B", parent="A")])


def test_creation_order_puts_parents_first():
    assets = diff.validate_assets(
        [asset("leaf", parent="mid"), asset("mid", parent="root"), asset("root")]
    )
    assert [a.name for a in diff.creation_order(assets)] == ["root", "mid", "leaf"]


# ----------------------------------------------------------------------------- plans
def existing_asset(id_, name, type_name="building", parent=None, attributes="{}"):
    return {
        "id": id_,
        "name": name,
        "generic_asset_type": {"id": TYPES.get(type_name, 99), "name": type_name},
        "parent_asset_id": parent,
        "latitude": None,
        "longitude": None,
        "attributes": attributes,
    }


def existing_sensor(id_, name, asset_id, unit="kW", resolution="PT15M", tz="UTC", attrs="{}"):
    return {
        "id": id_,
        "name": name,
        "generic_asset_id": asset_id,
        "unit": unit,
        "event_resolution": resolution,
        "timezone": tz,
        "attributes": attrs,
    }


def plan_for(declared, assets, sensors, prune=False):
    return diff.compute_plan(diff.validate_assets(declared), assets, sensors, TYPES, prune)


def test_empty_account_creates_everything_parents_first():
    plan = plan_for([asset("child", [sensor("s")], parent="root"), asset("root")], [], [])
    assert [(a.action, a.name) for a in plan.asset_actions] == [
        ("create", "root"),
        ("create", "child"),
    ]
    assert plan.asset_actions[0].payload["generic_asset_type_id"] == 6
    [create] = plan.sensor_actions
    assert (create.action, create.asset, create.payload["event_resolution"]) == (
        "create",
        "child",
        "PT15M",
    )
    assert plan.sensor_ids == {"s": None}
    assert plan.changed


def test_matching_state_is_no_change():
    plan = plan_for(
        [asset("Site", [sensor("s", resolution="PT0H", attributes={"a": 1})])],
        [existing_asset(7, "Site", attributes='{"a": 0}')],
        # FlexMeasures writes a zero resolution as P0D; extra attributes are left alone
        [existing_sensor(141, "s", 7, resolution="P0D", attrs='{"a": 1, "ui": true}')],
    )
    assert plan.actions == []
    assert not plan.changed
    assert plan.sensor_ids == {"s": 141}
    assert plan.asset_ids == {"Site": 7}


def test_only_differing_fields_are_sent():
    plan = plan_for(
        [asset("Site", [sensor("s", unit="MW", timezone="Europe/Paris", attributes={"k": 2})])],
        [existing_asset(7, "Site")],
        [existing_sensor(141, "s", 7, attrs='{"k": 1, "keep": "me"}')],
    )
    [update] = plan.sensor_actions
    assert update.id == 141
    assert update.payload == {
        "unit": "MW",
        "timezone": "Europe/Paris",
        "attributes": {"k": 2, "keep": "me"},
    }
    assert update.rewrites_data  # a unit change reinterprets recorded values
    assert plan.before["sensors"]["s"]["unit"] == "kW"
    assert plan.after["sensors"]["s"]["unit"] == "MW"


def test_timezone_or_attribute_change_does_not_rewrite_data():
    plan = plan_for(
        [asset("Site", [sensor("s", timezone="Europe/Paris")])],
        [existing_asset(7, "Site")],
        [existing_sensor(141, "s", 7)],
    )
    assert not plan.sensor_actions[0].rewrites_data


def test_asset_type_and_parent_changes():
    plan = plan_for(
        [asset("root"), asset("Bat", asset_type="battery", parent="root")],
        [existing_asset(1, "root"), existing_asset(2, "Bat", type_name="building")],
        [],
    )
    [update] = plan.asset_actions
    assert update.changes == {"asset_type": ("building", "battery"), "parent": (None, "root")}
    assert update.payload == {"generic_asset_type_id": 5}


def test_unknown_asset_type_is_an_error():
    plan = plan_for([asset("X", asset_type="flux-capacitor")], [], [])
    assert "'flux-capacitor' does not exist" in plan.errors[0]


def test_sensor_on_another_asset_is_adopted_with_a_warning():
    plan = plan_for(
        [asset("PV_01", [sensor("pv_01_power")], asset_type="solar")],
        [existing_asset(3, "Old site")],
        [existing_sensor(141, "pv_01_power", 3)],
    )
    assert plan.sensor_ids == {"pv_01_power": 141}
    assert plan.sensor_actions == []
    assert "cannot move a sensor" in plan.warnings[0]


def test_ambiguous_sensor_names_are_errors():
    plan = plan_for(
        [asset("New", [sensor("s")])],
        [existing_asset(3, "A"), existing_asset(4, "B")],
        [existing_sensor(141, "s", 3), existing_sensor(142, "s", 4)],
    )
    assert "exists 2 times" in plan.errors[0]


def test_same_name_on_the_declared_asset_wins():
    plan = plan_for(
        [asset("B", [sensor("s")])],
        [existing_asset(3, "A"), existing_asset(4, "B")],
        [existing_sensor(141, "s", 3), existing_sensor(142, "s", 4)],
    )
    assert plan.errors == []
    assert plan.sensor_ids == {"s": 142}


def test_without_prune_undeclared_things_stay():
    plan = plan_for(
        [asset("A", [sensor("s1")])],
        [existing_asset(1, "A"), existing_asset(2, "B")],
        [existing_sensor(10, "s1", 1), existing_sensor(11, "s2", 1), existing_sensor(12, "s3", 2)],
    )
    assert plan.actions == []


def test_prune_deletes_sensors_then_assets_children_first():
    plan = plan_for(
        [asset("A", [sensor("s1")])],
        [
            existing_asset(1, "A"),
            existing_asset(2, "B"),
            existing_asset(3, "B-child", parent=2),
        ],
        [existing_sensor(10, "s1", 1), existing_sensor(11, "s2", 1), existing_sensor(12, "s3", 3)],
        prune=True,
    )
    assert [(a.action, a.name) for a in plan.sensor_actions] == [
        ("delete", "s2"),
        ("delete", "s3"),
    ]
    assert all(a.rewrites_data for a in plan.sensor_actions)  # the module checks for data
    assert [(a.action, a.name) for a in plan.asset_actions] == [
        ("delete", "B-child"),
        ("delete", "B"),
    ]
    assert plan.sensor_ids == {"s1": 10}


def test_prune_keeps_undeclared_assets_that_hold_kept_things():
    plan = plan_for(
        [asset("child", [sensor("kept")])],
        [existing_asset(1, "Old root"), existing_asset(2, "child", parent=1),
         existing_asset(3, "Old holder")],
        [existing_sensor(10, "kept", 3)],
        prune=True,
    )  # fmt: skip
    deleted = [a.name for a in plan.asset_actions if a.action == "delete"]
    assert deleted == []
    assert sum("is not declared but is kept" in w for w in plan.warnings) == 2


def test_summary_is_what_the_module_returns():
    plan = plan_for(
        [asset("Site", [sensor("s", unit="MW")])],
        [existing_asset(7, "Site")],
        [existing_sensor(141, "s", 7)],
    )
    action = plan.sensor_actions[0]
    action.has_data = True
    assert action.summary() == {
        "action": "update",
        "name": "s",
        "id": 141,
        "asset": "Site",
        "changes": {"unit": {"before": "kW", "after": "MW"}},
        "has_data": True,
    }
