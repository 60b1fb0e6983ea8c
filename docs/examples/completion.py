"""TelaCompletionOperator as docs/completion-operator.md and docs/inputs.md show it.

tests/examples/test_docs_examples.py parses this DAG and runs it once against the local emulator.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task
from pydantic import BaseModel

from airflow_provider_tela import TelaCompletionOperator


# --8<-- [start:output_schema]
class Review(BaseModel):
    title: str
    sentiment: str
    score: float
# --8<-- [end:output_schema]


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["tela", "docs"])
def docs_completion():
    @task
    def extract() -> str:
        return "Invoice 2026-113: 3 laptops at 1,200 EUR each, due 30 days after delivery."

    # --8<-- [start:operator]
    summarise = TelaCompletionOperator(
        task_id="summarise",
        canvas_id="95cec438-6080-44fe-8275-28b16bd40178",   # or application_id="..."
        variables={"document": "{{ ti.xcom_pull(task_ids='extract') }}", "language": "en"},
        messages=[{"role": "user", "content": "Keep it under 100 words."}],
        override={"model": "gpt-4o", "temperature": 0.2},
        deferrable=True,        # wait in the triggerer, freeing the worker slot
        poll_interval=10,       # longest wait between two status checks (first check after 1 s)
        timeout=3600,           # fail the task if the run has not ended by then
    )
    # --8<-- [end:operator]
    extract() >> summarise

    # --8<-- [start:structured]
    review = TelaCompletionOperator(
        task_id="review",
        canvas_id="0b7d2c4e-5a61-4f0e-9d3c-7e2f1a8b6c90",
        variables={"text": "Delivery was two days early and the packaging was spotless."},
        output_schema=Review,   # the return value is the structured object, checked against Review
    )
    # --8<-- [end:structured]

    @task
    def rows() -> list[dict]:
        return [{"document": "First report."}, {"document": "Second report."}]

    # --8<-- [start:mapped]
    enrich = TelaCompletionOperator.partial(
        task_id="enrich", canvas_id="95cec438-6080-44fe-8275-28b16bd40178"
    ).expand(variables=rows())
    # --8<-- [end:mapped]

    @task
    def report(summary: dict, usage: dict, review: dict, enriched: list) -> None:
        print(f"Summary: {summary}; usage: {usage}; review: {review}; enriched: {len(list(enriched))} rows")

    report(summarise.output, summarise.output["usage"], review.output, enrich.output)


docs_completion()
