"""The budget across tries, as docs/observability.md shows it.

tests/examples/test_docs_examples.py parses this DAG and runs it once against the local emulator, with
TELA_OUTPUT_URL pointing at a local folder.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_provider_tela import TelaBatchOperator, TelaCompletionOperator

OUTPUT_URL = os.environ.get("TELA_OUTPUT_URL", "s3://my-bucket/tela/")


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["tela", "docs"])
def docs_observability():
    @task
    def load_records() -> list[dict]:
        return [{"document": f"Report {n}: sales rose {n} percent."} for n in range(1, 4)]

    # --8<-- [start:budget]
    summary = TelaCompletionOperator(
        task_id="summarize",
        canvas_id="95cec438-6080-44fe-8275-28b16bd40178",
        variables={"document": "Quarterly report: sales rose 4 percent."},
        output_path=OUTPUT_URL + "{{ run_id }}/summary.json",
        retries=3,
        retry_delay=timedelta(minutes=1),
        max_cost=0.50,        # what all tries of this task instance may spend together
    )
    enrich = TelaBatchOperator(
        task_id="enrich",
        canvas_id="95cec438-6080-44fe-8275-28b16bd40178",
        records=load_records(),
        output_path=OUTPUT_URL + "{{ run_id }}/batch/",
        retries=2,
        max_cost=25.0,        # every try of the batch counts against it, a retry's too
    )
    # --8<-- [end:budget]
    summary >> enrich


docs_observability()
