"""TelaHook (sync, for workers) and TelaAsyncHook (async, for triggers).

Both send the calls of ``_http.endpoints`` and parse answers with the parser each endpoint carries;
they differ only in the transport underneath. Waits are driven by the one state machine in
``_wait``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from functools import cached_property
from typing import Any, Self

from airflow.providers.common.compat.sdk import BaseHook

# imported first, and for its side effect too: on Airflow 3 it keeps the key out of the in-process
# supervisor's log of the connection lookup, which happens before any other provider code runs
from airflow_provider_tela import _compat  # noqa: F401
from airflow_provider_tela._files import TelaFile
from airflow_provider_tela._http import calls, endpoints
from airflow_provider_tela._http.async_transport import AsyncTransport, lease_sessions, release_sessions
from airflow_provider_tela._http.deadline import NEVER, Deadline
from airflow_provider_tela._http.endpoints import Endpoint, TaskRef
from airflow_provider_tela._http.retry import Body, RetryPolicy
from airflow_provider_tela._http.settings import ClientSettings, _proxy_secret
from airflow_provider_tela._http.sse import SSEDecoder
from airflow_provider_tela._http.sync_transport import SyncTransport
from airflow_provider_tela._inputs import (
    FileResolver,
    FileSlots,
    resolve_messages,
    resolve_variables,
    variable_kind,
)
from airflow_provider_tela._types import Kind, WaitFor
from airflow_provider_tela._wait import RUN_ENDS, Ends, RunWait, drive, ends_for
from airflow_provider_tela.errors import (
    TelaConfigError,
    TelaError,
    TelaRunFailedError,
    TelaRunMayExistError,
    TelaTimeoutError,
    detached,
    with_request_id,
)
from airflow_provider_tela.models import (
    CanvasRun,
    ChatCompletion,
    CompletionChunk,
    CompletionRequest,
    FileUploadTarget,
    PromotedVersion,
    RunProgress,
    Task,
    _Response,
)

DEFAULT_CONN_ID = "tela_default"


def build_request(
    canvas_id: str | None = None,
    application_id: str | None = None,
    variables: dict[str, Any] | None = None,
    messages: list[Any] | None = None,
    override: dict[str, Any] | Any | None = None,
    *,
    resolve_file: FileResolver | None = None,
    **flags: Any,
) -> CompletionRequest:
    """Validate the arguments of a completion, raising TelaConfigError before anything is sent.

    Files stand in the request as slots (``inputs.FileSlots``: named, never read); pass the
    ``FileSlots`` to upload them into it afterwards.
    """
    resolve_file = resolve_file or FileSlots()
    return CompletionRequest.build(
        canvas_id=canvas_id, application_id=application_id,
        variables=resolve_variables(variables, resolve_file), messages=resolve_messages(messages, resolve_file),
        override=override, **flags,
    )


def task_search(application_id: str, run_id: str) -> dict[str, str]:
    """``GET /task``'s query for the task whose run is ``run_id``: the app's newest tasks (documented
    filters), and ``completionRunId`` (not documented as a filter: harmless if ignored, matched client-side)."""
    return {"promptApplicationId": application_id, "completionRunId": run_id, "orderBy": "createdAt",
            "order": "desc", "limit": "100"}


def _target_flags(**given: Any) -> dict[str, Any]:
    """The optional request fields that were given (a field left out is not sent)."""
    return {name: value for name, value in given.items() if value is not None}


def runs_only(request: CompletionRequest, method: str) -> CompletionRequest:
    """A canvas run's request; an application's creates a Workstation task, which these methods do not follow."""
    if request.application_id:
        raise TelaConfigError(
            f"TelaHook.{method} runs a canvas (canvas_id or version_id); application_id creates a Workstation "
            "task, always asynchronous: use create_task (or submit_task) and wait_for_task."
        )
    return request


def parsed(endpoint: Endpoint[Any], body: Body, secrets: tuple[str, ...]) -> Any:
    """The endpoint's reading of an answer; what it returns and what it raises name Tela's request id."""
    error: TelaError | None = None
    try:
        result = endpoint.parse(body, secrets)
    except TelaError as exc:
        error = with_request_id(exc, body.request_id)
    if error is not None:
        raise detached(error)
    if isinstance(result, _Response):
        result._request_id = body.request_id
    return result


def canvas_variable_problems(declared: PromotedVersion, variables: dict[str, Any] | None) -> list[str]:
    """Every way ``variables`` disagrees with what the canvas declares."""
    given = variables or {}
    by_name = {v.name: v for v in declared.variables}
    problems = [
        f"missing required variable {v.name!r}" for v in declared.variables if v.required and v.name not in given
    ]
    problems += [
        f"unknown variable {name!r} (the canvas declares: {', '.join(sorted(by_name)) or 'none'})"
        for name in given if name not in by_name
    ]
    problems += [
        f"variable {name!r} is a file in the canvas but got text: pass TelaFile(...) or a Path"
        for name, value in given.items()
        if name in by_name and by_name[name].type == "file" and variable_kind(value) != "file"
    ]
    return problems


def settings_from(conn: Any, timeout: float | None = None, max_retries: int | None = None) -> ClientSettings:
    """The connection's client settings, with every secret registered with Airflow's masker first."""
    from airflow_provider_tela._compat import register_secret

    raw_key = str(conn.password or "")
    for secret in (raw_key, raw_key.strip()):
        if secret:
            register_secret(secret)
    extra_proxy = (conn.extra_dejson or {}).get("proxy") if isinstance(conn.extra_dejson, dict) else None
    if _proxy_secret(extra_proxy):
        register_secret(_proxy_secret(extra_proxy))
    settings = ClientSettings.from_connection(conn)
    overrides: dict[str, Any] = {}
    if timeout is not None:
        overrides["read_timeout"] = float(timeout)
    if max_retries is not None:
        overrides["max_retries"] = int(max_retries)
    if not overrides:
        return settings
    return ClientSettings(**{**settings.__dict__, **overrides})


class TelaHook(BaseHook):
    """Talk to the Tela API through an Airflow connection of type ``tela``.

    The connection's password is the API key (surrounding whitespace is removed); its host is the
    base URL (a full URL, or a bare host name for https; empty means https://api.tela.com). Extras:
    ``timeout`` (read timeout, seconds), ``connect_timeout``, ``max_retries``, ``verify`` (a switch,
    on by default), ``ca_bundle`` (a path), ``proxy``, ``max_response_bytes`` and ``allow_insecure_http``;
    an extra that is ``null`` or empty (as the connection form saves a field left empty) is not set.

    :param tela_conn_id: the connection id, ``tela_default`` by default.
    :param timeout: read timeout in seconds for each request, overriding the connection's.
    :param max_retries: retries of throttled, failed or unreachable requests, overriding the connection's.

    Every method that sends a completion takes ``extra_body``: top-level fields the provider does not
    manage (e.g. ``{"long_response": True, "label": "nightly"}``), sent as given, so that fields Tela
    adds are usable without a new release.
    """

    conn_name_attr = "tela_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "tela"
    hook_name = "Tela"

    def __init__(
        self, tela_conn_id: str = DEFAULT_CONN_ID, *, timeout: float | None = None, max_retries: int | None = None
    ) -> None:
        super().__init__()
        self.tela_conn_id = tela_conn_id
        self._timeout = timeout
        self._max_retries = max_retries

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form on Airflow 2 (Airflow 3 reads the provider info): the same definition."""
        from airflow_provider_tela import UI_FIELD_BEHAVIOUR

        return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extras' form fields on Airflow 2, built from the provider info's ``conn-fields``."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import BooleanField, StringField

        from airflow_provider_tela import CONNECTION_EXTRAS

        widgets: dict[str, Any] = {}
        for name, spec in CONNECTION_EXTRAS.items():
            label, description = lazy_gettext(spec["label"]), spec["description"]
            if "boolean" in spec["schema"]["type"]:
                widgets[name] = BooleanField(label, description=description, default=spec["schema"].get("default"))
            else:
                widgets[name] = StringField(label, widget=BS3TextFieldWidget(), description=description)
        return widgets

    @cached_property
    def settings(self) -> ClientSettings:
        return settings_from(self.get_connection(self.tela_conn_id), self._timeout, self._max_retries)

    @cached_property
    def transport(self) -> SyncTransport:
        return SyncTransport(self.settings, RetryPolicy(max_retries=self.settings.max_retries))

    def get_conn(self) -> Any:
        """The pooled ``requests.Session`` every call of this hook goes through."""
        return self.transport.session

    def close(self) -> None:
        if "transport" in self.__dict__:
            self.transport.close()

    def _send(self, endpoint: Endpoint[Any], *, deadline: Deadline = NEVER, retries: bool = True) -> Any:
        return parsed(endpoint, self.transport.request(endpoint.call, deadline=deadline, retries=retries),
                      self.settings.secrets)

    def prepare_request(
        self,
        canvas_id: str | None = None,
        application_id: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        override: dict[str, Any] | None = None,
        **flags: Any,
    ) -> CompletionRequest:
        """Build and validate the request, check every file, then upload the files into it.

        Nothing is uploaded when any part of the request is wrong.
        """
        slots = FileSlots()
        request = build_request(canvas_id, application_id, variables, messages, override, resolve_file=slots,
                                **flags)
        return self.upload_files(request, slots)

    def upload_files(self, request: CompletionRequest, slots: FileSlots) -> CompletionRequest:
        """Fill a built request's file slots with uploads (every file checked before the first upload)."""
        return slots.upload(request, lambda tela_file, size: self.upload_file(tela_file, size=size))

    # --- completions and runs -------------------------------------------------------------------

    def create_completion(
        self,
        canvas_id: str | None = None,
        application_id: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        override: dict[str, Any] | None = None,
        *,
        extra_body: dict[str, Any] | None = None,
        version_id: str | None = None,
        tags: list[str] | None = None,
    ) -> ChatCompletion:
        """Run a canvas and wait for the answer in the same request (short canvases only)."""
        request = self.prepare_request(canvas_id, application_id, variables, messages, override,
                                       **_target_flags(extra_body=extra_body, version_id=version_id, tags=tags))
        return self._send(endpoints.complete(runs_only(request, "create_completion")))

    def submit_run(
        self,
        canvas_id: str | None = None,
        application_id: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        override: dict[str, Any] | None = None,
        webhook_url: str | None = None,
        *,
        extra_body: dict[str, Any] | None = None,
        version_id: str | None = None,
        tags: list[str] | None = None,
    ) -> CanvasRun:
        """Start a canvas run asynchronously and return it (``.id``, ``.status``) at once; ``version_id``
        runs a version of the canvas (with or without ``canvas_id``)."""
        request = self.prepare_request(
            canvas_id, application_id, variables, messages, override,
            webhook_url=webhook_url, **({} if webhook_url else {"async": True}),
            **_target_flags(extra_body=extra_body, version_id=version_id, tags=tags),
        )
        return self.submit_request(request)

    def submit_request(self, request: CompletionRequest, *, deadline: Deadline = NEVER) -> CanvasRun:
        """Submit an already validated request (the operator validates before the task sends anything)."""
        return self._send(endpoints.submit(runs_only(request, "submit_run")), deadline=deadline)

    def get_run(self, run_id: str, *, deadline: Deadline = NEVER, retries: bool = True) -> CanvasRun:
        return self._send(endpoints.get_run(run_id), deadline=deadline, retries=retries)

    def poll_run(self, run_id: str, *, deadline: Deadline = NEVER) -> CanvasRun | RunProgress:
        """One status check, sent once: the run if it ended, else just its id and status."""
        return self._send(endpoints.poll_run(run_id), deadline=deadline, retries=False)

    def wait_for_run(
        self, run_id: str, poll_interval: float = 10.0, timeout: float | None = 3600.0, *, first_poll_in: float = 0.0
    ) -> CanvasRun:
        """Wait until the run succeeded (returned), failed (TelaRunFailedError) or ``timeout`` passed.

        Status checks back off from 1 s to ``poll_interval``; throttling, 5xx answers and dropped
        connections are retried until the deadline, which nothing (no Retry-After, no slow answer)
        can push back. A status Tela adds later is read as "not finished".
        """
        return self.wait("run", run_id, RUN_ENDS, poll_interval, timeout, first_poll_in=first_poll_in)

    def wait(
        self, kind: Kind, job_id: str, ends: Ends, poll_interval: float = 10.0, timeout: float | None = 3600.0, *,
        first_poll_in: float = 0.0,
    ) -> Any:
        """Wait for a run or a task until ``ends`` says it is over: one wait machine for both."""
        now = time.monotonic()
        wait = RunWait(job_id, poll_interval=poll_interval, deadline=None if timeout is None else now + timeout,
                       first_poll_at=now + first_poll_in, ends=ends)
        finished = drive(
            wait, lambda budget: self.poll(kind, job_id, deadline=Deadline.after(budget)),
            clock=time.monotonic, sleep=time.sleep, log=self.log,
        )
        if finished.outcome == "succeeded":
            return finished.run
        if finished.outcome == "failed":
            raise TelaRunFailedError(job_id, finished.run.failure_reason(), ends.what, finished.run.usage)
        if finished.outcome == "timeout":
            raise TelaTimeoutError(job_id, timeout or 0, finished.last_status, ends.what)
        raise detached(finished.error or TelaError(f"Waiting for Tela {ends.what} {job_id} failed"))

    def poll(self, kind: Kind, job_id: str, *, deadline: Deadline = NEVER) -> Any:
        """One status check of a run or a task, sent once (the wait around it decides about retries)."""
        endpoint = endpoints.poll_run(job_id) if kind == "run" else endpoints.poll_task(job_id)
        return self._send(endpoint, deadline=deadline, retries=False)

    # --- Workstation tasks --------------------------------------------------------------------

    def submit_task(self, request: CompletionRequest, *, deadline: Deadline = NEVER) -> TaskRef:
        """Create a Workstation task (a request with ``application_id``); its id, and its run's where named.

        What Tela answers is not documented: a task, or a completion run naming its task, or a run
        alone; for the last, the task is looked up among the app's tasks by its ``completionRunId``
        (``task_id`` None if none names it within the deadline).
        """
        ref = self._send(endpoints.submit_task(request), deadline=deadline)
        if ref.task_id is None and ref.run_id and request.application_id:
            return TaskRef(self.find_task(request.application_id, ref.run_id, deadline=deadline), ref.run_id)
        return ref

    def create_task(
        self,
        application_id: str,
        variables: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        override: dict[str, Any] | None = None,
        *,
        label: str | None = None,
        tags: list[str] | None = None,
        webhook_url: str | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> TaskRef:
        """Create a task in a Workstation app (files uploaded first), as Tela's SDK's ``createTask`` does;
        wait for it with ``wait_for_task``."""
        flags: dict[str, Any] = {"webhook_url": webhook_url} if webhook_url else {"async": True}
        request = self.prepare_request(None, application_id, variables, messages, override, **flags,
                                       **_target_flags(label=label, tags=tags, extra_body=extra_body))
        return self.submit_task(request)

    def find_task(self, application_id: str, run_id: str, *, deadline: Deadline = NEVER,
                  attempts: int = 5) -> str | None:
        """The id of the app's task whose run is ``run_id`` (the newest tasks first), if Tela lists it."""
        params = task_search(application_id, run_id)
        backoff = RetryPolicy().steps()
        for attempt in range(attempts):
            for task in self._send(endpoints.list_tasks(params), deadline=deadline):
                if task.completionRunId == run_id:
                    return task.id
            delay = backoff.delay()
            if attempt + 1 == attempts or deadline.bound(delay) < delay:
                break
            time.sleep(delay)
        return None

    def get_task(self, task_id: str, *, deadline: Deadline = NEVER) -> Task:
        return self._send(endpoints.get_task(task_id), deadline=deadline)

    def list_tasks(self, **filters: Any) -> list[Task]:
        """``GET /task`` with Tela's filters (``promptApplicationId``, ``status``, ``limit``, ...)."""
        params = {name: ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
                  for name, value in filters.items() if value is not None}
        return self._send(endpoints.list_tasks(params))

    def update_task(self, task_id: str, *, name: str | None = None, output_content: Any = None,
                    tags: list[str] | None = None, status: str | None = None) -> Task:
        """``PATCH /task/{id}``: rename, edit the output, tag, or approve (``status="completed"``)."""
        body = {key: value for key, value in (("name", name), ("outputContent", output_content), ("tags", tags),
                                              ("status", status)) if value is not None}
        if not body:
            raise TelaConfigError("update_task needs at least one of name, output_content, tags or status")
        return self._send(endpoints.update_task(task_id, body))

    def approve_task(self, task_id: str) -> Task:
        """Approve a task in review, as a reviewer would in Workstation (``PATCH status: completed``)."""
        return self.update_task(task_id, status="completed")

    def wait_for_task(
        self, task_id: str, wait_for: WaitFor = "output", poll_interval: float = 10.0, timeout: float | None = 3600.0,
        *, first_poll_in: float = 0.0,
    ) -> Task:
        """Wait until the task's output is there (``"output"``: in review or completed) or it was approved
        (``"approval"``: completed); a failed or cancelled task is TelaRunFailedError."""
        return self.wait("task", task_id, ends_for("task", wait_for), poll_interval, timeout,
                         first_poll_in=first_poll_in)

    def stream_completion(
        self,
        canvas_id: str | None = None,
        application_id: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        override: dict[str, Any] | None = None,
        *,
        extra_body: dict[str, Any] | None = None,
        timeout: float | None = None,
        version_id: str | None = None,
        tags: list[str] | None = None,
    ) -> Iterator[CompletionChunk]:
        """Run a canvas with ``stream: true`` and yield its chunks as they arrive, for at most ``timeout`` s."""
        request = self.prepare_request(canvas_id, application_id, variables, messages, override, stream=True,
                                       **_target_flags(extra_body=extra_body, version_id=version_id, tags=tags))
        return self.stream_request(request, deadline=Deadline.after(timeout))

    def stream_request(self, request: CompletionRequest, *, deadline: Deadline = NEVER) -> Iterator[CompletionChunk]:
        """Stream an already validated request. Once a chunk named the run, any failure to read the rest
        is TelaRunMayExistError carrying that run id (the run exists and may finish)."""
        call = calls.completion(runs_only(request, "stream_completion"))
        decoder = SSEDecoder(secrets=self.settings.secrets)
        error: TelaError | None = None
        with self.transport.open_stream(call, deadline=deadline) as (lines, request_id):
            try:
                for line in lines:
                    chunk = decoder.feed(line)
                    if chunk is not None:
                        yield chunk
                    if decoder.done:
                        return
                decoder.close()
                return
            except TelaRunFailedError:
                raise
            except TelaError as exc:
                error = exc
        raise detached(with_request_id(TelaRunMayExistError(
            f"The stream of run {decoder.run_id or '(id not yet known)'} broke off: {str(error).rstrip('.')}. "
            "The run may go on in Tela; it was not resubmitted.", run_id=decoder.run_id or None,
        ), request_id))

    # --- files and canvases ---------------------------------------------------------------------

    def create_file_upload(self) -> FileUploadTarget:
        """Ask Tela where to upload a file (``POST /v2/file``)."""
        return self._send(endpoints.create_file())

    def upload_file(self, tela_file: TelaFile | Any, *, size: int | None = None) -> dict[str, Any]:
        """Give Tela a file; return the variable to send (``{"file_url": ..., "options": ...}``).

        URLs and data: URIs are returned as they are. Anything else is streamed from its source to
        the upload URL Tela hands out, so a large file needs little memory; a file whose size changes
        during the upload fails it. ``size`` is the size already checked, if any.
        """
        from airflow_provider_tela._files import as_tela_file

        tela_file = as_tela_file(tela_file)
        if size is None:
            size = tela_file.size()
        if not tela_file.needs_upload:
            return tela_file.to_variable()
        target = self.create_file_upload()
        self.transport.request(calls.upload(target.upload_url, tela_file.open, tela_file.mime_type(), size))
        self.log.info("Uploaded %s (%s bytes) to Tela", tela_file, size)
        return tela_file.to_variable(target.download_url)

    def check_canvas_variables(self, canvas_id: str, variables: dict[str, Any] | None) -> None:
        """Fail, naming every problem, when ``variables`` do not fit the canvas's promoted version."""
        problems = canvas_variable_problems(self.get_promoted_version(canvas_id), variables)
        if problems:
            raise TelaConfigError(f"Variables do not fit canvas {canvas_id}: " + "; ".join(problems) + ".")

    def get_promoted_version(self, canvas_id: str) -> PromotedVersion:
        """The canvas's promoted version, with the variables it declares."""
        return self._send(endpoints.promoted_version(canvas_id))

    def list_projects(self) -> Any:
        return self._send(endpoints.list_projects())

    def test_connection(self) -> tuple[bool, str]:
        """Make one authenticated call; the UI's Test button shows the answer (never the key)."""
        try:
            self.list_projects()
        except TelaError as exc:
            return False, str(exc)
        return True, f"Connected to Tela at {self.settings.base_url}"


class TelaAsyncHook(BaseHook):
    """The async side of TelaHook, for triggers: resolves the connection without blocking the loop."""

    conn_name_attr = "tela_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "tela"
    hook_name = "Tela"

    def __init__(self, tela_conn_id: str = DEFAULT_CONN_ID) -> None:
        super().__init__()
        self.tela_conn_id = tela_conn_id
        self._transport: AsyncTransport | None = None

    async def __aenter__(self) -> Self:
        """Hold the event loop's shared connection pool open while this hook is in use."""
        lease_sessions()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await release_sessions()

    async def transport(self) -> AsyncTransport:
        if self._transport is None:
            from airflow_provider_tela._compat import aget_connection, off_the_loop

            settings = await off_the_loop(settings_from, await aget_connection(self.tela_conn_id, self))
            self._transport = await AsyncTransport(settings, RetryPolicy(max_retries=settings.max_retries)).prepare()
        return self._transport

    async def _send(self, endpoint: Endpoint[Any], *, deadline: Deadline = NEVER, retries: bool = True) -> Any:
        transport = await self.transport()
        return parsed(endpoint, await transport.request(endpoint.call, deadline=deadline, retries=retries),
                      transport.settings.secrets)

    async def get_run(self, run_id: str, *, deadline: Deadline = NEVER) -> CanvasRun:
        return await self._send(endpoints.get_run(run_id), deadline=deadline)

    async def poll_run(
        self, run_id: str, *, deadline: Deadline = NEVER, cached: bool = True
    ) -> CanvasRun | RunProgress:
        """One status check, sent once (the wait around it decides about retries). ``cached=False``
        for a run checked about once: its request is then not kept for the next check."""
        return await self.poll("run", run_id, deadline=deadline, cached=cached)

    async def poll(self, kind: Kind, job_id: str, *, deadline: Deadline = NEVER, cached: bool = True) -> Any:
        """One status check of a run or a task, sent once."""
        endpoint = endpoints.poll_run(job_id, cached=cached) if kind == "run" else endpoints.poll_task(
            job_id, cached=cached)
        return await self._send(endpoint, deadline=deadline, retries=False)

    async def get_task(self, task_id: str, *, deadline: Deadline = NEVER) -> Task:
        return await self._send(endpoints.get_task(task_id), deadline=deadline)

    async def submit_task(
        self, request: CompletionRequest, *, deadline: Deadline = NEVER, retries: bool = True
    ) -> TaskRef:
        """TelaHook.submit_task, in the event loop (the batch engine's)."""
        ref = await self._send(endpoints.submit_task(request), deadline=deadline, retries=retries)
        if ref.task_id is None and ref.run_id and request.application_id:
            return TaskRef(await self.find_task(request.application_id, ref.run_id, deadline=deadline), ref.run_id)
        return ref

    async def find_task(self, application_id: str, run_id: str, *, deadline: Deadline = NEVER,
                        attempts: int = 5) -> str | None:
        """TelaHook.find_task, in the event loop."""
        params = task_search(application_id, run_id)
        backoff = RetryPolicy().steps()
        for attempt in range(attempts):
            for task in await self._send(endpoints.list_tasks(params), deadline=deadline):
                if task.completionRunId == run_id:
                    return task.id
            delay = backoff.delay()
            if attempt + 1 == attempts or deadline.bound(delay) < delay:
                break
            await asyncio.sleep(delay)
        return None

    async def submit_request(
        self, request: CompletionRequest, *, deadline: Deadline = NEVER, retries: bool = True
    ) -> CanvasRun:
        """Submit a validated request. ``retries=False`` sends it once: a caller with its own retry
        policy (the batch engine, which throttles all its submissions) sees every refusal."""
        return await self._send(endpoints.submit(request), deadline=deadline, retries=retries)
