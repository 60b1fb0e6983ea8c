"""The aiohttp application speaking the Tela API, plus fault injection and auth."""

from __future__ import annotations

import asyncio
import hmac
import json
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .admin import ADMIN_PREFIX, add_admin_routes
from .answers import bad_request as _bad_request
from .answers import dump as _dump
from .answers import error as _error
from .answers import json_answer
from .answers import json_bytes as _json_bytes
from .faults import (
    BAD_STATUS_KINDS,
    BAD_STATUS_VALUE,
    DROP_AFTER_KINDS,
    PRE_HANDLER_KINDS,
    SSE_ERROR_KINDS,
    TRUNCATED_SSE_KINDS,
    FaultRule,
)
from .files import DOWNLOAD_PREFIX, UPLOAD_PREFIX
from .runs import (
    BadRequest,
    Run,
    check_required_variables,
    completion_body,
    parse_completion_request,
    run_object,
    stream_chunks,
)
from .spec import check_completion_body, completion_body_validator, documented_fields
from .state import STATE, EmulatorState
from .task_routes import TOO_DEEP, add_task_routes, completion_task_reply, refused

AUTH_PREFIXES = ("/v2/", "/prompt", "/project", "/task")
REQUEST_ID_HEADER = "x-request-id"
# Set on a request whose connection is cut instead of answered (aiohttp < 3.12 has no RequestKey).
_DROPPED: Any = web.RequestKey("tela_emulator_dropped", bool) if hasattr(web, "RequestKey") else "tela_emulator_dropped"
PROJECT_ID = "project-emulator"
UPLOAD_CHUNK = 256 * 1024
STREAM_ERROR = {"message": "The model provider failed mid-stream (emulated)", "code": "stream_error"}
# Set by the middleware when the current request must be processed and then dropped; a
# ContextVar because aiohttp runs every request in its own task (hence its own context copy).
_DROP_AFTER: ContextVar[bool] = ContextVar("tela_emulator_drop_after", default=False)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# The largest request body the emulator reads (Tela's own limit is not documented; invented, see README).
MAX_REQUEST_BYTES = 64 * 2**20


def build_app(state: EmulatorState) -> web.Application:
    completion_body_validator()  # a spec page that cannot be read fails the start, not the first request
    app = web.Application(middlewares=[_api_middleware], client_max_size=MAX_REQUEST_BYTES)
    app[STATE] = state
    app.on_response_prepare.append(_stamp_request_id)
    app.router.add_post("/v2/chat/completions", _create_completion)
    app.router.add_get("/v2/chat/completions/{run_id}", _get_run)
    app.router.add_post("/v2/file", _create_file)
    app.router.add_put(UPLOAD_PREFIX + "{token}", _upload)
    app.router.add_get(DOWNLOAD_PREFIX + "{token}", _download)
    app.router.add_get("/prompt/{canvas_id}/promoted-version", _promoted_version)
    app.router.add_get("/prompt", _list_canvases)
    app.router.add_get("/project", _list_projects)
    add_task_routes(app)
    add_admin_routes(app, STATE)
    return app


async def _stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer carries its own ``x-request-id`` (as Tela's do: its JS SDK exposes them), and the
    emulator remembers it with the method, path and status (``TelaEmulator.requests()``)."""
    if request.get(_DROPPED):  # a connection cut on purpose answers nothing
        return
    request_id = str(uuid.uuid4())
    response.headers[REQUEST_ID_HEADER] = request_id
    state = request.app[STATE]
    state.record_request(request_id, request.method, request.path, response.status,
                         request.path.startswith(ADMIN_PREFIX))


@dataclass
class RunningServer:
    runner: web.AppRunner
    port: int


async def start_server(state: EmulatorState, host: str, port: int, ssl_context: ssl.SSLContext | None) -> RunningServer:
    runner = web.AppRunner(build_app(state), access_log=None, shutdown_timeout=1.0, keepalive_timeout=75)
    await runner.setup()
    site = _CountingTCPSite(runner, host, port, ssl_context=ssl_context, state=state)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return RunningServer(runner, site.bound_port)


async def stop_server(server: RunningServer) -> None:
    runner = server.runner
    handlers = runner.server.connections if runner.server is not None else []
    transports = [handler.transport for handler in handlers if handler.transport is not None]
    await runner.cleanup()
    # cleanup() only *starts* closing TLS connections (close_notify, then waiting for the peer's);
    # abort them so no socket outlives the emulator. Aborting a closed transport is a no-op.
    for transport in transports:
        transport.abort()
    await asyncio.sleep(0)


class _CountingTCPSite(web.BaseSite):
    """A TCP site whose protocol factory counts accepted connections (to prove keep-alive reuse)."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, *, ssl_context: ssl.SSLContext | None,
                 state: EmulatorState) -> None:
        # Benchmarks open thousands of connections at once; the default backlog of 128 would drop SYNs.
        super().__init__(runner, ssl_context=ssl_context, backlog=4096)
        self._host, self._port, self._state = host, port, state
        self.bound_port = port

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self.bound_port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        state = self._state

        def protocol_factory() -> asyncio.Protocol:
            state.stats.connections_opened += 1
            return server()

        self._server = await asyncio.get_running_loop().create_server(
            protocol_factory, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=True,
        )
        self.bound_port = self._server.sockets[0].getsockname()[1]


@web.middleware
async def _api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    path = request.path
    if path.startswith(ADMIN_PREFIX):
        state.stats.admin_requests += 1
        return await handler(request)
    state.stats.requests += 1
    method = request.method
    fault = state.faults.take(method, path, PRE_HANDLER_KINDS)
    if fault is not None:
        state.stats.faults_injected[fault.kind] += 1
        if fault.kind != "slow":
            return _fault_response(request, fault)
        generation = state.generation
        await asyncio.sleep(fault.delay)
        if state.generation != generation:  # reset meanwhile (the next test): it must not create its runs
            return _drop(request)
    if path.startswith(AUTH_PREFIXES):
        denied = _check_auth(request, state)
        if denied is not None:
            return denied
    unrouted = request.match_info.http_exception
    if unrouted is not None:  # aiohttp would answer text/plain; Tela answers JSON
        state.stats.unknown_routes += 1
        code = "not_found" if unrouted.status == 404 else "method_not_allowed"
        return _error(unrouted.status, f"{method} {path} is not a route of the Tela API", code)
    if state.faults.take(method, path, DROP_AFTER_KINDS) is None:
        return await _as_api_error(handler, request)
    state.stats.faults_injected["drop_after"] += 1
    _DROP_AFTER.set(True)
    await handler(request)
    return _drop(request)


async def _as_api_error(handler: Handler, request: web.Request) -> web.StreamResponse:
    """aiohttp's own refusals (a body over MAX_REQUEST_BYTES, ...) are text/plain: answer Tela's JSON; so is
    a body nested too deeply to read."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = "payload_too_large" if exc.status == 413 else "http_error"
        return _error(exc.status, exc.text or exc.reason, code)
    except RecursionError:  # JSON nested deeper than the parser, the schema check or a merge can follow
        return _bad_request(TOO_DEEP)


def _check_auth(request: web.Request, state: EmulatorState) -> web.Response | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        state.stats.auth_failures += 1
        return _error(401, "Missing bearer token: send 'Authorization: Bearer <api key>'", "unauthorized")
    if token in state.config.forbidden_keys:
        state.stats.auth_failures += 1
        return _error(403, "This API key is not allowed to access this resource", "forbidden")
    if not hmac.compare_digest(token.encode(), state.config.api_key.encode()):
        state.stats.auth_failures += 1
        return _error(401, "Invalid API key", "unauthorized")
    return None


def _fault_response(request: web.Request, fault: FaultRule) -> web.StreamResponse:
    kind = fault.kind
    if kind == "429":
        response = _error(429, "Rate limit exceeded (emulated)", "rate_limited")
        response.headers["Retry-After"] = f"{fault.retry_after:g}"
        return response
    if kind in ("502", "504"):
        # Gateways answer with HTML, not the API's JSON errors.
        title = "502 Bad Gateway" if kind == "502" else "504 Gateway Time-out"
        return web.Response(status=int(kind), text=f"<html><body><h1>{title}</h1></body></html>",
                            content_type="text/html")
    if kind in ("500", "503"):
        return _error(int(kind), f"Emulated server error {kind}", "server_error")
    if kind == "garbage":
        return web.Response(status=200, body=b"<<not json>> \x00\xff{", content_type="application/json")
    if kind == "malformed":
        return web.json_response({})
    return _drop(request)  # drop_before


def _drop(request: web.Request) -> web.Response:
    # With the transport gone, aiohttp discards whatever response is returned without sending it.
    request[_DROPPED] = True
    request.protocol.force_close()
    return web.Response()


async def _create_completion(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state.stats.completions_posted += 1
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return _bad_request("request body is not valid JSON")
    violations = check_completion_body(body)
    if violations:
        state.stats.spec_rejections += 1
        summary = "; ".join(f"{v.path}: {v.message}" for v in violations)
        return _bad_request(f"request body does not match Tela's OpenAPI: {summary}", [v.to_dict() for v in violations])
    try:
        completion = parse_completion_request(
            body, documented_fields(), label_needs_application=state.config.label_with_canvas == "refuse")
        as_task = completion.application_id is not None and state.config.application_mode == "task"
        if as_task and completion.stream:
            # "all tasks are created as if they were async completions": a task has nothing to stream
            raise BadRequest("stream is not available with application_id: a Workstation task is created as an "
                             "async completion; poll GET /task/{id} instead", "stream")
        canvas = state.find_canvas(completion)
        check_required_variables(canvas, completion.variables)
        resolved = state.resolve_variables(completion.variables)
    except BadRequest as exc:
        return refused(exc)

    if as_task:
        app = state.applications[completion.application_id or ""]
        task = state.create_task(app, completion, created_via="completions", name=completion.label,
                                 tags=completion.tags, resolved=resolved)
        return json_answer(completion_task_reply(state, task))
    run = state.create_run(canvas, completion, resolved)
    if completion.mode in ("async", "webhook"):
        if state.config.async_reply == "id":  # "an id will be returned": the docs promise no more
            return _json_bytes(_dump({"id": run.id}))
        return _json_bytes(_dump(run_object(run, "created")))
    if _DROP_AFTER.get():
        return web.Response()  # the run exists; the middleware drops the connection instead of answering
    if completion.mode == "stream" and not run.failure:
        truncated = state.faults.take(request.method, request.path, TRUNCATED_SSE_KINDS)
        if truncated is not None:
            state.stats.faults_injected["truncated_sse"] += 1
        failing = None if truncated else state.faults.take(request.method, request.path, SSE_ERROR_KINDS)
        if failing is not None:
            state.stats.faults_injected[failing.kind] += 1
        return await _stream(request, run, truncated=truncated is not None,
                             error_as=failing.kind if failing else None)
    await asyncio.sleep(run.latency)
    if run.failure:
        return _error(422, f"Canvas run failed: {run.failure}", "run_failed")
    return _json_bytes(_dump(completion_body(run)))


async def _stream(
    request: web.Request, run: Run, *, truncated: bool, error_as: str | None = None
) -> web.StreamResponse:
    chunks = stream_chunks(run)
    response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
    response.content_type = "text/event-stream"
    await response.prepare(request)
    # Spread the chunks over the run latency so streaming takes as long as a sync call.
    pause = run.latency / (len(chunks) + 1)
    for index, chunk in enumerate(chunks):
        await asyncio.sleep(pause)
        event = b"data: " + _dump(chunk) + b"\n\n"
        if truncated and index == len(chunks) - 1:
            await response.write(event[: len(event) // 2])
            await response.write_eof()
            return response
        await response.write(event)
        if error_as is not None:  # the first chunk went out, then the stream reports an error
            frame = b"data: " + _dump({"error": STREAM_ERROR}) + b"\n\n"
            await response.write(b"event: error\n" + frame if error_as == "sse_error_event" else frame)
            break
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _get_run(request: web.Request) -> web.Response:
    state = request.app[STATE]
    run_id = request.match_info["run_id"]
    state.stats.polls += 1
    run = state.runs.get(run_id)
    if run is None:
        return _error(404, f"run {run_id!r} not found", "not_found")
    state.stats.polls_by_run[run_id] += 1
    status = run.status_at(time.monotonic())
    if state.faults.take("GET", request.path, BAD_STATUS_KINDS) is not None:
        state.stats.faults_injected["bad_status"] += 1
        return _json_bytes(_dump(run_object(run, status) | {"status": BAD_STATUS_VALUE}))
    if status != run.terminal_status:
        return _json_bytes(_dump(run_object(run, status)))
    if run.terminal_body is None:
        run.terminal_body = _dump(run_object(run, status))
    return _json_bytes(run.terminal_body)


async def _create_file(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.stats.files_created += 1
    # The URLs point back at whatever address the client used to reach us.
    record = state.files.create(f"{request.scheme}://{request.host}")
    return web.json_response(file_slot(record.upload_url, record.download_url, state.config.file_url_style))


def file_slot(upload_url: str, download_url: str, style: str) -> dict[str, str]:
    """``POST /v2/file``'s answer: snake_case as documented, or the camelCase Tela's SDK reads, or both."""
    slot: dict[str, str] = {}
    if style in ("snake", "both"):
        slot.update(upload_url=upload_url, download_url=download_url)
    if style in ("camel", "both"):
        slot.update(uploadUrl=upload_url, downloadUrl=download_url)
    return slot


async def _upload(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.stats.uploads += 1
    record = state.files.get(request.match_info["token"])
    if record is None:
        return _error(404, "upload URL is unknown or expired", "not_found")
    await state.files.receive(record, request.content.iter_chunked(UPLOAD_CHUNK), request.headers.get("Content-Type"))
    state.stats.bytes_uploaded += record.size or 0
    return web.Response(status=200)


async def _download(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state.stats.file_downloads += 1
    record = state.files.get(request.match_info["token"])
    if record is None or not record.uploaded:
        return _error(404, "file not found", "not_found")
    return web.FileResponse(record.path, headers={"Content-Type": record.content_type or "application/octet-stream"})


async def _promoted_version(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.stats.promoted_version_gets += 1
    canvas_id = request.match_info["canvas_id"]
    canvas = state.canvases.get(canvas_id)
    if canvas is None:
        return _error(404, f"canvas {canvas_id!r} not found", "not_found")
    return web.json_response(canvas.to_promoted_version())


async def _list_canvases(request: web.Request) -> web.Response:
    state = request.app[STATE]
    project_id = request.query.get("projectId")
    if project_id not in (None, PROJECT_ID):
        return web.json_response([])
    return web.json_response([
        {
            "id": canvas.id,
            "title": canvas.title,
            "projectId": PROJECT_ID,
            "promotedVersionId": canvas.version_id,
            "applicationId": canvas.application_id,
        }
        for canvas in state.canvases.values()
    ])


async def _list_projects(request: web.Request) -> web.Response:
    return web.json_response([{"id": PROJECT_ID, "title": "Tela emulator", "workspaceId": "workspace-emulator"}])
