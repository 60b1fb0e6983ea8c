"""TelaCompletionOperator: one canvas run as one task, durable across retries.

Nothing heavy is imported here at module level: DAG files import this module at every parse, so the
hook, the HTTP clients and the pydantic models are imported when the task runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, ResumableJobMixin, conf

from airflow_provider_tela.errors import TelaConfigError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_tela.hooks.tela import TelaHook
    from airflow_provider_tela.models import CanvasRun

ACTIVE_STATUSES = ("created", "running")
# A streamed answer is logged as it grows, at most this often, not once per token.
STREAM_LOG_INTERVAL = 2.0


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


class TelaCompletionOperator(ResumableJobMixin, BaseOperator):
    """Run a Tela canvas and return its output content.

    The run is submitted asynchronously; its id goes to XCom key ``run_id`` at once. The task then
    waits in the worker (``deferrable=False``) or in the triggerer (``deferrable=True``), and returns
    ``output_content.content`` exactly as Tela returned it; XCom key ``usage`` holds tokens, cost and
    duration. With ``wait_for_completion=False`` it returns the run id instead.

    Durable by default: the run id is kept in Airflow's task state store, so a retry after a crash
    reconnects to the run already submitted (waits if it is active, returns its output if it
    succeeded) and only submits afresh if that run failed. ``durable=False`` opts out.

    :param canvas_id: the canvas to run (templated). Give this or ``application_id``.
    :param application_id: a deployed application of a canvas (templated).
    :param variables: the canvas's variables, name to value (templated, nested values too).
    :param messages: chat messages, ``[{"role": "user", "content": "..."}]`` (templated).
    :param override: per-run settings: model, temperature, type, functions, structured_output (templated).
    :param webhook_url: Tela POSTs the result there when the run ends (templated).
    :param tela_conn_id: the Tela connection, ``tela_default`` by default.
    :param wait_for_completion: wait for the run to end (default) or return its id at once.
    :param deferrable: wait in the triggerer; default from ``[operators] default_deferrable``.
    :param poll_interval: longest wait between two status checks, in seconds.
    :param timeout: seconds to wait for the run before failing the task (the run is not cancelled).
    :param durable: reconnect to the submitted run on retry instead of submitting again.
    :param output_schema: a pydantic model class or a JSON schema; turns structured output on (the
        return value is then the structured object, checked against a pydantic model).
    :param validate_variables: before submitting, check ``variables`` against the canvas's promoted
        version (missing required, unknown, text given for a file); needs ``canvas_id``.
    :param stream: consume the answer as a stream in the worker (``deferrable=False`` only), logging
        it as it grows; returns the final content like the other modes.
    """

    template_fields: Sequence[str] = (
        "canvas_id", "application_id", "variables", "messages", "override", "webhook_url",
    )
    template_fields_renderers = {"variables": "json", "messages": "json", "override": "json"}
    ui_color = "#e8e2fb"
    external_id_key = "tela_run_id"

    def __init__(
        self,
        *,
        canvas_id: str | None = None,
        application_id: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        override: dict[str, Any] | None = None,
        webhook_url: str | None = None,
        tela_conn_id: str = "tela_default",
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        timeout: float = 3600.0,
        durable: bool = True,
        output_schema: Any = None,
        validate_variables: bool = False,
        stream: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(durable=durable, **kwargs)
        check_target(canvas_id, application_id)
        check_variables(variables)
        if poll_interval <= 0 or timeout <= 0:
            raise TelaConfigError(f"poll_interval and timeout must be positive, got {poll_interval} and {timeout}")
        if stream and (deferrable or not wait_for_completion or webhook_url):
            raise TelaConfigError(
                "stream=True reads the answer in the worker: it needs deferrable=False, "
                "wait_for_completion=True and no webhook_url"
            )
        if validate_variables and not canvas_id:
            raise TelaConfigError("validate_variables=True needs canvas_id: an application's variables cannot be looked up")
        self.output_schema = output_schema
        self.validate_variables = validate_variables
        self.stream = stream
        self.canvas_id = canvas_id
        self.application_id = application_id
        self.variables = variables
        self.messages = messages
        self.override = override
        self.webhook_url = webhook_url
        self.tela_conn_id = tela_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self._finished: CanvasRun | None = None
        self._announced: str | None = None

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
        return (self.canvas_id, self.application_id, self.variables, self.messages, override), flags

    def validate_inputs(self) -> None:
        """Check the rendered fields and every file before anything is sent or uploaded."""
        from airflow_provider_tela.hooks.tela import build_request
        from airflow_provider_tela.inputs import check_files

        args, flags = self._request_args()
        build_request(*args, **flags)  # the same rules as at parse time, now on the rendered values
        check_files(self.variables, self.messages)
        if self.validate_variables:
            self.hook.check_canvas_variables(str(self.canvas_id), self.variables)

    def execute(self, context: Context) -> Any:
        self.validate_inputs()
        if self.stream:
            return self._execute_stream(context)
        return self.execute_resumable(context)

    def _execute_stream(self, context: Context) -> Any:
        from airflow_provider_tela._results import finish, output_check

        args, _ = self._request_args()
        pieces: list[str] = []
        final = None
        run_id = ""
        last_log = time.monotonic()
        for chunk in self.hook.stream_completion(*args):
            if chunk.id and not run_id:
                run_id = chunk.id
                self._announce(context, run_id)
            pieces.append(chunk.text)
            final = chunk.final_message or final
            if time.monotonic() - last_log >= STREAM_LOG_INTERVAL:
                last_log = time.monotonic()
                text = "".join(pieces)
                self.log.info("Tela stream: %d characters so far: ...%s", len(text), text[-200:])
        content = final.content if final is not None and final.content is not None else {"text": "".join(pieces)}
        return finish(context, run_id, {}, content, self.log, output_check(self.output_schema))

    # --- ResumableJobMixin ----------------------------------------------------------------------

    def _announce(self, context: Context, run_id: str) -> None:
        """Push the run id to XCom once per try, whichever way this try came to know it."""
        from airflow_provider_tela._results import push_run_id

        if self._announced != run_id:
            push_run_id(context, run_id, self.log)
            self._announced = run_id

    def submit_job(self, context: Context) -> str:
        args, flags = self._request_args()
        run = self.hook.submit_request(self.hook.prepare_request(*args, **flags))
        self._announce(context, run.id)
        return run.id

    def get_job_status(self, external_id: Any, context: Context) -> str:
        from airflow_provider_tela.errors import TelaNotFoundError

        try:
            run = self.hook.get_run(str(external_id))
        except TelaNotFoundError:
            self.log.warning("Tela run %s from an earlier try no longer exists; submitting afresh", external_id)
            return "missing"
        if run.status == "succeeded":
            self._finished = run
        return str(run.status)

    def is_job_active(self, status: str) -> bool:
        return status in ACTIVE_STATUSES

    def is_job_succeeded(self, status: str) -> bool:
        return status == "succeeded"

    def poll_until_complete(self, external_id: Any, context: Context) -> Any:
        """Wait for the run; returns the task's result (the mixin returns it as is on reconnect)."""
        run_id = str(external_id)
        self._announce(context, run_id)
        if not self.wait_for_completion:
            return run_id
        if self.deferrable:
            from airflow_provider_tela.triggers.tela import TelaRunTrigger

            self.defer(
                trigger=TelaRunTrigger(
                    run_id=run_id, tela_conn_id=self.tela_conn_id, poll_interval=self.poll_interval,
                    end_time=time.time() + self.timeout,
                ),
                method_name="execute_complete",
            )
        self._finished = self.hook.wait_for_run(run_id, poll_interval=self.poll_interval, timeout=self.timeout)
        return self.get_job_result(run_id, context)

    def get_job_result(self, external_id: Any, context: Context) -> Any:
        from airflow_provider_tela._results import finish_run, output_check

        run_id = str(external_id)
        self._announce(context, run_id)
        if not self.wait_for_completion:
            return run_id
        if self._finished is None or self._finished.id != run_id:
            self._finished = self.hook.get_run(run_id)
        return finish_run(context, self._finished, self.log, output_check(self.output_schema))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger's event: the run's content, or the error the task fails with."""
        from airflow_provider_tela._results import finish_event, output_check

        return finish_event(context, event, lambda: self.hook, self.timeout, self.log, output_check(self.output_schema))
