"""A small FlexMeasures API client (v3_0) and the loop that empties the outbox into it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp

from cariflex_openadr.ven.outbox import Outbox, Post

log = logging.getLogger(__name__)


class FlexMeasuresUnavailable(Exception):
    """FlexMeasures did not answer, or answered that it cannot take data now: retry later."""


class FlexMeasuresRefused(Exception):
    """FlexMeasures answered that this content is wrong: retrying will not help."""


class FlexMeasuresClient:
    def __init__(self, url: str, email: str, password: str, timeout_seconds: float) -> None:
        self._url = url.rstrip("/")
        self._email = email
        self._password = password
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None

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
                if response.status != 200 or "auth_token" not in body:
                    raise FlexMeasuresRefused(
                        f"login as {self._email} refused ({response.status}): check the VEN's"
                        " FlexMeasures user and its password file"
                    )
                return str(body["auth_token"])
        except (aiohttp.ClientError, TimeoutError) as err:
            raise FlexMeasuresUnavailable(f"login: {err.__class__.__name__}: {err}") from err

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """One API call with a fresh token when the old one expired."""
        for attempt in (1, 2):
            if self._token is None:
                self._token = await self._login()
            try:
                async with self._http().request(
                    method, f"{self._url}{path}", headers={"Authorization": self._token}, **kwargs
                ) as response:
                    body = await response.json(content_type=None)
                    status = response.status
            except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                raise FlexMeasuresUnavailable(f"{method} {path}: {err!r}") from err
            if status == 401 and attempt == 1:
                self._token = None
                continue
            return status, body
        return status, body

    async def post_sensor_data(self, post: Post) -> None:
        status, body = await self.request(
            "POST", f"/api/v3_0/sensors/{post.sensor_id}/data", json=post.body()
        )
        if status in (200, 202):
            return
        if status >= 500 or status in (408, 429):
            raise FlexMeasuresUnavailable(f"sensor {post.sensor_id}: HTTP {status}")
        raise FlexMeasuresRefused(f"sensor {post.sensor_id}: HTTP {status}: {body}")


class Deliverer:
    """Posts outbox rows in order, one at a time; waits and retries while FlexMeasures is down."""

    def __init__(self, outbox: Outbox, client: FlexMeasuresClient, retry_seconds: float) -> None:
        self.outbox = outbox
        self._client = client
        self._retry_seconds = retry_seconds
        self._wake = asyncio.Event()
        self.delivered_count = 0
        self.last_error: str | None = None

    def kick(self) -> None:
        self._wake.set()

    def enqueue(self, post: Post) -> None:
        self.outbox.put(post)
        self.kick()

    def enqueue_latest(self, post: Post) -> None:
        """A sampled value: replaces a waiting one of the same sensor slot (Outbox.put_latest)."""
        self.outbox.put_latest(post)
        self.kick()

    async def drain_once(self) -> bool:
        """Deliver everything that can be; False when FlexMeasures is unavailable."""
        while (post := self.outbox.oldest()) is not None:
            assert post.row_id is not None
            try:
                await self._client.post_sensor_data(post)
            except FlexMeasuresUnavailable as err:
                if self.last_error is None:
                    log.warning(
                        "FlexMeasures unavailable, keeping %d post(s): %s",
                        self.outbox.pending(),
                        err,
                    )
                self.last_error = str(err)
                return False
            except FlexMeasuresRefused as err:
                log.error("FlexMeasures refused a post from %s, set aside: %s", post.origin, err)
                self.outbox.reject(post, str(err))
                continue
            self.outbox.delivered(post)
            self.delivered_count += 1
            if self.last_error is not None:
                log.info("FlexMeasures reachable again")
                self.last_error = None
        return True

    async def run(self) -> None:
        while True:
            self._wake.clear()
            drained = await self.drain_once()
            timeout = None if drained else self._retry_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
