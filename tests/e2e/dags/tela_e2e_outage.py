"""Scenario 4: the API is unreachable for longer than the client's retry budget."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_tela.operators.tela import TelaCompletionOperator

START = datetime(2026, 1, 1)
RETRIES = {"retries": 2, "retry_delay": timedelta(seconds=5)}
# The test brings the API back once the first try of both tasks failed; their first tries can start far
# apart on a loaded machine, and the earlier task must not run out of tries meanwhile: six retries, each
# 5 s or more after the last try, give it 30 s or more. The first retry after the API is back succeeds,
# so the extra ones cost nothing when all goes well.
OUTAGE_RETRIES = {"retries": 6, "retry_delay": timedelta(seconds=5)}

# The API is down before anything is submitted: the first try fails, the retry submits once.
with DAG("tela_e2e_outage_before_submit", schedule=None, start_date=START, default_args=OUTAGE_RETRIES):
    TelaCompletionOperator(
        task_id="submit_deferred", canvas_id="canvas-echo", variables={"document": "outage, deferred"},
        tela_conn_id="tela_outage", deferrable=True, poll_interval=1,
    )
    TelaCompletionOperator(
        task_id="submit_in_worker", canvas_id="canvas-echo", variables={"document": "outage, in worker"},
        tela_conn_id="tela_outage", deferrable=False, poll_interval=1,
    )

# The run was accepted, then the API went away: both waits ride the outage out until their deadline.
with DAG("tela_e2e_outage_while_waiting", schedule=None, start_date=START, default_args=RETRIES):
    TelaCompletionOperator(
        task_id="wait_in_worker", canvas_id="canvas-echo", variables={"document": "accepted, in worker"},
        tela_conn_id="tela_outage", deferrable=False, poll_interval=1,
    )
    TelaCompletionOperator(
        task_id="wait_deferred", canvas_id="canvas-echo", variables={"document": "accepted, deferred"},
        tela_conn_id="tela_outage", deferrable=True, poll_interval=1,
    )
