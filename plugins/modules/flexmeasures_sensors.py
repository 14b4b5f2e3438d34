#!/usr/bin/python
# Copyright: Digitribe
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: flexmeasures_sensors
short_description: Declare FlexMeasures assets and sensors, get their ids back
version_added: 0.1.0
description:
  - Makes one FlexMeasures account hold the declared assets and sensors, through the
    FlexMeasures API v3, and returns the map from sensor name to FlexMeasures id and from asset
    name to id. FlexMeasures assigns ids; use these maps instead of hard-coded ids.
  - Reads what exists with two list calls (assets and sensors of the account), computes the
    difference and changes only what differs. A run that changes nothing makes the same few HTTP
    requests however many sensors are declared.
  - Existing sensors are found by name within the account, so sensors created earlier (by hand or
    by another tool) keep their ids and data. A sensor found on another asset than the declared
    one stays there (FlexMeasures cannot move a sensor) and a warning says so.
  - The whole input is validated before the first write (units FlexMeasures accepts, ISO 8601
    resolutions, IANA time zones, unique names, known parents), so bad input changes nothing.
  - Changes that destroy or reinterpret recorded data, a unit or resolution change on a sensor
    that holds data, and pruning a sensor that holds data, are refused unless O(force=true). The
    refusal happens before the first write.
  - Attributes are merged, not replaced. Declared keys are set, and keys that exist only in
    FlexMeasures are kept.
author:
  - Digitribe (@digitribe)
attributes:
  check_mode:
    support: full
    description: Reads FlexMeasures, reports what would change, writes nothing.
  diff_mode:
    support: full
    description: Shows the declared assets and sensors before and after, and what prune removes.
  idempotent:
    support: full
    description: A second run with the same input reports no change and sends no write.
options:
  url:
    description:
      - Base URL of the FlexMeasures server, without C(/api), for example
        V(https://cariflex.digitribe.fr) or V(http://127.0.0.1:5000).
    type: str
    required: true
  host_header:
    description:
      - HTTP C(Host) header to send instead of the one O(url) implies. Use it when FlexMeasures is
        reached by address (for example its container's IP) but only trusts its public name
        (C(TRUSTED_HOSTS)), such as V(cariflex.digitribe.fr).
    type: str
  user:
    description: E-mail address of a FlexMeasures user with the admin role (or account-admin
      rights on O(account)).
    type: str
    required: true
    aliases: [email]
  password:
    description: That user's password. Never logged.
    type: str
    required: true
  account:
    description:
      - The account that owns the assets, by id (V(2)) or by name (V(Digitribe)). A name costs one
        more request.
    type: str
    required: true
  state:
    description:
      - V(present) creates and updates what differs (and removes undeclared things with
        O(prune=true)).
      - V(query) changes nothing and returns the maps. With O(assets), the maps hold the declared
        names that exist; without, every sensor and asset of the account. Use it in plays that run
        with another role's tag only.
    type: str
    choices: [present, query]
    default: present
  assets:
    description:
      - The assets of the account, each with its sensors. Required with O(state=present).
      - Asset names and sensor names must be unique in this list. Sensor names are unique across
        all assets, because the module returns one name to id map.
    type: list
    elements: dict
    suboptions:
      name:
        description: Asset name, unique in the account.
        type: str
        required: true
      asset_type:
        description: Name of a FlexMeasures asset type (V(battery), V(solar), V(building),
          V(one-way_evse), V(two-way_evse), V(wind), V(process), V(heat-storage) after
          C(flexmeasures add initial-structure)).
        type: str
        required: true
      parent:
        description: Name of another declared asset to hang this one below.
        type: str
      latitude:
        description: Latitude in degrees.
        type: float
      longitude:
        description: Longitude in degrees.
        type: float
      attributes:
        description: JSON attributes of the asset, merged into what FlexMeasures holds.
        type: dict
        default: {}
      sensors:
        description: The asset's sensors.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: Sensor name, unique in this module's input.
            type: str
            required: true
          unit:
            description: A unit FlexMeasures accepts, for example V(kW), V(kWh), V(EUR/MWh),
              V(W/m²), V(°C), V(m/s), V(%), V(dimensionless).
            type: str
            required: true
          event_resolution:
            description: ISO 8601 duration of one event, V(PT0H) for instantaneous readings,
              V(PT15M), V(PT1H), V(P1D). Years and months are refused (their length varies).
            type: str
            required: true
          timezone:
            description: IANA time zone the sensor's data is shown in. Defaults to
              O(default_timezone).
            type: str
          attributes:
            description:
              - JSON attributes of the sensor, merged into what FlexMeasures holds.
              - C(consumption_is_positive) sets the sign convention. FlexMeasures counts
                consumption as negative unless this is V(true).
            type: dict
            default: {}
  prune:
    description:
      - Remove the account's sensors and assets that are not declared. An undeclared asset that
        still holds a declared sensor, or has a declared asset below it, is kept (with a warning).
      - Removing a sensor deletes its data, so a sensor that holds data is only removed with
        O(force=true).
    type: bool
    default: false
  force:
    description:
      - Allow changes that destroy or reinterpret recorded data, such as a unit or resolution
        change on a sensor that holds data, or pruning a sensor that holds data.
    type: bool
    default: false
  default_timezone:
    description: Time zone of sensors that do not set one.
    type: str
    default: UTC
  timeout:
    description: Seconds to wait for each HTTP answer.
    type: float
    default: 30
  retries:
    description: Extra attempts after a connection error or a 5xx answer, waiting 1, 2, 4... s
      in between (capped at 30 s). POST is retried only when it cannot have been processed.
    type: int
    default: 3
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: PEM file of the CA to trust for O(url), for example a private or test CA.
    type: path
  password_refused:
    description:
      - What to do when FlexMeasures refuses O(user)'s login.
      - V(fail) fails, naming the user.
      - V(report) changes nothing and returns RV(password_refused=true) without failing, so that a
        play can set the password and run the module again. It saves a separate login when the
        password is usually right. Any other error still fails.
    type: str
    choices: [fail, report]
    default: fail
notes:
  - "Talks to FlexMeasures from where the module runs: run it on the controller
    (C(delegate_to: localhost)) or on the FlexMeasures host."
  - Tested against FlexMeasures 1.0.1.
seealso:
  - name: FlexMeasures API documentation
    description: The v3 API this module uses.
    link: https://flexmeasures.readthedocs.io/latest/api/v3_0.html
"""

EXAMPLES = r"""
- name: Seed the collection's default assets and sensors
  digitribe.cariflex.flexmeasures_sensors:
    url: https://cariflex.digitribe.fr
    user: admin@digitribe.fr
    password: "{{ vault_flexmeasures_admin_password }}"
    account: Digitribe
    default_timezone: "{{ flexmeasures_site_timezone }}"
    assets: "{{ flexmeasures_assets }}"
  delegate_to: localhost
  register: flexmeasures__register_sensors

- name: Use an id from the map
  ansible.builtin.debug:
    msg: "PV 1 is sensor {{ flexmeasures__register_sensors.sensors['pv_01_power'] }}"

- name: Only read the maps (for a play that runs with another role's tag)
  digitribe.cariflex.flexmeasures_sensors:
    url: https://cariflex.digitribe.fr
    user: admin@digitribe.fr
    password: "{{ vault_flexmeasures_admin_password }}"
    account: 2
    state: query
    assets: "{{ flexmeasures_assets }}"
  delegate_to: localhost
  register: flexmeasures__register_sensors

- name: Remove undeclared sensors and assets, also those with data
  digitribe.cariflex.flexmeasures_sensors:
    url: http://127.0.0.1:5000
    user: admin@digitribe.fr
    password: "{{ vault_flexmeasures_admin_password }}"
    account: Digitribe
    assets:
      - name: weather
        asset_type: building
        sensors:
          - name: temperature
            unit: °C
            event_resolution: PT15M
            timezone: Europe/Paris
    prune: true
    force: true
"""

RETURN = r"""
sensors:
  description: Sensor name to FlexMeasures id, for every declared sensor (with
    O(state=query) and no O(assets), every sensor of the account). In check mode a sensor that
    would be created maps to V(null).
  returned: success
  type: dict
  sample: {"pv_01_power": 112, "irradiance": 105}
assets:
  description: Asset name to FlexMeasures id, like RV(sensors).
  returned: success
  type: dict
  sample: {"PV_01": 12, "weather": 20}
account_id:
  description: Id of the account the assets belong to.
  returned: success
  type: int
  sample: 2
actions:
  description: What was done (or, in check mode, would be done), one entry per asset or sensor.
  returned: success
  type: list
  elements: dict
  sample:
    - {"action": "update", "name": "irradiance", "id": 105,
       "changes": {"event_resolution": {"before": "PT1H", "after": "PT15M"}}}
    - {"action": "create", "name": "bat_01_s2_power", "asset": "Bat_01"}
password_refused:
  description: True when FlexMeasures refused the login and O(password_refused=report); nothing
    was read or changed then.
  returned: always
  type: bool
  sample: false
http_requests:
  description: Number of HTTP requests this run sent to FlexMeasures, retries included.
  returned: always
  type: int
  sample: 3
"""

# Ansible convention: the documentation strings come first, the imports after them.
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.digitribe.cariflex.plugins.module_utils.flexmeasures_api import (  # noqa: E402
    TOKEN_PATH,
    FlexMeasuresAuthError,
    FlexMeasuresClient,
    FlexMeasuresError,
)
from ansible_collections.digitribe.cariflex.plugins.module_utils.flexmeasures_sensors_diff import (  # noqa: E402
    ValidationFailed,
    compute_plan,
    validate_assets,
)

ASSET_FIELDS = "id|name|generic_asset_type|parent_asset_id|latitude|longitude|attributes"

SENSOR_SPEC = dict(
    name=dict(type="str", required=True),
    unit=dict(type="str", required=True),
    event_resolution=dict(type="str", required=True),
    timezone=dict(type="str"),
    attributes=dict(type="dict", default={}),
)
ASSET_SPEC = dict(
    name=dict(type="str", required=True),
    asset_type=dict(type="str", required=True),
    parent=dict(type="str"),
    latitude=dict(type="float"),
    longitude=dict(type="float"),
    attributes=dict(type="dict", default={}),
    sensors=dict(type="list", elements="dict", default=[], options=SENSOR_SPEC),
)
ARGUMENT_SPEC = dict(
    url=dict(type="str", required=True),
    host_header=dict(type="str"),
    user=dict(type="str", required=True, aliases=["email"]),
    password=dict(type="str", required=True, no_log=True),
    account=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=["present", "query"]),
    assets=dict(type="list", elements="dict", options=ASSET_SPEC),
    prune=dict(type="bool", default=False),
    force=dict(type="bool", default=False),
    default_timezone=dict(type="str", default="UTC"),
    timeout=dict(type="float", default=30),
    retries=dict(type="int", default=3),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    password_refused=dict(type="str", default="fail", choices=["fail", "report"]),
)


class SensorSeeder:
    def __init__(self, module: AnsibleModule, client: FlexMeasuresClient):
        self.module = module
        self.client = client
        self.params = module.params
        self.done: list[str] = []

    # ------------------------------------------------------------------ reading
    def resolve_account(self) -> int:
        account = self.params["account"].strip()
        if account.isdigit():
            return int(account)
        accounts = self.client.get("/accounts") or []
        if isinstance(accounts, dict):  # paginated form
            accounts = accounts.get("data", [])
        found = [a for a in accounts if a.get("name") == account]
        if len(found) != 1:
            known = ", ".join(sorted(a.get("name", "?") for a in accounts)) or "none"
            self.module.fail_json(
                msg=f"FlexMeasures has no single account named {account!r} that "
                f"{self.params['user']} can see (accounts: {known}). Create it "
                "(`flexmeasures add account`) or give its id.",
                http_requests=self.client.request_count,
            )
        return found[0]["id"]

    def read_state(self, account_id: int) -> tuple[list, list]:
        assets = self.client.get("/assets", {"account": account_id, "fields": ASSET_FIELDS})
        sensors = self.client.get("/sensors", {"account": account_id})
        return _as_list(assets), _as_list(sensors)

    def has_data(self, sensor_id: int) -> bool:
        # fresh=true: FlexMeasures caches non-empty stats for two minutes.
        stats = self.client.get(f"/sensors/{sensor_id}/stats", {"fresh": "true"})
        # One entry per data source; FlexMeasures adds "status" even when there is no data.
        return isinstance(stats, dict) and any(isinstance(v, dict) for v in stats.values())

    # ------------------------------------------------------------------ writing
    def execute(self, plan, desired, account_id: int) -> None:
        asset_ids = plan.asset_ids
        by_name = {a.name: a for a in desired}
        for action in plan.asset_actions:
            if action.action == "create":
                parent = by_name[action.name].parent
                payload = dict(action.payload, account_id=account_id)
                if parent is not None:
                    payload["parent_asset_id"] = asset_ids[parent]
                created = self.client.post("/assets", payload)
                action.id = asset_ids[action.name] = created["id"]
                self.done.append(f"created asset {action.name!r} ({action.id})")
            elif action.action == "update":
                payload = dict(action.payload)
                if "parent" in action.changes:
                    parent = by_name[action.name].parent
                    payload["parent_asset_id"] = None if parent is None else asset_ids[parent]
                self.client.patch(f"/assets/{action.id}", payload)
                self.done.append(f"updated asset {action.name!r} ({action.id})")
        for action in plan.sensor_actions:
            if action.action == "create":
                payload = dict(action.payload, generic_asset_id=asset_ids[action.asset])
                created = self.client.post("/sensors", payload)
                action.id = plan.sensor_ids[action.name] = created["id"]
                self.done.append(f"created sensor {action.name!r} ({action.id})")
            elif action.action == "update":
                self.client.patch(f"/sensors/{action.id}", action.payload)
                self.done.append(f"updated sensor {action.name!r} ({action.id})")
        for action in plan.sensor_actions:
            if action.action == "delete":
                self.client.delete(f"/sensors/{action.id}")
                self.done.append(f"deleted sensor {action.name!r} ({action.id})")
        for action in plan.asset_actions:
            if action.action == "delete":
                self.client.delete(f"/assets/{action.id}")
                self.done.append(f"deleted asset {action.name!r} ({action.id})")


def _as_list(answer) -> list:
    if isinstance(answer, dict):
        return answer.get("data", [])
    return answer or []


def _refusals(plan) -> list[str]:
    reasons = []
    for action in plan.sensor_actions:
        if not (action.rewrites_data and action.has_data):
            continue
        if action.action == "delete":
            reasons.append(
                f"pruning sensor {action.name!r} (id {action.id}, asset {action.asset!r}) "
                "would delete the data it holds"
            )
        else:
            what = ", ".join(
                f"{k} {action.changes[k][0]} -> {action.changes[k][1]}"
                for k in ("unit", "event_resolution")
                if k in action.changes
            )
            reasons.append(
                f"sensor {action.name!r} (id {action.id}) holds data that would be "
                f"reinterpreted by {what}"
            )
    return reasons


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_if=[("state", "present", ("assets",))],
        supports_check_mode=True,
    )
    params = module.params
    result: dict = dict(
        changed=False, sensors={}, assets={}, actions=[], http_requests=0, password_refused=False
    )

    # Validate everything before talking to FlexMeasures: bad input writes nothing.
    desired = None
    if params["assets"] is not None:
        try:
            desired = validate_assets(params["assets"], params["default_timezone"])
        except ValidationFailed as error:
            module.fail_json(
                msg="Invalid assets/sensors input, nothing was changed: " + "; ".join(error.errors),
                errors=error.errors,
                **result,
            )

    try:
        client = FlexMeasuresClient(
            params["url"],
            params["user"],
            params["password"],
            timeout=params["timeout"],
            retries=params["retries"],
            validate_certs=params["validate_certs"],
            ca_path=params["ca_path"],
            host_header=params["host_header"],
        )
    except FlexMeasuresError as error:
        module.fail_json(msg=error.message, **result)
    seeder = SensorSeeder(module, client)
    try:
        account_id = seeder.resolve_account()
        result["account_id"] = account_id
        existing_assets, existing_sensors = seeder.read_state(account_id)

        if params["state"] == "query" and desired is None:
            result["assets"] = {a["name"]: a["id"] for a in existing_assets}
            result["sensors"] = {s["name"]: s["id"] for s in existing_sensors}
            result["http_requests"] = client.request_count
            module.exit_json(**result)

        plan = compute_plan(desired, existing_assets, existing_sensors, None, params["prune"])
        needs_types = any(
            a.action == "create" or "asset_type" in a.changes for a in plan.asset_actions
        )
        if needs_types and params["state"] == "present":
            types = {t["name"]: t["id"] for t in _as_list(client.get("/assets/types"))}
            plan = compute_plan(desired, existing_assets, existing_sensors, types, params["prune"])
        for warning in plan.warnings:
            module.warn(warning)
        if plan.errors:
            module.fail_json(
                msg="FlexMeasures does not match the input in a way the module will not guess "
                "about, nothing was changed: " + "; ".join(plan.errors),
                errors=plan.errors,
                **{**result, "http_requests": client.request_count},
            )

        if params["state"] == "query":
            result["assets"] = {k: v for k, v in plan.asset_ids.items() if v is not None}
            result["sensors"] = {k: v for k, v in plan.sensor_ids.items() if v is not None}
            result["http_requests"] = client.request_count
            module.exit_json(**result)

        for action in plan.sensor_actions:
            if action.rewrites_data:
                action.has_data = seeder.has_data(action.id)
        refusals = _refusals(plan)
        if refusals and not params["force"]:
            module.fail_json(
                msg="Refusing, nothing was changed: "
                + "; ".join(refusals)
                + ". Set force: true to accept that (take a backup first).",
                refusals=refusals,
                **{
                    **result,
                    "http_requests": client.request_count,
                    "actions": [a.summary() for a in plan.actions],
                },
            )

        if not module.check_mode:
            seeder.execute(plan, desired, account_id)
    except FlexMeasuresError as error:
        if (
            params["password_refused"] == "report"
            and isinstance(error, FlexMeasuresAuthError)
            and (error.url or "").endswith(TOKEN_PATH)
            and not seeder.done
        ):
            module.exit_json(
                **{**result, "password_refused": True, "http_requests": client.request_count}
            )
        done = " Nothing was changed."
        if seeder.done:
            done = f" Already done: {'; '.join(seeder.done)}."
        module.fail_json(
            msg=error.message + done,
            status=error.status,
            **{**result, "http_requests": client.request_count},
        )
    except Exception as error:  # report it, with what was already done
        done = f" Already done: {'; '.join(seeder.done)}." if seeder.done else ""
        module.fail_json(
            msg=f"Unexpected error: {error}.{done}",
            exception=traceback.format_exc(),
            **{**result, "http_requests": client.request_count},
        )

    result.update(
        changed=plan.changed,
        assets=dict(plan.asset_ids),
        sensors=dict(plan.sensor_ids),
        actions=[a.summary() for a in plan.actions],
        http_requests=client.request_count,
    )
    for action in plan.asset_actions:
        if action.action == "delete":
            result["assets"].pop(action.name, None)
    if module._diff:
        result["diff"] = dict(before=plan.before, after=plan.after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
