"""Documents from object storage: list the files under a prefix, summarise each with a canvas.

The prefix is any ObjectStorage URL Airflow can read (``s3://bucket/inbox/`` with an AWS connection,
``gs://...``, or ``file:///...`` on local disk). Each file is streamed to Tela's upload URL from the
storage, never loaded whole into memory, and uploaded once per task try.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import ObjectStoragePath, dag, task

from airflow_provider_tela import TelaFile

CANVAS_ID = os.environ.get("TELA_DOCUMENT_CANVAS_ID", "canvas-file")
DOCUMENTS_URL = os.environ.get("TELA_DOCUMENTS_URL", "file:///tmp/tela-documents/")
STORAGE_CONN_ID = os.environ.get("TELA_DOCUMENTS_CONN_ID")  # e.g. "aws_default" for s3://


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, params={"documents_url": DOCUMENTS_URL},
     tags=["tela", "example"])
def tela_documents_from_storage():
    @task
    def list_documents(params: dict) -> list[str]:
        inbox = ObjectStoragePath(params["documents_url"], conn_id=STORAGE_CONN_ID)
        return sorted(str(path) for path in inbox.iterdir() if path.is_file())

    @task.tela(canvas_id=CANVAS_ID, deferrable=True, poll_interval=5)
    def summarise(url: str) -> dict:
        return {"document": TelaFile(url, {"range": [0, 4]}, conn_id=STORAGE_CONN_ID)}

    summarise.expand(url=list_documents())


tela_documents_from_storage()
