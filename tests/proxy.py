"""A forward HTTP proxy on 127.0.0.1 for tests: CONNECT tunnels (https) and absolute-form requests (http).

It records what went through it, so that tests can prove which requests took the proxy.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Self

from server_thread import ServerThread


@dataclass
class ForwardProxy:
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, target)

    def __post_init__(self) -> None:
        self._thread = ServerThread(self._client)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.stop()

    @property
    def url(self) -> str:
        return self._thread.url("http")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            self.seen.append((method, target))
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
                return
            await self._forward(method, target, head, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError, ValueError):
            pass
        finally:
            writer.close()

    async def _forward(self, method: str, target: str, head: bytes, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        """One absolute-form request, sent to its origin with Connection: close, the answer relayed whole."""
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        lines = head.decode("latin-1").split("\r\n")[1:]
        headers = [line for line in lines if line and not line.lower().startswith(("proxy-", "connection:"))]
        length = next((int(line.split(":", 1)[1]) for line in headers if line.lower().startswith("content-length:")), 0)
        body = await reader.readexactly(length) if length else b""
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        request = f"{method} {path} HTTP/1.1\r\n" + "\r\n".join([*headers, "Connection: close"]) + "\r\n\r\n"
        up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        up_writer.write(request.encode("latin-1") + body)
        await up_writer.drain()
        answer = await up_reader.read()
        up_writer.close()
        writer.write(answer)
        await writer.drain()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        sink.close()
