"""TelaHook (sync, for workers) and TelaAsyncHook (async, for triggers).

Both build their requests with ``_http.calls`` and judge answers with ``_http.retry`` and
``_http.responses``; they differ only in the transport underneath.
"""

from __future__ import annotations

import itertools
import time
from functools import cached_property
from typing import Any, Iterator

from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from airflow_provider_tela._http import calls
from airflow_provider_tela._http.async_transport import AsyncTransport, lease_sessions, release_sessions
from airflow_provider_tela._http.polling import parse_poll, poll_delay, run_finished
from airflow_provider_tela._http.responses import decode_model
from airflow_provider_tela._http.retry import RetryPolicy
from airflow_provider_tela._http.settings import ClientSettings
from airflow_provider_tela._http.sse import SSEDecoder
from airflow_provider_tela._http.sync_transport import SyncTransport
from airflow_provider_tela.errors import TelaConfigError, TelaError, TelaTimeoutError
from airflow_provider_tela.files import TelaFile
from airflow_provider_tela.inputs import (
    FileResolver,
    check_files,
    placeholder,
    resolve_messages,
    resolve_variables,
    variable_kind,
)
from airflow_provider_tela.models import (
    CanvasRun,
    ChatCompletion,
    CompletionChunk,
    CompletionRequest,
    FileUploadTarget,
    PromotedVersion,
    RunProgress,
    parse_model,
)

DEFAULT_CONN_ID = "tela_default"


def build_request(
    canvas_id: str | None = None,
    application_id: str | None = None,
    variables: dict[str, Any] | None = None,
    messages: list[Any] | None = None,
    override: dict[str, Any] | Any | None = None,
    *,
    resolve_file: FileResolver = placeholder,
    **flags: Any,
) -> CompletionRequest:
    """Validate the arguments of a completion, raising TelaConfigError before anything is sent.

    Files are turned into file variables by ``resolve_file``: a placeholder by default (validation
    only, no I/O), or a real upload.
    """
    return CompletionRequest.build(
        canvas_id=canvas_id, application_id=application_id,
        variables=resolve_variables(variables, resolve_file), messages=resolve_messages(messages, resolve_file),
        override=override, **flags,
    )


def canvas_variable_problems(declared: PromotedVersion, variables: dict[str, Any] | None) -> list[str]:
    """Every way ``variables`` disagrees with what the canvas declares."""
    given = variables or {}
    by_name = {v.name: v for v in declared.variables}
    problems = [f"missing required variable {v.name!r}" for v in declared.variables if v.required and v.name not in given]
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


def _settings_from(conn: Any, timeout: float | None, max_retries: int | None) -> ClientSettings:
    settings = ClientSettings.from_connection(conn)
    mask_secret(settings.api_key)
    overrides: dict[str, Any] = {}
    if timeout is not None:
        overrides["read_timeout"] = float(timeout)
    if max_retries is not None:
        overrides["max_retries"] = int(max_retries)
    if not overrides:
        return settings
    fields = {**settings.__dict__, **overrides}
    return ClientSettings(**fields)


class TelaHook(BaseHook):
    """Talk to the Tela API through an Airflow connection of type ``tela``.

    The connection's password is the API key; its host is the base URL (a full URL, or a bare host
    name for https; empty means https://api.tela.com). Extras: ``timeout`` (read timeout, seconds),
    ``connect_timeout``, ``max_retries``, ``verify`` (false turns TLS verification off), ``ca_bundle``
    (path to a CA file) and ``allow_insecure_http``.

    :param tela_conn_id: the connection id, ``tela_default`` by default.
    :param timeout: read timeout in seconds for each request, overriding the connection's.
    :param max_retries: retries of throttled, failed or unreachable requests, overriding the connection's.
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
        return {
            "hidden_fields": ["schema", "login", "port"],
            "relabeling": {"host": "Base URL", "password": "API Key"},
            "placeholders": {
                "host": "https://api.tela.com",
                "password": "your Tela API key",
                "extra": '{"timeout": 120, "max_retries": 3, "verify": true}',
            },
        }

    @cached_property
    def settings(self) -> ClientSettings:
        return _settings_from(self.get_connection(self.tela_conn_id), self._timeout, self._max_retries)

    @cached_property
    def transport(self) -> SyncTransport:
        return SyncTransport(self.settings, RetryPolicy(max_retries=self.settings.max_retries))

    def get_conn(self) -> Any:
        """The pooled ``requests.Session`` every call of this hook goes through."""
        return self.transport.session

    def close(self) -> None:
        if "transport" in self.__dict__:
            self.transport.close()

    def _send(self, call: calls.ApiCall, *, read_timeout: float | None = None) -> Any:
        return self.transport.request(call, read_timeout=read_timeout)[1]

    def prepare_request(
        self,
        canvas_id: str | None = None,
        application_id: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        override: dict[str, Any] | None = None,
        **flags: Any,
    ) -> CompletionRequest:
        """Validate everything, check every file, then upload the files and build the request.

        Nothing is uploaded when any part of the request is wrong.
        """
        build_request(canvas_id, application_id, variables, messages, override, **flags)
        checked = check_files(variables, messages)

        def upload_checked(value: Any) -> dict[str, Any]:
            tela_file, size = checked[id(value)]
            return self.upload_file(tela_file, size=size)

        return build_request(
            canvas_id, application_id, variables, messages, override, resolve_file=upload_checked, **flags
        )

    # --- completions and runs -------------------------------------------------------------------

    def create_completion(
        self,
        canvas_id: str | None = None,
        application_id: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        override: dict[str, Any] | None = None,
    ) -> ChatCompletion:
        """Run a canvas and wait for the answer in the same request (short canvases only)."""
        request = self.prepare_request(canvas_id, application_id, variables, messages, override)
        return parse_model(ChatCompletion, self._send(calls.completion(request)), "a completion")

    def submit_run(
        self,
        canvas_id: str | None = None,
        application_id: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        override: dict[str, Any] | None = None,
        webhook_url: str | None = None,
    ) -> CanvasRun:
        """Start a canvas run asynchronously and return it (``.id``, ``.status``) at once."""
        request = self.prepare_request(
            canvas_id, application_id, variables, messages, override,
            webhook_url=webhook_url, **({} if webhook_url else {"async": True}),
        )
        return self.submit_request(request)

    def submit_request(self, request: CompletionRequest) -> CanvasRun:
        """Submit an already validated request (the operator validates before the task sends anything)."""
        return parse_model(CanvasRun, self._send(calls.completion(request)), "an async completion")

    def get_run(self, run_id: str) -> CanvasRun:
        call = calls.get_run(run_id)
        return decode_model(call, CanvasRun, self._send(call), self.settings.secrets, f"run {run_id}")

    def poll_run(self, run_id: str) -> CanvasRun | RunProgress:
        """The run if it ended, else just its id and status (cheaper to validate)."""
        call = calls.get_run(run_id)
        return parse_poll(call, self._send(call), self.settings.secrets, run_id)

    def wait_for_run(self, run_id: str, poll_interval: float = 10.0, timeout: float = 3600.0) -> CanvasRun:
        """Poll until the run succeeded (returned) or failed (TelaRunFailedError) or ``timeout`` passed."""
        started = time.monotonic()
        for poll_number in itertools.count():
            run = self.poll_run(run_id)
            if run_finished(run):
                return run  # type: ignore[return-value]  # a finished poll is the whole CanvasRun
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0:
                raise TelaTimeoutError(run_id, timeout, str(run.status))
            delay = min(poll_delay(poll_number, poll_interval), remaining)
            self.log.info("Tela run %s is %s; next check in %.1f s", run_id, run.status, delay)
            time.sleep(delay)
        raise AssertionError("itertools.count() never ends")

    def stream_completion(
        self,
        canvas_id: str | None = None,
        application_id: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        override: dict[str, Any] | None = None,
    ) -> Iterator[CompletionChunk]:
        """Run a canvas with ``stream: true`` and yield its chunks as they arrive."""
        request = self.prepare_request(canvas_id, application_id, variables, messages, override, stream=True)
        response, _ = self.transport.request(calls.completion(request))
        decoder = SSEDecoder(secrets=self.settings.secrets)
        try:
            for line in response.iter_lines(chunk_size=None, delimiter=None):
                chunk = decoder.feed(line)
                if chunk is not None:
                    yield chunk
                if decoder.done:
                    return
            decoder.close()
        finally:
            response.close()

    # --- files and canvases ---------------------------------------------------------------------

    def create_file_upload(self) -> FileUploadTarget:
        """Ask Tela where to upload a file (``POST /v2/file``)."""
        return parse_model(FileUploadTarget, self._send(calls.create_file()), "a file upload request")

    def upload_file(self, tela_file: TelaFile | Any, *, size: int | None = None) -> dict[str, Any]:
        """Give Tela a file; return the variable to send (``{"file_url": ..., "options": ...}``).

        URLs and data: URIs are returned as they are. Anything else is streamed from its source to
        the upload URL Tela hands out, so a large file needs little memory. ``size`` is the size
        already checked, if any; otherwise the source is checked here.
        """
        from airflow_provider_tela.files import as_tela_file

        tela_file = as_tela_file(tela_file)
        if size is None:
            size = tela_file.size()
        if not tela_file.needs_upload:
            return tela_file.to_variable()
        target = self.create_file_upload()
        self._send(calls.upload(target.upload_url, tela_file.open, tela_file.mime_type(), size))
        self.log.info("Uploaded %s (%s bytes) to Tela", tela_file, size)
        return tela_file.to_variable(target.download_url)

    def check_canvas_variables(self, canvas_id: str, variables: dict[str, Any] | None) -> None:
        """Fail, naming every problem, when ``variables`` do not fit the canvas's promoted version."""
        problems = canvas_variable_problems(self.get_promoted_version(canvas_id), variables)
        if problems:
            raise TelaConfigError(f"Variables do not fit canvas {canvas_id}: " + "; ".join(problems) + ".")

    def get_promoted_version(self, canvas_id: str) -> PromotedVersion:
        """The canvas's promoted version, with the variables it declares."""
        return parse_model(PromotedVersion, self._send(calls.promoted_version(canvas_id)), f"canvas {canvas_id}")

    def list_projects(self) -> Any:
        return self._send(calls.list_projects())

    def test_connection(self) -> tuple[bool, str]:
        """Make one authenticated call; the UI's Test button shows the answer."""
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

    async def __aenter__(self) -> TelaAsyncHook:
        """Hold the event loop's shared connection pool open while this hook is in use."""
        lease_sessions()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await release_sessions()

    async def transport(self) -> AsyncTransport:
        if self._transport is None:
            conn = await self.aget_connection(self.tela_conn_id)
            settings = _settings_from(conn, None, None)
            self._transport = AsyncTransport(settings, RetryPolicy(max_retries=settings.max_retries))
        return self._transport

    async def get_run(self, run_id: str) -> CanvasRun:
        transport = await self.transport()
        call = calls.get_run(run_id)
        return decode_model(call, CanvasRun, await transport.request(call), transport.settings.secrets, f"run {run_id}")

    async def poll_run(self, run_id: str) -> CanvasRun | RunProgress:
        transport = await self.transport()
        call = calls.get_run(run_id)
        return parse_poll(call, await transport.request(call), transport.settings.secrets, run_id)

    async def submit_request(self, request: CompletionRequest) -> CanvasRun:
        data = await (await self.transport()).request(calls.completion(request))
        return parse_model(CanvasRun, data, "an async completion")
