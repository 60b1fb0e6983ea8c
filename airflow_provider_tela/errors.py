"""One exception hierarchy for everything the provider raises.

Every message names what failed and what to do about it. Messages carry the HTTP status and an
excerpt of the body where there is one, and never the API key: the clients pass their key to
``scrub`` before any text from the wire reaches an exception.
"""

from __future__ import annotations

BODY_EXCERPT_CHARS = 500


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Replace every secret in ``text`` and shorten it to an excerpt fit for a log line."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + f"... ({len(text) - BODY_EXCERPT_CHARS} more characters)"
    return text


class TelaError(Exception):
    """Base class of every error raised by airflow-provider-tela."""


class TelaConfigError(TelaError, ValueError):
    """Bad input or configuration, found before anything was sent to Tela."""


class TelaConnectionError(TelaError):
    """Tela could not be reached; the request surely did not arrive."""


class TelaRunMayExistError(TelaError):
    """A request that creates a run was sent but no answer came back, so the run may exist.

    It is not retried automatically: a second submission would be a second paid run.
    """


class TelaBadResponseError(TelaError):
    """Tela answered, but the answer is not what the API documents (not JSON, missing fields)."""


class TelaAPIError(TelaError):
    """Tela answered with an HTTP error status."""

    def __init__(self, message: str, *, status_code: int, body_excerpt: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body_excerpt = body_excerpt


class TelaBadRequestError(TelaAPIError):
    """Tela rejected the request (400, 422): the input needs fixing."""


class TelaAuthenticationError(TelaAPIError):
    """The API key was missing or refused (401)."""


class TelaPermissionError(TelaAuthenticationError):
    """The API key is valid but may not do this (403)."""


class TelaNotFoundError(TelaAPIError):
    """The canvas, application or run does not exist for this API key (404)."""


class TelaRateLimitError(TelaAPIError):
    """Tela is throttling requests (429) and the retry budget ran out."""

    def __init__(
        self, message: str, *, status_code: int, body_excerpt: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code, body_excerpt=body_excerpt)
        self.retry_after = retry_after


class TelaServerError(TelaAPIError):
    """Tela failed on its side (5xx) and the retry budget, if any, ran out."""


class TelaRunFailedError(TelaError):
    """The canvas run ended with status ``failed``."""

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__(f"Tela run {run_id} failed: {reason}")
        self.run_id = run_id
        self.reason = reason


class TelaTimeoutError(TelaError):
    """A run did not reach a final status within the time allowed."""

    def __init__(self, run_id: str, waited_seconds: float, last_status: str | None = None) -> None:
        status = f" (last status: {last_status})" if last_status else ""
        super().__init__(
            f"Tela run {run_id} did not finish within {waited_seconds:g} s{status}. "
            "The run was not cancelled (Tela has no cancel endpoint); raise `timeout` to wait longer, "
            f"or pick the run up later with TelaRunSensor(run_id={run_id!r})."
        )
        self.run_id = run_id
        self.waited_seconds = waited_seconds
        self.last_status = last_status
