"""Scenario 4: the API is unreachable for longer than the client's retry budget."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_tela.operators.tela import TelaCompletionOperator

START = datetime(2026, 1, 1)
# Long enough for the test to bring the API back between the tries.
RETRIES = {"retries": 2, "retry_delay": timedelta(seconds=5)}

# The API is down before anything is submitted: the first try fails, the retry submits once.
with DAG("tela_e2e_outage_before_submit", schedule=None, start_date=START, default_args=RETRIES):
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
