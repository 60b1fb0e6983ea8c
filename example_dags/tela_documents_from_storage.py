"""Documents from object storage: list the files under a prefix, summarise each with a canvas.

The prefix is any ObjectStorage URL Airflow can read (``s3://bucket/inbox/`` with an AWS connection,
``gs://...``, or ``file:///...`` on local disk). Each file is streamed to Tela's upload URL from the
storage, never loaded whole into memory, and uploaded once per task try.

Out of the box (no ``TELA_DOCUMENTS_URL``) the inbox is ``$AIRFLOW_HOME/tela-documents/``, filled with two
small sample documents the first time, so that ``airflow dags test tela_documents_from_storage`` runs
against the local emulator with no set-up.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.providers.common.compat.sdk import ObjectStoragePath, dag, task

from airflow_provider_tela import TelaFile

CANVAS_ID = os.environ.get("TELA_DOCUMENT_CANVAS_ID", "canvas-file")
AIRFLOW_HOME = Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser().resolve()
SAMPLE_INBOX = (AIRFLOW_HOME / "tela-documents").as_uri() + "/"
DOCUMENTS_URL = os.environ.get("TELA_DOCUMENTS_URL", SAMPLE_INBOX)
SAMPLE_DOCUMENTS = {
    "invoice-113.txt": "Invoice 2026-113: 3 laptops at 1,200 EUR each, payable 30 days after delivery.",
    "memo-2026-11.txt": "Memo: the office moves to the third floor on 1 December; desks are assigned by team.",
}
STORAGE_CONN_ID = os.environ.get("TELA_DOCUMENTS_CONN_ID")  # e.g. "aws_default" for s3://


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, params={"documents_url": DOCUMENTS_URL},
     tags=["tela", "example"])
def tela_documents_from_storage():
    @task
    def list_documents(params: dict) -> list[str]:
        inbox = ObjectStoragePath(params["documents_url"], conn_id=STORAGE_CONN_ID)
        if params["documents_url"] == SAMPLE_INBOX and not inbox.exists():
            inbox.mkdir(parents=True, exist_ok=True)
            for name, text in SAMPLE_DOCUMENTS.items():
                (inbox / name).write_text(text)
        return sorted(str(path) for path in inbox.iterdir() if path.is_file())

    @task.tela(canvas_id=CANVAS_ID, deferrable=True, poll_interval=5)
    def summarise(url: str) -> dict:
        return {"document": TelaFile(url, {"range": [0, 4]}, conn_id=STORAGE_CONN_ID)}

    summarise.expand(url=list_documents())


tela_documents_from_storage()
