"""TelaRunSensor: wait for a run submitted elsewhere (e.g. by a fire-and-forget operator)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_tela._types import WAIT_FOR, Kind, WaitFor
from airflow_provider_tela.errors import TelaConfigError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_tela._wait import RunWait, SensorSchedule
    from airflow_provider_tela.hooks.tela import TelaHook


def sensor_outcome(error: Exception, *, soft_fail: bool, never_fail: bool) -> BaseException:
    """What a sensor's try ends with, whatever its mode, when waiting for the run raised ``error``.

    The one policy of every mode (poke, reschedule, deferrable before and after deferral), as
    ``BaseSensorOperator`` applies it in poke mode: a timeout, or an error no retry can fix (the run
    failed, is unknown to Tela, the key was refused), skips the task with ``soft_fail`` (or
    ``never_fail``); any other error skips it with ``never_fail`` only, else fails the try (retried).
    """
    from airflow_provider_tela.errors import TelaTimeoutError

    if isinstance(error, AirflowSkipException):
        return error
    if isinstance(error, TelaTimeoutError):
        error = AirflowSensorTimeout(str(error))
    final = isinstance(error, (AirflowFailException, AirflowSensorTimeout))
    if (final and soft_fail) or never_fail:
        return AirflowSkipException(f"Skipping ({'soft_fail' if soft_fail else 'never_fail'}): {error}")
    return error


class _TelaWaitSensor(BaseSensorOperator):
    """What TelaRunSensor and TelaTaskSensor share: one id, one schedule, one outcome policy, one wait
    machine, in every mode. Subclasses name what they wait for (``kind``, ``_job_id``, ``wait_for``)."""

    kind: Kind = "run"
    _id_field = "run_id"
    ui_color = "#e8e2fb"

    def __init__(
        self,
        *,
        tela_conn_id: str = "tela_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not self.poke_interval > 0:
            raise TelaConfigError(f"poke_interval must be a positive number of seconds, got {self.poke_interval!r}")
        self.tela_conn_id = tela_conn_id
        self.deferrable = deferrable
        self._wait: RunWait | None = None  # poke mode: one machine judges every poke of this try

    wait_for: WaitFor = "output"

    @property
    def _job_id(self) -> str:
        return str(getattr(self, self._id_field))

    @cached_property
    def hook(self) -> TelaHook:
        from airflow_provider_tela.hooks.tela import TelaHook

        return TelaHook(self.tela_conn_id)

    def schedule(self, started_at: Any = None) -> SensorSchedule:
        from airflow_provider_tela._wait import SensorSchedule

        max_wait = getattr(self, "max_wait", None)
        return SensorSchedule(
            float(self.poke_interval), bool(getattr(self, "exponential_backoff", False)),
            max_wait.total_seconds() if max_wait is not None else None,
            f"{self.dag_id}#{self.task_id}#{started_at if started_at is not None else ''}",
        )

    def _get_next_poke_interval(self, started_at: Any, run_duration: Any, poke_count: int) -> float:
        """Poke and reschedule modes take the same schedule as the trigger."""
        schedule = self.schedule(started_at)
        if self.reschedule:  # each reschedule is a new try: count the pokes the time elapsed held
            elapsed, poke_count, spent = run_duration(), 0, 0.0
            while spent <= elapsed:
                poke_count += 1
                spent += schedule.after(poke_count)
        return max(0.0, min(float(self.timeout) - run_duration(), schedule.after(poke_count)))

    @contextmanager
    def _outcomes(self) -> Iterator[None]:
        error = None
        try:
            yield
        except Exception as exc:  # (a deferral is a BaseException: it is no outcome)
            error = sensor_outcome(exc, soft_fail=self.soft_fail, never_fail=getattr(self, "never_fail", False))
            if error is exc:
                raise
        if error is not None:
            raise error

    def execute(self, context: Context) -> Any:
        from airflow_provider_tela._ids import plain_id

        with self._outcomes():
            setattr(self, self._id_field, plain_id(self._job_id, self._id_field))
            if not self.deferrable:
                if self.reschedule:
                    from airflow_provider_tela._compat import reschedule_date_as_datetime

                    reschedule_date_as_datetime(context["ti"])
                return super().execute(context)
            checked = self.poke(context)
            if isinstance(checked, PokeReturnValue) and checked.is_done:
                return checked.xcom_value
            self._defer()
        return None

    def _defer(self) -> None:
        from airflow_provider_tela.triggers.tela import TelaRunTrigger, TelaTaskTrigger, backstop

        schedule = self.schedule(time.time())
        timing: dict[str, Any] = {
            "tela_conn_id": self.tela_conn_id, "poll_interval": self.poke_interval,
            "end_time": time.time() + self.timeout, "first_poll_in": schedule.after(1),
            "schedule": schedule.to_json(), "patient": True,
        }
        trigger = (TelaTaskTrigger(self._job_id, wait_for=self.wait_for, **timing) if self.kind == "task"
                   else TelaRunTrigger(self._job_id, **timing))
        self.defer(trigger=trigger, method_name="execute_complete", timeout=backstop(self.timeout, self.poke_interval))

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """One status check, sent once, judged by the same wait machine as the trigger's (statuses,
        unknown statuses, errors); the sensor's own schedule is the retry loop."""
        from airflow_provider_tela._wait import Finished, RunWait, ends_for
        from airflow_provider_tela.errors import TelaError

        if self._wait is None:
            self._wait = RunWait(self._job_id, poll_interval=float(self.poke_interval), deadline=None,
                                 first_poll_at=0, max_bad_answers=None, ends=ends_for(self.kind, self.wait_for))
        try:
            outcome: Any = self.hook.poll(self.kind, self._job_id)
        except TelaError as exc:
            outcome = exc
        now = time.monotonic()
        self._wait.report(outcome, now, self.log)
        step = self._wait.next(now)
        if not isinstance(step, Finished):
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._result(context, step))

    def _result(self, context: Context, finished: Any) -> Any:
        from airflow_provider_tela.errors import TelaWatchedRunFailedError

        found = finished.run
        if finished.outcome == "succeeded":
            return self._finish(context, found.id, found.usage, found.content,
                                found.review if self.kind == "task" else None)
        if finished.outcome == "failed":
            raise TelaWatchedRunFailedError(found.id, found.failure_reason(), self.kind)
        raise finished.error

    def _finish(self, context: Context, job_id: str, usage: dict[str, Any], content: Any,
                review: dict[str, Any] | None) -> Any:
        from airflow_provider_tela._results import TASK_KEY, finish

        if review is not None:
            context["ti"].xcom_push(key=TASK_KEY, value=review)
        return finish(context, job_id, usage, content, self.log, what=self.kind)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from airflow_provider_tela._results import event_result
        from airflow_provider_tela.errors import TelaRunFailedError, TelaWatchedRunFailedError

        with self._outcomes():
            try:
                job_id, usage, content, review = event_result(event, lambda: self.hook, self.timeout, self.kind)
            except TelaRunFailedError as exc:
                raise TelaWatchedRunFailedError(exc.run_id, exc.reason, exc.what) from None
            return self._finish(context, job_id, usage, content, review)


class TelaRunSensor(_TelaWaitSensor):
    """Succeed when the Tela run ``run_id`` succeeded, returning its output content.

    Fails with the API's reason when the run failed (``TelaWatchedRunFailedError``, without retrying:
    a retry cannot change it).
    Works in ``poke`` and ``reschedule`` modes, or deferred to the triggerer with ``deferrable=True``
    (after one check in the worker, so that a run already over needs no trigger). Every mode checks
    on one schedule (``poke_interval``, ``exponential_backoff``, ``max_wait``) and ends through one
    outcome policy (``timeout``, ``soft_fail`` and ``never_fail`` as for every sensor). A status
    check that fails transiently (throttled, 5xx, unreachable), gets an answer that cannot be read
    (each is logged), or finds a status this provider does not know counts as "not yet", in every mode.

    :param run_id: the run to wait for (templated), e.g. ``"{{ ti.xcom_pull('submit', key='run_id') }}"``;
        surrounding whitespace is removed, anything but a plain id is refused before any request.
    :param tela_conn_id: the Tela connection, ``tela_default`` by default.
    :param deferrable: wait in the triggerer; default from ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("run_id",)

    def __init__(self, *, run_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id


class TelaTaskSensor(_TelaWaitSensor):
    """Wait for a Workstation task made elsewhere until its output is there or a reviewer approved it.

    ``wait_for="output"`` (default) succeeds once the task's run ended (the task is in review, or
    completed in an app without review); ``"approval"`` once it is ``completed`` (approved): an approval
    revoked before a check saw it is not one. Returns the task's output as it is then (a reviewer may
    have edited it), with XCom ``tela_task`` holding its review (status, approved at and by, edited).
    A failed or cancelled task fails the sensor without retrying. Every mode, schedule and outcome
    rule is TelaRunSensor's.

    :param tela_task_id: the task to wait for (templated), e.g.
        ``"{{ ti.xcom_pull('submit', key='tela_task_id') }}"``.
    :param wait_for: ``"output"`` or ``"approval"``.
    :param tela_conn_id: the Tela connection, ``tela_default`` by default.
    :param deferrable: wait in the triggerer; default from ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("tela_task_id",)
    kind: Kind = "task"
    _id_field = "tela_task_id"

    def __init__(self, *, tela_task_id: str, wait_for: WaitFor = "output", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if wait_for not in WAIT_FOR:
            raise TelaConfigError(f"wait_for must be one of {WAIT_FOR}, got {wait_for!r}")
        self.tela_task_id = tela_task_id
        self.wait_for = wait_for
