"""TelaCompletionOperator: one canvas run as one task, durable across retries.

Nothing heavy is imported here at module level: DAG files import this module at every parse, so the
hook, the HTTP clients and the pydantic models are imported when the task runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import cached_property
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_tela.errors import TelaConfigError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_tela.durable import DurableRun
    from airflow_provider_tela.hooks.tela import TelaHook
    from airflow_provider_tela.models import CanvasRun

# A streamed answer is logged as it grows, at most this often, not once per token.
STREAM_LOG_INTERVAL = 2.0
# The deferral's own timeout, past the trigger's deadline: it fails the task if the trigger is lost.
DEFER_BACKSTOP_MARGIN = 120.0
ON_AMBIGUOUS = ("fail", "resubmit")


def check_target(canvas_id: Any, application_id: Any) -> None:
    """Exactly one of canvas_id and application_id: checked when the DAG is parsed."""
    if bool(canvas_id) == bool(application_id):
        raise TelaConfigError(
            "TelaCompletionOperator needs exactly one of canvas_id (a canvas's id) or application_id "
            f"(a deployed app's id); got canvas_id={canvas_id!r}, application_id={application_id!r}."
        )


def check_variables(variables: Any) -> None:
    if variables is not None and not isinstance(variables, (Mapping, str)) and not hasattr(variables, "resolve"):
        raise TelaConfigError(
            f"variables must be a mapping of variable name to value, got {type(variables).__name__}: "
            'e.g. variables={"document": "text to summarise"}.'
        )


def check_timing(poll_interval: Any, timeout: Any) -> None:
    for name, value in (("poll_interval", poll_interval), ("timeout", timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise TelaConfigError(f"{name} must be a positive number of seconds, got {value!r}")


class TelaCompletionOperator(BaseOperator):
    """Run a Tela canvas and return its output content.

    The run is submitted asynchronously; its id goes to XCom key ``run_id`` at once. The task then
    waits in the worker (``deferrable=False``) or in the triggerer (``deferrable=True``), and returns
    ``output_content.content`` exactly as Tela returned it; XCom key ``usage`` holds tokens, cost and
    duration. With ``wait_for_completion=False`` it returns the run id instead.

    Durable by default: an intent is recorded before the request is sent and the run id as soon as
    it is known, so a retry after a crash re-attaches to the run already submitted (waits if it is
    active, returns its output if it succeeded) and submits afresh only if that run failed. A
    cleared task, or a retry whose request changed (DAG edited), submits a new run. ``durable=False``
    opts out.

    :param canvas_id: the canvas to run (templated). Give this or ``application_id``.
    :param application_id: a deployed application of a canvas (templated).
    :param variables: the canvas's variables, name to value (templated, nested values too).
    :param messages: chat messages, ``[{"role": "user", "content": "..."}]`` (templated).
    :param override: per-run settings: model, temperature, type, functions, structured_output (templated).
    :param webhook_url: Tela POSTs the result there when the run ends (templated).
    :param extra_body: top-level request fields the provider does not manage, sent as given
        (templated), e.g. ``{"long_response": True, "label": "nightly"}``.
    :param tela_conn_id: the Tela connection, ``tela_default`` by default.
    :param wait_for_completion: wait for the run to end (default) or return its id at once.
    :param deferrable: wait in the triggerer; default from ``[operators] default_deferrable``.
    :param poll_interval: longest wait between two status checks, in seconds.
    :param timeout: seconds to wait for the run before failing the task (the run is not cancelled).
    :param durable: re-attach to the submitted run on retry instead of submitting again.
    :param on_ambiguous: what a try does when a request that creates a run got no usable answer
        (now, or in an earlier try that left an intent without a run id): ``"fail"`` (default) fails
        the task at once, without using its retries, naming what to check in Tela; ``"resubmit"``
        lets a retry submit again, accepting that the run may then exist twice.
    :param output_schema: a pydantic model class or a JSON schema; turns structured output on (the
        return value is then the structured object, checked against a pydantic model).
    :param validate_variables: before submitting, check ``variables`` against the canvas's promoted
        version (missing required, unknown, text given for a file); needs ``canvas_id``.
    :param stream: consume the answer as a stream in the worker (``deferrable=False`` only), logging
        it as it grows; returns the final content like the other modes, durable like them.
    :param output_path: write the content as a JSON file there (a local path, an object-storage URL
        or an ``ObjectStoragePath``; templated) and return the file's URI instead of the content, so
        that big outputs never land in the metadata database.
    """

    template_fields: Sequence[str] = (
        "canvas_id", "application_id", "variables", "messages", "override", "webhook_url", "extra_body",
        "output_path",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "variables": "json", "messages": "json", "override": "json", "extra_body": "json",
    }
    ui_color = "#e8e2fb"

    def __init__(
        self,
        *,
        canvas_id: str | None = None,
        application_id: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        override: dict[str, Any] | None = None,
        webhook_url: str | None = None,
        extra_body: dict[str, Any] | None = None,
        tela_conn_id: str = "tela_default",
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        timeout: float = 3600.0,
        durable: bool = True,
        on_ambiguous: str = "fail",
        output_schema: Any = None,
        validate_variables: bool = False,
        stream: bool = False,
        output_path: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_target(canvas_id, application_id)
        check_variables(variables)
        check_timing(poll_interval, timeout)
        if on_ambiguous not in ON_AMBIGUOUS:
            raise TelaConfigError(f"on_ambiguous must be one of {ON_AMBIGUOUS}, got {on_ambiguous!r}")
        if stream and (deferrable or not wait_for_completion or webhook_url):
            raise TelaConfigError(
                "stream=True reads the answer in the worker: it needs deferrable=False, "
                "wait_for_completion=True and no webhook_url"
            )
        if validate_variables and not canvas_id:
            raise TelaConfigError(
                "validate_variables=True needs canvas_id: an application's variables cannot be looked up"
            )
        self.output_schema = output_schema
        self.validate_variables = validate_variables
        self.stream = stream
        self.canvas_id = canvas_id
        self.application_id = application_id
        self.variables = variables
        self.messages = messages
        self.override = override
        self.webhook_url = webhook_url
        self.extra_body = extra_body
        self.tela_conn_id = tela_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.durable = durable
        self.on_ambiguous = on_ambiguous
        self.output_path = output_path

    def render_template(self, content: Any, context: Any, jinja_env: Any = None, seen_oids: Any = None) -> Any:
        # A Path is a file to upload, not a template. Airflow 3.0 calls any value's ``resolve(context)``
        # while rendering, which on a Path resolves the file system path (and fails if the file is gone).
        if isinstance(content, PurePath):
            return content
        return super().render_template(content, context, jinja_env, seen_oids)

    @cached_property
    def hook(self) -> TelaHook:
        from airflow_provider_tela.hooks.tela import TelaHook

        return TelaHook(self.tela_conn_id)

    def _request_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        from airflow_provider_tela.inputs import output_schema_override

        override = output_schema_override(self.output_schema, self.override)
        if self.stream:
            flags: dict[str, Any] = {"stream": True}
        elif self.webhook_url:
            flags = {"webhook_url": self.webhook_url}
        else:
            flags = {"async": True}
        if self.extra_body:
            flags["extra_body"] = self.extra_body
        return (self.canvas_id, self.application_id, self.variables, self.messages, override), flags

    def validate_inputs(self) -> None:
        """What a submission checks before anything is sent: the rendered fields, then every file.

        ``execute`` runs the first part on every try and the file checks only when it submits, so
        that a retry re-attaching to its run never needs local files that may be gone.
        """
        from airflow_provider_tela.hooks.tela import build_request
        from airflow_provider_tela.inputs import check_files

        args, flags = self._request_args()
        build_request(*args, **flags)
        check_files(self.variables, self.messages)

    # --- one try ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        from airflow_provider_tela.hooks.tela import build_request

        args, flags = self._request_args()
        build_request(*args, **flags)  # the parse-time rules on the rendered values; no I/O yet
        durable = self._open_durable(context, args, flags) if self.durable else None
        run = self._reattach(context, durable) if durable is not None else None
        if run is None:
            if self.stream:
                return self._stream(context, durable)
            run = self._submit(context, durable)
        if not self.wait_for_completion:
            if durable is not None:
                durable.ended()  # the task's outcome is the id: nothing left to re-attach to
            return run.id
        if run.status == "succeeded":
            return self._finish(context, run.id, run.usage, run.content, durable)
        if self.deferrable:
            self._defer(run.id)
        with self._ending(durable):
            finished = self.hook.wait_for_run(run.id, poll_interval=self.poll_interval, timeout=self.timeout,
                                              first_poll_in=1.0)
        return self._finish(context, finished.id, finished.usage, finished.content, durable)

    @contextmanager
    def _withdrawing(self, durable: DurableRun | None) -> Iterator[None]:
        """A submission that failed for sure (refused, unreachable: any error but "may exist") created
        no run: its intent is withdrawn, so that the retry submits instead of reporting an ambiguity."""
        from airflow_provider_tela.errors import TelaError, TelaRunFailedError, TelaRunMayExistError

        try:
            yield
        except TelaRunMayExistError:
            raise
        except TelaRunFailedError:
            raise
        except TelaError:
            if durable is not None:
                durable.withdraw()
            raise

    @contextmanager
    def _ending(self, durable: DurableRun | None) -> Iterator[None]:
        """A run that failed ends its record too: the retry submits a new run either way."""
        from airflow_provider_tela.errors import TelaRunFailedError

        try:
            yield
        except TelaRunFailedError:
            if durable is not None:
                durable.ended()
            raise

    def _open_durable(self, context: Context, args: tuple[Any, ...], flags: dict[str, Any]) -> DurableRun:
        from airflow_provider_tela.durable import DurableRun, fingerprint
        from airflow_provider_tela.hooks.tela import build_request
        from airflow_provider_tela.inputs import identity

        request = build_request(*args, resolve_file=identity, **flags)
        return DurableRun.open(context, fingerprint(self.tela_conn_id, request.to_payload()))

    def _reattach(self, context: Context, durable: DurableRun) -> CanvasRun | None:
        """The run an earlier try of this task instance submitted, if it is still worth having."""
        from airflow_provider_tela.durable import Decision
        from airflow_provider_tela.errors import TelaAmbiguousRunError, TelaNotFoundError

        decision = durable.decision
        if decision.action == "submit":
            if decision.record is not None:
                self.log.info("Not re-attaching to the recorded Tela submission: %s.", decision.reason)
            return None
        record = decision.record
        assert record is not None
        if decision.action == "reattach":
            try:
                run = self.hook.get_run(str(record.run_id))
            except TelaNotFoundError:
                if record.mode != "stream":
                    self.log.warning(
                        "Tela run %s from an earlier try no longer exists; submitting afresh", record.run_id
                    )
                    return None
                # a streamed run's id may not be a pollable run id: its fate is unknown
                decision = Decision("ambiguous", f"run {record.run_id} (streamed) cannot be looked up", record)
            else:
                self._announce(context, run.id)
                if run.status == "failed":
                    self.log.warning("Tela run %s from an earlier try failed (%s); submitting afresh",
                                     run.id, run.failure_reason())
                    return None
                self.log.info("Re-attaching to Tela run %s submitted by try %s (status %s)",
                              run.id, record.try_number, run.status)
                return run
        where = f"try {record.try_number}" if record.try_number else "an earlier try"
        message = (
            f"{where} of this task sent a request that creates a Tela run at {record.written_at or 'an unknown time'} "
            f"and did not learn its answer ({decision.reason}): the run may exist and be paid for. Look for it "
            "in the canvas's runs in Tela. To submit again, clear the task (a clear asks for a new run) or set "
            'on_ambiguous="resubmit".'
        )
        if self.on_ambiguous == "fail":
            raise TelaAmbiguousRunError(message, run_id=record.run_id)
        self.log.warning("%s Resubmitting, as on_ambiguous='resubmit' asks.", message)
        return None

    def _prepare(self) -> Any:
        """Validate against the canvas, check and upload files, build the request: submission only,
        so that a re-attaching retry never needs the (maybe gone) local files."""
        args, flags = self._request_args()
        if self.validate_variables:
            self.hook.check_canvas_variables(str(self.canvas_id), self.variables)
        return self.hook.prepare_request(*args, **flags)

    def _submit(self, context: Context, durable: DurableRun | None) -> CanvasRun:
        from airflow_provider_tela._http.deadline import Deadline
        from airflow_provider_tela.errors import TelaRunMayExistError

        request = self._prepare()
        if durable is not None:
            durable.intent()
        error: TelaRunMayExistError | None = None
        with self._withdrawing(durable):
            try:
                run = self.hook.submit_request(request, deadline=Deadline.after(self.timeout))
            except TelaRunMayExistError as exc:
                error = exc
        if error is not None:
            raise self._ambiguous(context, durable, error)
        if durable is not None:
            durable.submitted(run.id)
        self._announce(context, run.id)
        return run

    def _ambiguous(self, context: Context, durable: DurableRun | None, error: Any, mode: str = "async") -> Exception:
        """The error a try ends with when its submission's fate is unknown."""
        from airflow_provider_tela.errors import TelaAmbiguousRunError, detached

        if error.run_id:
            if durable is not None:
                durable.submitted(error.run_id, mode=mode)
            self._announce(context, error.run_id)
            if durable is not None:
                return detached(error)  # a retry re-attaches to the recorded run
        if self.on_ambiguous == "fail":
            return detached(TelaAmbiguousRunError(
                f"{error} The task fails without retrying (on_ambiguous='fail'); clear it to submit again.",
                run_id=error.run_id, status_code=error.status_code,
            ))
        return detached(error)

    def _defer(self, run_id: str) -> None:
        from airflow_provider_tela.triggers.tela import TelaRunTrigger

        self.defer(
            trigger=TelaRunTrigger(
                run_id=run_id, tela_conn_id=self.tela_conn_id, poll_interval=self.poll_interval,
                end_time=time.time() + self.timeout, first_poll_in=1.0,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + max(DEFER_BACKSTOP_MARGIN, 2 * self.poll_interval)),
        )

    def _announce(self, context: Context, run_id: str) -> None:
        """Push the run id to XCom once per try, whichever way this try came to know it."""
        from airflow_provider_tela._results import push_run_id

        if getattr(self, "_announced", None) != run_id:
            push_run_id(context, run_id, self.log)
            self._announced = run_id

    def _finish(self, context: Context, run_id: str, usage: dict[str, Any], content: Any,
                durable: DurableRun | None) -> Any:
        from airflow_provider_tela._results import finish, output_check

        result = finish(context, run_id, usage, content, self.log, output_check(self.output_schema))
        if self.output_path:
            from airflow_provider_tela._storage import write_json_output

            result = write_json_output(self.output_path, result)
            self.log.info("Tela run %s: content written to %s", run_id, result)
        if durable is not None:
            durable.ended()
        return result

    # --- streaming ------------------------------------------------------------------------------------

    def _stream(self, context: Context, durable: DurableRun | None) -> Any:
        from airflow_provider_tela._http.deadline import Deadline
        from airflow_provider_tela.errors import TelaRunMayExistError

        request = self._prepare()
        if durable is not None:
            durable.intent(mode="stream")
        deadline = Deadline.after(self.timeout)
        pieces: list[str] = []
        final = None
        run_id = ""
        last_log = time.monotonic()
        error: TelaRunMayExistError | None = None
        try:
            with self._ending(durable), self._withdrawing(durable):
                for chunk in self.hook.stream_request(request, deadline=deadline):
                    if chunk.id and not run_id:
                        run_id = chunk.id
                        if durable is not None:
                            durable.submitted(run_id, mode="stream")
                        self._announce(context, run_id)
                    pieces.append(chunk.text)
                    final = chunk.final_message or final
                    if time.monotonic() - last_log >= STREAM_LOG_INTERVAL:
                        last_log = time.monotonic()
                        text = "".join(pieces)
                        self.log.info("Tela stream: %d characters so far: ...%s", len(text), text[-200:])
        except TelaRunMayExistError as exc:
            error = exc
        if error is not None:
            raise self._ambiguous(context, durable, error, mode="stream")
        content = final.content if final is not None and final.content is not None else {"text": "".join(pieces)}
        return self._finish(context, run_id, self._stream_usage(run_id, deadline), content, durable)

    def _stream_usage(self, run_id: str, deadline: Any) -> dict[str, Any]:
        """A stream carries no usage: ask Tela for the run once the stream is over (it may need a
        moment to record the end of the run)."""
        from airflow_provider_tela.errors import TelaError

        if not run_id:
            return {}
        try:
            return self.hook.wait_for_run(run_id, poll_interval=1.0, timeout=deadline.bound(30.0)).usage
        except TelaError as exc:
            self.log.warning("Usage of streamed run %s could not be fetched (%s); XCom usage is empty", run_id, exc)
            return {}

    # --- after deferral ---------------------------------------------------------------------------

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger's event: the run's content, or the error the task fails with."""
        from airflow_provider_tela._results import event_result
        from airflow_provider_tela.durable import DurableRun
        from airflow_provider_tela.errors import TelaRunFailedError

        try:
            run_id, usage, content = event_result(event, lambda: self.hook, self.timeout)
        except TelaRunFailedError:
            if self.durable:
                DurableRun.end_for(context)
            raise
        result = self._finish(context, run_id, usage, content, None)
        if self.durable:
            DurableRun.end_for(context)
        return result
