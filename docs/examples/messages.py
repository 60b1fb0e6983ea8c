"""Messages and an override as docs/inputs.md shows them.

tests/examples/test_docs_examples.py imports this module and validates both as the operator does before
sending anything.
"""

from __future__ import annotations

from airflow_provider_tela import TelaFile

# --8<-- [start:messages]
messages = [
    {"role": "user", "content": "Answer in Portuguese."},
    {"role": "assistant", "content": {"type": "text", "text": "How can I help?"}},
    {"role": "user", "content": {"type": "image_url", "image_url": {"url": "https://x/scan.png", "detail": "high"}}},
    {"role": "user", "content": TelaFile("/data/annex.pdf")},          # sent as {"file_url": ...}
]
override = {
    "model": "gpt-4o",
    "temperature": 0.1,
    "type": "chat",
    "functions": [{
        "name": "lookup_order",
        "description": "Find an order by its number",
        "parameters": {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]},
    }],
}
# --8<-- [end:messages]
