"""Unit tests of the flexmeasures_sensors module: documentation mirrors the argument spec, and
main() end to end against a scripted FlexMeasures (a fake transport, no network)."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible_collections.digitribe.cariflex.plugins.module_utils import (
    flexmeasures_api,
)
from ansible_collections.digitribe.cariflex.plugins.modules import (
    flexmeasures_sensors as module,
)


# ----------------------------------------------------------------------------- documentation
def _compare(doc_options: dict, spec: dict, where: str) -> None:
    assert set(doc_options) == set(spec), where
    for name, doc in doc_options.items():
        arg = spec[name]
        assert doc.get("type", "str") == arg.get("type", "str"), f"{where}.{name} type"
        assert doc.get("required", False) == arg.get("required", False), f"{where}.{name} req"
        assert doc.get("default") == arg.get("default"), f"{where}.{name} default"
        assert doc.get("choices") == arg.get("choices"), f"{where}.{name} choices"
        assert doc.get("elements") == arg.get("elements"), f"{where}.{name} elements"
        assert sorted(doc.get("aliases", [])) == sorted(arg.get("aliases", [])), name
        if "suboptions" in doc or "options" in arg:
            _compare(doc["suboptions"], arg["options"], f"{where}.{name}")


def test_documentation_mirrors_the_argument_spec():
    doc = yaml.safe_load(module.DOCUMENTATION)
    _compare(doc["options"], module.ARGUMENT_SPEC, "options")
    assert module.ARGUMENT_SPEC["password"]["no_log"] is True
    assert set(doc["attributes"]) == {"check_mode", "diff_mode", "idempotent"}
    yaml.safe_load(module.EXAMPLES)
    returned = yaml.safe_load(module.RETURN)
    assert {
        "sensors",
        "assets",
        "actions",
        "http_requests",
        "account_id",
        "password_refused",
    } == set(returned)


# ----------------------------------------------------------------------------- main()
class ScriptedFlexMeasures:
    """A transport that answers like FlexMeasures from an in-memory account."""

    def __init__(self, sensors=(), assets=(), data=(), password="s3cret", forbidden=False):
        self.password = password
        self.forbidden = forbidden
        self.assets = {a["id"]: a for a in assets}
        self.sensors = {s["id"]: s for s in sensors}
        self.with_data = set(data)
        self.log: list[tuple[str, str]] = []
        self.next_id = 100

    def __call__(self, method, url, body, headers, timeout):
        path = url.split("127.0.0.1:5000", 1)[1]
        self.log.append((method, path.split("?")[0]))
        payload = json.loads(body) if body else None
        if path == "/api/requestAuthToken":
            if payload["password"] != self.password:
                return 401, b'{"message": "Invalid credentials"}'
            return 200, b'{"auth_token": "t"}'
        if self.forbidden:
            return 403, b'{"message": "not allowed"}'
        assert headers["Authorization"] == "t" and timeout == 30
        base = path.split("?")[0].removeprefix("/api/v3_0")
        if method == "GET" and base == "/assets":
            return 200, json.dumps(list(self.assets.values())).encode()
        if method == "GET" and base == "/sensors":
            return 200, json.dumps(list(self.sensors.values())).encode()
        if method == "GET" and base == "/assets/types":
            return 200, json.dumps([{"id": 6, "name": "building"}]).encode()
        if method == "GET" and base.endswith("/stats"):
            sensor_id = int(base.split("/")[2])
            stats = {"status": 200}
            if sensor_id in self.with_data:
                stats["user"] = {"count": 2}
            return 200, json.dumps(stats).encode()
        if method == "POST":
            self.next_id += 1
            item = dict(payload, id=self.next_id)
            (self.assets if base == "/assets" else self.sensors)[self.next_id] = item
            return 201, json.dumps(item).encode()
        if method == "PATCH":
            self.sensors[int(base.split("/")[2])].update(payload)
            return 200, b"{}"
        raise AssertionError(f"unexpected {method} {path}")


def run(monkeypatch, transport, **params):
    def client(*args, **kwargs):
        return flexmeasures_api.FlexMeasuresClient(*args, transport=transport, **kwargs)

    monkeypatch.setattr(module, "FlexMeasuresClient", client)
    args = {
        "url": "http://127.0.0.1:5000",
        "user": "admin@example.org",
        "password": "s3cret",
        "account": "1",
        **params,
    }
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()


def result_of(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


SITE = [
    {
        "name": "Site",
        "asset_type": "building",
        "sensors": [{"name": "meter", "unit": "kW", "event_resolution": "PT15M"}],
    }
]
EXISTING_ASSET = {"id": 7, "name": "Site", "generic_asset_type": {"id": 6, "name": "building"}}
EXISTING_METER = {
    "id": 141,
    "name": "meter",
    "generic_asset_id": 7,
    "unit": "kW",
    "event_resolution": "PT15M",
    "timezone": "UTC",
    "attributes": "{}",
}


def test_cold_run_creates_and_returns_ids(monkeypatch, capsys):
    fake = ScriptedFlexMeasures()
    run(monkeypatch, fake, assets=SITE)
    result = result_of(capsys)
    assert result["changed"] is True
    assert result["assets"] == {"Site": 101}
    assert result["sensors"] == {"meter": 102}
    assert fake.sensors[102]["generic_asset_id"] == 101
    assert fake.assets[101]["account_id"] == 1
    assert result["http_requests"] == len(fake.log) == 6
    assert "s3cret" not in json.dumps(result)


def test_warm_run_reads_three_times_and_writes_nothing(monkeypatch, capsys):
    fake = ScriptedFlexMeasures([EXISTING_METER], [EXISTING_ASSET])
    run(monkeypatch, fake, assets=SITE)
    result = result_of(capsys)
    assert result["changed"] is False
    assert fake.log == [
        ("POST", "/api/requestAuthToken"),
        ("GET", "/api/v3_0/assets"),
        ("GET", "/api/v3_0/sensors"),
    ]


def test_check_mode_writes_nothing(monkeypatch, capsys):
    fake = ScriptedFlexMeasures()
    run(monkeypatch, fake, assets=SITE, _ansible_check_mode=True)
    result = result_of(capsys)
    assert result["changed"] is True
    assert result["sensors"] == {"meter": None}
    # the token request only
    assert [method for method, _path in fake.log if method != "GET"] == ["POST"]


def test_unit_change_with_data_is_refused_without_force(monkeypatch, capsys):
    fake = ScriptedFlexMeasures([EXISTING_METER], [EXISTING_ASSET], data={141})
    assets = json.loads(json.dumps(SITE))
    assets[0]["sensors"][0]["unit"] = "MW"
    run(monkeypatch, fake, assets=assets)
    result = result_of(capsys)
    assert result["failed"] is True
    assert "holds data" in result["msg"] and "unit kW -> MW" in result["msg"]
    assert fake.sensors[141]["unit"] == "kW"

    run(monkeypatch, fake, assets=assets, force=True)
    assert result_of(capsys)["changed"] is True
    assert fake.sensors[141]["unit"] == "MW"


def test_bad_input_fails_before_any_request(monkeypatch, capsys):
    fake = ScriptedFlexMeasures()
    assets = json.loads(json.dumps(SITE))
    assets[0]["sensors"][0]["event_resolution"] = "quarter hour"
    run(monkeypatch, fake, assets=assets)
    result = result_of(capsys)
    assert result["failed"] is True and "nothing was changed" in result["msg"]
    assert fake.log == []


def test_a_refused_password_is_reported_with_report_and_fails_without(monkeypatch, capsys):
    fake = ScriptedFlexMeasures([EXISTING_METER], [EXISTING_ASSET], password="other")
    run(monkeypatch, fake, assets=SITE, password_refused="report")
    result = result_of(capsys)
    assert result.get("failed") is not True
    assert result["password_refused"] is True and result["changed"] is False
    assert result["sensors"] == {}
    assert fake.log == [("POST", "/api/requestAuthToken")]

    run(monkeypatch, fake, assets=SITE)
    result = result_of(capsys)
    assert result["failed"] is True and "refused the credentials" in result["msg"]
    assert "s3cret" not in json.dumps(result)


def test_report_still_fails_on_a_refusal_that_is_not_the_login(monkeypatch, capsys):
    # Logged in, then not allowed: a right the user lacks, not a password to set.
    fake = ScriptedFlexMeasures([EXISTING_METER], [EXISTING_ASSET], forbidden=True)
    run(monkeypatch, fake, assets=SITE, password_refused="report")
    result = result_of(capsys)
    assert result["failed"] is True and result["password_refused"] is False
    assert "needs the admin role" in result["msg"]
