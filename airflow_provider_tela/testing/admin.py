"""``/_emulator/*``: unauthenticated control API so an emulator in another process can be driven."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from .api_errors import error_body
from .canvases import make_canvas
from .runs import BadRequest
from .state import EmulatorState
from .tasks import DEFAULT_REVIEWER, REVIEW_ACTIONS, make_application

# An admin action gets the state, the JSON body (None without one) and the path's parameters.
Action = Callable[[EmulatorState, Any, Mapping[str, str]], Any]
ADMIN_PREFIX = "/_emulator/"


def add_admin_routes(app: web.Application, state_key: web.AppKey[EmulatorState]) -> None:
    def route(action: Action, *, with_body: bool = False) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            try:
                body = json.loads(await request.read() or b"{}") if with_body else None
                return web.json_response(action(request.app[state_key], body, request.match_info))
            except BadRequest as exc:  # an unknown task (404) or a review the task's status refuses (400)
                code = "not_found" if exc.status == 404 else "invalid_request"
                return web.json_response(error_body(exc.status, exc.message, code), status=exc.status)
            except (ValueError, TypeError) as exc:  # bad JSON, unknown keyword, failed validation
                return web.json_response(error_body(400, str(exc), "invalid_request"), status=400)

        return handler

    router = app.router
    router.add_get("/_emulator/health", route(lambda state, _, __: {"ok": True}))
    router.add_get("/_emulator/stats", route(lambda state, _, __: state.stats.snapshot()))
    router.add_get("/_emulator/runs", route(lambda state, _, __: state.runs_snapshot()))
    router.add_get("/_emulator/files", route(lambda state, _, __: state.files.snapshot()))
    router.add_get("/_emulator/requests", route(lambda state, _, __: state.requests_snapshot()))
    router.add_get("/_emulator/config", route(lambda state, _, __: state.config_snapshot()))
    router.add_post("/_emulator/config", route(lambda state, body, _: state.configure(**_object(body)),
                                               with_body=True))
    router.add_post("/_emulator/reset", route(_reset))
    router.add_post("/_emulator/faults", route(_add_faults, with_body=True))
    router.add_delete("/_emulator/faults", route(_clear_faults))
    router.add_post("/_emulator/canvases", route(_add_canvas, with_body=True))
    router.add_get("/_emulator/applications", route(lambda state, _, __: [
        app.to_dict() for app in state.applications.values()]))
    router.add_post("/_emulator/applications", route(_add_application, with_body=True))
    router.add_get("/_emulator/tasks", route(lambda state, _, __: state.tasks_snapshot()))
    router.add_get("/_emulator/tasks/{task_id}", route(lambda state, _, path: state.task(path["task_id"]).snapshot()))
    router.add_post("/_emulator/tasks/{task_id}/{action}", route(_review, with_body=True))


def _reset(state: EmulatorState, _: Any, __: Mapping[str, str]) -> dict[str, Any]:
    state.reset()
    return {"ok": True}


def _add_faults(state: EmulatorState, body: Any, _: Mapping[str, str]) -> dict[str, Any]:
    """Append one rule (an object) or several (a list) after the existing ones."""
    rules = body if isinstance(body, list) else [_object(body)]
    for rule in rules:
        state.faults.add(_object(rule))
    return state.config_snapshot()


def _clear_faults(state: EmulatorState, _: Any, __: Mapping[str, str]) -> dict[str, Any]:
    state.faults.clear()
    return state.config_snapshot()


def _add_canvas(state: EmulatorState, body: Any, _: Mapping[str, str]) -> dict[str, Any]:
    canvas = make_canvas(**_object(body))
    state.add_canvas(canvas)
    return canvas.to_promoted_version()


def _add_application(state: EmulatorState, body: Any, _: Mapping[str, str]) -> dict[str, Any]:
    """``{"app_id", "canvas"?, "review"?, "title"?}``, as ``TelaEmulator.add_application`` takes them."""
    app = make_application(**_object(body))
    state.add_application(app)
    return app.to_dict()


def _review(state: EmulatorState, body: Any, path: Mapping[str, str]) -> dict[str, Any]:
    """``POST /_emulator/tasks/{id}/{approve|edit|revoke|fail|cancel}`` with ``{"output"?, "reason"?, "by"?}``."""
    action = path["action"]
    if action not in REVIEW_ACTIONS:
        raise ValueError(f"unknown review action {action!r}; expected one of {', '.join(REVIEW_ACTIONS)}")
    options = _object(body)
    unknown = set(options) - {"output", "reason", "by"}
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)}; a review takes output, reason and by")
    if action == "edit" and options.get("output") is None:
        raise ValueError("an edit needs an 'output' to merge into the task's output")
    return state.review_task(path["task_id"], action, output=options.get("output"), reason=options.get("reason"),
                             by=options.get("by") or DEFAULT_REVIEWER)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body
