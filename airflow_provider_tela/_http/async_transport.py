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

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, aiohttp.ClientSession]] = (
    weakref.WeakKeyDictionary()
)


def _ssl_for(verify: bool | str) -> ssl.SSLContext | bool:
    if verify is False:
        return False
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return True


def shared_session(verify: bool | str) -> aiohttp.ClientSession:
    """The running loop's session for this TLS setting, created on first use."""
    per_loop = _sessions.setdefault(asyncio.get_running_loop(), {})
    session = per_loop.get(verify)
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(limit=POOL_LIMIT, ssl=_ssl_for(verify), ttl_dns_cache=300)
        session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})
        per_loop[verify] = session
    return session


async def close_shared_sessions() -> None:
    """Close the running loop's sessions (tests and benchmarks call this before the loop ends)."""
    for session in _sessions.pop(asyncio.get_running_loop(), {}).values():
        await session.close()


class AsyncTransport:
    def __init__(self, settings: ClientSettings, policy: RetryPolicy) -> None:
        self.settings = settings
        self.policy = policy
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        )

    async def request(self, call: ApiCall) -> Any:
        """Send ``call`` with retries and return its decoded JSON."""
        session = shared_session(self.settings.verify)
        attempts = self.policy.attempts(call, self.settings.secrets)
        while True:
            try:
                async with session.request(
                    call.method, self.settings.base_url + call.path, json=call.json, params=call.params,
                    headers=self.settings.auth_headers, timeout=self._timeout,
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
