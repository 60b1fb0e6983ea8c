"""README's examples, run as written: their code blocks are read from README.md and run in one DAG.

README's blocks are what a user puts inside a DAG, so here they run inside one, in README's order, and the
DAG runs with dag.test() against the emulator, on every Airflow line that has airflow.sdk (3.0 and later:
README's @task.tela block imports it). One change is made: the batch's output_path, an S3 bucket in
README, is a local folder here. The canvases README names are added to the emulator as echo canvases.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from airflow_provider_tela.testing.dags import DAG, airflow_version, run_dag, task_states, xcoms

README = Path(__file__).resolve().parents[2] / "README.md"
BUCKET = "s3://my-bucket/"


def readme_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_the_readme_is_a_short_front_page_with_one_example_each():
    assert len(README.read_text()) <= 10_000
    code = "\n".join(readme_blocks())
    for example in ("TelaCompletionOperator(", "TelaBatchOperator(", "@task.tela(", "TelaRunSensor(",
                    'wait_for="approval"'):
        assert code.count(example) >= 1, example
    assert code.count(BUCKET) == 1


@pytest.mark.skipif(airflow_version() < (3, 0, 0), reason="README's @task.tela example imports airflow.sdk")
@pytest.mark.timeout(300)
def test_the_readme_examples_run(tela_connection_env, tela_reviewer, tmp_path):
    blocks = readme_blocks()
    for canvas_id in set(re.findall(r'canvas_id="([^"]+)"', "\n".join(blocks))):
        tela_connection_env.add_canvas(canvas_id, title="README")
    for app_id in set(re.findall(r'application_id="([^"]+)"', "\n".join(blocks))):
        tela_connection_env.add_application(app_id, review=True, title="README")
        tela_reviewer.approve_when_ready(app_id, output={"verdict": "approved"}, after=0.3)
    tela_connection_env.configure(run_latency=0.2)

    with DAG("readme_examples", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        for block in blocks:
            exec(compile(block.replace(BUCKET, tmp_path.as_uri() + "/"), str(README), "exec"), {})  # as written
    dag_run = run_dag(dag)

    states = task_states(dag_run)
    assert set(states.values()) == {"success"}, states
    assert set(states) == {"summarise", "enrich", "summarise_each[0]", "summarise_each[1]", "review", "submit",
                           "wait"}
    # one run each for summarise and submit (the sensor waits for submit's), two for the batch, two mapped,
    # and the one behind the reviewed task
    assert tela_connection_env.stats()["runs_created"] == 7 and tela_connection_env.stats()["tasks_created"] == 1
    results = xcoms(dag_run)
    assert results[("summarise", -1, "return_value")]["variables"]["language"] == "en"
    assert results[("review", -1, "return_value")]["verdict"] == "approved"
    assert results[("review", -1, "tela_task")]["approved_at"]
    assert results[("enrich", -1, "return_value")]["succeeded"] == 2
    assert results[("wait", -1, "return_value")]["variables"] == {"document": "The quarterly numbers beat expectations."}
