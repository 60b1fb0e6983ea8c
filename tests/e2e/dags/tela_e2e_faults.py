"""Scenario 1: many runs through an API that throttles, errors and drops connections."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_tela.operators.tela import TelaCompletionOperator

DEFERRED_ROWS = [{"document": f"deferred row {i}"} for i in range(40)]
IN_WORKER_ROWS = [{"document": f"in-worker row {i}"} for i in range(12)]

with DAG(
    "tela_e2e_faults",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    max_active_tasks=16,
    # A try that fails on a dropped submission (TelaRunMayExistError) is retried by Airflow and, as
    # on_ambiguous="resubmit" allows, submits again: the faults here drop a POST before Tela acts on it.
    default_args={"retries": 4, "retry_delay": timedelta(seconds=2)},
):
    common = {"canvas_id": "canvas-echo", "tela_conn_id": "tela_faults", "poll_interval": 1,
              "on_ambiguous": "resubmit"}
    TelaCompletionOperator.partial(task_id="enrich_deferred", deferrable=True, **common).expand(
        variables=DEFERRED_ROWS
    )
    TelaCompletionOperator.partial(task_id="enrich_in_worker", deferrable=False, **common).expand(
        variables=IN_WORKER_ROWS
    )
