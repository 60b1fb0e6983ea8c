"""Scenario 5: every path that could leak the API key, exercised once: templating, deferral, failure."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_tela.operators.tela import TelaCompletionOperator

with DAG("tela_e2e_secrets", schedule=None, start_date=datetime(2026, 1, 1)):
    TelaCompletionOperator(
        task_id="templated_deferred", canvas_id="canvas-slow",
        variables={"document": "run {{ run_id }} of {{ dag.dag_id }}", "language": "{{ 'e' ~ 'n' }}"},
        messages=[{"role": "user", "content": "Task {{ ti.task_id }}"}],
        deferrable=True, poll_interval=1,
    )
    TelaCompletionOperator(
        task_id="templated_in_worker", canvas_id="canvas-echo",
        variables={"document": "run {{ run_id }}"}, deferrable=False, poll_interval=1,
    )
    TelaCompletionOperator(
        task_id="failing_run", canvas_id="canvas-fail", variables={"document": "{{ run_id }}"},
        deferrable=True, poll_interval=1,
    )
    TelaCompletionOperator(
        task_id="key_from_file", canvas_id="canvas-echo", variables={"document": "key with its newline"},
        tela_conn_id="tela_key_from_file", deferrable=True, poll_interval=1,
    )
    TelaCompletionOperator(
        task_id="refused_key", canvas_id="canvas-echo", variables={"document": "wrong key"},
        tela_conn_id="tela_wrong_key", deferrable=False,
    )
