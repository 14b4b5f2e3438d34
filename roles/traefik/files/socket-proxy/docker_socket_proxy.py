"""A read-only Docker API proxy for Traefik's Docker provider.

Traefik faces the internet; the Docker socket is root on the host. This proxy sits between them:
it listens on TCP for Traefik and forwards to the socket only the read-only calls the provider
makes (GET or HEAD of /_ping, /version, /info, /events, /containers/json, /containers/{id}/json,
/networks and /networks/{id}, with or without an API version prefix). Anything else gets 403 and
never reaches the socket.

One request per connection: the request is forwarded with `Connection: close` and the answer is
copied back until Docker closes it, so streamed answers (/events) pass through unchanged. Requests
with a body are refused: none of the allowed calls has one.

Settings come from the environment: PROXY_LISTEN_HOST (0.0.0.0), PROXY_LISTEN_PORT (2375),
DOCKER_SOCKET (/var/run/docker.sock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal

ALLOWED_METHODS = frozenset({"GET", "HEAD"})
_API_VERSION = r"(?:/v[0-9]+\.[0-9]+)?"
# Container and network ids or names: no slash, no percent-encoding, cannot start with a dot.
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
ALLOWED_PATH = re.compile(
    rf"{_API_VERSION}/(?:_ping|version|info|events|containers/json"
    rf"|containers/{_NAME}/json|networks|networks/{_NAME})"
)
# Hop-by-hop headers are the proxy's to set, not the client's.
_DROPPED_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "upgrade", "te"})
MAX_HEAD_BYTES = 16 * 1024
HEAD_TIMEOUT_SECONDS = 10.0
CHUNK_BYTES = 64 * 1024

log = logging.getLogger("docker-socket-proxy")


class RequestRefused(Exception):
    """The request is not one the proxy forwards; `status` is the HTTP answer to give."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def is_allowed(method: str, target: str) -> bool:
    """Whether a request line's method and target are a read-only call Traefik needs."""
    path = target.split("?", 1)[0]
    return method in ALLOWED_METHODS and ALLOWED_PATH.fullmatch(path) is not None


def parse_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    """Split a request head into method, target and headers; raise RequestRefused if malformed."""
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text.split("\r\n")
        method, target, version = request_line.split(" ")
    except ValueError as error:
        raise RequestRefused(400, "malformed request line") from error
    if not version.startswith("HTTP/1."):
        raise RequestRefused(400, "only HTTP/1.x is spoken here")
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise RequestRefused(400, "malformed header line")
        headers.append((name, value.strip()))
    return method, target, headers


def upstream_head(method: str, target: str, headers: list[tuple[str, str]]) -> bytes:
    """The request head to send to Docker: the client's, one request per connection, no body."""
    kept: list[tuple[str, str]] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "transfer-encoding" or (lowered == "content-length" and value != "0"):
            raise RequestRefused(400, "request bodies are not forwarded")
        if lowered not in _DROPPED_HEADERS:
            kept.append((name, value))
    if not any(header[0].lower() == "host" for header in kept):
        kept.append(("Host", "docker"))
    lines = [f"{method} {target} HTTP/1.1", *(f"{n}: {v}" for n, v in kept), "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def error_response(status: int, reason: str) -> bytes:
    phrases = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}
    body = f"docker-socket-proxy: {reason}\n".encode()
    head = (
        f"HTTP/1.1 {status} {phrases.get(status, 'Error')}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(CHUNK_BYTES):
        writer.write(chunk)
        await writer.drain()


async def _wait_for_eof(reader: asyncio.StreamReader) -> None:
    # The client sends nothing after its head; anything it does send is discarded until it hangs
    # up, which is how a long /events stream ends.
    while await reader.read(CHUNK_BYTES):
        pass


class Proxy:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_SECONDS)
        except asyncio.LimitOverrunError:
            writer.write(error_response(400, "request head too large"))
            return
        except TimeoutError:
            return
        try:
            method, target, headers = parse_head(head[:-4])
            if not is_allowed(method, target):
                raise RequestRefused(403, f"{method} {target.split('?', 1)[0]} is not allowed")
            request = upstream_head(method, target, headers)
        except RequestRefused as refused:
            log.warning("refused: %s", refused.reason)
            writer.write(error_response(refused.status, refused.reason))
            await writer.drain()
            return
        try:
            docker_reader, docker_writer = await asyncio.open_unix_connection(self.socket_path)
        except OSError as error:
            log.error("cannot reach %s: %s", self.socket_path, error)
            writer.write(error_response(502, "the Docker socket does not answer"))
            await writer.drain()
            return
        try:
            docker_writer.write(request)
            await docker_writer.drain()
            answer = asyncio.create_task(_copy(docker_reader, writer))
            hangup = asyncio.create_task(_wait_for_eof(reader))
            pending = (await asyncio.wait({answer, hangup}, return_when=asyncio.FIRST_COMPLETED))[1]
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await task
            if answer.done() and not answer.cancelled():
                answer.result()
        finally:
            docker_writer.close()
            with contextlib.suppress(ConnectionError):
                await docker_writer.wait_closed()


async def serve(host: str, port: int, socket_path: str) -> None:
    proxy = Proxy(socket_path)
    server = await asyncio.start_server(proxy.handle, host, port, limit=MAX_HEAD_BYTES)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("listening on %s:%d, forwarding read-only calls to %s", host, port, socket_path)
    async with server:
        await stop.wait()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(
        serve(
            os.environ.get("PROXY_LISTEN_HOST", "0.0.0.0"),
            int(os.environ.get("PROXY_LISTEN_PORT", "2375")),
            os.environ.get("DOCKER_SOCKET", "/var/run/docker.sock"),
        )
    )


if __name__ == "__main__":
    main()
