"""The async transport for triggers: aiohttp, one shared connection pool per event loop.

A triggerer runs thousands of triggers in one event loop. Each trigger opening its own session
would open a TCP (and TLS) connection per poll; instead every trigger of the process borrows the
loop's session, so polls reuse warm keep-alive connections.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from typing import Any

import aiohttp

from airflow_provider_tela._http.calls import ApiCall
from airflow_provider_tela._http.retry import Failure, RetryPolicy
from airflow_provider_tela._http.settings import ClientSettings
from airflow_provider_tela._http.sync_transport import USER_AGENT
from airflow_provider_tela.errors import TelaConnectionError

# Enough parallel requests for thousands of waiting runs, few enough to keep connections warm.
POOL_LIMIT = 100


class _LoopPool:
    """The sessions of one event loop, and how many triggers are using them."""

    def __init__(self) -> None:
        self.sessions: dict[Any, aiohttp.ClientSession] = {}
        self.leases = 0


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = weakref.WeakKeyDictionary()


def _pool() -> _LoopPool:
    return _pools.setdefault(asyncio.get_running_loop(), _LoopPool())


def _ssl_for(verify: bool | str) -> ssl.SSLContext | bool:
    if verify is False:
        return False
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return True


def shared_session(verify: bool | str) -> aiohttp.ClientSession:
    """The running loop's session for this TLS setting, created on first use."""
    sessions = _pool().sessions
    session = sessions.get(verify)
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(limit=POOL_LIMIT, ssl=_ssl_for(verify), ttl_dns_cache=300)
        session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})
        sessions[verify] = session
    return session


def lease_sessions() -> None:
    """A trigger starts using the loop's sessions."""
    _pool().leases += 1


async def release_sessions() -> None:
    """A trigger is done; the last one out closes the sessions, so no loop ends with open sockets."""
    pool = _pool()
    pool.leases = max(0, pool.leases - 1)
    if pool.leases == 0:
        await close_shared_sessions()


async def close_shared_sessions() -> None:
    """Close the running loop's sessions now."""
    pool = _pool()
    sessions, pool.sessions = pool.sessions, {}
    for session in sessions.values():
        await session.close()


class AsyncTransport:
    def __init__(self, settings: ClientSettings, policy: RetryPolicy) -> None:
        self.settings = settings
        self.policy = policy
        # One timer per request (total), not one re-armed per received chunk (sock_read).
        self._timeout = aiohttp.ClientTimeout(
            total=settings.connect_timeout + settings.read_timeout, sock_connect=settings.connect_timeout
        )
        self._auth_headers = settings.auth_headers

    def _headers_for(self, call: ApiCall) -> dict[str, str]:
        if call.absolute_url:
            return call.headers
        return {**self._auth_headers, **call.headers} if call.headers else self._auth_headers

    async def request(self, call: ApiCall) -> Any:
        """Send ``call`` with retries and return its decoded JSON."""
        session = shared_session(self.settings.verify)
        attempts = self.policy.attempts(call, self.settings.secrets)
        while True:
            try:
                async with session.request(
                    call.method, call.url(self.settings.base_url), json=call.json, params=call.params,
                    headers=self._headers_for(call),
                    timeout=self._timeout,
                ) as response:
                    body = await response.read()
                outcome = attempts.answered(response.status, response.headers, body)
            except aiohttp.ClientSSLError as exc:
                raise TelaConnectionError(
                    f"TLS handshake with {self.settings.base_url} failed ({type(exc).__name__}). Check the "
                    'certificate, or give a CA bundle in the connection extra {"ca_bundle": "/path/ca.pem"}.'
                ) from None
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                outcome = attempts.failed(Failure.NOT_SENT, f"{type(exc).__name__}")
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                outcome = attempts.failed(Failure.NO_ANSWER, f"{Failure.NO_ANSWER.value}: {type(exc).__name__}")
            if outcome.error is not None:
                raise outcome.error
            if outcome.retry_in is None:
                return outcome.data
            await asyncio.sleep(outcome.retry_in)
