"""File variables as docs/inputs.md shows them.

tests/examples/test_docs_examples.py imports this module and checks what each value is sent as (nothing
is read or uploaded by building them).
"""

from __future__ import annotations

# --8<-- [start:imports]
from pathlib import Path

from airflow.sdk import ObjectStoragePath

from airflow_provider_tela import TelaFile

# --8<-- [end:imports]

pdf_bytes = b"%PDF-1.5\n%%EOF\n"

# --8<-- [start:files]
variables = {
    "local":   TelaFile("/data/inbox/invoice.pdf", {"range": [0, 1]}),        # uploaded
    "path":    Path("/data/inbox/contract.pdf"),                              # uploaded
    "s3":      TelaFile("s3://bucket/inbox/memo.pdf", conn_id="aws_default"), # streamed from S3, uploaded
    "storage": ObjectStoragePath("gs://bucket/report.pdf", conn_id="google_cloud_default"),
    "bytes":   TelaFile(pdf_bytes, name="generated.pdf"),                     # uploaded
    "url":     TelaFile("https://example.com/sample-invoice.pdf"),            # sent as {"file_url": ...}
    "inline":  TelaFile("data:application/pdf;base64,JVBERi0xLjUKJSVFT0YK"),   # sent as {"file_url": ...}
    "templated": TelaFile("{{ params.folder }}/{{ ds }}.pdf"),                # the path renders
}
# --8<-- [end:files]

# --8<-- [start:several]
several = {"annexes": [TelaFile("/data/inbox/annex-1.pdf"), Path("/data/inbox/annex-2.pdf"),
                       TelaFile("https://example.com/annex-3.pdf")]}
# --8<-- [end:several]
