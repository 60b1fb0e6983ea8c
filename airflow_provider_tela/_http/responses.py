"""Turning an HTTP answer (status, headers, body bytes) into data, a model or a typed error.

Used by both clients. Every error built here is raised detached (no ``__cause__``/``__context__``)
with its wire text scrubbed of secrets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from airflow_provider_tela._http.settings import KEY_FIELD
from airflow_provider_tela._ids import plain_id
from airflow_provider_tela.errors import (
    TelaAPIError,
    TelaAuthenticationError,
    TelaBadRequestError,
    TelaBadResponseError,
    TelaClientError,
    TelaConfigError,
    TelaNotFoundError,
    TelaPermissionError,
    TelaRateLimitError,
    TelaRunMayExistError,
    TelaServerError,
    detached,
    scrub,
)
from airflow_provider_tela.models import describe_validation_error

M = TypeVar("M", bound=BaseModel)

if TYPE_CHECKING:
    from airflow_provider_tela._http.calls import ApiCall

_ADVICE = {
    400: "Tela rejected the request; fix the input it names",
    401: f"the API key was refused; put a valid key in {KEY_FIELD}",
    403: "the API key may not do this; check the key's workspace and permissions in Tela",
    404: "check the id, and that the API key belongs to the workspace that owns it",
    408: "Tela timed out reading the request; it is retried",
    413: "the request is too large; upload big documents as files (TelaFile) instead of inline text",
    422: "Tela could not process the input; fix the input it names",
    429: "Tela is rate limiting; lower the DAG's concurrency or retry later",
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def load_json(body: bytes) -> Any:
    """JSON from bytes; raises ValueError for anything that is not (bad UTF-8, too deeply nested)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _api_message(body: bytes) -> str:
    """The error message Tela put in the body, or the body itself."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = load_json(body)
    except ValueError:
        return text
    if isinstance(data, dict):
        error = data.get("error", data.get("message"))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error:
            return str(error)
    return text


def error_for_status(
    call: ApiCall, status: int, headers: Mapping[str, str], body: bytes, secrets: tuple[str, ...]
) -> TelaAPIError:
    """The typed error for an HTTP error status (3xx, 4xx, 5xx)."""
    excerpt = scrub(_api_message(body), secrets)
    if 300 <= status < 400:
        target = urlsplit(headers.get("Location", "")).netloc or "an unnamed location"
        message = (
            f"Tela answered {status} to {call.label}, a redirect to {scrub(target, secrets)}. Redirects are not "
            "followed (the API key must not travel to another host): set the connection's host to the final URL."
        )
        return TelaClientError(message, status_code=status, body_excerpt=excerpt)
    advice = _ADVICE.get(status, "Tela failed on its side; retry later" if status >= 500 else "see Tela's message")
    message = f"Tela answered {status} to {call.label}: {excerpt or '(empty body)'} ({advice})."
    kwargs: dict[str, Any] = {
        "status_code": status, "body_excerpt": excerpt, "retry_after": parse_retry_after(headers.get("Retry-After")),
    }
    if status == 401:
        return TelaAuthenticationError(message, **kwargs)
    if status == 403:
        return TelaPermissionError(message, **kwargs)
    if status == 404:
        return TelaNotFoundError(message, **kwargs)
    if status == 429:
        return TelaRateLimitError(message, **kwargs)
    if status >= 500 or status == 408:
        return TelaServerError(message, **kwargs)
    if status in (400, 409, 413, 422):
        return TelaBadRequestError(message, **kwargs)
    return TelaClientError(message, **kwargs)


def _not_json(call: ApiCall, body: bytes, secrets: tuple[str, ...]) -> TelaBadResponseError:
    excerpt = scrub(body[:1000].decode("utf-8", errors="replace"), secrets)
    return TelaBadResponseError(
        f"Tela answered {call.label} with a body that is not JSON: {excerpt!r}. "
        "Check that the connection's host is the Tela API (not a proxy or a web page)."
    )


def shape_error(
    model: type[BaseModel], exc: ValidationError, what: str, secrets: tuple[str, ...]
) -> TelaBadResponseError:
    return TelaBadResponseError(
        f"Tela's answer to {what} does not match the documented {model.__name__}: "
        f"{scrub(describe_validation_error(exc), secrets)}. If Tela changed its API, upgrade airflow-provider-tela."
    )


def decode_json(call: ApiCall, body: bytes, secrets: tuple[str, ...]) -> Any:
    error: TelaBadResponseError | None = None
    try:
        return load_json(body)
    except ValueError:
        error = _not_json(call, body, secrets)
    raise detached(error)


def validate(model: type[M], data: Any, what: str, secrets: tuple[str, ...]) -> M:
    """Validate decoded data; a mismatch is a TelaBadResponseError naming the field, never quoting values."""
    error: TelaBadResponseError | None = None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = shape_error(model, exc, what, secrets)
    except RecursionError:
        error = TelaBadResponseError(f"Tela's answer to {what} is nested too deeply to read")
    raise detached(error)


def decode_model(call: ApiCall, model: type[M], body: bytes, secrets: tuple[str, ...], what: str) -> M:
    """Parse and validate a raw answer in one step (pydantic's JSON parser, no dict in between).

    A body pydantic's parser refuses that JSON's grammar allows (a lone UTF-16 surrogate, ``"\\ud83d"``,
    as JavaScript writes half an emoji) is read again with Python's reader: the answer to a paid run is
    never lost to one reader's strictness. Only a body neither reads is "not JSON"."""
    error: TelaBadResponseError | None = None
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if not any(e["type"] == "json_invalid" for e in exc.errors()):
            error = shape_error(model, exc, what, secrets)
    except RecursionError:
        error = TelaBadResponseError(f"Tela's answer to {what} is nested too deeply to read")
    if error is None:
        try:
            data = load_json(body)
        except ValueError:
            error = _not_json(call, body, secrets)
        else:
            return validate(model, data, what, secrets)
    raise detached(error)


def readable_run_id(data: Any) -> str | None:
    """The run id in an answer that is otherwise unusable, if one can be read."""
    if isinstance(data, dict):
        try:
            # (an id with a secret scrubbed out of it, an echoed key now "***", is not plain: it names no run)
            return plain_id(data.get("id"))
        except TelaConfigError:
            return None
    return None


def may_exist(
    call: ApiCall, detail: str, *, run_id: str | None = None, status_code: int | None = None
) -> TelaRunMayExistError:
    named = f" Its answer named run {run_id}: a durable retry re-attaches to it." if run_id else (
        " Check the canvas's runs in Tela before retrying this task."
    )
    return TelaRunMayExistError(
        f"{call.label} was sent but no usable answer came back ({detail}). The run may have been created "
        "in Tela; it was not resubmitted automatically, because a second submission would be a second paid "
        f"run.{named}",
        run_id=run_id,
        status_code=status_code,
    )
