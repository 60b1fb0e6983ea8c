"""``TelaEmulator``: a local Tela API server for tests, demos and benchmarks.

It runs either in a background thread with its own event loop (``start()`` /
``with TelaEmulator() as emu``) or inside the caller's running loop
(``await emu.start_async()`` / ``async with TelaEmulator() as emu``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

from .canvases import CanvasVariable, ContentFn, CostFn, make_canvas
from .faults import FaultRule
from .server import RunningServer, start_server, stop_server
from .state import DEFAULT_API_KEY, EmulatorConfig, EmulatorState
from .tasks import DEFAULT_REJECTION, DEFAULT_REVIEWER, make_application
from .tls import TlsMaterial, create_tls_material

T = TypeVar("T")
CALL_TIMEOUT = 30.0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (much faster accept/poll paths), else the stdlib loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class TelaEmulator:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        https: bool = False,
        api_key: str = DEFAULT_API_KEY,
        forbidden_keys: Collection[str] = (),
        run_latency: float = 0.2,
        seed: int = 0,
    ) -> None:
        self.host = host
        self.https = https
        self._requested_port = port
        self._state = EmulatorState(
            EmulatorConfig(api_key=api_key, forbidden_keys=tuple(forbidden_keys), run_latency=run_latency, seed=seed)
        )
        self._server: RunningServer | None = None
        self._tls: TlsMaterial | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread_id: int | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        """Serve from a daemon thread; returns once the port is bound."""
        if self._thread is not None or self._server is not None:
            raise RuntimeError("emulator already started")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._serve_in_thread, args=(ready,), name="tela-emulator", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=CALL_TIMEOUT)
        except BaseException:
            self._thread.join(timeout=CALL_TIMEOUT)
            self._thread = None
            raise
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop_async(), loop).result(timeout=CALL_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=CALL_TIMEOUT)
        self._thread = None

    async def start_async(self) -> Self:
        """Serve from the running event loop."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        ssl_context = None
        if self.https:
            self._tls = create_tls_material()
            ssl_context = self._tls.server_context()
        try:
            self._server = await start_server(self._state, self.host, self._requested_port, ssl_context)
        except BaseException:
            self._cleanup_tls()
            raise
        self._loop = asyncio.get_running_loop()
        self._loop_thread_id = threading.get_ident()
        return self

    async def stop_async(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await stop_server(server)
        await self._state.aclose()
        self._cleanup_tls()
        self._loop = self._loop_thread_id = None

    def _serve_in_thread(self, ready: concurrent.futures.Future[None]) -> None:
        loop = new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits for the start
                ready.set_exception(exc)
                return
            ready.set_result(None)
            loop.run_forever()
            # Handlers still held (a slow fault outliving its test) end here, not as destroyed tasks.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    def _cleanup_tls(self) -> None:
        if self._tls is not None:
            self._tls.cleanup()
            self._tls = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await self.start_async()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_async()

    # ----------------------------------------------------------------- addresses

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return self._server.port

    @property
    def url(self) -> str:
        """Base URL clients should use, e.g. ``http://127.0.0.1:54321``."""
        scheme = "https" if self.https else "http"
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    @property
    def api_key(self) -> str:
        return self._state.config.api_key

    @property
    def ca_bundle(self) -> str | None:
        """PEM file to verify the HTTPS certificate with (None over plain HTTP)."""
        return str(self._tls.cert_path) if self._tls is not None else None

    def connection_json(self) -> str:
        """Value for ``AIRFLOW_CONN_TELA_DEFAULT`` (Airflow's JSON connection format)."""
        connection: dict[str, Any] = {"conn_type": "tela", "host": self.url, "password": self.api_key}
        if self.ca_bundle:
            connection["extra"] = {"ca_bundle": self.ca_bundle}
        return json.dumps(connection)

    def connection_uri(self) -> str:
        """The same connection in Airflow's URI format (host ``<scheme>://127.0.0.1``, port separate)."""
        scheme = "https" if self.https else "http"
        host = self.url.split("://", 1)[1].rsplit(":", 1)[0]
        uri = f"tela://{scheme}://:{quote(self.api_key, safe='')}@{host}:{self.port}"
        if self.ca_bundle:
            uri += "/?__extra__=" + quote(json.dumps({"ca_bundle": self.ca_bundle}), safe="")
        return uri

    # ----------------------------------------------------------------- control

    def configure(
        self,
        *,
        run_latency: float | None = None,
        faults: Collection[FaultRule | Mapping[str, Any]] | None = None,
        api_key: str | None = None,
        forbidden_keys: Collection[str] | None = None,
        seed: int | None = None,
        canvas_latency: Mapping[str, float] | None = None,
        file_url_style: str | None = None,
        async_reply: str | None = None,
        application_mode: str | None = None,
        task_reply: str | None = None,
        create_task_reply: str | None = None,
        task_list_reply: str | None = None,
        task_start_status: str | None = None,
        unreviewed_status: str | None = None,
        label_with_canvas: str | None = None,
        auto_review: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Change settings at runtime and return them all; ``faults`` replaces the current rule list.

        ``file_url_style`` spells the keys of ``POST /v2/file``'s answer: ``"snake"`` (``upload_url``,
        as documented; the default), ``"camel"`` (``uploadUrl``, what Tela's Python SDK reads) or ``"both"``.
        ``async_reply="id"`` answers async and webhook submissions with ``{"id": ...}`` only (the docs
        promise an id, not a status); the default ``"run"`` answers the run object.

        Workstation (docs/emulator-workstation.md; the first value is the default):

        - ``application_mode``: ``"task"`` (a completion naming ``application_id`` creates a task) or ``"run"``
          (it runs the app's canvas as a plain canvas run, as this emulator did before it knew Workstation);
        - ``task_reply``: what that completion answers: ``"task"`` (the task), ``"run"`` (a completion run,
          ``{"id": <run id>, "status": "created", ...}``, naming no task) or ``"run_with_task_id"`` (the same
          with ``task_id``);
        - ``create_task_reply``: ``POST /task``'s answer, ``"list"`` (always a list) or ``"mirror"`` (an object
          for an object);
        - ``task_list_reply``: ``GET /task``'s answer, ``"data"`` (``{"data": [...], "metadata": {...}}``) or
          ``"array"``;
        - ``task_start_status``: ``"running"`` (from creation until the run ends) or ``"created"`` (for the
          run's first tenth, then ``"running"``);
        - ``unreviewed_status``: where a task of an app without review goes when its run ends,
          ``"completed"`` or ``"validating"``;
        - ``label_with_canvas``: ``"refuse"`` (a 400 naming ``label``) or ``"record"``;
        - ``auto_review``: ``{app_id or "*": step or [steps]}``, each step ``{"after": seconds after the run
          ended, "action": "approve" | "edit" | "revoke" | "fail" | "cancel" | callable, "output"?, "reason"?,
          "by"?}``, given to the app's tasks created from then on; ``{app_id: []}`` removes a rule.
        """
        choices = {
            "file_url_style": file_url_style, "async_reply": async_reply, "application_mode": application_mode,
            "task_reply": task_reply, "create_task_reply": create_task_reply, "task_list_reply": task_list_reply,
            "task_start_status": task_start_status, "unreviewed_status": unreviewed_status,
            "label_with_canvas": label_with_canvas,
        }
        return self._call(lambda: self._state.configure(
            run_latency=run_latency, faults=faults, api_key=api_key, forbidden_keys=forbidden_keys,
            seed=seed, canvas_latency=canvas_latency, auto_review=auto_review, **choices,
        ))

    def add_fault(
        self,
        kind: str,
        *,
        method: str = "*",
        path: str = "/",
        count: int | None = None,
        rate: float | None = None,
        retry_after: float = 1,
        delay: float = 1.0,
    ) -> None:
        """Append a rule; without ``count`` or ``rate`` it applies to every matching request."""
        rule = FaultRule(kind=kind, method=method, path=path, count=count, rate=rate,
                         retry_after=retry_after, delay=delay)
        self._call(lambda: self._state.faults.add(rule))

    def clear_faults(self) -> None:
        self._call(self._state.faults.clear)

    def add_canvas(
        self,
        canvas_id: str,
        *,
        variables: Sequence[CanvasVariable | Mapping[str, Any]] = (),
        content: ContentFn | Any = None,
        fail: bool | str = False,
        application_id: str | None = None,
        structured: bool = False,
        latency: float | None = None,
        title: str = "",
        cost: CostFn | Any = None,
    ) -> None:
        """Register (or replace) a canvas. ``content`` is a value or ``f(RunInput) -> content``;
        ``fail`` is True or a failure reason. Without ``content`` the canvas echoes its input.
        ``application_id`` also registers a Workstation app of this canvas, without review
        (``add_application`` makes one with review). ``cost``: what each succeeded run reports as
        ``information.cost``, a value or ``f(RunInput) -> value`` (NaN, None or a string too, as a
        drifting Tela might); without it, the run's tokens times 0.000002."""
        canvas = make_canvas(
            canvas_id, variables=variables, content=content, fail=fail, application_id=application_id,
            structured=structured, latency=latency, title=title, cost=cost,
        )
        self._call(lambda: self._state.add_canvas(canvas))

    def add_application(self, app_id: str, *, canvas: str = "canvas-echo", review: bool = True,
                        title: str = "") -> None:
        """Register (or replace) a Workstation app running ``canvas`` (its content, latency and failures).

        With ``review=True`` a task whose run ended waits in ``validating`` for a reviewer (see
        ``approve_task``, ``configure(auto_review=...)`` and the ``tela_reviewer`` fixture); without, it is
        ``completed`` at once (``configure(unreviewed_status=...)``).
        """
        app = make_application(app_id, canvas=canvas, review=review, title=title)
        self._call(lambda: self._state.add_application(app))

    def reset(self) -> None:
        """Forget runs, tasks, files, faults, counters and runtime config/canvas/app changes."""
        self._call(self._state.reset)

    def stats(self) -> dict[str, Any]:
        return self._call(self._state.stats.snapshot)

    def runs(self) -> list[dict[str, Any]]:
        return self._call(self._state.runs_snapshot)

    def requests(self) -> list[dict[str, Any]]:
        """The last 1,000 answers sent, oldest first: ``{request_id, method, path, status, admin}``,
        ``request_id`` being the ``x-request-id`` header of that answer."""
        return self._call(self._state.requests_snapshot)

    # ----------------------------------------------------------------- Workstation tasks

    def tasks(self) -> list[dict[str, Any]]:
        """Every task, as ``GET /task/{id}`` shows it, plus ``_emulator``: how it was created, whether it
        needs review, the review steps still pending and its events (``task run finished``, ...)."""
        return self._call(self._state.tasks_snapshot)

    def task(self, task_id: str) -> dict[str, Any]:
        return self._call(lambda: self._state.task(task_id).snapshot())

    def approve_task(self, task_id: str, *, output: Any = None, by: str = DEFAULT_REVIEWER) -> dict[str, Any]:
        """Approve as a reviewer would (``completed``, ``approvedAt`` set), first merging ``output`` into the
        output if given (as a ``PATCH`` ``outputContent`` does). The task must be ``validating`` (or
        ``completed``): a ``ValueError`` says why not."""
        return self._review(task_id, "approve", output=output, by=by)

    def edit_task_output(self, task_id: str, output: Any, *, by: str = DEFAULT_REVIEWER) -> dict[str, Any]:
        """Merge ``output`` into the task's ``outputContent.content`` (``metadata.editedFields`` records it)."""
        return self._review(task_id, "edit", output=output, by=by)

    def revoke_approval(self, task_id: str) -> dict[str, Any]:
        """An approved task returns to ``validating``, ``approvedAt`` null."""
        return self._review(task_id, "revoke")

    def fail_task(self, task_id: str, reason: str = DEFAULT_REJECTION) -> dict[str, Any]:
        """The task ends ``failed`` (from ``created``, ``running`` or ``validating``)."""
        return self._review(task_id, "fail", reason=reason)

    def cancel_task(self, task_id: str) -> dict[str, Any]:
        """The task ends ``cancelled`` (from ``created``, ``running`` or ``validating``)."""
        return self._review(task_id, "cancel")

    def _review(self, task_id: str, action: str, **kwargs: Any) -> dict[str, Any]:
        return self._call(lambda: self._state.review_task(task_id, action, **kwargs))

    def files(self) -> list[dict[str, Any]]:
        return self._call(self._state.files.snapshot)

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop, where all state lives, and return its result."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread_id:
            return fn()

        async def invoke() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(invoke(), loop).result(timeout=CALL_TIMEOUT)
