"""The JSON answers every route builds: compact bodies and Tela-shaped errors."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .api_errors import error_body


def dump(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def json_bytes(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def json_answer(document: Any, status: int = 200) -> web.Response:
    return json_bytes(dump(document), status)


def error(status: int, message: str, code: str, details: Any = None) -> web.Response:
    return json_answer(error_body(status, message, code, details), status)


def bad_request(message: str, details: list[dict[str, str]] | None = None) -> web.Response:
    return error(400, message, "invalid_request", details)


def refusal(message: str, param: str | None) -> web.Response:
    """A 400 naming the offending field in ``details`` (as every refusal of the emulator does)."""
    return bad_request(message, [{"path": param, "message": message}] if param else None)
