"""A hostile HTTP/1.1 server on 127.0.0.1: each test scripts what it answers.

The emulator speaks the API as documented; this server is for what a broken network, a broken
proxy or an attacker does instead: answer slowly, forever, twice, half, garbage, with a redirect,
with cookies, with the request's own Authorization header echoed back. It records every request
it received (method, path, headers, body) and how each answer ended, so that tests can count what
the server saw instead of timing the client.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self

from server_thread import ServerThread

Handler = Callable[["Request", asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    # filled in by the handler helpers: did the client hang up before the answer was complete?
    cut_by_client: bool = False
    bytes_sent: int = 0
    completed: bool = False  # the whole answer was written


@dataclass
class HostileServer:
    handler: Handler
    ssl_context: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._thread = ServerThread(self._connection, self.ssl_context)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.stop()

    @property
    def port(self) -> int:
        return self._thread.port

    @property
    def url(self) -> str:
        return self._thread.url()

    def connection_json(self, api_key: str, **extra: Any) -> str:
        return json.dumps({"conn_type": "tela", "host": self.url, "password": api_key, "extra": extra})

    def seen(self, method: str | None = None) -> list[Request]:
        return [r for r in self.requests if method is None or r.method == method]

    # --- one connection ------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                await self.handler(request, writer)
                if writer.is_closing():
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                break
            body += await reader.readexactly(size)
            await reader.readline()
    return Request(method, path, headers, body)


# --- answer helpers ----------------------------------------------------------------------------


def head(status: int, headers: dict[str, str] | None = None, reason: str = "X") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send(request: Request, writer: asyncio.StreamWriter, data: bytes) -> bool:
    """Write and flush; False when the client has gone."""
    try:
        writer.write(data)
        await writer.drain()
    except (ConnectionError, RuntimeError):
        request.cut_by_client = True
        return False
    request.bytes_sent += len(data)
    return True


async def respond(request: Request, writer: asyncio.StreamWriter, status: int, body: bytes | str | Any = b"",
                  headers: dict[str, str] | None = None) -> None:
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    all_headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}
    request.completed = await send(request, writer, head(status, all_headers) + data)


async def drip(request: Request, writer: asyncio.StreamWriter, data: bytes, every: float,
               headers: dict[str, str] | None = None) -> None:
    """A 200 whose body comes one byte every ``every`` seconds."""
    all_headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}
    if not await send(request, writer, head(200, all_headers)):
        return
    for byte in data:
        await asyncio.sleep(every)
        if writer.is_closing() or not await send(request, writer, bytes([byte])):
            request.cut_by_client = True
            return
    request.completed = True


async def endless(request: Request, writer: asyncio.StreamWriter, piece: bytes = b"x" * 65536,
                  limit_bytes: int = 1 << 31) -> None:
    """A chunked 200 that never ends (until ``limit_bytes``, or the client hangs up)."""
    if not await send(request, writer, head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})):
        return
    sent = 0
    while sent < limit_bytes:
        if not await send(request, writer, f"{len(piece):x}\r\n".encode() + piece + b"\r\n"):
            request.cut_by_client = True
            return
        sent += len(piece)


async def cut(request: Request, writer: asyncio.StreamWriter, body: bytes, chunked: bool = False) -> None:
    """A 200 whose body stops halfway, then the connection closes."""
    if chunked:
        data = head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        data += f"{len(body):x}\r\n".encode() + body[: len(body) // 2]
    else:
        data = head(200, {"Content-Type": "application/json", "Content-Length": str(len(body))}) + body[: len(body) // 2]
    await send(request, writer, data)
    writer.close()


def run_json(run_id: str, status: str = "running", **more: Any) -> dict[str, Any]:
    return {"id": run_id, "status": status, **more}
