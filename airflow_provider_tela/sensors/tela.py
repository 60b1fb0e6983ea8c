"""TelaRunSensor: wait for a run submitted elsewhere (e.g. by a fire-and-forget operator)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_tela.errors import TelaConfigError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_tela.hooks.tela import TelaHook

# The deferral's own timeout, past the trigger's deadline: it fails the task if the trigger is lost.
DEFER_BACKSTOP_MARGIN = 120.0


class TelaRunSensor(BaseSensorOperator):
    """Succeed when the Tela run ``run_id`` succeeded, returning its output content.

    Fails with the API's reason when the run failed. Works in ``poke`` and ``reschedule`` modes, or
    deferred to the triggerer with ``deferrable=True`` (after one check in the worker, so that a run
    already over needs no trigger); ``timeout`` and ``soft_fail`` behave as for every sensor. A
    status check that fails transiently (throttled, 5xx, unreachable) or finds a status this provider
    does not know counts as "not yet".

    :param run_id: the run to wait for (templated), e.g. ``"{{ ti.xcom_pull('submit', key='run_id') }}"``.
    :param tela_conn_id: the Tela connection, ``tela_default`` by default.
    :param deferrable: wait in the triggerer; default from ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("run_id",)
    ui_color = "#e8e2fb"

    def __init__(
        self,
        *,
        run_id: str,
        tela_conn_id: str = "tela_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not self.poke_interval > 0:
            raise TelaConfigError(f"poke_interval must be a positive number of seconds, got {self.poke_interval!r}")
        self.run_id = run_id
        self.tela_conn_id = tela_conn_id
        self.deferrable = deferrable
        self._unknown_logged: set[str] = set()  # statuses already warned about, once each

    @cached_property
    def hook(self) -> TelaHook:
        from airflow_provider_tela.hooks.tela import TelaHook

        return TelaHook(self.tela_conn_id)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        checked = self.poke(context)
        if isinstance(checked, PokeReturnValue) and checked.is_done:
            return checked.xcom_value
        from airflow_provider_tela.triggers.tela import TelaRunTrigger

        self.defer(
            trigger=TelaRunTrigger(
                run_id=self.run_id, tela_conn_id=self.tela_conn_id, poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout, first_poll_in=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + max(DEFER_BACKSTOP_MARGIN, 2 * self.poke_interval)),
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """One status check, sent once: the sensor's own schedule is the retry loop."""
        from airflow_provider_tela._results import finish
        from airflow_provider_tela._wait import unknown_status_note
        from airflow_provider_tela.errors import TelaBadResponseError, TelaError, TelaRunFailedError
        from airflow_provider_tela.models import RunStatus

        try:
            run = self.hook.get_run(self.run_id, retries=False)
        except TelaError as exc:
            if exc.transient or isinstance(exc, TelaBadResponseError):
                self.log.warning("Tela run %s: status check failed, will check again: %s", self.run_id, exc)
                return False
            raise
        self.log.info("Tela run %s is %s", self.run_id, run.status)
        if run.status == RunStatus.FAILED:
            raise TelaRunFailedError(run.id, run.failure_reason())
        if run.status != RunStatus.SUCCEEDED:
            note = unknown_status_note(self.run_id, run.status, self._unknown_logged)
            if note is not None:
                self.log.warning(note)
            return False
        return PokeReturnValue(is_done=True, xcom_value=finish(context, run.id, run.usage, run.content, self.log))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException

        from airflow_provider_tela._results import event_result, finish
        from airflow_provider_tela.errors import TelaTimeoutError

        error = None
        try:
            run_id, usage, content = event_result(event, lambda: self.hook, self.timeout)
        except TelaTimeoutError as exc:
            # the same outcome as a poking sensor's timeout, so that soft_fail skips instead of failing
            error = AirflowSkipException(str(exc)) if self.soft_fail else AirflowSensorTimeout(str(exc))
        if error is not None:
            raise error
        return finish(context, run_id, usage, content, self.log)
