"""Nightly enrichment: the day's customer reviews, a JSONL file in object storage, through a canvas in one task.

Every night the upstream export drops ``{DATA_URL}in/<ds>.jsonl`` (one JSON object per line, its keys
the canvas's variables). ``TelaBatchOperator`` runs the canvas once per line, 20 at a time, in the
triggerer, and writes ``{DATA_URL}out/<ds>/results.jsonl``: one row per review, in input order, with
the structured output (sentiment, summary, topics), the run id, the error if any, and the usage. The
task's XCom is a small manifest; ``report`` reads the rows back from storage.

A retry after a crash (worker, triggerer) resumes the batch from its ledger: reviews already
enriched are not paid for again. A night whose cost passes ``max_cost`` stops submitting and says so.

Runs with no set-up against the local emulator (``airflow dags test tela_nightly_enrichment``): when
the day's input is missing, ``sample_input`` writes a small one under ``$AIRFLOW_HOME/tela-nightly/``.
Point ``TELA_NIGHTLY_DATA_URL`` at ``s3://bucket/reviews/`` (and ``TELA_NIGHTLY_CONN_ID`` at an AWS
connection) for the real thing.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.common.compat.sdk import ObjectStoragePath, dag, task

from airflow_provider_tela import TelaBatchOperator

CANVAS_ID = os.environ.get("TELA_NIGHTLY_CANVAS_ID", "canvas-structured")
DATA_URL = os.environ.get(
    "TELA_NIGHTLY_DATA_URL",
    (Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser().resolve() / "tela-nightly").as_uri() + "/",
)
STORAGE_CONN_ID = os.environ.get("TELA_NIGHTLY_CONN_ID")  # e.g. "aws_default" for s3://

REVIEW_SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
        "summary": {"type": "string", "description": "One sentence"},
        "topics": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["sentiment", "summary"],
}

SAMPLE_REVIEWS = [
    "Delivery was two days early and the packaging was spotless.",
    "The blender stopped working after a week; support never answered.",
    "Decent value for the price, although the manual is confusing.",
    "Exactly as pictured. Would order again.",
    "The courier left the parcel in the rain and the box was soaked.",
]


@dag(
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["tela", "example", "batch"],
)
def tela_nightly_enrichment():
    @task
    def sample_input(ds: str) -> str:
        """The day's input (in production, the upstream export's file); a small sample if it is missing."""
        path = ObjectStoragePath(f"{DATA_URL}in/{ds}.jsonl", conn_id=STORAGE_CONN_ID)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            lines = [json.dumps({"text": SAMPLE_REVIEWS[i % len(SAMPLE_REVIEWS)]}) for i in range(25)]
            path.write_text("\n".join(lines) + "\n")
        return str(path)

    enrich = TelaBatchOperator(
        task_id="enrich",
        canvas_id=CANVAS_ID,
        records=sample_input(),
        output_path=f"{DATA_URL}out/{{{{ ds }}}}/",
        storage_conn_id=STORAGE_CONN_ID,
        output_schema=REVIEW_SCHEMA,
        concurrency=20,
        deferrable=True,
        poll_interval=10,
        timeout=1800,
        max_failed_fraction=0.01,  # a handful of unreadable reviews must not fail the night
        max_cost=25.0,
        execution_timeout=timedelta(hours=6),
    )

    @task
    def report(manifest: dict) -> dict:
        rows = ObjectStoragePath(manifest["output_uri"], conn_id=STORAGE_CONN_ID)
        sentiments: dict[str, int] = {}
        with rows.open("r") as lines:
            while line := lines.readline():  # (Airflow 2.11's object-storage files cannot be iterated)
                row = json.loads(line)
                if row["status"] == "succeeded":
                    sentiment = row["content"].get("sentiment", "unknown")
                    sentiments[sentiment] = sentiments.get(sentiment, 0) + 1
        print(f"{manifest['succeeded']}/{manifest['total']} reviews enriched, cost {manifest['usage']['cost']}: "
              f"{sentiments}")
        return sentiments

    report(enrich.output)


tela_nightly_enrichment()
