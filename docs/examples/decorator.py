"""@task.tela as docs/completion-operator.md shows it.

tests/examples/test_docs_examples.py parses this DAG and runs it once against the local emulator.
"""

from __future__ import annotations

# --8<-- [start:import]
from datetime import datetime

from airflow.sdk import dag, task

# --8<-- [end:import]


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["tela", "docs"])
def docs_decorator():
    # --8<-- [start:decorator]
    @task.tela(canvas_id="95cec438-6080-44fe-8275-28b16bd40178", deferrable=True)
    def summarise(document: str) -> dict:
        return {"document": document, "language": "en"}   # or {"variables": {...}, "messages": [...]}

    summaries = summarise.expand(document=["First report.", "Second report."])
    # --8<-- [end:decorator]

    @task
    def report(summaries: list) -> None:
        print(f"{len(list(summaries))} summaries")

    report(summaries)


docs_decorator()
