"""Scenario 2: deferred runs outlive a triggerer killed with SIGKILL."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_tela.operators.tela import TelaCompletionOperator

DOCUMENTS = [{"document": f"deferred through a triggerer crash {i}"} for i in range(4)]

with DAG("tela_e2e_triggerer_restart", schedule=None, start_date=datetime(2026, 1, 1)):
    TelaCompletionOperator.partial(
        task_id="summarise", canvas_id="canvas-slow", deferrable=True, poll_interval=2,
    ).expand(variables=DOCUMENTS)
