"""``/_emulator/*``: unauthenticated control API so an emulator in another process can be driven."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .api_errors import error_body
from .canvases import make_canvas
from .state import EmulatorState

Action = Callable[[EmulatorState, Any], Any]


def add_admin_routes(app: web.Application, state_key: web.AppKey[EmulatorState]) -> None:
    def route(action: Action, *, with_body: bool = False) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            try:
                body = json.loads(await request.read() or b"{}") if with_body else None
                return web.json_response(action(request.app[state_key], body))
            except (ValueError, TypeError) as exc:  # bad JSON, unknown keyword, failed validation
                return web.json_response(error_body(400, str(exc), "invalid_request"), status=400)

        return handler

    router = app.router
    router.add_get("/_emulator/health", route(lambda state, _: {"ok": True}))
    router.add_get("/_emulator/stats", route(lambda state, _: state.stats.snapshot()))
    router.add_get("/_emulator/runs", route(lambda state, _: state.runs_snapshot()))
    router.add_get("/_emulator/files", route(lambda state, _: state.files.snapshot()))
    router.add_get("/_emulator/config", route(lambda state, _: state.config_snapshot()))
    router.add_post("/_emulator/config", route(lambda state, body: state.configure(**_object(body)), with_body=True))
    router.add_post("/_emulator/reset", route(_reset))
    router.add_post("/_emulator/faults", route(_add_faults, with_body=True))
    router.add_delete("/_emulator/faults", route(_clear_faults))
    router.add_post("/_emulator/canvases", route(_add_canvas, with_body=True))


def _reset(state: EmulatorState, _: Any) -> dict[str, Any]:
    state.reset()
    return {"ok": True}


def _add_faults(state: EmulatorState, body: Any) -> dict[str, Any]:
    """Append one rule (an object) or several (a list) after the existing ones."""
    rules = body if isinstance(body, list) else [_object(body)]
    for rule in rules:
        state.faults.add(_object(rule))
    return state.config_snapshot()


def _clear_faults(state: EmulatorState, _: Any) -> dict[str, Any]:
    state.faults.clear()
    return state.config_snapshot()


def _add_canvas(state: EmulatorState, body: Any) -> dict[str, Any]:
    canvas = make_canvas(**_object(body))
    state.add_canvas(canvas)
    return canvas.to_promoted_version()


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body
