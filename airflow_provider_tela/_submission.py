"""One submission's life, whatever the way the task waits for it, and whatever it creates in Tela.

    submission = Submission(context, ask, ...)       # the request built and checked once; the record read
    job = submission.reconnect(hook)                 # what an earlier try submitted, if worth having
    job = job or submission.submit_job(hook)         # intent, POST, then the id (or a withdrawal)
    job = submission.poll_until_complete(hook, job)  # (or the operator defers, and resumes below)
    return submission.get_job_result(job)            # output checked, XComs pushed, record ended

A submission creates a canvas run (``canvas_id`` / ``version_id``) or a Workstation task
(``application_id``): the same steps, the same record, the same wait machine, two resources (``Job``).
The steps are named after Airflow 3.3's ``ResumableJobMixin`` where they mean the same. Every change
of the task's durable record is made here, and every error outcome of a step is turned into one of
them in one place (``_sending``, ``ending``, ``failing``): a request that surely created nothing
withdraws its intent; one whose fate is unknown keeps it (``on_ambiguous`` decides what the retry
does); a run or task that ended ends its record; one whose output was refused is forgotten, so that a
retry asks anew. ``durable=False`` opens the same record on a store that keeps nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from airflow_provider_tela import _results
from airflow_provider_tela._budget import RunBudget
from airflow_provider_tela._durable import Decision, DurableRun, fingerprint
from airflow_provider_tela._http.deadline import Deadline
from airflow_provider_tela._inputs import FileSlots
from airflow_provider_tela._types import Kind, Mode, OnAmbiguous, WaitFor
from airflow_provider_tela._wait import Ends, ends_for
from airflow_provider_tela.errors import (
    TelaAmbiguousRunError,
    TelaBadResponseError,
    TelaError,
    TelaNotFoundError,
    TelaRunFailedError,
    TelaRunMayExistError,
    detached,
)
from airflow_provider_tela.hooks.tela import TelaHook, build_request
from airflow_provider_tela.models import CompletionRequest

# A streamed answer is logged as it grows, at most this often, not once per token.
STREAM_LOG_INTERVAL = 2.0

Reconnect = Literal["wait", "submit", "ambiguous"]


@dataclass(frozen=True)
class Ask:
    """What a task asks of Tela, as rendered: the completion's fields and how it is sent."""

    canvas_id: str | None = None
    application_id: str | None = None
    variables: Mapping[str, Any] | None = None
    messages: list[Any] | None = None
    override: Mapping[str, Any] | None = None
    webhook_url: str | None = None
    extra_body: Mapping[str, Any] | None = None
    stream: bool = False
    version_id: str | None = None
    label: str | None = None
    tags: Sequence[str] | None = None

    @property
    def kind(self) -> Kind:
        return "task" if self.application_id else "run"

    @property
    def mode(self) -> Mode:
        return "task" if self.application_id else "stream" if self.stream else "async"

    def build(self, slots: FileSlots) -> CompletionRequest:
        """The request, validated (a TelaConfigError names each bad field); files stand in it as slots."""
        if self.stream:
            flags: dict[str, Any] = {"stream": True}
        elif self.webhook_url:
            flags = {"webhook_url": self.webhook_url}
        else:
            flags = {"async": True}
        if self.extra_body:
            flags["extra_body"] = dict(self.extra_body)
        for name in ("version_id", "label"):
            if getattr(self, name):
                flags[name] = getattr(self, name)
        if self.tags is not None:
            flags["tags"] = list(self.tags)
        return build_request(self.canvas_id, self.application_id, dict(self.variables or {}) or None,
                             self.messages, dict(self.override) if self.override is not None else None,
                             resolve_file=slots, **flags)


@dataclass(frozen=True)
class Job:
    """What a submission created: a run or a task, by id; ``found`` is it as last read, once it is over."""

    kind: Kind
    id: str
    found: Any = None
    run_id: str | None = None  # a task's completion run, where Tela named it


def reconnect_action(decision: Decision, found: Any, ends: Ends) -> tuple[Reconnect, str]:
    """What a try does with what its record names, once that was looked up (``found`` is None when Tela
    answered 404). Pure: the whole re-attach decision, tested without I/O."""
    record = decision.record
    if decision.action != "reattach" or record is None:
        return ("ambiguous" if decision.action == "ambiguous" else "submit"), decision.reason
    what = "task" if record.mode == "task" else "run"
    if found is None:
        if record.mode == "stream":  # a streamed run's id may not be a pollable run id: its fate is unknown
            return "ambiguous", f"run {record.run_id} (streamed) cannot be looked up"
        return "submit", f"Tela {what} {record.run_id} from an earlier try no longer exists"
    if ends.outcome(found.status) == "failed":
        return "submit", f"Tela {what} {found.id} from an earlier try failed ({found.failure_reason()})"
    return "wait", (f"re-attaching to Tela {what} {found.id} submitted by try {record.try_number} "
                    f"(status {found.status})")


def where_to_look(what: str) -> str:
    return "the app's tasks in Tela's Workstation" if what == "task" else "the canvas's runs in Tela"


class Submission:
    """The life of one task instance's run (or Workstation task), for one try."""

    def __init__(self, context: Any, ask: Ask, *, conn_id: str, durable: bool, on_ambiguous: OnAmbiguous,
                 log: Any, output_schema: Any = None, wait_for: WaitFor = "output", max_cost: float | None = None,
                 operator: str = "TelaCompletionOperator") -> None:
        self.context = context
        self.ask = ask
        self.conn_id = conn_id
        self.on_ambiguous = on_ambiguous
        self.log = log
        self.output_schema = output_schema
        self.wait_for = wait_for
        self.slots = FileSlots()
        self.request = ask.build(self.slots)  # once per try: validated before any I/O
        self.record = DurableRun.open(context, fingerprint(conn_id, self.request.to_payload()), durable=durable)
        self._announced: str | None = None
        self.operator = operator
        self.outcome = _results.Outcome(kind=ask.kind)  # what metrics and lineage report of this try
        self.budget = None if max_cost is None else RunBudget.open(context, max_cost)

    @cached_property
    def ends(self) -> Ends:
        """Which statuses end the wait for what this submission creates."""
        return ends_for(self.ask.kind, self.wait_for)

    def over(self, job: Job) -> bool:
        return job.found is not None and self.ends.outcome(job.found.status) == "succeeded"

    # --- the earlier try's run ------------------------------------------------------------------------

    def reconnect(self, hook: TelaHook) -> Job | None:
        """What an earlier try of this task instance submitted, if it is still worth having."""
        decision = self.record.decision
        record = decision.record
        kind: Kind = "task" if record is not None and record.mode == "task" else "run"
        found = None
        if decision.action == "reattach" and record is not None:
            try:
                found = hook.get_task(str(record.run_id)) if kind == "task" else hook.get_run(str(record.run_id))
            except TelaNotFoundError:
                found = None
        action, reason = reconnect_action(decision, found, ends_for(kind, self.wait_for))
        if action == "wait" and found is not None:
            job = Job(kind, found.id, found, getattr(found, "completionRunId", None))
            self.announce(job)
            self.log.info("%s.", reason[0].upper() + reason[1:])
            return job
        if action == "submit":
            if record is not None:
                self.log.warning("Not re-attaching to the recorded Tela submission: %s; submitting afresh.", reason)
            return None
        assert record is not None
        where = f"try {record.try_number}" if record.try_number else "an earlier try"
        message = (
            f"{where} of this task sent a request that creates a Tela {self.ends.what} at "
            f"{record.written_at or 'an unknown time'} and did not learn its answer ({reason}): it may exist and "
            f"be paid for. Look for it in {where_to_look(self.ends.what)}. To submit again, clear the task (a clear "
            'asks for a new run) or set on_ambiguous="resubmit".'
        )
        if self.on_ambiguous == "fail":
            raise TelaAmbiguousRunError(message, run_id=record.run_id)
        self.log.warning("%s Resubmitting, as on_ambiguous='resubmit' asks.", message)
        return None

    # --- submitting -------------------------------------------------------------------------------------

    def _prepare(self, hook: TelaHook, validate_variables: bool) -> None:
        """Only when submitting (a re-attaching retry never needs the local files, which may be gone)."""
        if validate_variables and self.ask.canvas_id:
            hook.check_canvas_variables(str(self.ask.canvas_id), dict(self.ask.variables or {}))
        hook.upload_files(self.request, self.slots)

    def submit_job(self, hook: TelaHook, *, deadline: Deadline, validate_variables: bool = False) -> Job:
        """Check and upload the files, record the intent, send, record the id of what Tela created."""
        self._within_budget(hook)
        self._prepare(hook, validate_variables)
        self.record.intent(self.ask.mode)
        with self._sending():
            if self.ask.kind == "run":
                run = hook.submit_request(self.request, deadline=deadline)
                job = Job("run", run.id, run)
            else:
                job = self._task_job(hook.submit_task(self.request, deadline=deadline))
        self.record.submitted(job.id, "task" if job.kind == "task" else self.ask.mode)
        self.announce(job, getattr(job.found, "request_id", None))
        return job

    def _task_job(self, ref: Any) -> Job:
        if ref.task_id:
            return Job("task", ref.task_id, run_id=ref.run_id)
        # Tela named a completion run and no task lists it: its output can still be waited for, not a review
        if self.wait_for == "approval":
            raise detached(TelaAmbiguousRunError(
                f"Tela created completion run {ref.run_id} for application {self.ask.application_id}, but no task "
                "of the app names it, so its approval cannot be followed (the run is recorded: a retry does not "
                "pay again); wait_for='output' waits for the run's output instead.", run_id=ref.run_id))
        self.log.warning("Tela named completion run %s and no Workstation task of application %s lists it: waiting "
                         "for the run's output (no review can be followed).", ref.run_id, self.ask.application_id)
        self.ends = ends_for("run")  # (replaces the cached value)
        return Job("run", ref.run_id)

    def stream_job(self, hook: TelaHook, *, deadline: Deadline, validate_variables: bool = False
                   ) -> tuple[str, Any]:
        """Send with ``stream: true``, logging the answer as it grows; the run's (id, content)."""
        self._within_budget(hook)
        self._prepare(hook, validate_variables)
        self.record.intent("stream")
        pieces: list[str] = []
        final = None
        run_id = ""
        last_log = time.monotonic()
        with self._sending(), self.ending():
            for chunk in hook.stream_request(self.request, deadline=deadline):
                if chunk.id and not run_id:
                    run_id = chunk.id
                    self.record.submitted(run_id, "stream")
                    self.announce(Job("run", run_id))
                pieces.append(chunk.text)
                final = chunk.final_message or final
                if time.monotonic() - last_log >= STREAM_LOG_INTERVAL:
                    last_log = time.monotonic()
                    text = "".join(pieces)
                    self.log.info("Tela stream: %d characters so far: ...%s", len(text), text[-200:])
        content = final.content if final is not None and final.content is not None else {"text": "".join(pieces)}
        return run_id, content

    def _within_budget(self, hook: TelaHook) -> None:
        """With ``max_cost``, before anything is sent: what earlier tries spent (settled with Tela where
        their end or cost was not seen) must leave room for this try's run (``_budget``)."""
        if self.budget is None:
            return
        record = self.record.decision.record
        recorded: tuple[Kind, str] | None = None
        if record is not None and record.run_id and record.mode != "batch":
            recorded = ("task" if record.mode == "task" else "run", str(record.run_id))
        self.budget.settle(lambda kind, job_id: self._look_up(hook, kind, job_id), recorded)
        self.budget.check()

    @staticmethod
    def _look_up(hook: TelaHook, kind: Kind, job_id: str) -> tuple[str | None, Any] | None:
        try:
            found = hook.get_task(job_id) if kind == "task" else hook.get_run(job_id)
        except TelaNotFoundError:
            return None
        return ends_for(kind).outcome(found.status), found.usage.get("cost")

    @contextmanager
    def _sending(self) -> Iterator[None]:
        """A creating request's error outcomes: withdrawn (surely nothing created), or kept as may-exist."""
        error: TelaRunMayExistError | None = None
        try:
            yield
        except TelaRunMayExistError as exc:
            error = exc
        except TelaRunFailedError:
            raise  # a run that ended (a stream's error event): ending() ends it
        except TelaError:
            self.record.withdraw()  # refused, unreachable: nothing was created, the retry submits
            raise
        if error is not None:
            raise self._may_exist(error)

    def _may_exist(self, error: TelaRunMayExistError) -> TelaError:
        """The error a try ends with when its submission's fate is unknown."""
        if error.run_id:
            self.record.submitted(error.run_id, "stream" if self.ask.stream else "async")
            self.announce(Job("run", error.run_id), error.request_id)
            if self.record.store.remembers:
                return detached(error)  # a retry re-attaches to the recorded run
        if self.on_ambiguous == "fail":
            return detached(TelaAmbiguousRunError(
                f"{error} The task fails without retrying (on_ambiguous='fail'); clear it to submit again.",
                run_id=error.run_id, status_code=error.status_code,
            ))
        return detached(error)

    # --- waiting and finishing -----------------------------------------------------------------------

    @contextmanager
    def ending(self) -> Iterator[None]:
        """A run or task that failed ends its record: the retry submits a new one either way."""
        try:
            yield
        except TelaRunFailedError as exc:
            if self.budget is not None:  # noted before the record ends: below 3.3 that deletes it
                self.budget.ended(self._kind, exc.run_id, "failed", exc.usage)
            self.record.ended()
            raise

    def poll_until_complete(self, hook: TelaHook, job: Job, *, poll_interval: float, timeout: float) -> Job:
        with self.ending():
            found = hook.wait(job.kind, job.id, self.ends, poll_interval, timeout, first_poll_in=1.0)
        return Job(job.kind, job.id, found, job.run_id or getattr(found, "completionRunId", None))

    def stream_usage(self, hook: TelaHook, run_id: str, deadline: Deadline) -> dict[str, Any]:
        """A stream carries no usage: ask Tela for the run once the stream is over (it may need a
        moment to record the end of the run)."""
        if not run_id:
            return {}
        try:
            return hook.wait_for_run(run_id, poll_interval=1.0, timeout=deadline.bound(30.0)).usage
        except TelaError as exc:
            self.log.warning("Usage of streamed run %s could not be fetched (%s); XCom usage is empty", run_id, exc)
            return {}

    def get_job_result(self, job_id: str, usage: dict[str, Any], content: Any,
                       write: Callable[[Any], Any] | None = None, review: dict[str, Any] | None = None) -> Any:
        """The content, checked, with its XComs; the record ends once the task took it."""
        self.outcome.job_id = job_id
        if self.budget is not None:  # paid for, whatever becomes of its output
            self.budget.ended(self._kind, job_id, "succeeded", usage)
        try:
            if review is not None:
                self.context["ti"].xcom_push(key=_results.TASK_KEY, value=review)
            result = _results.finish(self.context, job_id, usage, content, self.log,
                                     _results.output_check(self.output_schema), what=self.ends.what)
        except TelaError:
            # over, and its output refused: a retry asks for a new run (never this one's again)
            self.record.forget()
            self.report("invalid_output", usage)
            raise
        if write is not None:
            result = write(result)  # a failed write keeps the record: the retry re-attaches and writes again
        self.record.ended()
        if self.budget is not None:
            self.budget.end()
        self.report("succeeded", usage)
        return result

    def result_of(self, job: Job, write: Callable[[Any], Any] | None = None) -> Any:
        """``get_job_result`` of a job found over in the worker."""
        found = job.found
        if found is None:
            raise TelaBadResponseError(f"Tela {job.kind} {job.id} has no result yet")
        return self.get_job_result(job.id, found.usage, found.content, write,
                                   found.review if job.kind == "task" else None)

    def announce(self, job: Job, request_id: str | None = None) -> None:
        """Push the id to XCom once per try, whichever way this try came to know it."""
        if self._announced != job.id:
            if self.budget is not None:  # the run exists: noted before anything else can go wrong
                self.budget.submitted(job.kind, job.id)
            _results.push_ids(self.context, job.kind, job.id, self.log, request_id, run_id=job.run_id)
            self._announced = job.id
            self.outcome.kind, self.outcome.job_id = job.kind, job.id

    @property
    def _kind(self) -> Kind:
        return "task" if self.ends.what == "task" else "run"

    def failed(self, error: BaseException) -> None:
        """The try ends with ``error`` (``failing`` calls this): its outcome, named after the error."""
        run_id = getattr(error, "run_id", None)
        if self.outcome.job_id is None and isinstance(run_id, str):
            self.outcome.job_id = run_id  # (resumed after a deferral: the event named it)
        self.report(_results.outcome_of(error), getattr(error, "usage", None))

    def report(self, status: str, usage: dict[str, Any] | None = None) -> None:
        """How this try's submission ended, once: kept for lineage, and told to the metrics."""
        if self.outcome.status is not None:
            return
        self.outcome.status, self.outcome.usage = status, dict(usage) if usage else None
        from airflow_provider_tela import _metrics

        _metrics.completion(status, usage, _metrics.tags_for(
            self.conn_id, self.operator, self.ask.canvas_id or self.ask.version_id, self.ask.application_id))


@dataclass
class Tried:
    """What ``failing`` knows of the try it is around: its submission, once opened."""

    submission: Submission | None = None


@contextmanager
def failing(context: Any, durable: bool, *, budget: bool = False) -> Iterator[Tried]:
    """Around a whole try: one that fails the task for good (an error no retry can fix, or the last try)
    ends the record (and, with ``max_cost``, the budget's), since nothing can read it again (a clear
    starts a new life of the task instance). A try that fails once its submission is open reports how
    it ended (``Submission.report``)."""
    from airflow.providers.common.compat.sdk import AirflowFailException

    tried = Tried()
    try:
        yield tried
    except Exception as exc:  # (a deferral is a BaseException: it is no failure)
        if tried.submission is not None:
            tried.submission.failed(exc)
        ti = context.get("ti")
        last = ti is not None and getattr(ti, "try_number", 0) > getattr(ti, "max_tries", 0)
        if isinstance(exc, AirflowFailException) or last:
            DurableRun.end_for(context, durable)
            if budget:
                RunBudget.end_for(context)
        raise
