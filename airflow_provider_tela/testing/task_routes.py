"""Workstation's task routes: ``POST /task``, ``GET /task``, ``GET /task/progress``, ``GET`` and ``PATCH
/task/{id}`` (Tela's API reference, section Task), and the answer a completion naming an app gets."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from .answers import bad_request, error, json_answer
from .faults import BAD_STATUS_KINDS, BAD_STATUS_VALUE
from .runs import BadRequest, CompletionRequest, check_required_variables, run_object
from .spec import Violation, check_task_body, check_task_patch
from .state import STATE, EmulatorState
from .tasks import API_USER, TASK_STATUSES, Task

TOO_DEEP = "request body is nested too deeply to be read"
DEFAULT_LIMIT = 10  # the guide "Creating tasks": "default: 10, range: 1-100"
MAX_LIMIT = 100
ORDER_KEYS: dict[str, Callable[[Task], Any]] = {
    "createdAt": lambda task: task.created_wall,
    "updatedAt": lambda task: task.wall(task.updated_mono),
    "approvedAt": lambda task: task.wall(task.approved_mono) if task.approved_mono is not None else None,
    "name": lambda task: task.name,
    "status": lambda task: task.status,
    "reference": lambda task: task.reference,
}
# Date filters of "List Tasks": each bounds one of the task's times; since / until are the deprecated
# names of approvedAtSince / approvedAtUntil.
DATE_FILTERS: dict[str, tuple[str, bool]] = {
    "since": ("approvedAt", True), "until": ("approvedAt", False),
    "approvedAtSince": ("approvedAt", True), "approvedAtUntil": ("approvedAt", False),
    "createdAtSince": ("createdAt", True), "createdAtUntil": ("createdAt", False),
    "updatedAtSince": ("updatedAt", True), "updatedAtUntil": ("updatedAt", False),
}


def add_task_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/task", _create_tasks)
    router.add_get("/task", _list_tasks)
    router.add_get("/task/progress", _task_progress)  # before /task/{task_id}, which would match it too
    router.add_get("/task/{task_id}", _get_task)
    router.add_patch("/task/{task_id}", _patch_task)


def completion_task_reply(state: EmulatorState, task: Task) -> dict[str, Any]:
    """What ``POST /v2/chat/completions`` with ``application_id`` answers (``configure(task_reply=...)``)."""
    mode = state.config.task_reply
    if mode == "task" or task.run is None:
        return task.to_api()
    body = run_object(task.run, "created")  # as an async canvas submission is answered
    if mode == "run_with_task_id":
        body["task_id"] = task.id
    return body


# ----------------------------------------------------------------------------- handlers


async def _create_tasks(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.stats.task_posts += 1
    try:
        body = await _read_json(request)
        violations = check_task_body(body)
        if violations:
            state.stats.spec_rejections += 1
            return _spec_refusal(violations)
        items = body if isinstance(body, list) else [body]
        planned = [_plan_task(state, items, index, isinstance(body, list)) for index in range(len(items))]
    except BadRequest as exc:
        return refused(exc)
    tasks = [state.create_task(created_via="task", **plan) for plan in planned]
    answer = [task.to_api() for task in tasks]
    if state.config.create_task_reply == "mirror" and not isinstance(body, list):
        return json_answer(answer[0])
    return json_answer(answer)


def _plan_task(state: EmulatorState, items: list[Any], index: int, listed: bool) -> dict[str, Any]:
    """Everything one task object asks for, checked; nothing is created until every object passes."""
    item = items[index]
    where = f"{index}." if listed else ""
    app_id = item["promptApplicationId"]
    if app_id != items[0]["promptApplicationId"]:
        raise BadRequest("every task of one POST /task must share the same promptApplicationId",
                         f"{where}promptApplicationId")
    app = state.applications.get(app_id)
    if app is None:
        raise BadRequest(f"application {app_id!r} not found", f"{where}promptApplicationId", status=404)
    raw, given = item.get("rawInput") or {}, item.get("inputContent") or {}
    # The OpenAPI page puts variables in rawInput, the older "Create a Task" page in inputContent.
    source = "inputContent" if "variables" in given and "variables" not in raw else "rawInput"
    content = raw if source == "rawInput" else given
    variables = content.get("variables") or {}
    messages = raw.get("messages", given.get("messages")) or []
    webhook_url = raw.get("webhook_url")
    if webhook_url is not None and not webhook_url.startswith(("http://", "https://")):
        raise BadRequest("webhook_url must be an http(s) URL", f"{where}rawInput.webhook_url")
    completion = CompletionRequest(None, app.id, variables, messages, raw.get("override"), stream=False,
                                   is_async=True, webhook_url=webhook_url, label=item.get("name"),
                                   tags=tuple(item.get("tags") or ()))
    output = item.get("outputContent")
    resolved = None
    if output is None:
        try:
            check_required_variables(state.canvases[app.canvas_id], variables)
            resolved = state.resolve_variables(variables)
        except BadRequest as exc:
            raise BadRequest(exc.message, f"{where}{source}.{exc.param}" if exc.param else None) from exc
    return {"app": app, "request": completion, "name": item.get("name"), "tags": item.get("tags") or (),
            "metadata": item.get("metadata"), "output": output, "resolved": resolved}


async def _get_task(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.stats.task_gets += 1
    task_id = request.match_info["task_id"]
    try:
        task = state.task(task_id)
    except BadRequest as exc:
        return refused(exc)
    state.stats.task_gets_by_task[task_id] += 1
    body = task.to_api(include_analytics=request.query.get("includeAnalytics") == "true")
    if state.faults.take("GET", request.path, BAD_STATUS_KINDS) is not None:
        state.stats.faults_injected["bad_status"] += 1
        body["status"] = BAD_STATUS_VALUE
    return json_answer(body)


async def _patch_task(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.stats.task_patches += 1
    try:
        body = await _read_json(request)
        violations = check_task_patch(body)
        if violations:
            state.stats.spec_rejections += 1
            return _spec_refusal(violations)
        task = state.patch_task(request.match_info["task_id"], body)
    except BadRequest as exc:
        return refused(exc)
    return json_answer(task.to_api())


async def _list_tasks(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.stats.task_lists += 1
    query = request.query
    try:
        limit, offset = _page(query)
        statuses = _values(query, "status")
        unknown = [status for status in statuses if status not in TASK_STATUSES]
        if unknown:
            raise BadRequest(f"unknown task status(es) {unknown}; expected some of {', '.join(TASK_STATUSES)}",
                             "status")
        order_by = query.get("orderBy", "createdAt")
        if order_by not in ORDER_KEYS:
            raise BadRequest(f"orderBy must be one of {', '.join(ORDER_KEYS)}", "orderBy")
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise BadRequest("order must be asc or desc", "order")
        bounds = [(name, field, lower, _timestamp(query[name], name))
                  for name, (field, lower) in DATE_FILTERS.items() if name in query]
    except BadRequest as exc:
        return refused(exc)
    tasks = [task for task in state.settled_tasks() if _matches(task, query, statuses, bounds)]
    key = ORDER_KEYS[order_by]
    present = sorted((task for task in tasks if key(task) is not None), key=lambda task: (key(task), task.reference),
                     reverse=order == "desc")
    ordered = present + [task for task in tasks if key(task) is None]  # tasks without the value last
    exclude_io = query.get("excludeInputOutputColumns", "").lower() in ("true", "1")
    page = [task.to_api(exclude_io=exclude_io) for task in ordered[offset:offset + limit]]
    if state.config.task_list_reply == "array":
        return json_answer(page)
    return json_answer({"data": page, "metadata": _page_metadata(len(ordered), limit, offset)})


async def _task_progress(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.stats.task_progress_gets += 1
    query = request.query
    try:
        app_id = query.get("promptApplicationId")
        if not app_id:
            raise BadRequest("promptApplicationId is required: the app whose tasks to report", "promptApplicationId")
        if app_id not in state.applications:
            raise BadRequest(f"application {app_id!r} not found", "promptApplicationId", status=404)
        limit, offset = _page(query)
    except BadRequest as exc:
        return refused(exc)
    version = query.get("promptApplicationVersionId")
    tasks = [task for task in state.settled_tasks()
             if task.application.id == app_id and version in (None, task.version_id)]
    tasks.sort(key=lambda task: task.reference, reverse=True)
    now = state.now()
    return json_answer({"data": [task.progress(now) for task in tasks[offset:offset + limit]],
                        "metadata": _page_metadata(len(tasks), limit, offset)})


# ----------------------------------------------------------------------------- helpers


def refused(exc: BadRequest) -> web.Response:
    if exc.status == 404:
        return error(404, exc.message, "not_found")
    return bad_request(exc.message, [{"path": exc.param, "message": exc.message}] if exc.param else None)


def _spec_refusal(violations: list[Violation]) -> web.Response:
    summary = "; ".join(f"{v.path}: {v.message}" for v in violations)
    return bad_request(f"request body does not match Tela's task schema: {summary}", [v.to_dict() for v in violations])


async def _read_json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not valid JSON") from None


def _values(query: MultiMapping[str], name: str) -> list[str]:
    """A list parameter, sent as ``name=a&name=b``, ``name[]=a``, or ``name=a,b``."""
    raw = [*query.getall(name, []), *query.getall(f"{name}[]", [])]
    return [piece.strip() for value in raw for piece in value.split(",") if piece.strip()]


def _page(query: MultiMapping[str]) -> tuple[int, int]:
    limit = _integer(query, "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}, not {limit}", "limit")
    offset = _integer(query, "offset", 0)
    if offset < 0:
        raise BadRequest(f"offset must be >= 0, not {offset}", "offset")
    return limit, offset


def _integer(query: MultiMapping[str], name: str, default: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {value!r}", name) from None


def _timestamp(value: str, name: str) -> float:
    """"format: timestamp or ISO 8601": seconds (or milliseconds, when that large) since the epoch, or ISO."""
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number / 1000 if number > 1e11 else number
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise BadRequest(f"{name} must be a timestamp or an ISO 8601 date, not {value!r}", name) from None


def _matches(task: Task, query: MultiMapping[str], statuses: list[str],
             bounds: list[tuple[str, str, bool, float]]) -> bool:
    if statuses and task.status not in statuses:
        return False
    for name, wanted in (("promptApplicationId", task.application.id), ("promptVersionId", task.version_id),
                         ("completionRunId", task.run.id if task.run else None)):
        if name in query and query[name] != wanted:
            return False
    ids = _values(query, "ids")
    if ids and task.id not in ids:
        return False
    approved_by = _values(query, "approvedBy")
    if approved_by and task.approved_by not in approved_by:
        return False
    created_by = _values(query, "createdBy")
    if created_by and API_USER not in created_by:
        return False
    tags = _values(query, "tags")
    if tags and not set(tags) <= set(task.tags):
        return False
    task_name = query.get("taskName")
    if task_name and task_name.lower() not in task.name.lower():
        return False
    times = {"createdAt": task.created_wall, "updatedAt": task.wall(task.updated_mono),
             "approvedAt": task.wall(task.approved_mono) if task.approved_mono is not None else None}
    for _, field, lower, bound in bounds:
        value = times[field]
        if value is None or (value < bound if lower else value > bound):
            return False
    return True


def _page_metadata(total: int, limit: int, offset: int) -> dict[str, int]:
    return {"total": total, "limit": limit, "offset": offset, "currentPage": offset // limit + 1,
            "totalPages": max(1, math.ceil(total / limit))}
