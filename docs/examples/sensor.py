"""TelaRunSensor as docs/sensor-and-trigger.md shows it: submit without waiting, then wait with the sensor.

tests/examples/test_docs_examples.py parses this DAG and runs it once against the local emulator.
"""

from __future__ import annotations

# --8<-- [start:imports]
from datetime import datetime

from airflow.sdk import dag

from airflow_provider_tela import TelaCompletionOperator, TelaRunSensor

# --8<-- [end:imports]


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["tela", "docs"])
def docs_sensor():
    # --8<-- [start:sensor]
    submit = TelaCompletionOperator(
        task_id="submit",
        canvas_id="95cec438-6080-44fe-8275-28b16bd40178",
        variables={"document": "The quarterly numbers beat expectations."},
        wait_for_completion=False,   # returns the run id at once
    )
    wait = TelaRunSensor(
        task_id="wait",
        run_id="{{ ti.xcom_pull(task_ids='submit', key='run_id') }}",
        deferrable=True,          # or mode="reschedule" / "poke"
        poke_interval=10,
        timeout=1800,             # soft_fail=True skips instead of failing on timeout
    )
    submit >> wait
    # --8<-- [end:sensor]


docs_sensor()
