"""A production pipeline: submit without waiting, wait with a deferrable sensor, retries and a timeout.

The submit task returns at once with the run id (XCom key ``run_id``); the sensor waits for that run
in the triggerer and returns its structured output. Both are safe to retry: the operator reconnects
to the run it submitted, the sensor only reads.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_tela import TelaCompletionOperator, TelaRunSensor

CANVAS_ID = os.environ.get("TELA_REVIEW_CANVAS_ID", "canvas-structured")

default_args = {"retries": 3, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": True}


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, default_args=default_args, tags=["tela", "example"])
def tela_production_pipeline():
    submit = TelaCompletionOperator(
        task_id="submit",
        canvas_id=CANVAS_ID,
        variables={"text": "{{ dag_run.conf.get('text', 'The quarterly numbers beat expectations.') }}"},
        override={
            "structured_output": {
                "enabled": True,
                "schema": {
                    "type": "object",
                    "properties": {"summary": {"type": "string"}, "sentiment": {"type": "string"}},
                    "required": ["summary", "sentiment"],
                },
            }
        },
        wait_for_completion=False,
    )

    wait = TelaRunSensor(
        task_id="wait",
        run_id="{{ ti.xcom_pull(task_ids='submit', key='run_id') }}",
        deferrable=True,
        poke_interval=5,
        timeout=1800,
    )

    @task
    def publish(review: dict) -> str:
        print(f"Review sentiment: {review['sentiment']}")
        return review["sentiment"]

    submit >> wait
    publish(wait.output)


tela_production_pipeline()
