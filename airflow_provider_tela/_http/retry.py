"""What one request does after each attempt: return the answer, raise, or try again after a delay.

Both clients drive one ``Attempts`` object per call: they report what happened (an HTTP answer, or a
``Failure`` their exception mapping produced) and get back an ``Outcome``. The clients differ only in
how they send and how they sleep; which failures are retried, how long to wait, and which error is
raised live here, once.

A call made inside a wait is sent with ``retries=False``: the wait's own state machine decides what
happens next, so that retries never nest.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from airflow_provider_tela._http import sending
from airflow_provider_tela._http.calls import ApiCall
from airflow_provider_tela._http.deadline import NEVER, Deadline
from airflow_provider_tela._http.responses import error_for_status, may_exist
from airflow_provider_tela.errors import (
    TelaBadResponseError,
    TelaConnectionError,
    TelaError,
    TelaRateLimitError,
    TelaServerError,
    TelaTLSError,
    scrub,
    scrub_body,
    with_request_id,
)

log = logging.getLogger("airflow_provider_tela")

# 503 and 429 are refusals before any work; 408 means the request was not read in time.
REFUSED_STATUSES = frozenset({408, 429, 503})


class StackFailure(Exception):
    """Raised inside a transport when an attempt ends without a usable answer (its own checks: too
    large, deadline); caught by the same transport and reported to ``Attempts.failed``."""

    def __init__(self, kind: Failure, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class Failure(Enum):
    """What went wrong with an attempt that got no usable HTTP answer, whichever client sent it."""

    NOT_SENT = "not sent"  # refused, DNS, connect timeout, proxy refused: Tela surely saw nothing
    NO_ANSWER = "no answer"  # sent, then a timeout or a dropped connection: Tela may have acted
    BAD_BODY = "unreadable answer"  # an answer came but its body was cut or could not be decoded
    TOO_LARGE = "answer too large"  # the body passed the connection's max_response_bytes
    TLS = "TLS failure"  # certificate or handshake: fixing it takes a person
    DEADLINE = "deadline reached"  # the time allowed for the request (or its wait) ran out mid-request


# The one home of every retry rule: the transports, the waits and the batch engine all take their
# backoff, jitter and Retry-After from here.
BACKOFF_BASE = 0.5
BACKOFF_MAX = 30.0
# A Retry-After longer than this is not waited for in full (a year would stall a wait to its deadline).
RETRY_AFTER_MAX = 300.0


def jittered(ceiling: float, rng: Callable[[], float] = random.random) -> float:
    """Equal jitter: between half the ceiling and the ceiling, so that many clients do not retry in step."""
    return ceiling / 2 + rng() * ceiling / 2


def honour_retry_after(delay: float, retry_after: float | None, cap: float = RETRY_AFTER_MAX) -> float:
    """The wait before the next attempt: the backoff's ``delay``, or longer if Tela asked (Retry-After,
    capped). Never shorter: a server answering ``Retry-After: 0`` forever must not get a busy loop."""
    return delay if retry_after is None else max(delay, min(float(retry_after), cap))


@dataclass
class Backoff:
    """Capped exponential backoff with equal jitter, one step per failed attempt. The ceiling is kept
    as a capped float (never ``2 ** n``), so any number of steps can be taken."""

    first: float = BACKOFF_BASE
    ceiling: float = BACKOFF_MAX
    rng: Callable[[], float] = random.random
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        self._next = min(self.first, self.ceiling)

    def delay(self, retry_after: float | None = None, cap: float = RETRY_AFTER_MAX) -> float:
        ceiling, self._next = self._next, min(self._next * 2, self.ceiling)
        return honour_retry_after(jittered(ceiling, self.rng), retry_after, cap)

    def reset(self) -> None:
        self._next = min(self.first, self.ceiling)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_base: float = BACKOFF_BASE
    backoff_max: float = BACKOFF_MAX
    retry_after_max: float = RETRY_AFTER_MAX

    def steps(self) -> Backoff:
        """A fresh backoff for one request (or one batch record) under this policy."""
        return Backoff(self.backoff_base, self.backoff_max)

    def attempts(
        self, call: ApiCall, secrets: tuple[str, ...], deadline: Deadline = NEVER, *, retries: bool = True
    ) -> Attempts:
        sending.beginning()  # every request's first attempt begins here, in both transports
        return Attempts(policy=self, call=call, secrets=secrets, deadline=deadline,
                        max_retries=self.max_retries if retries else 0)


class Body(bytes):
    """An answer's body, with Tela's ``x-request-id`` of that answer (None when it had none)."""

    request_id: str | None = None


def request_id_of(headers: Mapping[str, str], secrets: tuple[str, ...]) -> str | None:
    """Tela's ``x-request-id``, as an error or a log line may quote it (scrubbed, one short line)."""
    value = headers.get("x-request-id")
    if not value:
        return None
    if not isinstance(value, str):
        value = str(value)
    if not value.isprintable():  # read per character only when there is something to drop (rare)
        value = "".join(ch for ch in value if ch.isprintable())
    text = scrub(value, secrets)[:100].strip()
    return text or None


@dataclass
class Outcome:
    body: Body | None = None  # the answer's body (None for a stream the caller reads itself)
    error: TelaError | None = None
    retry_in: float | None = None


@dataclass
class Attempts:
    policy: RetryPolicy
    call: ApiCall
    secrets: tuple[str, ...]
    deadline: Deadline = NEVER
    max_retries: int = 3
    retries_done: int = field(default=0)
    _backoff: Backoff | None = None

    def _retry_or(self, error: TelaError, retry_after: float | None = None) -> Outcome:
        if self.retries_done >= self.max_retries:
            return Outcome(error=error)
        if self._backoff is None:
            self._backoff = self.policy.steps()
        delay = self._backoff.delay(retry_after, self.policy.retry_after_max)
        left = self.deadline.remaining()
        if left is not None and delay >= left:
            return Outcome(error=error)  # waiting would pass the deadline: give the error now
        self.retries_done += 1
        log.warning("Retry %d of %d in %.1f s after: %s", self.retries_done, self.max_retries, delay, error)
        return Outcome(retry_in=delay)

    def answered(self, status: int, headers: Mapping[str, str], body: bytes | None) -> Outcome:
        """Judge an HTTP answer. ``body`` is None for a streamed success the caller reads itself."""
        request_id = request_id_of(headers, self.secrets)
        if status < 300:
            if body is None:
                return Outcome()
            # the one place both clients' answers pass: no parser downstream ever sees the key
            # (Body(...) is the one copy of the body; scrub_body copies only when it finds a secret)
            answer = Body(scrub_body(body, self.secrets))
            if request_id is not None:
                answer.request_id = request_id
            return Outcome(body=answer)
        error = with_request_id(error_for_status(self.call, status, headers, body or b"", self.secrets), request_id)
        if not isinstance(error, (TelaRateLimitError, TelaServerError)):
            return Outcome(error=error)
        if self.call.creates_run and status not in REFUSED_STATUSES:
            # A 500, 502 or 504 may come after the backend accepted the run.
            return Outcome(error=with_request_id(
                may_exist(self.call, f"Tela answered {status}", status_code=status), request_id))
        return self._retry_or(error, error.retry_after)

    def failed(self, kind: Failure, detail: str) -> Outcome:
        """Judge an attempt that got no usable answer. ``detail`` names the cause, never the request."""
        detail = scrub(detail, self.secrets)
        if kind is Failure.TLS:
            return Outcome(error=TelaTLSError(
                f"TLS with Tela failed for {self.call.label} ({detail}). Check the certificate, or give a CA "
                'bundle in the connection extra {"ca_bundle": "/path/ca.pem"}.'
            ))
        if self.call.creates_run and kind is not Failure.NOT_SENT:
            return Outcome(error=may_exist(self.call, f"{kind.value}: {detail}"))
        if kind in (Failure.BAD_BODY, Failure.TOO_LARGE):
            error: TelaError = TelaBadResponseError(
                f"Tela's answer to {self.call.label} could not be read ({kind.value}: {detail})."
            )
            return Outcome(error=error) if kind is Failure.TOO_LARGE else self._retry_or(error)
        error = TelaConnectionError(
            f"Could not reach Tela for {self.call.label}: {kind.value}: {detail}. Check the connection's host "
            "and that Tela is reachable from this machine."
        )
        if kind is Failure.DEADLINE:
            return Outcome(error=error)
        return self._retry_or(error)
