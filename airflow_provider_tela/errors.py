"""One exception hierarchy for everything the provider raises.

Every message names what failed and what to do about it. Messages carry the HTTP status and an
excerpt of the body where there is one, and never the API key: text from the wire passes through
``scrub`` before it reaches an exception, and errors built from the wire are raised without a chain
(``__cause__`` / ``__context__``), because a chained pydantic or HTTP-client error may quote a header.

Two properties of each class matter to Airflow and to waits:

- ``transient``: a later attempt of the same request may succeed (throttling, 5xx, unreachable).
  Waits retry transient errors until their deadline.
- errors that no retry can fix (bad input, 4xx, TLS) also derive from Airflow's
  ``AirflowFailException``, so the task fails at once instead of burning its retries.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, ClassVar
from urllib.parse import quote

from airflow.providers.common.compat.sdk import AirflowFailException

BODY_EXCERPT_CHARS = 500


@lru_cache(maxsize=32)
def secret_forms(secret: str) -> tuple[str, ...]:
    """The ways a secret can appear in text: as is, escaped as in a repr or JSON, URL-encoded."""
    if not secret:
        return ()
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=""), quote(secret)}
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


# A secret shorter than this is not searched for in answers: "1234" (a proxy password) would turn
# every 1234 of a paid output into ***. API keys are far longer; error messages are scrubbed of all.
MIN_SECRET_IN_ANSWERS = 12


@lru_cache(maxsize=32)
def _secret_bytes(secrets: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(form.encode("utf-8") for secret in secrets if len(secret) >= MIN_SECRET_IN_ANSWERS
                 for form in secret_forms(secret))


def scrub_body(body: bytes, secrets: tuple[str, ...]) -> bytes:
    """``body`` with every secret (of at least MIN_SECRET_IN_ANSWERS characters) replaced by ``***``:
    an answer that echoes the key (a hostile or broken server) cannot carry it on into a run id, an
    output, an error message or XCom."""
    for form in _secret_bytes(secrets):
        if form in body:
            body = body.replace(form, b"***")
    return body


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Replace every secret in ``text`` and shorten it to an excerpt fit for a log line."""
    for secret in secrets:
        for form in secret_forms(secret):
            text = text.replace(form, "***")
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + f"... ({len(text) - BODY_EXCERPT_CHARS} more characters)"
    return text


class TelaError(Exception):
    """Base class of every error raised by airflow-provider-tela.

    ``request_id``: Tela's ``x-request-id`` of the answer the error comes from, when Tela answered
    with one (the message names it too): what Tela's support asks for.
    """

    transient: ClassVar[bool] = False
    request_id: str | None = None


def with_request_id(error: TelaError, request_id: str | None) -> TelaError:
    """``error``, naming the Tela request it comes from (once)."""
    if request_id and error.request_id is None:
        error.request_id = request_id
        if error.args and isinstance(error.args[0], str):
            error.args = (f"{error.args[0].rstrip()} (Tela request id: {request_id})", *error.args[1:])
    return error


class _Fatal(AirflowFailException):
    """Marks errors that no retry can fix: Airflow fails the task without using its retries."""


class TelaConfigError(TelaError, _Fatal, ValueError):
    """Bad input or configuration, found before anything was sent to Tela."""


class TelaConnectionError(TelaError):
    """Tela could not be reached, or a status check got no answer; a later attempt may succeed."""

    transient = True


class TelaTLSError(TelaConnectionError, _Fatal):
    """The TLS handshake failed (certificate, CA bundle): retrying does not help until it is fixed."""

    transient = False


class TelaRunMayExistError(TelaError):
    """A request that creates a run was sent but no usable answer came back, so the run may exist.

    It is never retried automatically: a second submission would be a second paid run. ``run_id`` is
    set when an id could be read from the answer (the run exists; a durable retry re-attaches to it).
    """

    def __init__(self, message: str, *, run_id: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status_code = status_code


# (mypy: AirflowException declares a class-level status_code of its own; ours is the instance's HTTP status)
class TelaAmbiguousRunError(TelaRunMayExistError, _Fatal):  # type: ignore[misc]
    """A run may exist and ``on_ambiguous="fail"``: the task fails at once, naming what to check."""


class TelaBadResponseError(TelaError):
    """Tela answered, but the answer is not what the API documents (not JSON, missing fields, too big)."""


class TelaAPIError(TelaError):
    """Tela answered with an HTTP error status (``retry_after``: its Retry-After, in seconds, if any)."""

    def __init__(
        self, message: str, *, status_code: int, body_excerpt: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body_excerpt = body_excerpt
        self.retry_after = retry_after


class TelaClientError(TelaAPIError, _Fatal):  # type: ignore[misc]  # status_code: see TelaAmbiguousRunError
    """Tela refused the request (a redirect or a 4xx other than 408/429): the same request fails again."""


class TelaBadRequestError(TelaClientError):
    """Tela rejected the request (400, 409, 413, 422): the input needs fixing."""


class TelaAuthenticationError(TelaClientError):
    """The API key was missing or refused (401)."""


class TelaPermissionError(TelaAuthenticationError):
    """The API key is valid but may not do this (403)."""


class TelaNotFoundError(TelaClientError):
    """The canvas, application or run does not exist for this API key (404)."""


class TelaRateLimitError(TelaAPIError):
    """Tela is throttling requests (429) and the retry budget ran out."""

    transient = True


class TelaServerError(TelaAPIError):
    """Tela failed on its side (5xx, 408) and the retry budget, if any, ran out."""

    transient = True


class TelaRunFailedError(TelaError):
    """The canvas run ended with status ``failed`` (``what="task"``: a Workstation task failed or was
    cancelled). A task retry submits a new run."""

    def __init__(self, run_id: str, reason: str, what: str = "run", usage: dict[str, Any] | None = None) -> None:
        super().__init__(f"Tela {what} {run_id} failed: {reason}")
        self.run_id = run_id
        self.reason = reason
        self.what = what
        self.usage = usage or {}  # what the failed run reported (Tela may bill a run that failed)


class TelaWatchedRunFailedError(TelaRunFailedError, _Fatal):
    """A run (or task) the task only waits for (``TelaRunSensor``, ``TelaTaskSensor``) failed: no retry
    of the task can change that."""


class TelaTimeoutError(TelaError):
    """A run did not reach a final status within the time allowed."""

    def __init__(self, run_id: str, waited_seconds: float, last_status: str | None = None, what: str = "run") -> None:
        status = f" (last status: {last_status})" if last_status else ""
        later = (f"TelaRunSensor(run_id={run_id!r})" if what == "run" else f"TelaTaskSensor(tela_task_id={run_id!r})")
        super().__init__(
            f"Tela {what} {run_id} did not finish within {waited_seconds:g} s{status}. "
            f"The {what} was not cancelled; raise `timeout` to wait longer, or pick the {what} up later with {later}."
        )
        self.run_id = run_id
        self.waited_seconds = waited_seconds
        self.last_status = last_status


class TelaDurableStateError(TelaError):
    """The durable record of a submission could not be written (or read back), so nothing was sent:
    the task's retry submits once the store works."""


class TelaBudgetError(TelaError, _Fatal):
    """``max_cost`` is spent by earlier tries of the task instance (or what they spent cannot be counted):
    nothing was submitted, and no retry can change that."""


class TelaBatchStateError(TelaError):
    """A batch's state (ledger, results parts, plan) could not be read or written. Nothing is assumed
    from state that cannot be read: a retry reads it again instead of resubmitting records."""


class TelaBatchFailedError(TelaError, _Fatal):
    """More records of a batch failed (or were ambiguous) than ``max_failed_fraction`` allows. Every row is
    written before it is raised; a retry would find the same rows."""


def detached(error: TelaError) -> TelaError:
    """``error`` without the exceptions it was raised from, ready to be raised again.

    A chained client error may quote the request (headers included); callers raise the result
    outside their ``except`` block, so Python does not attach a new ``__context__`` either.
    """
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    return error


# --- crossing the trigger boundary ---------------------------------------------------------------

_BY_NAME: dict[str, type[TelaError]] = {
    cls.__name__: cls
    for cls in (
        TelaError, TelaConfigError, TelaConnectionError, TelaTLSError, TelaRunMayExistError,
        TelaAmbiguousRunError, TelaBadResponseError, TelaAPIError, TelaClientError, TelaBadRequestError,
        TelaAuthenticationError, TelaPermissionError, TelaNotFoundError, TelaRateLimitError, TelaServerError,
        TelaBatchStateError, TelaBatchFailedError, TelaDurableStateError, TelaBudgetError,
    )
}


def error_to_event(error: TelaError) -> dict[str, Any]:
    """What a trigger puts in its event so that the task raises the same class with the same message."""
    event: dict[str, Any] = {"error_type": type(error).__name__, "message": str(error)}
    # instance attributes only: AirflowException has a class-level status_code of its own
    status_code = vars(error).get("status_code")
    if status_code is not None:
        event["status_code"] = int(status_code)
    run_id = vars(error).get("run_id")
    if run_id is not None:
        event["error_run_id"] = run_id
    if error.request_id:
        event["request_id"] = error.request_id
    return event


def error_from_event(event: dict[str, Any]) -> TelaError:
    """The error a trigger event describes; an unknown type becomes a plain TelaError."""
    cls = _BY_NAME.get(str(event.get("error_type")), TelaError)
    message = str(event.get("message", "no message"))
    if issubclass(cls, TelaRunMayExistError):
        error: TelaError = cls(message, run_id=event.get("error_run_id"), status_code=event.get("status_code"))
    elif issubclass(cls, TelaAPIError):
        error = cls(message, status_code=int(event.get("status_code") or 0))
    else:
        error = cls(message)
    if event.get("request_id"):
        error.request_id = str(event["request_id"])  # (the message names it already)
    return error
