"""Scheduled enrichment: every night, one canvas run per record, mapped, in parallel, deferred.

Each mapped task is durable: a retry reconnects to the run its earlier try submitted, so a crash in
the middle of ten thousand rows does not pay twice for the rows already submitted.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_tela import TelaCompletionOperator

CANVAS_ID = os.environ.get("TELA_ENRICH_CANVAS_ID", "canvas-structured")


@dag(schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False, max_active_tasks=16, tags=["tela", "example"])
def tela_enrichment():
    @task
    def new_records() -> list[dict[str, str]]:
        # In a real DAG: the rows added since the last run, read from the warehouse.
        rows = ["Great service, fast delivery.", "The parcel arrived damaged.", "Average experience."]
        return [{"text": row} for row in rows]

    enrich = TelaCompletionOperator.partial(
        task_id="enrich",
        canvas_id=CANVAS_ID,
        deferrable=True,
        poll_interval=10,
        retries=2,
        retry_delay=timedelta(seconds=30),
    ).expand(variables=new_records())

    @task
    def store(results: list[dict]) -> int:
        for result in results:
            print(f"enriched: {result}")
        return len(results)

    store(enrich.output)


tela_enrichment()
