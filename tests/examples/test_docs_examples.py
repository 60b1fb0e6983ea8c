"""Every code example of the docs pages is a file under docs/examples/, included by the page and run here.

The DAG files are imported as Airflow's DAG processor would, then run once with ``dag.test()`` against the
emulator; the other files are run or built as a reader would use them. A page cannot hold a Python example
of its own: a ```python block in docs/*.md may only include files (``--8<--``), so no example can rot.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import runpy
from pathlib import Path
from types import ModuleType

import pytest

from airflow_provider_tela import TelaFile
from airflow_provider_tela.hooks.tela import TelaHook
from airflow_provider_tela.testing.canvases import structured_content
from airflow_provider_tela.testing.dags import run_dag, task_states, xcoms

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
EXAMPLES = DOCS / "examples"
SUMMARY_CANVAS = "95cec438-6080-44fe-8275-28b16bd40178"
REVIEW_CANVAS = "0b7d2c4e-5a61-4f0e-9d3c-7e2f1a8b6c90"
# What each example file is tested by (a file nobody tests fails test_every_example_file_is_tested).
TESTED = {
    "batch.py", "completion.py", "connection.sh", "decorator.py", "files.py", "hook.py", "messages.py",
    "observability.py", "sensor.py", "workstation.py", "testing/conftest.py", "testing/test_my_dag.py",  # the last two: tests/compat/test_docs_testing_example.py
}


def add_docs_canvases(emulator) -> None:
    emulator.add_canvas(SUMMARY_CANVAS, title="Summary")
    emulator.add_canvas(REVIEW_CANVAS, title="Review", structured=True, content=structured_content)


def load(name: str) -> ModuleType:
    """Import docs/examples/<name> as a DAG file is imported (a module of its own, by path)."""
    path = EXAMPLES / name
    spec = importlib.util.spec_from_file_location(f"docs_example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_file_is_tested_and_included_by_a_page():
    files = {str(path.relative_to(EXAMPLES)) for path in EXAMPLES.rglob("*") if path.is_file()
             and "__pycache__" not in path.parts}
    assert files == TESTED
    pages = "".join(page.read_text() for page in DOCS.rglob("*.md"))
    assert sorted(name for name in files if f'"docs/examples/{name}' not in pages) == []


def test_python_blocks_in_the_pages_only_include_files():
    for page in DOCS.rglob("*.md"):
        for block in re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M):
            lines = [line for line in block.splitlines() if line.strip()]
            assert lines and all(line.startswith("--8<-- ") for line in lines), f"{page.name}: {block[:200]}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("name", "dag_id", "runs"), [
    ("completion.py", "docs_completion", 4),
    ("decorator.py", "docs_decorator", 2),
    ("sensor.py", "docs_sensor", 1),
    ("batch.py", "docs_batch", 5),
    ("observability.py", "docs_observability", 4),
])
def test_the_dag_example_runs(tela_connection_env, tmp_path, monkeypatch, name, dag_id, runs):
    add_docs_canvases(tela_connection_env)
    tela_connection_env.configure(run_latency=0.2)
    monkeypatch.setenv("TELA_OUTPUT_URL", tmp_path.as_uri() + "/")
    dag = getattr(load(name), dag_id)()
    dag_run = run_dag(dag)
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    assert tela_connection_env.stats()["runs_created"] == runs
    if name == "batch.py":
        manifest = xcoms(dag_run)[("enrich", -1, "return_value")]
        assert manifest["succeeded"] == 5 and Path(manifest["output_uri"].removeprefix("file://")).is_file()
    if name == "completion.py":
        review = xcoms(dag_run)[("review", -1, "return_value")]
        assert set(review) >= {"title", "sentiment", "score"}


@pytest.mark.timeout(300)
def test_the_workstation_example_runs_with_the_emulator_as_the_reviewer(tela_connection_env, tela_reviewer,
                                                                        monkeypatch, tmp_path):
    tela_connection_env.configure(run_latency=0.2)
    tela_reviewer.approve_when_ready("app-review", output={"checked": "by a person"}, after=0.5)
    monkeypatch.setenv("AIRFLOW_VAR_TELA_OUTPUT", str(tmp_path))
    dag_run = run_dag(load("workstation.py").docs_workstation())
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    values = xcoms(dag_run)
    for task_id in ("review", "approved"):
        assert values[(task_id, -1, "return_value")]["checked"] == "by a person"
        assert values[(task_id, -1, "tela_task")]["approved_at"]
    assert values[("classify", -1, "return_value")]["succeeded"] == 2
    names = {task["name"] for task in tela_connection_env.tasks()}
    assert "contract 41" in names and tela_connection_env.stats()["tasks_created"] == 4


def test_the_file_variables_are_sent_as_the_page_says(tela_connection_env):
    variables = load("files.py").variables
    files = {name: value if isinstance(value, TelaFile) else TelaFile(value) for name, value in variables.items()}
    assert {name for name, tela_file in files.items() if not tela_file.needs_upload} == {"url", "inline"}
    assert files["s3"].kind == files["storage"].kind == "object_storage"
    assert files["local"].kind == files["path"].kind == files["templated"].kind == "local"
    # The ones that need no file on this machine go all the way: built, uploaded (bytes), sent.
    sendable = {name: variables[name] for name in ("bytes", "url", "inline")}
    run = TelaHook().submit_run(canvas_id="canvas-file", variables={"document": sendable["bytes"]})
    assert run.id and tela_connection_env.stats()["uploads"] == 1
    request = TelaHook().prepare_request(canvas_id="canvas-echo", variables=sendable)
    body = request.model_dump(mode="json", exclude_none=True)
    assert body["variables"]["url"] == {"file_url": "https://example.com/sample-invoice.pdf"}
    assert body["variables"]["inline"]["file_url"].startswith("data:application/pdf;base64,")
    several = load("files.py").several["annexes"]
    assert [TelaFile(f).kind if not isinstance(f, TelaFile) else f.kind for f in several] == ["local", "local", "url"]


def test_the_messages_and_override_are_accepted_by_the_spec(tela_connection_env, tmp_path):
    example = load("messages.py")
    annex = tmp_path / "annex.pdf"
    annex.write_bytes(b"%PDF-1.5\n%%EOF\n")
    assert isinstance(example.messages[3]["content"], TelaFile)
    messages = [*example.messages[:3], {"role": "user", "content": TelaFile(annex)}]  # the annex, made here
    completion = TelaHook().create_completion(canvas_id="canvas-echo", variables={"document": "d"},
                                              messages=messages, override=example.override)
    assert completion.choices[0].message.content
    assert tela_connection_env.stats()["spec_rejections"] == 0


def test_the_hook_example_runs(tela_connection_env):
    add_docs_canvases(tela_connection_env)
    tela_connection_env.configure(run_latency=0.2)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        runpy.run_path(str(EXAMPLES / "hook.py"), run_name="__main__")
    assert "succeeded" in printed.getvalue()
    assert tela_connection_env.stats()["runs_created"] == 3


def test_the_connection_examples_point_where_the_page_says(monkeypatch):
    lines = [line for line in (EXAMPLES / "connection.sh").read_text().splitlines() if line.startswith("export ")]
    expected = ["https://api.tela.com", "https://api.tela.com", "http://127.0.0.1:8765"]
    assert len(lines) == len(expected)
    for line, base_url in zip(lines, expected, strict=True):
        value = re.fullmatch(r"export AIRFLOW_CONN_TELA_DEFAULT='([^']+)'.*", line).group(1)  # type: ignore[union-attr]
        monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", value.replace("<api key>", "tela-key-0123456789abcdef"))
        settings = TelaHook().settings
        assert settings.base_url.rstrip("/") == base_url
        assert settings.api_key in ("tela-key-0123456789abcdef", "tela-emulator-key")
