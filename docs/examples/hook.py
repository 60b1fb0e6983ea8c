"""TelaHook as docs/hook-and-errors.md shows it: run as a script against the connection tela_default.

tests/examples/test_docs_examples.py runs this file against the local emulator.
"""

from __future__ import annotations

# --8<-- [start:hook]
from airflow_provider_tela import TelaHook

hook = TelaHook("tela_default")
canvas_id = "95cec438-6080-44fe-8275-28b16bd40178"

completion = hook.create_completion(canvas_id=canvas_id, variables={"document": "text"})  # sync
print(completion.choices[0].message.content)

run = hook.submit_run(canvas_id=canvas_id, variables={"document": "text"})                # async
run = hook.wait_for_run(run.id, poll_interval=5, timeout=600)
print(run.status, run.output_content.content, run.output_content.information.cost)

for chunk in hook.stream_completion(canvas_id=canvas_id, variables={"document": "text"}):  # SSE
    print(chunk.text, end="")
# --8<-- [end:hook]
