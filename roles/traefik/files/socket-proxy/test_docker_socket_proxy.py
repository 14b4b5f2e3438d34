"""Tests of the read-only Docker API proxy against a fake Docker engine on a Unix socket.

Run: pytest roles/traefik/files/socket-proxy
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from docker_socket_proxy import Proxy, is_allowed, parse_head, upstream_head

TIMEOUT = 5.0


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/_ping"),
        ("HEAD", "/_ping"),
        ("GET", "/version"),
        ("GET", "/v1.41/version"),
        ("GET", "/info"),
        ("GET", "/v1.41/containers/json?all=1&filters=%7B%7D"),
        ("GET", "/v1.41/containers/3f2a9c0b1d/json"),
        ("GET", "/containers/traefik-socket-proxy/json"),
        ("GET", "/v1.41/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D"),
        ("GET", "/networks"),
        ("GET", "/v1.41/networks/traefik-public"),
    ],
)
def test_read_only_calls_of_the_provider_are_allowed(method: str, target: str) -> None:
    assert is_allowed(method, target)


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("POST", "/v1.41/containers/create"),
        ("POST", "/containers/abc/start"),
        ("DELETE", "/containers/abc"),
        ("PUT", "/containers/abc/archive?path=/"),
        ("POST", "/v1.41/containers/abc/exec"),
        ("POST", "/exec/abc/start"),
        ("GET", "/containers/abc/archive?path=/etc"),
        ("GET", "/containers/abc/export"),
        ("GET", "/containers/abc/logs"),
        ("GET", "/images/json"),
        ("GET", "/secrets"),
        ("GET", "/volumes"),
        ("GET", "/containers/../images/json"),
        ("GET", "/containers/%2e%2e/json"),
        ("GET", "/containers/a%2Fb/json"),
        ("GET", "/v1.41/containers/json/../../images/json"),
        ("GET", "//containers/json"),
        ("OPTIONS", "/_ping"),
        ("get", "/_ping"),
    ],
)
def test_everything_else_is_refused(method: str, target: str) -> None:
    assert not is_allowed(method, target)


def test_upstream_head_forces_one_request_per_connection() -> None:
    method, target, headers = parse_head(
        b"GET /v1.41/events HTTP/1.1\r\nHost: docker\r\nConnection: keep-alive\r\n"
        b"Keep-Alive: timeout=5\r\nUser-Agent: traefik"
    )
    head = upstream_head(method, target, headers).decode()
    assert head.startswith("GET /v1.41/events HTTP/1.1\r\n")
    assert "keep-alive" not in head.lower()
    assert head.count("Connection:") == 1
    assert head.endswith("Connection: close\r\n\r\n")
    assert "User-Agent: traefik\r\n" in head


class FakeDocker:
    """A Unix-socket server that records each request head and answers with `answer`."""

    def __init__(self, answer: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> None:
        self.answer = answer
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests.append(await reader.readuntil(b"\r\n\r\n"))
        await self.answer(writer)
        writer.close()


async def answer_ok(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    await writer.drain()


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, answer: Callable[[asyncio.StreamWriter], Awaitable[None]]
) -> AsyncIterator[tuple[FakeDocker, int]]:
    socket_path = str(tmp_path / "docker.sock")
    docker = FakeDocker(answer)
    docker_server = await asyncio.start_unix_server(docker.handle, socket_path)
    proxy_server = await asyncio.start_server(Proxy(socket_path).handle, "127.0.0.1", 0)
    port = proxy_server.sockets[0].getsockname()[1]
    async with docker_server, proxy_server:
        yield docker, port


async def exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    return answer


def test_allowed_call_is_forwarded_and_answered(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, answer_ok) as (docker, port):
            answer = await exchange(
                port, b"GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: docker\r\n\r\n"
            )
            assert answer.startswith(b"HTTP/1.1 200 OK")
            assert answer.endswith(b"ok")
            assert len(docker.requests) == 1
            assert docker.requests[0].startswith(b"GET /v1.41/containers/json?all=1 HTTP/1.1")

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n",
        b"GET /containers/abc/archive?path=/etc/shadow HTTP/1.1\r\nHost: docker\r\n\r\n",
        b"DELETE /v1.41/containers/traefik HTTP/1.1\r\nHost: docker\r\n\r\n",
    ],
)
def test_refused_call_never_reaches_the_socket(tmp_path: Path, request_bytes: bytes) -> None:
    async def scenario() -> None:
        async with running(tmp_path, answer_ok) as (docker, port):
            answer = await exchange(port, request_bytes)
            assert answer.startswith(b"HTTP/1.1 403 Forbidden")
            assert docker.requests == []

    asyncio.run(scenario())


def test_request_with_a_body_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, answer_ok) as (docker, port):
            answer = await exchange(
                port, b"GET /_ping HTTP/1.1\r\nHost: docker\r\nContent-Length: 4\r\n\r\nabcd"
            )
            assert answer.startswith(b"HTTP/1.1 400 Bad Request")
            assert docker.requests == []

    asyncio.run(scenario())


def test_streamed_events_pass_through_as_they_come(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def answer_stream(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()

    async def scenario() -> None:
        async with running(tmp_path, answer_stream) as fixtures:
            port = fixtures[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n")
            await writer.drain()
            seen = b""
            while b"first" not in seen:
                seen += await asyncio.wait_for(reader.read(1024), TIMEOUT)
            assert b"second" not in seen
            release.set()
            seen += await asyncio.wait_for(reader.read(), TIMEOUT)
            assert seen.endswith(b"6\r\nsecond\r\n0\r\n\r\n")
            writer.close()

    asyncio.run(scenario())


def test_socket_down_answers_bad_gateway(tmp_path: Path) -> None:
    async def scenario() -> None:
        proxy_server = await asyncio.start_server(
            Proxy(str(tmp_path / "absent.sock")).handle, "127.0.0.1", 0
        )
        port = proxy_server.sockets[0].getsockname()[1]
        async with proxy_server:
            answer = await exchange(port, b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 502 Bad Gateway")

    asyncio.run(scenario())
