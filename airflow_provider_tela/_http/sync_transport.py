"""The sync transport: a pooled ``requests.Session`` driven by the shared retry rules.

What ``requests`` alone does not give, and this module adds:

- an overall deadline per request (connect, send, headers and the whole body), enforced by a
  watchdog that shuts the socket down: a server dripping one byte a second cannot hold a worker;
- a cap on the bytes read from an answer;
- no environment magic: proxies, CA bundle and ``~/.netrc`` are not read by requests itself
  (``trust_env`` off) but passed explicitly from ``ClientSettings``, exactly as the async client
  gets them; no cookies, no redirects;
- one mapping of every exception requests and urllib3 raise into a ``Failure``.
"""

from __future__ import annotations

import contextlib
import http.client
import http.cookiejar
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import IO, Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from airflow_provider_tela._http.calls import ApiCall
from airflow_provider_tela._http.deadline import NEVER, Deadline
from airflow_provider_tela._http.retry import (
    Attempts,
    Body,
    Failure,
    Outcome,
    RetryPolicy,
    StackFailure,
    request_id_of,
)
from airflow_provider_tela._http.settings import ClientSettings
from airflow_provider_tela._http.sse import LineBuffer
from airflow_provider_tela.errors import TelaConfigError, TelaError, detached

USER_AGENT = "airflow-provider-tela"
READ_CHUNK = 64 * 1024
# An error answer is only read for its message.
ERROR_BODY_BYTES = 64 * 1024
# The slowest upload accepted (256 kbit/s): a file's PUT may take its size at this rate, plus the
# connect and read timeouts, before it is cut.
MIN_UPLOAD_BYTES_PER_SECOND = 32 * 1024


# --- the watchdog ----------------------------------------------------------------------------


class _InFlight:
    """The connection one request is using, so that its watchdog can cut it, and whether the request
    may have left: ``ready`` once the connection is up (TLS handshake done), before its first byte."""

    __slots__ = ("conn", "fired", "ready")

    def __init__(self) -> None:
        self.conn: Any = None
        self.fired = False
        self.ready = False


_current = threading.local()


def _track(conn: Any) -> None:
    in_flight = getattr(_current, "in_flight", None)
    if in_flight is not None:
        in_flight.conn = conn


def _mark_ready() -> None:
    in_flight = getattr(_current, "in_flight", None)
    if in_flight is not None:
        in_flight.ready = True


class _Tracking:
    """Pools whose connections a watchdog can find, and which say when a request may have left."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        _track(conn)
        return conn

    def _validate_conn(self, conn: Any) -> None:
        # https: connects and completes the TLS handshake here; plain http connects while sending,
        # where a failed connect is a NewConnectionError
        super()._validate_conn(conn)  # type: ignore[misc]
        _mark_ready()


class _TrackingHTTPConnectionPool(_Tracking, HTTPConnectionPool):
    pass


class _TrackingHTTPSConnectionPool(_Tracking, HTTPSConnectionPool):
    pass


_POOL_CLASSES = {"http": _TrackingHTTPConnectionPool, "https": _TrackingHTTPSConnectionPool}


class _Adapter(HTTPAdapter):
    """Pools whose connections a watchdog can find (direct and through proxies alike)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager


def _cut(in_flight: _InFlight) -> None:
    in_flight.fired = True
    sock = getattr(in_flight.conn, "sock", None)
    # TLS inside a TLS proxy tunnel is urllib3's SSLTransport, which has no shutdown(): cut the
    # socket it wraps
    sock = getattr(sock, "socket", sock)
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def _watchdog(deadline: Deadline) -> Iterator[_InFlight]:
    in_flight = _InFlight()
    previous = getattr(_current, "in_flight", None)
    _current.in_flight = in_flight
    left = deadline.remaining()
    timer = None
    if left is not None:
        timer = threading.Timer(left, _cut, args=(in_flight,))
        timer.daemon = True
        timer.start()
    try:
        yield in_flight
    finally:
        if timer is not None:
            timer.cancel()
        _current.in_flight = previous


# --- what went wrong -------------------------------------------------------------------------


def classify(exc: BaseException, in_flight: _InFlight) -> tuple[Failure, str]:
    """Every failure requests, urllib3 or the socket layer can raise, as one Failure kind.

    The detail is the exception's type (and, for TLS, the verification reason): never its text,
    which may quote the request.
    """
    name = type(exc).__name__
    if in_flight.fired:
        return Failure.DEADLINE, "the time allowed ran out"
    sent = in_flight.ready  # the connection was up: the request may have left
    if isinstance(exc, requests.exceptions.SSLError):
        reason = _tls_reason(exc)
        if reason is not None:
            return Failure.TLS, reason
        # not the certificate or the handshake: a TLS record broken after the request went out
        return (Failure.NO_ANSWER if sent else Failure.NOT_SENT), name
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ProxyError)):
        return Failure.NOT_SENT, name
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return Failure.NO_ANSWER, f"{name} (no answer within the read timeout)"
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError,
                        urllib3.exceptions.DecodeError, urllib3.exceptions.ProtocolError,
                        http.client.IncompleteRead, UnicodeError)):
        return Failure.BAD_BODY, name
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        if isinstance(reason, (NewConnectionError, ConnectTimeoutError)) or not sent:
            return Failure.NOT_SENT, name  # refused, unreachable, or cut before the connection was up
        return Failure.NO_ANSWER, name
    if isinstance(exc, (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL,
                        requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidJSONError)):
        if sent:  # e.g. an answer with two different Content-Length headers: the request went out
            return Failure.NO_ANSWER, f"{name} in the answer"
        return Failure.NOT_SENT, f"the request could not be built ({name})"
    if isinstance(exc, (requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
                        http.client.HTTPException, OSError)):
        return (Failure.NO_ANSWER if sent else Failure.NOT_SENT), name
    raise exc  # not a transport failure: a bug, let it surface as is


# What a failed certificate check or handshake says: a person must fix it, no retry will.
TLS_SETUP_MARKERS = (
    "certificate verify failed", "hostname mismatch", "self-signed certificate", "self signed certificate",
    "unable to get local issuer", "certificate has expired", "wrong version number", "handshake failure",
    "unknown ca", "bad certificate", "certificate unknown", "unsupported protocol", "no protocols available",
    "alert protocol version",
)


def _tls_reason(exc: BaseException) -> str | None:
    """The certificate or handshake failure ``exc`` reports, or None for any other TLS error."""
    text = str(exc).lower()
    return next((marker for marker in TLS_SETUP_MARKERS if marker in text), None)


def _read_capped(response: requests.Response, limit: int) -> bytes:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        raise StackFailure(Failure.TOO_LARGE, f"Content-Length {length} is over the limit of {limit} bytes")
    body = bytearray()
    for chunk in response.iter_content(READ_CHUNK):
        body += chunk
        if len(body) > limit:
            raise StackFailure(Failure.TOO_LARGE, f"more than {limit} bytes (connection extra max_response_bytes)")
    return bytes(body)


class _ExactSize:
    """A file body that must be exactly the size checked before the upload: a file that grows or
    shrinks meanwhile fails the upload instead of being sent truncated."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self.stream = stream
        self.left = size
        self.size = size

    def read(self, amount: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        amount = self.left if amount is None or amount < 0 else min(amount, self.left)
        last = amount == self.left
        # The last read looks one byte further, so that a grown file fails before its last byte is sent.
        data = self.stream.read(amount + 1 if last else amount)
        if len(data) > self.left:
            raise TelaConfigError(self._changed("grew"))
        if not data:
            raise TelaConfigError(self._changed("shrank"))
        self.left -= len(data)
        return data

    def _changed(self, how: str) -> str:
        return f"A file {how} while it was uploaded (expected {self.size} bytes); nothing was submitted"

    def __len__(self) -> int:
        return self.size


class _RejectAll(http.cookiejar.DefaultCookiePolicy):
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


class SyncTransport:
    def __init__(self, settings: ClientSettings, policy: RetryPolicy) -> None:
        self.settings = settings
        self.policy = policy
        self.session = requests.Session()
        self.session.trust_env = False  # proxies, CA bundle and .netrc come from ClientSettings only
        self.session.cookies.set_policy(_RejectAll())
        adapter = _Adapter(pool_connections=1, pool_maxsize=8, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT})

    def close(self) -> None:
        self.session.close()

    # --- one request ---------------------------------------------------------------------------

    def request(self, call: ApiCall, *, deadline: Deadline = NEVER, retries: bool = True) -> Body:
        """Send ``call`` with retries; return the body of its answer."""
        attempts = self.policy.attempts(call, self.settings.secrets, deadline, retries=retries)
        while True:
            outcome = self._attempt(call, attempts, deadline)
            if outcome.error is not None:
                raise detached(outcome.error)
            if outcome.retry_in is None:
                return outcome.body if outcome.body is not None else Body(b"")
            time.sleep(outcome.retry_in)

    def _request_deadline(self, call: ApiCall, deadline: Deadline) -> Deadline:
        allowed = self.settings.connect_timeout + self.settings.read_timeout
        if call.body is not None:
            # an upload takes as long as its file needs at the slowest rate accepted, and no longer:
            # a storage endpoint that reads (or answers) a byte at a time cannot hold the task
            allowed += int(call.headers.get("Content-Length") or 0) / MIN_UPLOAD_BYTES_PER_SECOND
        return deadline.within(allowed)

    def _attempt(self, call: ApiCall, attempts: Attempts, deadline: Deadline) -> Outcome:
        limit = self.settings.max_response_bytes
        with _watchdog(self._request_deadline(call, deadline)) as in_flight:
            try:
                with self._send(call, deadline) as response:
                    status = response.status_code
                    body = _read_capped(response, limit) if status < 300 else self._error_body(response)
                return attempts.answered(status, response.headers, body)
            except StackFailure as failed:
                return attempts.failed(failed.kind, failed.detail)
            except TelaError:
                raise
            except Exception as exc:  # noqa: BLE001 - classify() re-raises what is not a transport failure
                kind, detail = classify(exc, in_flight)
        return attempts.failed(kind, detail)

    @staticmethod
    def _error_body(response: requests.Response) -> bytes:
        try:
            return _read_capped(response, ERROR_BODY_BYTES)
        except Exception:  # noqa: BLE001 - the status says enough; a broken error body adds nothing
            return b""

    @contextmanager
    def _send(self, call: ApiCall, deadline: Deadline) -> Iterator[requests.Response]:
        url = call.url(self.settings.base_url)
        connect = deadline.bound(self.settings.connect_timeout)
        read = deadline.bound(self.settings.read_timeout)
        if deadline.expired():
            raise StackFailure(Failure.DEADLINE, "the time allowed ran out before sending")
        ca = self.settings.ca_for(url)
        proxy = self.settings.proxy_for(url)
        with ExitStack() as stack:
            data = None
            if call.body is not None:
                stream = stack.enter_context(call.body())
                size = call.headers.get("Content-Length")
                data = _ExactSize(stream, int(size)) if size else stream
            response = self.session.request(
                call.method, url, json=call.json, params=call.params, data=data,
                headers=self._headers(call), timeout=(connect, read), stream=True,
                verify=ca if ca is not None else False,
                proxies={"http": proxy, "https": proxy} if proxy else {},
                allow_redirects=False,
            )
            try:
                yield response
            finally:
                response.close()

    def _headers(self, call: ApiCall) -> dict[str, str]:
        if call.absolute_url:
            return call.headers  # a presigned URL: never the API key
        auth = self.settings.auth_headers
        return {**auth, **call.headers} if call.headers else auth

    # --- a stream --------------------------------------------------------------------------------

    @contextmanager
    def open_stream(self, call: ApiCall, *, deadline: Deadline = NEVER) -> Iterator[tuple[Iterator[bytes], str | None]]:
        """Send ``call`` once and yield its lines as they arrive, until ``deadline`` (with Tela's request id).

        Failures before the first byte of the answer are judged like any request; failures while
        reading raise TelaBadResponseError / TelaConnectionError, which the caller turns into "the
        run may exist" once it knows the run's id.
        """
        attempts = self.policy.attempts(call, self.settings.secrets, deadline, retries=False)
        limit = self.settings.max_response_bytes
        with _watchdog(deadline) as in_flight, ExitStack() as stack:
            error: TelaError | None = None
            try:
                response = stack.enter_context(self._send(call, deadline))
                if response.status_code >= 300:
                    error = attempts.answered(response.status_code, response.headers, self._error_body(response)).error
            except StackFailure as failed:
                error = attempts.failed(failed.kind, failed.detail).error
            except TelaError:
                raise
            except Exception as exc:  # noqa: BLE001 - classify() re-raises what is not a transport failure
                kind, detail = classify(exc, in_flight)
                error = attempts.failed(kind, detail).error
            if error is not None:
                raise detached(error)
            yield self._lines(response, limit, in_flight, attempts), request_id_of(response.headers, attempts.secrets)

    @staticmethod
    def _lines(response: requests.Response, limit: int, in_flight: _InFlight, attempts: Attempts) -> Iterator[bytes]:
        seen = 0
        lines = LineBuffer()
        error: TelaError | None = None
        too_large = f"the stream passed {limit} bytes (connection extra max_response_bytes)"
        try:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > limit:
                raise StackFailure(Failure.TOO_LARGE, too_large)
            # read1: whatever bytes have arrived, at most READ_CHUNK, counted before any line is looked
            # for (requests' iter_content / iter_lines read a whole declared chunk, or a whole line,
            # into memory first: an endless line or a huge chunk passed the cap)
            while chunk := response.raw.read1(READ_CHUNK, decode_content=True):
                seen += len(chunk)
                if seen > limit:
                    raise StackFailure(Failure.TOO_LARGE, too_large)
                yield from lines.feed(chunk)
            if in_flight.fired:  # the watchdog's cut reads as the end of the stream
                raise StackFailure(Failure.DEADLINE, "the time allowed ran out")
            yield from lines.end()
            return
        except StackFailure as failed:
            error = attempts.failed(failed.kind, failed.detail).error
        except Exception as exc:  # noqa: BLE001 - classify() re-raises what is not a transport failure
            kind, detail = classify(exc, in_flight)
            error = attempts.failed(kind, detail).error
        if error is not None:
            raise detached(error)
