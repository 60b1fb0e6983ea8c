"""TelaBatchOperator as docs/batch.md shows it.

tests/examples/test_docs_examples.py parses this DAG and runs it once against the local emulator, with
TELA_OUTPUT_URL pointing at a local folder.
"""

from __future__ import annotations

# --8<-- [start:imports]
import os
from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_tela import TelaBatchOperator

OUTPUT_URL = os.environ.get("TELA_OUTPUT_URL", "s3://my-bucket/tela/")
# --8<-- [end:imports]


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["tela", "docs"])
def docs_batch():
    @task
    def load_records() -> list[dict]:
        return [{"document": f"Report {n}: sales rose {n} percent."} for n in range(1, 6)]

    # --8<-- [start:batch]
    enrich = TelaBatchOperator(
        task_id="enrich",
        canvas_id="95cec438-6080-44fe-8275-28b16bd40178",  # or application_id
        records=load_records(),              # a list of dicts, an XComArg returning one, an ObjectStoragePath,
                                             # or a JSONL / CSV file ("s3://bucket/in/{{ ds }}.jsonl"), streamed;
                                             # each record = its variables
        variables={"language": "en"},        # merged into every record's variables (optional)
        output_path=OUTPUT_URL + "{{ run_id }}/",   # results.jsonl is written here
        concurrency=20,
        deferrable=True,
    )
    # --8<-- [end:batch]

    @task
    def report(manifest: dict) -> None:
        print(f"{manifest['succeeded']} of {manifest['total']} records succeeded: {manifest['output_uri']}")

    report(enrich.output)


docs_batch()
