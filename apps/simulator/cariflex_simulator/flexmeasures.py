"""A small FlexMeasures API client (v3_0): log in, post sensor data, read a sensor's recent data.

FlexMeasures 1.0.1 takes data for ONE sensor per request (POST /api/v3_0/sensors/<id>/data, with
consecutive values of equal duration from `start`); there is no multi-sensor endpoint. So the
fewest requests a step can make is one per sensor that has something new.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp

log = logging.getLogger(__name__)


class FlexMeasuresUnavailable(Exception):
    """FlexMeasures did not answer, or answered that it cannot take data now: retry later."""


class FlexMeasuresRefused(Exception):
    """FlexMeasures answered that this content is wrong: retrying will not help."""


@dataclass(frozen=True)
class Post:
    """One sensor-data post: consecutive values of equal duration from `start`."""

    sensor_id: int
    start: datetime
    resolution: timedelta
    unit: str
    values: tuple[float, ...]
    # Belief time: when the values were known (FlexMeasures takes "now" when absent).
    prior: datetime | None = None

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {
            "values": list(self.values),
            "start": self.start.isoformat(),
            "duration": _iso_duration(self.resolution * len(self.values)),
            "unit": self.unit,
        }
        if self.prior is not None:
            body["prior"] = self.prior.isoformat()
        return body


def _iso_duration(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    if seconds == 0:
        return "PT0S"
    return f"PT{seconds}S"


class FlexMeasuresClient:
    def __init__(self, url: str, email: str, password: str, timeout_seconds: float) -> None:
        self._url = url.rstrip("/")
        self._email = email
        self._password = password
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self.requests_made = 0

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _login(self) -> str:
        try:
            async with self._http().post(
                f"{self._url}/api/requestAuthToken",
                json={"email": self._email, "password": self._password},
            ) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise FlexMeasuresUnavailable(f"login: {err.__class__.__name__}: {err}") from err
        if response.status >= 500:
            raise FlexMeasuresUnavailable(f"login: HTTP {response.status}")
        if response.status != 200 or not isinstance(body, dict) or "auth_token" not in body:
            raise FlexMeasuresRefused(
                f"login as {self._email} refused ({response.status}): check this user and its"
                " password file"
            )
        return str(body["auth_token"])

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """One API call, with a fresh token when the old one expired."""
        status, body = 0, None
        for attempt in (1, 2):
            if self._token is None:
                self._token = await self._login()
            try:
                self.requests_made += 1
                async with self._http().request(
                    method, f"{self._url}{path}", headers={"Authorization": self._token}, **kwargs
                ) as response:
                    status = response.status
                    body = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                raise FlexMeasuresUnavailable(f"{method} {path}: {err!r}") from err
            if status == 401 and attempt == 1:
                self._token = None
                continue
            break
        return status, body

    async def post(self, post: Post) -> None:
        status, body = await self.request(
            "POST", f"/api/v3_0/sensors/{post.sensor_id}/data", json=post.body()
        )
        if status in (200, 202):
            return
        if status >= 500 or status in (408, 429):
            raise FlexMeasuresUnavailable(f"sensor {post.sensor_id}: HTTP {status}")
        raise FlexMeasuresRefused(f"sensor {post.sensor_id}: HTTP {status}: {body}")

    async def latest_value(
        self, sensor_id: int, unit: str, since: datetime, until: datetime
    ) -> tuple[datetime, float] | None:
        """The newest non-empty value of a sensor between `since` and `until`, with its start."""
        duration = until - since
        query = urlencode(
            {
                "start": since.isoformat(),
                "duration": _iso_duration(duration),
                "unit": unit,
            }
        )
        status, body = await self.request("GET", f"/api/v3_0/sensors/{sensor_id}/data?{query}")
        if status != 200 or not isinstance(body, dict):
            raise FlexMeasuresUnavailable(f"read sensor {sensor_id}: HTTP {status}")
        values = body.get("values") or []
        if not values:
            return None
        step = duration / len(values)
        for index in range(len(values) - 1, -1, -1):
            value = values[index]
            if value is not None:
                return since + step * index, float(value)
        return None
