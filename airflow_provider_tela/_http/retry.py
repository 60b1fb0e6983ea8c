"""Which failures are retried, how long to wait, and which error is raised when retries run out.

Both clients drive one ``Attempts`` object per call: they report what happened (an answer, or a
failure of a given kind) and get back an ``Outcome``: data, an error to raise, or a delay to wait
before trying again. The clients only differ in how they send and how they sleep.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping

from airflow_provider_tela._http.calls import ApiCall
from airflow_provider_tela._http.responses import error_for_status, decode_json, parse_retry_after
from airflow_provider_tela.errors import TelaConnectionError, TelaError, TelaRunMayExistError

log = logging.getLogger("airflow_provider_tela")

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# A gateway timeout may come after the backend accepted the run: ambiguous for a POST that creates one.
AMBIGUOUS_STATUSES = frozenset({504})


class Failure(Enum):
    NOT_SENT = "not sent"  # connect refused or timed out, DNS failure: the server surely saw nothing
    NO_ANSWER = "no answer"  # sent, then read timeout or connection dropped: the server may have acted


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 300.0

    def backoff(self, retry_number: int) -> float:
        """Capped exponential backoff with equal jitter, so that many clients do not retry in step."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** retry_number))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def attempts(self, call: ApiCall, secrets: tuple[str, ...]) -> Attempts:
        return Attempts(policy=self, call=call, secrets=secrets)


@dataclass
class Outcome:
    data: Any = None
    error: TelaError | None = None
    retry_in: float | None = None


@dataclass
class Attempts:
    policy: RetryPolicy
    call: ApiCall
    secrets: tuple[str, ...]
    retries_done: int = field(default=0)

    def _retry_or(self, error: TelaError, retry_after: float | None = None) -> Outcome:
        if self.retries_done >= self.policy.max_retries:
            return Outcome(error=error)
        delay = (
            min(retry_after, self.policy.retry_after_max)
            if retry_after is not None
            else self.policy.backoff(self.retries_done)
        )
        self.retries_done += 1
        log.warning(
            "Retry %d of %d in %.1f s after: %s", self.retries_done, self.policy.max_retries, delay, error
        )
        return Outcome(retry_in=delay)

    def answered(self, status: int, headers: Mapping[str, str], body: bytes | None) -> Outcome:
        """Judge an HTTP answer. ``body`` is None for a streamed success the caller reads itself."""
        if status < 400:
            if body is None or self.call.answer == "none":
                return Outcome()
            if self.call.answer == "raw":
                return Outcome(data=body)
            return Outcome(data=decode_json(self.call, body, self.secrets))
        error = error_for_status(self.call, status, headers, body or b"", self.secrets)
        if status not in RETRYABLE_STATUSES:
            return Outcome(error=error)
        if status in AMBIGUOUS_STATUSES and self.call.creates_run:
            return Outcome(error=self._may_exist(f"Tela answered {status} (gateway timeout)"))
        return self._retry_or(error, parse_retry_after(headers.get("Retry-After")))

    def failed(self, kind: Failure, detail: str) -> Outcome:
        """Judge a request that got no HTTP answer at all."""
        if kind is Failure.NO_ANSWER and self.call.creates_run:
            return Outcome(error=self._may_exist(detail))
        error = TelaConnectionError(
            f"Could not reach Tela for {self.call.label}: {detail}. Check the connection's host and "
            "that Tela is reachable from this machine."
        )
        return self._retry_or(error)

    def _may_exist(self, detail: str) -> TelaRunMayExistError:
        return TelaRunMayExistError(
            f"{self.call.label} was sent but no usable answer came back ({detail}). The run may have been "
            "created in Tela; it was not resubmitted automatically, because a second submission would be "
            "a second paid run. Check the canvas's runs in Tela before retrying this task."
        )
