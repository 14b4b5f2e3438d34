"""Unit tests of the shared FlexMeasures client: auth, retries and backoff, error messages."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

# Loaded from its file, so the tests need neither an installed collection nor the .cache link.
_FILE = Path(__file__).resolve().parents[4] / "plugins" / "module_utils" / "flexmeasures_api.py"
_spec = importlib.util.spec_from_file_location("flexmeasures_api", _FILE)
assert _spec is not None and _spec.loader is not None
api = importlib.util.module_from_spec(_spec)
sys.modules["flexmeasures_api"] = api
_spec.loader.exec_module(api)

URL = "http://127.0.0.1:5000"


class FakeTransport:
    """Replays scripted answers; records every request. An Exception instance is raised."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls: list[tuple] = []

    def __call__(self, method, url, body, headers, timeout):
        self.calls.append((method, url, json.loads(body) if body else None, dict(headers), timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, payload = answer
        return status, json.dumps(payload).encode() if payload is not None else b""


TOKEN = (200, {"auth_token": "tok-1"})


def client(transport, **kwargs):
    sleeps: list[float] = []
    kwargs.setdefault("retries", 3)
    c = api.FlexMeasuresClient(
        URL, "admin@example.org", "s3cret", transport=transport, sleep=sleeps.append, **kwargs
    )
    return c, sleeps


def test_backoff_doubles_and_is_capped():
    assert api.backoff_delays(5, 1.0, cap=10) == [1, 2, 4, 8, 10]
    assert api.backoff_delays(0, 1.0) == []


@pytest.mark.parametrize(
    ("method", "status", "refused", "expected"),
    [
        ("GET", None, False, True),
        ("GET", 503, False, True),
        ("GET", 500, False, True),
        ("GET", 404, False, False),
        ("PATCH", 502, False, True),
        ("DELETE", None, False, True),
        # POST creates: retry only when it cannot have been processed
        ("POST", None, True, True),
        ("POST", None, False, False),
        ("POST", 503, False, True),
        ("POST", 500, False, False),
        ("POST", 504, False, False),
        ("POST", 422, False, False),
    ],
)
def test_should_retry(method, status, refused, expected):
    assert api.should_retry(method, status, refused) is expected


def test_login_then_get_with_token_and_query():
    transport = FakeTransport(TOKEN, (200, [{"id": 1}]))
    c, _sleeps = client(transport, timeout=7)
    assert c.get("/sensors", {"account": 2, "fields": "id|name"}) == [{"id": 1}]
    login, get = transport.calls
    assert login[:3] == (
        "POST",
        URL + "/api/requestAuthToken",
        {"email": "admin@example.org", "password": "s3cret"},
    )
    assert get[0] == "GET"
    assert get[1] == URL + "/api/v3_0/sensors?account=2&fields=id%7Cname"
    assert get[3]["Authorization"] == "tok-1"
    assert get[4] == 7  # every call carries the timeout
    assert c.request_count == 2


def test_connection_errors_are_retried_with_backoff_then_succeed():
    transport = FakeTransport(
        TOKEN,
        api.TransportError("connection reset"),
        (503, {"message": "restarting"}),
        (200, []),
    )
    c, sleeps = client(transport, backoff=0.5)
    assert c.get("/assets") == []
    assert sleeps == [0.5, 1.0]
    assert c.request_count == 4


def test_unreachable_after_all_retries_says_what_to_check():
    refused = api.TransportError("[Errno 111] Connection refused", refused=True)
    transport = FakeTransport(refused, refused, refused)
    c, sleeps = client(transport, retries=2)
    with pytest.raises(api.FlexMeasuresUnreachable) as error:
        c.get("/assets")
    assert sleeps == [1.0, 2.0]
    message = str(error.value)
    assert "cannot be reached" in message and URL in message and "after 3 attempt(s)" in message
    assert "s3cret" not in message


def test_server_error_is_reported_after_retries():
    transport = FakeTransport(TOKEN, *[(500, {"message": "boom"})] * 4)
    c, sleeps = client(transport)
    with pytest.raises(api.FlexMeasuresError) as error:
        c.get("/assets")
    assert len(sleeps) == 3
    assert error.value.status == 500
    assert "HTTP 500" in str(error.value) and "boom" in str(error.value)


def test_post_is_not_retried_on_500():
    transport = FakeTransport(TOKEN, (500, {"message": "boom"}))
    c, sleeps = client(transport)
    with pytest.raises(api.FlexMeasuresError):
        c.post("/sensors", {"name": "x"})
    assert sleeps == []
    assert c.request_count == 2


def test_wrong_password_is_an_auth_error_naming_the_user_not_the_password():
    transport = FakeTransport((401, {"errors": ["User password does not match."], "status": 401}))
    c, _sleeps = client(transport)
    with pytest.raises(api.FlexMeasuresAuthError) as error:
        c.get("/assets")
    message = str(error.value)
    assert "refused the credentials of admin@example.org" in message
    assert "User password does not match." in message
    assert "s3cret" not in message


def test_expired_token_is_renewed_once():
    transport = FakeTransport(TOKEN, (401, None), (200, {"auth_token": "tok-2"}), (200, {"ok": 1}))
    c, _sleeps = client(transport)
    assert c.get("/assets") == {"ok": 1}
    assert transport.calls[-1][3]["Authorization"] == "tok-2"


def test_forbidden_says_which_rights_are_missing():
    transport = FakeTransport(TOKEN, (403, {"message": "no"}))
    c, _sleeps = client(transport)
    with pytest.raises(api.FlexMeasuresAuthError, match="needs the admin role"):
        c.delete("/sensors/3")


def test_validation_errors_are_flattened():
    body = {"message": {"json": {"unit": ["Unit 'kilowatts' cannot be handled."]}}}
    assert api.error_detail(body) == "unit: Unit 'kilowatts' cannot be handled."
    assert api.error_detail({"message": "Not found"}) == "Not found"
    assert api.error_detail(b"") == "(empty answer)"


def test_url_must_be_http():
    with pytest.raises(api.FlexMeasuresError, match="not an http"):
        api.FlexMeasuresClient("cariflex.digitribe.fr", "a", "b", transport=FakeTransport())


def test_host_header_is_sent_on_every_request():
    transport = FakeTransport(TOKEN, (200, []))
    c, _sleeps = client(transport, host_header="cariflex.digitribe.fr")
    c.get("/assets")
    assert [call[3]["Host"] for call in transport.calls] == ["cariflex.digitribe.fr"] * 2


def test_an_untrusted_host_header_gets_a_hint():
    transport = FakeTransport((500, None))
    c, _sleeps = client(transport, host_header="elsewhere.example")
    with pytest.raises(api.FlexMeasuresError, match="TRUSTED_HOSTS"):
        c.get("/assets")
