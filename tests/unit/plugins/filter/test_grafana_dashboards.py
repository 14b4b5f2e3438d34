"""Unit tests of the grafana_dashboard_problems and grafana_dashboard_render filters."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

ROOT = Path(__file__).resolve().parents[4]
# Loaded from its file, so the tests need neither an installed collection nor the .cache link.
_PLUGIN = ROOT / "plugins" / "filter" / "grafana_dashboard_problems.py"
_spec = importlib.util.spec_from_file_location("grafana_dashboard_problems", _PLUGIN)
assert _spec is not None and _spec.loader is not None
plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plugin)
problems_of = plugin.grafana_dashboard_problems
render = plugin.grafana_dashboard_render

UID = "cariflex-flexmeasures"
DS = {"type": "grafana-postgresql-datasource", "uid": UID}
SENSORS = {"pv_01_power": 41, "pv_02_power": 42, "irradiance": 81}


def panel(title="PV production", sql="SELECT 1 WHERE sensor_id IN (@sensor(pv_01_power))", **kw):
    body = {
        "id": 2,
        "type": "timeseries",
        "title": title,
        "datasource": DS,
        "targets": [{"refId": "A", "datasource": DS, "rawSql": sql, "format": "time_series"}],
    }
    body.update(kw)
    return body


def entry(*panels, name="energy.json", uid="cariflex-energy", title="Cariflex energy"):
    return {"name": name, "dashboard": {"uid": uid, "title": title, "panels": list(panels)}}


def test_a_good_dashboard_has_no_problem():
    assert problems_of([entry(panel())], datasource_uid=UID, sensor_ids=SENSORS) == []


def test_a_sensor_missing_from_the_map_names_dashboard_panel_and_sensor():
    bad = entry(panel(title="PV", sql="... IN (@sensor(pv_01_power), @sensor(pv_11_power))"))
    assert problems_of([bad], datasource_uid=UID, sensor_ids=SENSORS) == [
        "dashboard 'Cariflex energy' (energy.json), panel 'PV' (id 2): sensor 'pv_11_power' "
        "is not in the sensor map"
    ]


def test_a_panel_datasource_uid_mismatch_names_dashboard_and_panel():
    other = {"type": "grafana-postgresql-datasource", "uid": "P44368ADAD746BC27"}
    bad = entry(panel(title="Prices", datasource=other, targets=[{"refId": "A", "rawSql": "x"}]))
    problems = problems_of([bad], datasource_uid=UID, sensor_ids=SENSORS)
    assert problems == [
        "dashboard 'Cariflex energy' (energy.json), panel 'Prices' (id 2): datasource uid "
        "'P44368ADAD746BC27' is not the provisioned 'cariflex-flexmeasures'",
        # The target inherits the panel's datasource: the same mismatch, for the query.
        "dashboard 'Cariflex energy' (energy.json), panel 'Prices' (id 2), query A: datasource "
        "uid 'P44368ADAD746BC27' is not the provisioned 'cariflex-flexmeasures'",
    ]


def test_a_target_with_another_datasource_is_caught_even_when_the_panel_is_right():
    target = {"refId": "B", "datasource": {"uid": "other"}, "rawSql": "select 1"}
    bad = entry(panel(targets=[target]))
    assert problems_of([bad], datasource_uid=UID, sensor_ids=SENSORS) == [
        "dashboard 'Cariflex energy' (energy.json), panel 'PV production' (id 2), query B: "
        "datasource uid 'other' is not the provisioned 'cariflex-flexmeasures'"
    ]


def test_a_panel_without_datasource_would_use_the_default_one_and_is_refused():
    bad = entry(panel(datasource=None, targets=[{"refId": "A", "rawSql": "select 1"}]))
    problems = problems_of([bad], datasource_uid=UID, sensor_ids=SENSORS)
    assert problems and all("datasource uid None" in p for p in problems)


def test_panels_inside_a_collapsed_row_are_checked():
    row = {"id": 1, "type": "row", "title": "Weather", "collapsed": True, "panels": []}
    row["panels"].append(panel(title="Irradiance", sql="@sensor(wind_gust)"))
    problems = problems_of([entry(row)], datasource_uid=UID, sensor_ids=SENSORS)
    assert problems == [
        "dashboard 'Cariflex energy' (energy.json), panel 'Irradiance' (id 2): sensor "
        "'wind_gust' is not in the sensor map"
    ]


@pytest.mark.parametrize(
    ("dashboard", "expected"),
    [
        ({"title": "T", "panels": [panel()]}, "dashboard 'T' (x.json): has no uid"),
        ({"uid": "u", "panels": [panel()]}, "dashboard x.json: has no title"),
        ({"uid": "u", "title": "T", "panels": []}, "dashboard 'T' (x.json): has no panels"),
        ({"uid": "u", "title": "T", "panels": [panel(targets=[])]}, "has no query"),
    ],
)
def test_structure_problems(dashboard, expected):
    problems = problems_of([{"name": "x.json", "dashboard": dashboard}], UID, SENSORS)
    assert any(expected in p for p in problems), problems


def test_two_dashboards_with_one_uid_are_refused():
    problems = problems_of(
        [entry(panel()), entry(panel(), name="copy.json")], datasource_uid=UID, sensor_ids=SENSORS
    )
    assert problems == [
        "dashboard 'Cariflex energy' (copy.json): uid 'cariflex-energy' is also the uid of "
        "energy.json"
    ]


def test_two_dashboards_with_one_file_name_are_refused():
    problems = problems_of(
        [entry(panel()), entry(panel(), uid="other")], datasource_uid=UID, sensor_ids=SENSORS
    )
    assert problems == ["dashboard energy.json: two dashboards have this file name"]


def test_bad_arguments_fail_clearly():
    with pytest.raises(AnsibleFilterError, match="datasource_uid is required"):
        problems_of([], datasource_uid="", sensor_ids={})
    with pytest.raises(AnsibleFilterError, match="sensor_ids must be a dict"):
        problems_of([], datasource_uid=UID, sensor_ids=None)


def test_render_puts_the_ids_in_and_leaves_the_input_alone():
    source = entry(panel(sql="IN (@sensor(pv_01_power), @sensor(pv_02_power))"))
    rendered = render(source, sensor_ids=SENSORS)
    assert rendered["panels"][0]["targets"][0]["rawSql"] == "IN (41, 42)"
    assert "@sensor(pv_01_power)" in source["dashboard"]["panels"][0]["targets"][0]["rawSql"]


def test_render_fails_on_a_missing_sensor_naming_dashboard_and_panel():
    with pytest.raises(AnsibleFilterError, match=r"panel 'PV production' \(id 2\): sensor 'nope'"):
        render(entry(panel(sql="@sensor(nope)")), sensor_ids=SENSORS)


# ------------------------------------------------------------------ the collection's dashboards
DASHBOARDS = sorted((ROOT / "roles" / "grafana" / "files" / "dashboards").glob("*.json"))
DEFAULT_SENSORS = (
    [f"pv_{i:02d}_power" for i in range(1, 11)]
    + [f"bat_{i:02d}_power" for i in range(1, 11)]
    + [f"ev_{i:02d}_power" for i in range(1, 11)]
    + [f"bat_{i:02d}_s2_power" for i in range(1, 6)]
    + [f"ev_{i:02d}_s2_power" for i in range(1, 6)]
    + ["irradiance", "temperature", "wind_speed", "consumption_price", "production_price"]
    + ["load_control_signal", "demand_response_signal"]
)


def test_the_collection_ships_dashboards():
    assert len(DASHBOARDS) >= 3


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_the_collection_dashboards_have_no_problem_with_the_default_sensors(path: Path):
    sensors = {name: 100 + i for i, name in enumerate(DEFAULT_SENSORS)}
    dashboard = {"name": path.name, "dashboard": json.loads(path.read_text())}
    assert problems_of([dashboard], datasource_uid=UID, sensor_ids=sensors) == []
    rendered = json.dumps(render(dashboard, sensor_ids=sensors))
    assert "@sensor(" not in rendered
