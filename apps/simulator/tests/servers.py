"""Local HTTP servers for the tests, on 127.0.0.1 only.

- OpenMeteoRecording: serves recorded-shape Open-Meteo answers (or failures) and records queries.
- RecordingFlexMeasures: a STAND-IN for FlexMeasures' API (login, POST and GET sensor data) that
  records every post; the end-to-end tests use the real FlexMeasures instead.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Served:
    status: int = 200
    body: str = "{}"
    delay: float = 0.0


class _Server:
    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class OpenMeteoRecording(_Server):
    def __init__(self) -> None:
        super().__init__()
        self.next = Served()
        self.queries: list[dict[str, str]] = []

    def serve_json(self, body: Any, status: int = 200) -> None:
        self.next = Served(status, json.dumps(body, ensure_ascii=False))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/forecast", self._forecast)
        return app

    async def _forecast(self, request: web.Request) -> web.Response:
        self.queries.append(dict(request.query))
        if self.next.delay:
            await asyncio.sleep(self.next.delay)
        return web.Response(
            status=self.next.status, text=self.next.body, content_type="application/json"
        )


@dataclass
class RecordedPost:
    sensor_id: int
    body: dict[str, Any]


@dataclass
class RecordingFlexMeasures(_Server):
    email: str = "simulator@digitribe.fr"
    password: str = "stand-in-password"
    posts: list[RecordedPost] = field(default_factory=list)
    fail_posts_with: int | None = None  # answer every data post with this status
    data: dict[int, dict[str, Any]] = field(default_factory=dict)  # GET answers per sensor

    def __post_init__(self) -> None:
        super().__init__()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/requestAuthToken", self._login)
        app.router.add_post("/api/v3_0/sensors/{id}/data", self._post)
        app.router.add_get("/api/v3_0/sensors/{id}/data", self._get)
        return app

    async def _login(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("email") != self.email or body.get("password") != self.password:
            return web.json_response({"errors": ["bad credentials"]}, status=401)
        return web.json_response({"auth_token": "stand-in-token"})

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == "stand-in-token"

    async def _post(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({}, status=401)
        if self.fail_posts_with is not None:
            return web.json_response({"message": "stand-in failure"}, status=self.fail_posts_with)
        self.posts.append(RecordedPost(int(request.match_info["id"]), await request.json()))
        return web.json_response({"status": "PROCESSED"}, status=200)

    async def _get(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({}, status=401)
        return web.json_response(self.data.get(int(request.match_info["id"]), {"values": []}))
