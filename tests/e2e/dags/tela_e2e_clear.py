"""Items 11 and 12: a cleared task runs again; an edited request is never answered with the old run."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_tela.operators.tela import TelaCompletionOperator

with DAG("tela_e2e_clear", schedule=None, start_date=datetime(2026, 1, 1)):
    for deferrable in (False, True):
        TelaCompletionOperator(
            task_id=f"summarise_{'deferred' if deferrable else 'in_worker'}", canvas_id="canvas-echo",
            variables={"document": "{{ var.value.get('tela_e2e_document', 'first version') }}"},
            deferrable=deferrable, poll_interval=1,
        )
