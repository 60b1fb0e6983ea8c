"""TelaRunSensor in every mode, in real DAG runs: one id rule, one outcome policy, one schedule.

Each mode (poke, reschedule, deferrable) waits for the same runs and must end the same way: a run id
read with surrounding whitespace is the run; an id that is not plain is refused before any request;
a succeeded run succeeds, a failed or unknown run fails without retrying (``soft_fail`` skips it), a
timeout fails (``soft_fail`` skips it), answers that cannot be read are "not yet" until the timeout.
``soft_fail`` skips what it skips for every sensor (a timeout, or an error no retry can fix).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from airflow_provider_tela.hooks.tela import TelaHook
from airflow_provider_tela.operators.tela import TelaCompletionOperator
from airflow_provider_tela.sensors.tela import TelaRunSensor
from airflow_provider_tela.testing.dags import DAG, run_dag, task_states, tries, xcoms

START = datetime(2026, 1, 1)
MODES = {
    "poke": {"mode": "poke"},
    "reschedule": {"mode": "reschedule"},
    "deferrable": {"deferrable": True},
}


def polls_of(emulator, run_id: str) -> int:
    return sum(1 for r in emulator.requests() if r["method"] == "GET" and r["path"].endswith(f"/{run_id}"))


def _submit(canvas_id: str) -> str:
    hook = TelaHook()
    try:
        return hook.submit_run(canvas_id, variables={"document": "d"}).id
    finally:
        hook.close()


@pytest.mark.parametrize("mode", list(MODES))
def test_every_outcome_ends_the_same_way_in_every_mode(tela_env, mode):
    tela_env.add_canvas("canvas-soon", latency=1.5)
    tela_env.add_canvas("canvas-never", latency=600)
    soon, failed, never, garbage = (_submit(c) for c in ("canvas-soon", "canvas-fail", "canvas-never", "canvas-never"))
    tela_env.add_fault("garbage", method="GET", path=f"/v2/chat/completions/{garbage}")
    sensors = {
        # id -> (run_id, soft_fail): what the DAG gives the sensor
        "newline": (f"{soon}\n", False),
        "spaces": (f"  {soon} ", False),
        "failed": (failed, False),
        "failed_soft": (failed, True),
        "missing_soft": ("no-such-run", True),
        "timeout": (never, False),
        "timeout_soft": (never, True),
        "garbage": (garbage, False),
        "garbage_soft": (garbage, True),
        "not_plain": ("..", False),
    }
    with DAG(f"t_sensor_outcomes_{mode}", schedule=None, start_date=START) as dag:
        for task_id, (run_id, soft_fail) in sensors.items():
            TelaRunSensor(task_id=task_id, run_id=run_id, soft_fail=soft_fail, poke_interval=0.2, timeout=2,
                          retries=1, retry_delay=timedelta(seconds=0), **MODES[mode])
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {
        "newline": "success", "spaces": "success",
        "failed": "failed", "failed_soft": "skipped", "missing_soft": "skipped",
        "timeout": "failed", "timeout_soft": "skipped",
        "garbage": "failed", "garbage_soft": "skipped",  # unreadable answers are "not yet": a timeout
        "not_plain": "failed",  # bad input: refused before any request
    }
    attempts = {task_id: number for task_id, (number, _) in tries(dag_run).items()}
    assert attempts["failed"] == attempts["timeout"] == attempts["garbage"] == attempts["not_plain"] == 1
    assert polls_of(tela_env, garbage) >= 4  # (the fault answered every check with garbage)
    assert polls_of(tela_env, soon) >= 2
    paths = [request["path"] for request in tela_env.requests()]
    assert not any(path.endswith(("/..", "/.", "/v2/chat/completions/")) for path in paths)


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_a_deferred_sensor_backs_off_as_a_poking_one_does(tela_env, mode):
    """exponential_backoff in the triggerer too: 1, 1, 1, 2, 4 ... s apart, not every poke_interval."""
    tela_env.add_canvas("canvas-six", latency=10)
    with DAG(f"t_sensor_backoff_{mode}", schedule=None, start_date=START) as dag:
        submit = TelaCompletionOperator(task_id="submit", canvas_id="canvas-six", wait_for_completion=False)
        submit >> TelaRunSensor(task_id="wait", run_id="{{ ti.xcom_pull(task_ids='submit', key='run_id') }}",
                                poke_interval=0.5, exponential_backoff=True, timeout=30, **MODES[mode])
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"submit": "success", "wait": "success"}
    # every 0.5 s would be 20 checks over 10 s; the backoff (1, 1, 1, 2, 4, 8 s) makes it at most 7, in every
    # mode alike (a loaded machine starting the sensor late sees fewer, never more)
    assert 2 <= polls_of(tela_env, xcoms(dag_run)[("submit", -1, "run_id")]) <= 7
