"""TelaRunSensor: wait for a run submitted elsewhere (e.g. by a fire-and-forget operator)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, PokeReturnValue, conf

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_tela.hooks.tela import TelaHook


class TelaRunSensor(BaseSensorOperator):
    """Succeed when the Tela run ``run_id`` succeeded, returning its output content.

    Fails with the API's reason when the run failed. Works in ``poke`` and ``reschedule`` modes, or
    deferred to the triggerer with ``deferrable=True``; ``timeout`` and ``soft_fail`` behave as for
    every sensor.

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
        self.run_id = run_id
        self.tela_conn_id = tela_conn_id
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> TelaHook:
        from airflow_provider_tela.hooks.tela import TelaHook

        return TelaHook(self.tela_conn_id)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_tela.triggers.tela import TelaRunTrigger

        self.defer(
            trigger=TelaRunTrigger(
                run_id=self.run_id, tela_conn_id=self.tela_conn_id, poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
            ),
            method_name="execute_complete",
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        from airflow_provider_tela._http.polling import run_finished
        from airflow_provider_tela._results import finish_run

        run = self.hook.get_run(self.run_id)
        self.log.info("Tela run %s is %s", self.run_id, run.status)
        if not run_finished(run):
            return False
        return PokeReturnValue(is_done=True, xcom_value=finish_run(context, run, self.log))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException

        from airflow_provider_tela._results import finish_event
        from airflow_provider_tela.errors import TelaTimeoutError

        try:
            return finish_event(context, event, lambda: self.hook, self.timeout, self.log)
        except TelaTimeoutError as exc:
            # the same outcome as a poking sensor's timeout, so that soft_fail skips instead of failing
            if self.soft_fail:
                raise AirflowSkipException(str(exc)) from exc
            raise AirflowSensorTimeout(str(exc)) from exc
