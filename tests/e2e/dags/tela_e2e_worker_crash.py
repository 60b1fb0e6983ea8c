"""Scenario 3: a worker waiting in-process (deferrable=False) is killed; the retry reconnects."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_tela.operators.tela import TelaCompletionOperator


def record_pids(context):
    """Tell the test which processes run this try: the task process and its supervisor."""
    ti = context["ti"]
    folder = Path(os.environ["TELA_E2E_PID_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{ti.task_id}.{ti.try_number}.json").write_text(json.dumps({"pid": os.getpid(), "ppid": os.getppid()}))


with DAG(
    "tela_e2e_worker_crash",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1), "on_execute_callback": record_pids},
):
    # The whole worker dies (supervisor and task process): only the scheduler's heartbeat check sees it.
    TelaCompletionOperator(
        task_id="worker_killed", canvas_id="canvas-slow", variables={"document": "worker killed"},
        deferrable=False, poll_interval=2,
    )
    # Only the task process dies: its supervisor reports the failure.
    TelaCompletionOperator(
        task_id="task_process_killed", canvas_id="canvas-slow", variables={"document": "task process killed"},
        deferrable=False, poll_interval=2,
    )
