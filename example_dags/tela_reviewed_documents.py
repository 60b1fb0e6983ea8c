"""A reviewed pipeline: documents go to a Workstation app, a person approves each output in Tela, and the
DAG loads what was approved (as the reviewer left it: they may have edited it).

Each document becomes a task of the app (``application_id``); ``wait_for="approval"`` waits, in the
triggerer, until a reviewer approved it in Tela's Workstation. An approval revoked before the wait saw it
is not one; a task the reviewer rejects (fails or cancels) fails its DAG task. Retries re-attach to the
task already created: a document is never sent for review twice.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_tela import TelaCompletionOperator

APPLICATION_ID = os.environ.get("TELA_REVIEW_APPLICATION_ID", "app-review")


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["tela", "example"],
     default_args={"retries": 2, "retry_delay": timedelta(minutes=5)})
def tela_reviewed_documents():
    @task
    def documents() -> list[dict]:
        return [
            {"document": "Contract 41: the supplier delivers 500 units by March."},
            {"document": "Contract 42: payment within 60 days of invoice."},
        ]

    review = TelaCompletionOperator.partial(
        task_id="review",
        application_id=APPLICATION_ID,
        label="contract review {{ ds }}",
        tags=["contracts"],
        wait_for="approval",
        deferrable=True,
        poll_interval=60,
        timeout=3 * 24 * 3600,  # reviewers have three days
    ).expand(variables=documents())

    @task
    def load(approved: list) -> int:
        for output in approved:
            print(f"Approved: {output}")
        return len(approved)

    load(review.output)


tela_reviewed_documents()
