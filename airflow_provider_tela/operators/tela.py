"""TelaCompletionOperator: one canvas run as one task, durable across retries.

Nothing heavy is imported here at module level: DAG files import this module at every parse, so the
hook, the HTTP clients and the pydantic models are imported when the task runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_tela._types import ON_AMBIGUOUS, WAIT_FOR, OnAmbiguous, WaitFor, target_problem
from airflow_provider_tela.errors import TelaConfigError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_tela._submission import Ask, Submission
    from airflow_provider_tela.hooks.tela import TelaHook



def check_target(canvas_id: Any, application_id: Any, version_id: Any = None, label: Any = None,
                 stream: bool = False) -> None:
    """What the task targets, checked when the DAG is parsed (and again, rendered, before sending)."""
    problem = target_problem(canvas_id, application_id, version_id, label, stream)
    if problem:
        raise TelaConfigError(
            f"{problem}; got canvas_id={canvas_id!r}, application_id={application_id!r}, version_id={version_id!r}."
        )


def check_tags(tags: Any) -> None:
    if tags is not None and not isinstance(tags, str) and not (
            isinstance(tags, (list, tuple)) and all(isinstance(tag, str) and tag for tag in tags)):
        raise TelaConfigError(f"tags must be a list of non-empty strings (or a template), got {tags!r:.80}")


def check_variables(variables: Any) -> None:
    if variables is not None and not isinstance(variables, (Mapping, str)) and not hasattr(variables, "resolve"):
        raise TelaConfigError(
            f"variables must be a mapping of variable name to value, got {type(variables).__name__}: "
            'e.g. variables={"document": "text to summarise"}.'
        )


def check_max_cost(max_cost: Any) -> None:
    if max_cost is not None and (isinstance(max_cost, bool) or not isinstance(max_cost, (int, float))
                                 or not 0 < max_cost < float("inf")):
        raise TelaConfigError(f"max_cost must be a positive, finite number (or None), got {max_cost!r}")


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

    :param canvas_id: the canvas to run (templated). Give this (and/or ``version_id``) or ``application_id``.
    :param version_id: a version of the canvas to run instead of its promoted one (templated), with or
        without ``canvas_id``.
    :param application_id: a Workstation app (templated): the submission creates a task in it, which
        people may review; the task then waits for ``wait_for``, and its id goes to XCom ``tela_task_id``.
    :param wait_for: for an application, ``"output"`` (default: the task's run ended, its output is
        ready, in review or completed) or ``"approval"`` (a reviewer approved it; the output returned is
        the approved one, as the reviewer may have edited it). XCom ``tela_task`` holds the review.
    :param label: the task's name in Workstation (applications only; templated).
    :param tags: tags of the run or task (templated), a list of strings.
    :param variables: the canvas's variables, name to value (templated, nested values too).
    :param messages: chat messages, ``[{"role": "user", "content": "..."}]`` (templated).
    :param override: per-run settings: model, temperature, type, functions, structured_output (templated).
    :param webhook_url: Tela POSTs the result there when the run ends (templated).
    :param extra_body: top-level request fields the provider does not manage, sent as given
        (templated), e.g. ``{"long_response": True}``.
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
    :param max_cost: what the task instance's tries may spend, together: a try does not submit (the task
        fails without retrying) once the runs of earlier tries cost this much (a retry after a failed
        run, or a refused output, pays again). A run whose cost cannot be read counts at the highest
        cost read from the task's runs; when there is none, no further run is submitted. Each try's run
        and cost are recorded (task state store on Airflow 3.3+, an Airflow Variable below, also with
        ``durable=False``); a clear starts a new budget. Needs ``wait_for_completion=True``.
    """

    template_fields: Sequence[str] = (
        "canvas_id", "application_id", "version_id", "tela_label", "tags", "variables", "messages", "override",
        "webhook_url", "extra_body", "output_path",
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
        on_ambiguous: OnAmbiguous = "fail",
        output_schema: Any = None,
        validate_variables: bool = False,
        stream: bool = False,
        output_path: Any = None,
        version_id: str | None = None,
        label: str | None = None,
        tags: list[str] | None = None,
        wait_for: WaitFor = "output",
        max_cost: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_target(canvas_id, application_id, version_id, label, stream)
        check_max_cost(max_cost)
        if max_cost is not None and not wait_for_completion:
            raise TelaConfigError("max_cost counts what the task's runs cost, read when they end: it needs "
                                  "wait_for_completion=True")
        check_tags(tags)
        if wait_for not in WAIT_FOR:
            raise TelaConfigError(f"wait_for must be one of {WAIT_FOR}, got {wait_for!r}")
        if wait_for == "approval" and not application_id:
            raise TelaConfigError("wait_for='approval' waits for a reviewer in Workstation: it needs application_id")
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
        self.version_id = version_id
        self.tela_label = label  # (BaseOperator has a label of its own: the task's display name)
        self.tags = tags
        self.wait_for = wait_for
        self.max_cost = max_cost

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

    def ask(self) -> Ask:
        """What this task asks of Tela, from its rendered fields."""
        from airflow_provider_tela._inputs import output_schema_override
        from airflow_provider_tela._submission import Ask

        return Ask(self.canvas_id, self.application_id, self.variables, self.messages,
                   output_schema_override(self.output_schema, self.override), self.webhook_url, self.extra_body,
                   self.stream, self.version_id, self.tela_label, self.tags)

    def validate_inputs(self) -> None:
        """What a submission checks before anything is sent: the rendered fields, then every file.

        ``execute`` checks the fields on every try and the files only when it submits, so that a retry
        re-attaching to its run never needs local files that may be gone.
        """
        from airflow_provider_tela._inputs import FileSlots

        slots = FileSlots()
        self.ask().build(slots)
        for tela_file in slots.files.values():
            tela_file.size()

    def _open(self, context: Context) -> Submission:
        from airflow_provider_tela._submission import Submission

        submission = Submission(context, self.ask(), conn_id=self.tela_conn_id, durable=self.durable,
                                on_ambiguous=self.on_ambiguous, log=self.log, output_schema=self.output_schema,
                                wait_for=self.wait_for, max_cost=self.max_cost,
                                operator=getattr(self, "custom_operator_name", None) or type(self).__name__)
        self._tela_outcome = submission.outcome  # how the try ended, for the lineage events (_lineage)
        return submission

    # --- one try ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        from airflow_provider_tela._http.deadline import Deadline
        from airflow_provider_tela._submission import failing

        with failing(context, self.durable, budget=self.max_cost is not None) as tried:
            submission = tried.submission = self._open(context)
            job = submission.reconnect(self.hook)
            if job is None:
                deadline = Deadline.after(self.timeout)
                if self.stream:
                    run_id, content = submission.stream_job(self.hook, deadline=deadline,
                                                            validate_variables=self.validate_variables)
                    usage = submission.stream_usage(self.hook, run_id, deadline)
                    return submission.get_job_result(run_id, usage, content, self._write)
                job = submission.submit_job(self.hook, deadline=deadline, validate_variables=self.validate_variables)
            if not self.wait_for_completion:
                submission.record.ended()  # the task's outcome is the id: nothing left to re-attach to
                submission.report("submitted")
                return job.id
            if not submission.over(job):
                if self.deferrable:
                    self._defer(job.kind, job.id)
                job = submission.poll_until_complete(self.hook, job, poll_interval=self.poll_interval,
                                                     timeout=self.timeout)
            return submission.result_of(job, self._write)

    def _defer(self, kind: str, job_id: str) -> None:
        from airflow_provider_tela.triggers.tela import TelaRunTrigger, TelaTaskTrigger, backstop

        end_time = time.time() + self.timeout
        trigger = (
            TelaTaskTrigger(tela_task_id=job_id, tela_conn_id=self.tela_conn_id, poll_interval=self.poll_interval,
                            end_time=end_time, first_poll_in=1.0, wait_for=self.wait_for) if kind == "task"
            else TelaRunTrigger(run_id=job_id, tela_conn_id=self.tela_conn_id, poll_interval=self.poll_interval,
                                end_time=end_time, first_poll_in=1.0)
        )
        self.defer(trigger=trigger, method_name="execute_complete" if kind == "run" else "execute_task_complete",
                   timeout=backstop(self.timeout, self.poll_interval))

    def _write(self, result: Any) -> Any:
        """With ``output_path``, the content goes to a file and the task returns the file's URI."""
        if not self.output_path:
            return result
        from airflow_provider_tela._storage import write_json_output

        uri = write_json_output(self.output_path, result)
        self.log.info("Tela run content written to %s", uri)
        return uri

    # --- after deferral ---------------------------------------------------------------------------

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger's event: the run's content, or the error the task fails with."""
        return self._resume(context, event, "run")

    def execute_task_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after a Workstation task's trigger event."""
        return self._resume(context, event, "task")

    def _resume(self, context: Context, event: dict[str, Any], kind: str) -> Any:
        from airflow_provider_tela._results import event_result
        from airflow_provider_tela._submission import failing

        with failing(context, self.durable, budget=self.max_cost is not None) as tried:
            submission = tried.submission = self._open(context)  # (the record it reads is only ended here)
            with submission.ending():
                job_id, usage, content, review = event_result(event, lambda: self.hook, self.timeout, kind)
            return submission.get_job_result(job_id, usage, content, self._write, review)

    # --- OpenLineage (its provider calls these; nothing else does) --------------------------------

    def get_openlineage_facets_on_start(self) -> Any:
        from airflow_provider_tela import _lineage

        return _lineage.completion(self)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from airflow_provider_tela import _lineage

        return _lineage.completion(self, getattr(self, "_tela_outcome", None), "succeeded")

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        from airflow_provider_tela import _lineage

        return _lineage.completion(self, getattr(self, "_tela_outcome", None), "error")
