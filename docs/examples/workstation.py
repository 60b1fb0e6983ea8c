"""Workstation apps as docs/workstation.md shows them: a task per document, a reviewer's approval, a
task made elsewhere waited for by the sensor, and a batch of tasks.

tests/examples/test_docs_examples.py parses this DAG and runs it once against the local emulator, which
plays the reviewer too.
"""

from __future__ import annotations

# --8<-- [start:imports]
from datetime import datetime

from airflow.sdk import dag

from airflow_provider_tela import TelaBatchOperator, TelaCompletionOperator, TelaTaskSensor

# --8<-- [end:imports]


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["tela", "docs"])
def docs_workstation():
    # --8<-- [start:approval]
    review = TelaCompletionOperator(
        task_id="review",
        application_id="app-review",                 # a Workstation app: this creates a task in it
        variables={"document": "Contract 41: 500 units by March."},
        label="contract 41",                         # the task's name in Workstation
        tags=["contracts", "{{ ds }}"],
        wait_for="approval",                         # or "output": the task's output, before any review
        deferrable=True,
        timeout=3 * 24 * 3600,                       # how long reviewers have
    )
    # review.output: the approved output (as the reviewer left it); XCom "tela_task": the review
    # --8<-- [end:approval]

    # --8<-- [start:sensor]
    submit = TelaCompletionOperator(
        task_id="submit",
        application_id="app-review",
        variables={"document": "Contract 42: payment within 60 days."},
        wait_for_completion=False,                   # returns the task id at once (XCom "tela_task_id")
    )
    approved = TelaTaskSensor(
        task_id="approved",
        tela_task_id="{{ ti.xcom_pull(task_ids='submit', key='tela_task_id') }}",
        wait_for="approval",
        deferrable=True,                             # or mode="reschedule" / "poke"
        poke_interval=60,
        timeout=3 * 24 * 3600,
    )
    submit >> approved
    # --8<-- [end:sensor]

    # --8<-- [start:batch]
    TelaBatchOperator(
        task_id="classify",
        application_id="app-echo",                   # one task per record; waits for each task's output
        records=[{"document": "First."}, {"document": "Second."}],
        output_path="{{ var.value.get('tela_output', '/tmp/tela-docs') }}/{{ run_id }}/",
    )
    # --8<-- [end:batch]
    _ = review


docs_workstation()
