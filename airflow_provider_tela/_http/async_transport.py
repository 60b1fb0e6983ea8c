"""The async transport for triggers: aiohttp, one shared connection pool per event loop.

A triggerer runs thousands of triggers in one event loop. Each trigger opening its own session
would open a TCP (and TLS) connection per poll; instead every trigger of the process borrows the
loop's session, so polls reuse warm keep-alive connections. The session keeps no cookies (one pool
serves every Tela connection, i.e. every workspace) and reads nothing from the environment: proxy
and CA bundle come from ``ClientSettings``, as for the sync client.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref

import aiohttp

from airflow_provider_tela._http.calls import ApiCall
from airflow_provider_tela._http.deadline import NEVER, Deadline
from airflow_provider_tela._http.retry import Attempts, Body, Failure, Outcome, RetryPolicy, StackFailure
from airflow_provider_tela._http.settings import ClientSettings, ca_context
from airflow_provider_tela._http.sync_transport import ERROR_BODY_BYTES, READ_CHUNK, USER_AGENT
from airflow_provider_tela.errors import TelaError, detached

# Enough parallel requests for thousands of waiting runs, few enough to keep connections warm.
POOL_LIMIT = 100


class _LoopPool:
    """The session of one event loop, and how many users it has."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.leases = 0


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = weakref.WeakKeyDictionary()


def _pool() -> _LoopPool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:  # (not setdefault: that would build a pool, and a weak reference, on every request)
        pool = _pools[loop] = _LoopPool()
    return pool


def shared_session() -> aiohttp.ClientSession:
    """The running loop's session, created on first use."""
    pool = _pool()
    if pool.session is None or pool.session.closed:
        connector = aiohttp.TCPConnector(limit=POOL_LIMIT, ttl_dns_cache=300)
        pool.session = aiohttp.ClientSession(
            connector=connector, headers={"User-Agent": USER_AGENT}, cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
    return pool.session


def lease_sessions() -> None:
    """A user (a trigger) starts using the loop's session."""
    _pool().leases += 1


async def release_sessions() -> None:
    """A user is done; the last one out closes the session, so no loop ends with open sockets."""
    pool = _pool()
    pool.leases = max(0, pool.leases - 1)
    if pool.leases == 0:
        await close_shared_sessions()


async def close_shared_sessions() -> None:
    pool = _pool()
    session, pool.session = pool.session, None
    if session is not None:
        await session.close()


def classify(exc: BaseException, deadline: Deadline) -> tuple[Failure, str]:
    """Every failure aiohttp or the socket layer can raise, as one Failure kind (detail: the type)."""
    name = type(exc).__name__
    if isinstance(exc, (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch)):
        # raised while connecting: the certificate or the handshake, which a person must fix
        reason = getattr(exc, "certificate_error", None) or getattr(exc, "reason", None)
        return Failure.TLS, str(getattr(reason, "verify_message", None) or getattr(reason, "reason", None) or name)
    if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return Failure.NOT_SENT, name  # includes DNS failures and a proxy that refused
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        if deadline.expired():
            return Failure.DEADLINE, "the time allowed ran out"
        return Failure.NO_ANSWER, f"{name} (no answer in time)"
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ContentTypeError, aiohttp.TooManyRedirects, UnicodeError)):
        return Failure.BAD_BODY, name
    if isinstance(exc, (aiohttp.InvalidURL, ValueError)):
        return Failure.NOT_SENT, f"the request could not be built ({name})"
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return Failure.NO_ANSWER, name  # dropped connection, malformed status line, reset
    raise exc  # not a transport failure: a bug, let it surface as is


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    length = response.content_length
    if length is not None and length > limit:
        raise StackFailure(Failure.TOO_LARGE, f"Content-Length {length} is over the limit of {limit} bytes")
    if length is not None and "Content-Encoding" not in response.headers:
        # aiohttp's parser reads exactly Content-Length bytes: one read, no chunk loop, no copy. (A
        # compressed body is counted as it is inflated, below: a small gzip can inflate to gigabytes.)
        return await response.read()
    body = bytearray()
    async for chunk in response.content.iter_chunked(READ_CHUNK):
        body += chunk
        if len(body) > limit:
            raise StackFailure(Failure.TOO_LARGE, f"more than {limit} bytes (connection extra max_response_bytes)")
    return bytes(body)


class AsyncTransport:
    def __init__(self, settings: ClientSettings, policy: RetryPolicy) -> None:
        self.settings = settings
        self.policy = policy
        self._ssl: ssl.SSLContext | bool = True
        self._proxy = settings.proxy_for(settings.base_url)
        self._per_request = settings.connect_timeout + settings.read_timeout
        self._auth = settings.auth_headers
        self._secrets = settings.secrets  # (a property that parses the proxy URL each time it is read)

    async def prepare(self) -> AsyncTransport:
        """Load the CA bundle off the event loop (reading it blocks for milliseconds)."""
        cafile = self.settings.ca_for(self.settings.base_url)
        self._ssl = False if cafile is None else await asyncio.to_thread(ca_context, cafile)
        return self

    async def request(self, call: ApiCall, *, deadline: Deadline = NEVER, retries: bool = True) -> Body:
        """Send ``call`` (to Tela's host) with retries; return the body of its answer.

        The request holds the loop's session while it runs: outside ``async with TelaAsyncHook()``
        (no other user) the session is closed when it ends, so none outlives its event loop unclosed
        ("Unclosed client session"); inside, the hook's lease keeps it, and its connections, open.
        """
        pool = _pool()
        pool.leases += 1
        try:
            return await self._request(call, deadline, retries)
        finally:
            pool.leases = max(0, pool.leases - 1)
            if pool.leases == 0:
                await close_shared_sessions()

    async def _request(self, call: ApiCall, deadline: Deadline, retries: bool) -> Body:
        attempts = self.policy.attempts(call, self._secrets, deadline, retries=retries)
        while True:
            outcome = await self._attempt(call, attempts, deadline)
            if outcome.error is not None:
                raise detached(outcome.error)
            if outcome.retry_in is None:
                return outcome.body if outcome.body is not None else Body(b"")
            await asyncio.sleep(outcome.retry_in)

    async def _attempt(self, call: ApiCall, attempts: Attempts, deadline: Deadline) -> Outcome:
        bounded = deadline.within(self._per_request)
        total = bounded.remaining()
        if total is not None and total <= 0:
            return attempts.failed(Failure.DEADLINE, "the time allowed ran out before sending")
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=self.settings.connect_timeout)
        try:
            async with shared_session().request(
                call.method, call.url(self.settings.base_url), json=call.json, params=call.params,
                headers={**self._auth, **call.headers} if call.headers else self._auth, timeout=timeout, ssl=self._ssl,
                proxy=self._proxy, allow_redirects=False,
            ) as response:
                if response.status < 300:
                    body = await _read_capped(response, self.settings.max_response_bytes)
                else:
                    body = await self._error_body(response)
            return attempts.answered(response.status, response.headers, body)
        except StackFailure as failed:
            return attempts.failed(failed.kind, failed.detail)
        except TelaError:
            raise
        except Exception as exc:  # noqa: BLE001 - classify() re-raises what is not a transport failure
            kind, detail = classify(exc, bounded)
        return attempts.failed(kind, detail)

    @staticmethod
    async def _error_body(response: aiohttp.ClientResponse) -> bytes:
        try:
            return await _read_capped(response, ERROR_BODY_BYTES)
        except Exception:  # noqa: BLE001 - the status says enough; a broken error body adds nothing
            return b""
