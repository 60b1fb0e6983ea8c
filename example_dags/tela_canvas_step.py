"""A canvas step inside an ETL: extract a document, summarise it with a Tela canvas, load the summary.

The canvas runs asynchronously in Tela; the task defers to the triggerer while it runs, so no worker
slot is held. The summary arrives as the task's XCom return value; tokens and cost under key ``usage``.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_tela import TelaCompletionOperator

CANVAS_ID = os.environ.get("TELA_SUMMARY_CANVAS_ID", "canvas-echo")


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["tela", "example"])
def tela_canvas_step():
    @task
    def extract() -> str:
        return "Invoice 2026-113: 3 laptops at 1,200 EUR each, due 30 days after delivery."

    summarise = TelaCompletionOperator(
        task_id="summarise",
        canvas_id=CANVAS_ID,
        variables={"document": "{{ ti.xcom_pull(task_ids='extract') }}", "language": "en"},
        deferrable=True,
        poll_interval=5,
        timeout=600,
    )

    @task
    def load(summary: dict, usage: dict) -> None:
        print(f"Loaded canvas output: {summary}")
        print(f"Canvas usage: {usage}")

    extract() >> summarise
    load(summarise.output, summarise.output["usage"])


tela_canvas_step()
