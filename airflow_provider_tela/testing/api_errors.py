"""The JSON body of every error the emulator answers: ``{code, message, status, name, details?}``.

None of Tela's documentation pages at hand shows an error body: this shape is an assumption (the one
issue 9 names as Tela's), listed in README among the emulator's invented behaviours. The provider
reads its top-level ``message``; Tela's Python SDK reads its ``code``.
"""

from __future__ import annotations

from typing import Any

ERROR_NAMES = {
    400: "BadRequestError",
    401: "UnauthorizedError",
    403: "ForbiddenError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    413: "PayloadTooLargeError",
    422: "UnprocessableEntityError",
    429: "TooManyRequestsError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


# Every ``code`` the emulator answers (all invented: README lists them, and a test holds it to that).
ERROR_CODES = frozenset({
    "invalid_request", "not_found", "method_not_allowed", "unauthorized", "forbidden", "rate_limited",
    "server_error", "run_failed", "payload_too_large", "http_error", "stream_error",
})


def error_body(status: int, message: str, code: str, details: Any = None) -> dict[str, Any]:
    if code not in ERROR_CODES:
        raise ValueError(f"the emulator has no error code {code!r}: add it to ERROR_CODES and README")
    name = ERROR_NAMES.get(status, "Error")
    body: dict[str, Any] = {"code": code, "message": message, "status": status, "name": name}
    if details is not None:
        body["details"] = details
    return body
