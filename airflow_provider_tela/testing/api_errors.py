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
    422: "UnprocessableEntityError",
    429: "TooManyRequestsError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


def error_body(status: int, message: str, code: str, details: Any = None) -> dict[str, Any]:
    name = ERROR_NAMES.get(status, "Error")
    body: dict[str, Any] = {"code": code, "message": message, "status": status, "name": name}
    if details is not None:
        body["details"] = details
    return body
