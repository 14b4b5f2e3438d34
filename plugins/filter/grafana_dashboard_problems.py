# Copyright: Digitribe
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check and render the grafana role's dashboards: the seed's "no data" failures, caught early."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: grafana_dashboard_problems
short_description: What would make a Grafana dashboard of the collection show "no data"
version_added: 0.1.0
description:
  - Looks at dashboards (parsed JSON) before they are deployed and lists every problem, each
    naming the dashboard (title and file) and the panel (title and id).
  - A dashboard needs a C(uid), a C(title) and a non-empty C(panels) list; dashboard uids are
    unique.
  - Every panel that queries data, and every one of its targets, names its datasource explicitly
    by the provisioned uid (a panel without one would use whatever datasource is the default).
  - Sensors are referenced by name with the placeholder C(@sensor(NAME)) in any string of a panel
    (its SQL, usually); every name must be in the sensor map (C(flexmeasures_sensor_ids)).
  - The companion filter C(grafana_dashboard_render) replaces those placeholders with the ids.
positional: _input
options:
  _input:
    description:
      - The dashboards, each a dict with C(name) (the file name) and C(dashboard) (the parsed JSON).
    type: list
    elements: dict
    required: true
  datasource_uid:
    description: The uid of the provisioned datasource (C(grafana_datasource_uid)).
    type: str
    required: true
  sensor_ids:
    description: Sensor name to FlexMeasures id (C(flexmeasures_sensor_ids)).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the dashboards before deploying them
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: >-
      {{ dashboards | digitribe.cariflex.grafana_dashboard_problems(
           datasource_uid='cariflex-flexmeasures', sensor_ids=flexmeasures_sensor_ids) }}
"""

RETURN = r"""
_value:
  description: One sentence per problem; empty when every dashboard is fine.
  type: list
  elements: str
  sample:
    - >-
      dashboard 'Cariflex energy' (energy.json), panel 'PV production' (id 2): sensor 'pv_11_power'
      is not in the sensor map
"""

# A sensor name as FlexMeasures' sensors of the collection are named (lowercase, digits, _).
SENSOR_PLACEHOLDER = re.compile(r"@sensor\(([^()]*)\)")
_SENSOR_NAME = re.compile(r"[a-z0-9_]+")
# Panels that hold no query of their own.
_NON_QUERY_PANELS = {"row", "text", "news", "dashlist", "alertlist", "annolist", "welcome"}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def sensor_names(value: Any) -> list[str]:
    """Every sensor name referenced by @sensor(NAME) in value (any nesting), in order, unique."""
    names: list[str] = []
    for text in _strings(value):
        for name in SENSOR_PLACEHOLDER.findall(text):
            if name not in names:
                names.append(name)
    return names


def iter_panels(dashboard: dict) -> Iterator[dict]:
    """Every panel, also those folded inside a collapsed row."""
    for panel in dashboard.get("panels") or []:
        if not isinstance(panel, dict):
            continue
        yield panel
        for inner in panel.get("panels") or []:
            if isinstance(inner, dict):
                yield inner


def _datasource_uid(datasource: Any) -> str | None:
    if isinstance(datasource, dict):
        uid = datasource.get("uid")
        return uid if isinstance(uid, str) else None
    # A bare string is a datasource name (old dashboards) or a uid: either way not checkable.
    return None


def _where(name: str, dashboard: dict, panel: dict | None = None) -> str:
    title = dashboard.get("title") if isinstance(dashboard, dict) else None
    where = f"dashboard {title!r} ({name})" if title else f"dashboard {name}"
    if panel is not None:
        where += f", panel {panel.get('title') or '(untitled)'!r} (id {panel.get('id', '?')})"
    return where


def panel_problems(
    name: str, dashboard: dict, panel: dict, datasource_uid: str, sensor_ids: dict
) -> list[str]:
    where = _where(name, dashboard, panel)
    problems = []
    if panel.get("type") not in _NON_QUERY_PANELS:
        targets = [t for t in panel.get("targets") or [] if isinstance(t, dict)]
        if not targets:
            problems.append(f"{where}: has no query (targets)")
        uid = _datasource_uid(panel.get("datasource"))
        if uid != datasource_uid:
            problems.append(
                f"{where}: datasource uid {uid!r} is not the provisioned {datasource_uid!r}"
            )
        for index, target in enumerate(targets):
            target_uid = _datasource_uid(target.get("datasource", panel.get("datasource")))
            if target_uid != datasource_uid:
                problems.append(
                    f"{where}, query {target.get('refId', index)}: datasource uid "
                    f"{target_uid!r} is not the provisioned {datasource_uid!r}"
                )
    for sensor in sensor_names({k: v for k, v in panel.items() if k != "panels"}):
        if not _SENSOR_NAME.fullmatch(sensor):
            problems.append(f"{where}: {sensor!r} in @sensor(...) is not a sensor name")
        elif sensor not in sensor_ids:
            problems.append(f"{where}: sensor {sensor!r} is not in the sensor map")
    return problems


def grafana_dashboard_problems(
    dashboards: list[dict], datasource_uid: str | None = None, sensor_ids: dict | None = None
) -> list[str]:
    """Every problem of every dashboard; empty when all are fine."""
    if not isinstance(dashboards, list):
        raise AnsibleFilterError("grafana_dashboard_problems: the input must be a list")
    if not isinstance(datasource_uid, str) or not datasource_uid:
        raise AnsibleFilterError("grafana_dashboard_problems: datasource_uid is required")
    if not isinstance(sensor_ids, dict):
        raise AnsibleFilterError("grafana_dashboard_problems: sensor_ids must be a dict")
    problems: list[str] = []
    seen_uids: dict[str, str] = {}
    seen_names: set[str] = set()
    for entry in dashboards:
        name = str(entry.get("name", "?")) if isinstance(entry, dict) else "?"
        if name in seen_names:
            # Both would be written to the same file: one would silently replace the other.
            problems.append(f"dashboard {name}: two dashboards have this file name")
        seen_names.add(name)
        dashboard = entry.get("dashboard") if isinstance(entry, dict) else None
        if not isinstance(dashboard, dict):
            problems.append(f"dashboard {name}: is not a JSON object")
            continue
        where = _where(name, dashboard)
        uid = dashboard.get("uid")
        if not isinstance(uid, str) or not uid:
            problems.append(f"{where}: has no uid")
        elif uid in seen_uids:
            problems.append(f"{where}: uid {uid!r} is also the uid of {seen_uids[uid]}")
        else:
            seen_uids[uid] = name
        if not isinstance(dashboard.get("title"), str) or not dashboard.get("title"):
            problems.append(f"{where}: has no title")
        panels = list(iter_panels(dashboard))
        if not panels:
            problems.append(f"{where}: has no panels")
        for panel in panels:
            problems.extend(panel_problems(name, dashboard, panel, datasource_uid, sensor_ids))
    return problems


def grafana_dashboard_render(entry: dict, sensor_ids: dict | None = None) -> dict:
    """The dashboard of entry with every @sensor(NAME) replaced by that sensor's id."""
    if not isinstance(entry, dict) or not isinstance(entry.get("dashboard"), dict):
        raise AnsibleFilterError("grafana_dashboard_render: the input is {name, dashboard}")
    if not isinstance(sensor_ids, dict):
        raise AnsibleFilterError("grafana_dashboard_render: sensor_ids must be a dict")
    name = str(entry.get("name", "?"))
    # A plain copy: Ansible hands filters its own (tagged) str/dict/list types, on which the walk
    # below was hundreds of times slower (0.36 s a dashboard in a role, for every converge).
    dashboard = json.loads(json.dumps(entry["dashboard"]))

    def replace(value: Any, panel: dict | None) -> Any:
        if isinstance(value, str):

            def sensor_id(match: re.Match) -> str:
                sensor = match.group(1)
                if sensor not in sensor_ids:
                    raise AnsibleFilterError(
                        f"{_where(name, dashboard, panel)}: sensor {sensor!r} is not in the "
                        "sensor map"
                    )
                return str(int(sensor_ids[sensor]))

            return SENSOR_PLACEHOLDER.sub(sensor_id, value)
        if isinstance(value, dict):
            here = value if "targets" in value or value.get("type") == "row" else panel
            return {key: replace(item, here) for key, item in value.items()}
        if isinstance(value, list):
            return [replace(item, panel) for item in value]
        return value

    return replace(dashboard, None)


class FilterModule:
    """Grafana dashboard filters."""

    def filters(self) -> dict[str, object]:
        return {
            "grafana_dashboard_problems": grafana_dashboard_problems,
            "grafana_dashboard_render": grafana_dashboard_render,
        }
