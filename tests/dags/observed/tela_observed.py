"""One DAG run that every observability test reads (tests/dags/test_observability_dags.py): each way a
Tela task ends, run by `airflow dags test` with OpenLineage's file transport and statsd on.

Paths come from the environment the test sets (TELA_OBSERVED_DIR); the emulator's canvases
(canvas-observed, canvas-picky) are registered by the test.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, ObjectStoragePath, task

from airflow_provider_tela import TelaBatchOperator, TelaCompletionOperator, TelaFile

HERE = Path(os.environ.get("TELA_OBSERVED_DIR", "/tmp/tela-observed"))
SECRET_TEXT = "a-variable-value-no-event-may-hold"

with DAG("tela_observed", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    batch = TelaBatchOperator(  # throttled twice (the test's 429 faults), one record fails
        task_id="batch", canvas_id="canvas-picky", records=str(HERE / "records.jsonl"),
        output_path=str(HERE / "batch-out"), concurrency=2, poll_interval=0.5, max_failed_fraction=0.5,
    )
    worker = TelaCompletionOperator(
        task_id="worker", canvas_id="canvas-observed", variables={"document": "plain text"}, poll_interval=0.5,
    )
    deferred = TelaCompletionOperator(
        task_id="deferred", canvas_id="canvas-observed", deferrable=True, poll_interval=0.5,
        variables={"document": TelaFile(str(HERE / "local.txt")),
                   "scan": ObjectStoragePath(f"file://{HERE / 'stored.txt'}"), "note": SECRET_TEXT},
        output_path=str(HERE / "deferred-out.json"),
    )

    @task.tela(canvas_id="canvas-observed", deferrable=True, poll_interval=0.5)
    def decorated():
        return {"document": TelaFile(str(HERE / "local.txt"))}

    failing = TelaCompletionOperator(
        task_id="failing", canvas_id="canvas-fail", deferrable=True, poll_interval=0.5, retries=0,
    )
    batch >> worker >> deferred >> decorated() >> failing
