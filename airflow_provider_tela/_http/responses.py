"""Turning an HTTP answer (status, headers, body bytes) into JSON data or a typed error."""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from airflow_provider_tela.errors import (
    TelaAPIError,
    TelaAuthenticationError,
    TelaBadRequestError,
    TelaBadResponseError,
    TelaNotFoundError,
    TelaPermissionError,
    TelaRateLimitError,
    TelaServerError,
    scrub,
)
from airflow_provider_tela.models import shape_error

M = TypeVar("M", bound=BaseModel)

if TYPE_CHECKING:
    from airflow_provider_tela._http.calls import ApiCall

_ADVICE = {
    400: "Tela rejected the request; fix the input it names",
    401: "the API key was refused; put a valid key in the Tela connection's password field",
    403: "the API key may not do this; check the key's workspace and permissions in Tela",
    404: "check the id, and that the API key belongs to the workspace that owns it",
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
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _api_message(body: bytes) -> str:
    """The error message Tela put in the body, or the body itself."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
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
    excerpt = scrub(_api_message(body), secrets)
    advice = _ADVICE.get(status, "Tela failed on its side; retry later" if status >= 500 else "see Tela's message")
    message = f"Tela answered {status} to {call.label}: {excerpt or '(empty body)'} ({advice})."
    kwargs: dict[str, Any] = {"status_code": status, "body_excerpt": excerpt}
    if status == 401:
        return TelaAuthenticationError(message, **kwargs)
    if status == 403:
        return TelaPermissionError(message, **kwargs)
    if status == 404:
        return TelaNotFoundError(message, **kwargs)
    if status == 429:
        return TelaRateLimitError(message, retry_after=parse_retry_after(headers.get("Retry-After")), **kwargs)
    if status >= 500:
        return TelaServerError(message, **kwargs)
    if status in (400, 409, 413, 422):
        return TelaBadRequestError(message, **kwargs)
    return TelaAPIError(message, **kwargs)


def _not_json(call: ApiCall, body: bytes, secrets: tuple[str, ...]) -> TelaBadResponseError:
    excerpt = scrub(body.decode("utf-8", errors="replace"), secrets)
    return TelaBadResponseError(
        f"Tela answered {call.label} with a body that is not JSON: {excerpt!r}. "
        "Check that the connection's host is the Tela API (not a proxy or a web page)."
    )


def decode_json(call: ApiCall, body: bytes, secrets: tuple[str, ...]) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise _not_json(call, body, secrets) from None


def decode_model(call: ApiCall, model: type[M], body: bytes, secrets: tuple[str, ...], what: str) -> M:
    """Parse and validate a raw answer in one step (pydantic's JSON parser, no dict in between)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise _not_json(call, body, secrets) from None
        raise shape_error(model, exc, what) from exc
