"""Never paying twice, in real DAG runs: ambiguous submissions, crashes, changed inputs, fatal errors.

Each test counts what the emulator saw (runs created) and reads the task instances back.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from pydantic import BaseModel, field_validator
from recording import FAILURES, AfterSubmit, RecordedAfterSubmit
from recording import RecordedCompletion as Recorded
from test_operator_dags import CrashAfterSubmit

from airflow_provider_tela.errors import TelaAmbiguousRunError, TelaAuthenticationError, TelaNotFoundError
from airflow_provider_tela.hooks.tela import TelaHook
from airflow_provider_tela.operators.tela import TelaCompletionOperator
from airflow_provider_tela.testing.dags import DAG, run_dag, task, task_states, xcoms

START = datetime(2026, 1, 1)


def tries(dag_run) -> dict[str, int]:
    from airflow_provider_tela.testing.dags import tries as tries_and_max

    return {task_id: try_number for task_id, (try_number, _) in tries_and_max(dag_run).items()}


def retrying(**kwargs):
    return {"retries": 2, "retry_delay": timedelta(seconds=0), **kwargs}


# --- item 9: an ambiguous submission is never resubmitted blindly ------------------------------------


def test_a_submission_without_answer_fails_at_once_instead_of_paying_again(tela_env):
    tela_env.add_fault(kind="drop_after", method="POST", path="/v2/chat/completions", count=1)
    with DAG("t_ambiguous_fail", schedule=None, start_date=START) as dag:
        Recorded(task_id="canvas", canvas_id="canvas-echo", variables={"document": "d"},
                               poll_interval=0.5, **retrying())
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "failed"} and tries(dag_run) == {"canvas": 1}
    assert isinstance(FAILURES["canvas"], TelaAmbiguousRunError)
    assert "clear it to submit again" in str(FAILURES["canvas"])
    assert tela_env.stats()["runs_created"] == 1


def test_on_ambiguous_resubmit_lets_the_retry_submit_again(tela_env):
    tela_env.add_fault(kind="drop_after", method="POST", path="/v2/chat/completions", count=1)
    with DAG("t_ambiguous_resubmit", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(task_id="canvas", canvas_id="canvas-echo", variables={"document": "d"},
                               poll_interval=0.5, on_ambiguous="resubmit", **retrying())
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "success"} and tries(dag_run) == {"canvas": 2}
    assert tela_env.stats()["runs_created"] == 2


class PostThenCrash(TelaHook):
    """The worker dies after Tela accepted the POST and before the answer reached the task."""

    armed = True

    def submit_request(self, request, **kwargs):
        run = super().submit_request(request, **kwargs)
        if PostThenCrash.armed:
            PostThenCrash.armed = False
            raise SystemExit("worker killed between the POST and its answer (simulated)")
        return run


class CrashingOperator(Recorded):
    @property
    def hook(self):
        return PostThenCrash(self.tela_conn_id)


def test_a_retry_finding_an_intent_without_a_run_id_fails_naming_what_to_check(tela_env):
    PostThenCrash.armed = True
    with DAG("t_intent_only", schedule=None, start_date=START) as dag:
        CrashingOperator(task_id="canvas", canvas_id="canvas-echo", variables={"document": "d"},
                         poll_interval=0.5, **retrying())
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "failed"} and tries(dag_run) == {"canvas": 2}
    error = FAILURES["canvas"]
    assert isinstance(error, TelaAmbiguousRunError)
    assert "try 1 of this task sent a request" in str(error) and "canvas's runs in Tela" in str(error)
    assert tela_env.stats()["runs_created"] == 1


def test_a_submission_that_surely_failed_is_retried_by_airflow(tela_env):
    # Throttled past the request's own retries: the POST never created a run, so the retry submits.
    tela_env.add_fault(kind="429", method="POST", path="/v2/chat/completions", count=3, retry_after=0)
    with DAG("t_refused_then_ok", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(task_id="canvas", canvas_id="canvas-echo", variables={"document": "d"},
                               poll_interval=0.5, **retrying())
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "success"} and tries(dag_run) == {"canvas": 2}
    assert tela_env.stats()["runs_created"] == 1


# --- item 8: an answer in an unexpected shape keeps its run id ------------------------------------------


def test_a_run_id_read_from_an_unexpected_answer_is_kept_and_reattached(monkeypatch):
    import asyncio

    from hostile import HostileServer, respond, run_json

    async def tela(request, writer):
        if request.method == "POST":
            await respond(request, writer, 200, {"id": "run-odd", "status": {"unexpected": True}})
        else:
            await respond(request, writer, 200, run_json("run-odd", "succeeded", output_content={"content": {"text": "kept"}}))

    with HostileServer(tela) as server:
        monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", server.connection_json("k"))
        with DAG("t_odd_answer", schedule=None, start_date=START) as dag:
            TelaCompletionOperator(task_id="canvas", canvas_id="c", poll_interval=0.5, **retrying())
        dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "success"} and tries(dag_run) == {"canvas": 2}
    values = xcoms(dag_run)
    assert values[("canvas", -1, "run_id")] == "run-odd"
    assert values[("canvas", -1, "return_value")] == {"text": "kept"}
    assert len(server.seen("POST")) == 1
    del asyncio


# --- item 12: a retry whose request changed does not reuse the old run --------------------------------


def test_a_retry_with_other_inputs_submits_a_new_run(tela_env):
    with DAG("t_edited", schedule=None, start_date=START) as dag:
        CrashAfterSubmit(
            task_id="canvas", canvas_id="canvas-echo", poll_interval=0.5, **retrying(),
            variables={"document": "{{ 'first version' if ti.try_number == 1 else 'edited version' }}"},
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "success"}
    assert tela_env.stats()["runs_created"] == 2
    assert xcoms(dag_run)[("canvas", -1, "return_value")]["variables"] == {"document": "edited version"}


def test_a_retry_with_the_same_inputs_reattaches(tela_env):
    with DAG("t_same_inputs", schedule=None, start_date=START) as dag:
        CrashAfterSubmit(task_id="canvas", canvas_id="canvas-echo", variables={"document": "same"},
                         poll_interval=0.5, **retrying())
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "success"} and tela_env.stats()["runs_created"] == 1


# --- item 13: a retry re-attaches even when the local file is gone --------------------------------------


def test_a_retry_reattaches_when_the_uploaded_file_is_gone(tela_env, tmp_path):
    document = tmp_path / "gone.pdf"
    document.write_bytes(b"%PDF uploaded once")

    class CrashAndLoseFile(AfterSubmit):
        def after_submit(self, context, run):
            if context["ti"].try_number == 1:
                document.unlink()  # another worker picks the retry up; tmp was cleaned
                raise SystemExit("worker lost after submit (simulated crash)")

    with DAG("t_file_gone", schedule=None, start_date=START) as dag:
        CrashAndLoseFile(task_id="canvas", canvas_id="canvas-file", variables={"document": document},
                         poll_interval=0.5, **retrying())
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "success"} and tries(dag_run) == {"canvas": 2}
    stats = tela_env.stats()
    assert stats["runs_created"] == 1 and stats["uploads"] == 1


# --- item 14: streaming is durable and reports usage -----------------------------------------------------


def test_stream_mode_reports_usage_and_reattaches_after_a_crash(tela_env):
    class CrashMidStream(AfterSubmit):
        def after_announce(self, context, run_id):
            if context["ti"].try_number == 1:
                raise SystemExit("worker lost mid-stream (simulated crash)")

    with DAG("t_stream_durable", schedule=None, start_date=START) as dag:
        CrashMidStream(task_id="crashes", canvas_id="canvas-echo", variables={"document": "streamed"},
                       stream=True, **retrying())
        TelaCompletionOperator(task_id="fresh", canvas_id="canvas-echo", variables={"document": "fresh"}, stream=True)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"crashes": "success", "fresh": "success"}
    assert tela_env.stats()["runs_created"] == 2  # one per task: the crashed one was re-attached
    values = xcoms(dag_run)
    for task_id, document in (("crashes", "streamed"), ("fresh", "fresh")):
        assert values[(task_id, -1, "return_value")]["variables"] == {"document": document}
        assert values[(task_id, -1, "usage")]["input_tokens"] > 0


# --- item 15: the result is finished once; @task.tela never splits its output ----------------------------


def test_an_in_worker_run_is_finished_once(tela_env, mocker):
    from airflow_provider_tela import _results

    finish = mocker.spy(_results, "finish")  # the one place that checks output, pushes usage and logs success
    with DAG("t_finish_once", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(task_id="canvas", canvas_id="canvas-echo", variables={"document": "once"}, poll_interval=0.5)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "success"}
    assert finish.call_count == 1


def test_task_tela_annotated_dict_keeps_one_output_and_the_provider_xcoms(tela_env):
    tela_env.add_canvas("canvas-text", content="just a sentence")
    tela_env.add_canvas("canvas-sneaky", content={"run_id": "not the run", "usage": "not the usage", "text": "t"})
    with DAG("t_decorator_dict", schedule=None, start_date=START) as dag:
        @task.tela(canvas_id="canvas-text", poll_interval=0.5)
        def text() -> dict:
            return {"document": "d"}

        @task.tela(canvas_id="canvas-sneaky", poll_interval=0.5)
        def sneaky() -> dict:
            return {"document": "d"}

        text()
        sneaky()
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"text": "success", "sneaky": "success"}
    values = xcoms(dag_run)
    runs = {run["raw_input"]["canvas_id"]: run["id"] for run in tela_env.runs()}
    assert values[("text", -1, "return_value")] == "just a sentence"
    assert values[("sneaky", -1, "run_id")] == runs["canvas-sneaky"]
    assert values[("sneaky", -1, "usage")]["input_tokens"] > 0
    assert values[("sneaky", -1, "return_value")]["run_id"] == "not the run"


# --- item 10: errors no retry can fix fail at once, the same class across the trigger -------------------


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "in-worker"])
def test_a_key_refused_while_waiting_fails_at_once_as_authentication_error(tela_env, deferrable):
    class KeyRevokedAfterSubmit(RecordedAfterSubmit):
        def after_submit(self, context, run):
            tela_env.configure(api_key="a-new-key-the-connection-does-not-have")

    tela_env.configure(run_latency=5)
    with DAG(f"t_key_revoked_{deferrable}", schedule=None, start_date=START) as dag:
        KeyRevokedAfterSubmit(task_id="canvas", canvas_id="canvas-echo", variables={"document": "d"},
                              deferrable=deferrable, poll_interval=0.5, **retrying())
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "failed"} and tries(dag_run) == {"canvas": 1}
    assert isinstance(FAILURES["canvas"], TelaAuthenticationError)
    assert tela_env.stats()["runs_created"] == 1


def test_an_unknown_canvas_fails_at_once(tela_env):
    with DAG("t_unknown_canvas", schedule=None, start_date=START) as dag:
        Recorded(task_id="canvas", canvas_id="no-such-canvas", poll_interval=0.5, **retrying())
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "failed"} and tries(dag_run) == {"canvas": 1}
    assert isinstance(FAILURES["canvas"], TelaNotFoundError)


# --- item 4: deferrals have a backstop; the sensor checks once before deferring ------------------------------


def test_deferrals_carry_a_backstop_timeout(tela_env):
    from airflow.providers.common.compat.sdk import TaskDeferred

    from airflow_provider_tela.sensors.tela import TelaRunSensor

    tela_env.configure(run_latency=30)
    run = TelaHook().submit_run(canvas_id="canvas-echo", variables={"document": "d"})

    class TI:
        max_tries, try_number, dag_id, task_id, run_id, map_index = 0, 1, "d", "t", "r", -1

        def xcom_push(self, key, value):
            pass

    sensor = TelaRunSensor(task_id="wait", run_id=run.id, deferrable=True, poke_interval=5, timeout=600)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": TI()})
    assert deferred.value.timeout == timedelta(seconds=720)
    assert json.dumps(deferred.value.trigger.serialize()[1])  # small, JSON-safe kwargs
    assert tela_env.stats()["polls"] == 1  # it looked once before deferring


@pytest.mark.parametrize(("timeout", "poll_interval", "backstop"), [(600, 5, 720), (600, 100, 800), (30, 1, 150)])
def test_the_operator_defers_with_a_backstop_timeout(tela_env, timeout, poll_interval, backstop):
    """A lost trigger must not leave the task deferred forever: the deferral itself times out a
    margin after the wait's own deadline (max(120 s, two poll intervals))."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    tela_env.configure(run_latency=60)

    class TI:
        max_tries, try_number, dag_id, task_id, run_id, map_index = 0, 1, "d", "t", "r", -1

        def __init__(self) -> None:
            self.pushed: dict = {}

        def xcom_push(self, key, value):
            self.pushed[key] = value

    operator = TelaCompletionOperator(task_id="canvas", canvas_id="canvas-echo", variables={"document": "d"},
                                      deferrable=True, durable=False, timeout=timeout, poll_interval=poll_interval)
    ti = TI()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"ti": ti})
    assert deferred.value.timeout == timedelta(seconds=backstop)
    assert deferred.value.trigger.run_id == ti.pushed["run_id"] and tela_env.stats()["runs_created"] == 1


def test_a_sensor_on_a_finished_run_does_not_defer(tela_env):
    from airflow_provider_tela.sensors.tela import TelaRunSensor

    with DAG("t_sensor_done", schedule=None, start_date=START) as dag:
        submit = TelaCompletionOperator(task_id="submit", canvas_id="canvas-echo", variables={"document": "d"},
                                        poll_interval=0.5)
        wait = TelaRunSensor(task_id="wait", run_id="{{ ti.xcom_pull(task_ids='submit', key='run_id') }}",
                             deferrable=True, poke_interval=5)
        submit >> wait
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"submit": "success", "wait": "success"}
    assert xcoms(dag_run)[("wait", -1, "return_value")]["variables"] == {"document": "d"}


def test_poke_interval_must_be_positive():
    from airflow_provider_tela.errors import TelaConfigError
    from airflow_provider_tela.sensors.tela import TelaRunSensor

    with pytest.raises(TelaConfigError, match="poke_interval"):
        TelaRunSensor(task_id="w", run_id="r", poke_interval=0)


def test_no_durable_record_is_left_behind_once_runs_ended(tela_env):
    """Below Airflow 3.3 the records are Variables: each is deleted when its run's outcome is taken,
    whichever way the task ended it (in the worker, deferred, fire-and-forget, a failed run)."""
    from airflow.models import Variable
    from airflow.utils.session import create_session

    from airflow_provider_tela._durable import VARIABLE_PREFIX

    def records() -> set[str]:
        with create_session() as session:
            return {v.key for v in session.query(Variable) if v.key.startswith(VARIABLE_PREFIX)}

    before = records()  # other tests of the session leave theirs (a crash keeps its record on purpose)
    tela_env.configure(run_latency=0.2)
    with DAG("t_durable_records_end", schedule=None, start_date=START) as dag:
        for name, more in [("worker", {}), ("deferred", {"deferrable": True}),
                           ("fire_and_forget", {"wait_for_completion": False})]:
            TelaCompletionOperator(task_id=name, canvas_id="canvas-echo", variables={"document": "d"},
                                   poll_interval=0.5, **more)
        TelaCompletionOperator(task_id="failing", canvas_id="canvas-fail", poll_interval=0.5)
        for name, more in [("bad_output", {}), ("bad_output_deferred", {"deferrable": True})]:
            # the run succeeds, its output does not fit output_schema: the task fails, its record ends too
            TelaCompletionOperator(task_id=name, canvas_id="canvas-echo", variables={"document": "d"},
                                   output_schema=Verdict, poll_interval=0.5, **more)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"worker": "success", "deferred": "success", "fire_and_forget": "success",
                                    "failing": "failed", "bad_output": "failed", "bad_output_deferred": "failed"}
    assert records() - before == set() and tela_env.stats()["runs_created"] == 6


class Verdict(BaseModel):
    """An output check no answer passes (the emulator fills the JSON schema; the validator is not in it)."""

    agree: bool

    @field_validator("agree")
    @classmethod
    def _never(cls, value: bool) -> bool:
        raise ValueError("not the verdict this test expects")


@pytest.mark.parametrize("refusal", ["silent", "raises"])
def test_an_intent_the_store_does_not_keep_stops_the_submission(tela_env, monkeypatch, refusal):
    """Airflow 3.0-3.2's Task SDK Variable.set logs a failure instead of raising it: a POST sent after an
    intent that was not kept would be paid again by the retry after a crash. Nothing is sent."""
    from airflow_provider_tela import _durable as durable
    from airflow_provider_tela.errors import TelaDurableStateError

    def refuse(self, value):
        if refusal == "raises":
            raise RuntimeError("the metadata database refused the write")

    for store in (durable._VariableStore, durable._TaskStateStore):
        monkeypatch.setattr(store, "save", refuse)
    with DAG(f"t_intent_refused_{refusal}", schedule=None, start_date=START) as dag:
        Recorded(task_id="canvas", canvas_id="canvas-echo", variables={"document": "d"}, poll_interval=0.5)
    assert task_states(run_dag(dag)) == {"canvas": "failed"}
    assert tela_env.stats()["completions_posted"] == 0
    if refusal == "silent":
        assert isinstance(FAILURES["canvas"], TelaDurableStateError)
        assert "nothing was sent to Tela" in str(FAILURES["canvas"])
