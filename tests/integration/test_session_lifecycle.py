"""The loop's shared aiohttp session: kept open while a hook is in use, closed when nothing uses it.

aiohttp reports a session left open only when it is collected (often at interpreter exit, as
"Unclosed client session"); these tests look at the pool itself and count the connections the server
accepted, so that "one connection reused" and "nothing left open" are both proved.
"""

from __future__ import annotations

import asyncio

from hostile import HostileServer, respond, run_json

from airflow_provider_tela._http import async_transport
from airflow_provider_tela.hooks.tela import TelaAsyncHook

KEY = "sk-session-lifecycle-key-0123456789"


async def running(request, writer):
    await respond(request, writer, 200, run_json(request.path.rsplit("/", 1)[-1]))


def connect(monkeypatch, server: HostileServer) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", server.connection_json(KEY))


def test_inside_async_with_one_session_and_one_connection_serve_every_request(monkeypatch):
    async def use() -> tuple[bool, object]:
        async with TelaAsyncHook() as hook:
            for _ in range(3):
                await hook.get_run("r1")
            session = async_transport._pool().session
            open_inside = session is not None and not session.closed
        return open_inside, async_transport._pool().session

    with HostileServer(running) as server:
        connect(monkeypatch, server)
        open_inside, after = asyncio.run(use())
    assert open_inside and after is None  # the last user out closed it
    assert len(server.requests) == 3 and server.connections == 1


def test_outside_async_with_no_request_leaves_a_session_open(monkeypatch):
    async def use() -> list[object]:
        hook = TelaAsyncHook()
        left = []
        for _ in range(2):
            await hook.get_run("r1")
            left.append(async_transport._pool().session)
        return left

    with HostileServer(running) as server:
        connect(monkeypatch, server)
        left = asyncio.run(use())
    assert left == [None, None]
    assert len(server.requests) == 2 and server.connections == 2  # no lease, no pool: one connection each


def test_concurrent_requests_outside_async_with_share_the_session_until_the_last_ends(monkeypatch):
    async def use() -> list[str]:
        hook = TelaAsyncHook()
        await hook.transport()
        runs = await asyncio.gather(*(hook.get_run(f"r{n}") for n in range(8)))
        assert async_transport._pool().session is None and async_transport._pool().leases == 0
        return [run.id for run in runs]

    with HostileServer(running) as server:
        connect(monkeypatch, server)
        assert asyncio.run(use()) == [f"r{n}" for n in range(8)]
