# Copyright: Digitribe
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client for the FlexMeasures API (v3), shared by the collection's modules.

What it does for every module: token authentication through ``/api/requestAuthToken`` (and one
re-authentication when a token expires mid-run), a timeout on every call, retries with exponential
backoff on connection errors and 5xx answers (only where a retry cannot duplicate a write), and
error messages that say what failed and what to check.

The network goes through a *transport*, a callable ``(method, url, body, headers, timeout) ->
(status, body)``. The default one wraps ``ansible.module_utils.urls.open_url``, so nothing beyond
ansible-core is needed on the target; unit tests pass a fake one. Nothing here needs an
``AnsibleModule``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit

from ansible.module_utils.urls import open_url

API_PREFIX = "/api/v3_0"
TOKEN_PATH = "/api/requestAuthToken"

# Answers worth another try: the server (or a proxy in front of it) is restarting or overloaded.
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
# POST creates things: retrying one whose first attempt may have been processed could create a
# duplicate. Only answers that mean "not processed" are retried for POST.
RETRYABLE_STATUSES_NOT_IDEMPOTENT = frozenset({502, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})

Transport = Callable[[str, str, "bytes | None", dict, float], "tuple[int, bytes]"]


class FlexMeasuresError(Exception):
    """Anything that went wrong talking to FlexMeasures; ``str()`` is meant for a person."""

    def __init__(self, message: str, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url


class FlexMeasuresAuthError(FlexMeasuresError):
    """The credentials were refused, or the user lacks the rights for a call."""


class FlexMeasuresUnreachable(FlexMeasuresError):
    """No answer at all (connection refused, timeout, DNS, TLS) after every retry."""


class TransportError(Exception):
    """Raised by a transport when no HTTP answer came back. ``refused`` means nothing was sent."""

    def __init__(self, reason: str, refused: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.refused = refused


def backoff_delays(retries: int, base: float, cap: float = 30.0) -> list[float]:
    """Seconds to wait before retry 1..retries: base, 2*base, 4*base ... never more than cap."""
    return [min(cap, base * (2**attempt)) for attempt in range(max(0, retries))]


def should_retry(method: str, status: int | None, refused: bool = False) -> bool:
    """Whether a failed attempt may be repeated without risking a duplicated write.

    ``status`` is None when no HTTP answer came back; ``refused`` tells that the connection was
    refused, so the request never reached the server.
    """
    idempotent = method.upper() in IDEMPOTENT_METHODS
    if status is None:
        return idempotent or refused
    if idempotent:
        return status in RETRYABLE_STATUSES
    return status in RETRYABLE_STATUSES_NOT_IDEMPOTENT


def error_detail(body: Any) -> str:
    """Flatten FlexMeasures' error bodies into one line.

    FlexMeasures answers ``{"message": "...", "status": "..."}``, and for validation errors
    ``{"message": {"json": {"unit": ["Unit 'x' cannot be handled."]}}}``.
    """
    if isinstance(body, dict):
        message = body.get("message", body.get("errors", body))
        if isinstance(message, dict):
            parts = []
            for location, fields in message.items():
                if isinstance(fields, dict):
                    for name, problems in fields.items():
                        parts.append(f"{name}: {_join(problems)}")
                else:
                    parts.append(f"{location}: {_join(fields)}")
            return "; ".join(parts)
        return _join(message)
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    text = str(body).strip()
    return text[:300] if text else "(empty answer)"


def _join(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_join(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_join(v)}" for k, v in value.items())
    return str(value)


def open_url_transport(validate_certs: bool = True, ca_path: str | None = None) -> Transport:
    """The real transport, over ansible-core's open_url (no third-party HTTP library)."""

    def send(method: str, url: str, body: bytes | None, headers: dict, timeout: float):
        try:
            response = open_url(
                url,
                data=body,
                headers=headers,
                method=method,
                timeout=timeout,
                validate_certs=validate_certs,
                ca_path=ca_path,
                follow_redirects="safe",
                use_proxy=False,
            )
            return response.getcode(), response.read()
        except HTTPError as error:
            return error.code, error.read() if error.fp is not None else b""
        except URLError as error:
            reason = error.reason
            refused = isinstance(reason, ConnectionRefusedError)
            raise TransportError(str(reason), refused=refused) from None
        except ConnectionRefusedError as error:
            raise TransportError(str(error), refused=True) from None
        except TimeoutError as error:  # socket.timeout too
            raise TransportError(f"no answer within {timeout:g}s ({error})") from None
        except (OSError, ValueError) as error:
            # ssl errors, resets, malformed answers
            raise TransportError(str(error)) from None

    return send


class FlexMeasuresClient:
    """One authenticated session with a FlexMeasures server."""

    def __init__(
        self,
        url: str,
        email: str,
        password: str,
        timeout: float = 30,
        retries: int = 3,
        backoff: float = 1.0,
        validate_certs: bool = True,
        ca_path: str | None = None,
        transport: Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        host_header: str | None = None,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise FlexMeasuresError(
                f"The FlexMeasures URL {url!r} is not an http(s) URL such as "
                "https://cariflex.digitribe.fr or http://127.0.0.1:5000."
            )
        self.base_url = url.rstrip("/")
        self.email = email
        self._password = password
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._transport = transport or open_url_transport(validate_certs, ca_path)
        self._sleep = sleep
        self._token: str | None = None
        # For a server reached by address whose TRUSTED_HOSTS only lists its public name.
        self.host_header = host_header
        #: HTTP requests sent, retries included (modules report it; tests assert on it).
        self.request_count = 0

    # ------------------------------------------------------------------ authentication
    def login(self) -> str:
        credentials = {"email": self.email, "password": self._password}
        status, body = self._send("POST", TOKEN_PATH, credentials)
        if status == 200 and isinstance(body, dict) and body.get("auth_token"):
            self._token = body["auth_token"]
            return self._token
        if status in (400, 401, 403, 422):
            raise FlexMeasuresAuthError(
                f"FlexMeasures at {self.base_url} refused the credentials of {self.email} "
                f"(HTTP {status}: {error_detail(body)}). Check the user's e-mail address and "
                "password (and that the user is active and its account not locked).",
                status=status,
                url=self.base_url + TOKEN_PATH,
            )
        raise FlexMeasuresError(
            f"FlexMeasures at {self.base_url} did not hand out a token "
            f"(HTTP {status}: {error_detail(body)}).",
            status=status,
            url=self.base_url + TOKEN_PATH,
        )

    # ------------------------------------------------------------------ requests
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict | None = None,
        expected: Iterable[int] = (200, 201, 204),
    ) -> Any:
        """Call ``API_PREFIX + path`` with the token; return the parsed JSON answer.

        Raises FlexMeasuresError (or a subclass) for any answer not in ``expected``.
        """
        if self._token is None:
            self.login()
        full_path = API_PREFIX + path
        if query:
            full_path += "?" + urlencode(query, doseq=True)
        status, answer = self._send(method, full_path, body, token=self._token)
        if status == 401:
            # Tokens expire; one fresh login, then the answer stands.
            self.login()
            status, answer = self._send(method, full_path, body, token=self._token)
        if status in expected:
            return answer
        where = f"{method} {self.base_url}{full_path}"
        if status in (401, 403):
            raise FlexMeasuresAuthError(
                f"{where} was refused (HTTP {status}: {error_detail(answer)}). The user "
                f"{self.email} needs the admin role, or rights on the account, for this.",
                status=status,
                url=where,
            )
        raise FlexMeasuresError(
            f"{where} failed (HTTP {status}): {error_detail(answer)}", status=status, url=where
        )

    def get(self, path: str, query: dict | None = None) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body=body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    # ------------------------------------------------------------------ internals
    def _send(self, method: str, path: str, body: Any, token: str | None = None):
        """One logical request: attempts with backoff; returns (status, parsed body)."""
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": "application/json"}
        if self.host_header:
            headers["Host"] = self.host_header
        if data is not None:
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = token
        delays = backoff_delays(self.retries, self.backoff)
        attempt = 0
        while True:
            self.request_count += 1
            try:
                status, raw = self._transport(method, url, data, headers, self.timeout)
            except TransportError as error:
                if attempt < len(delays) and should_retry(method, None, error.refused):
                    self._sleep(delays[attempt])
                    attempt += 1
                    continue
                raise FlexMeasuresUnreachable(
                    f"FlexMeasures at {self.base_url} cannot be reached ({method} {path}: "
                    f"{error.reason}) after {attempt + 1} attempt(s). Check that the server runs, "
                    "that the URL and port are right and that nothing blocks the way.",
                    url=url,
                ) from None
            if attempt < len(delays) and should_retry(method, status):
                self._sleep(delays[attempt])
                attempt += 1
                continue
            answer = _parse(raw)
            if self.host_header and status in (400, 500) and not isinstance(answer, dict):
                # Werkzeug refuses an untrusted Host before FlexMeasures can answer in JSON.
                answer = (
                    f"{error_detail(answer)} (the request carried Host: {self.host_header}; "
                    "is that name in FlexMeasures' TRUSTED_HOSTS?)"
                )
            return status, answer


def _parse(raw: bytes | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
