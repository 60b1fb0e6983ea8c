"""airflow_provider_tela.testing.dags on every supported Airflow line, and the Airflow behaviours the
provider relies on there (compat/FINDINGS.md): these run in every virtualenv of `make test-compat`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from airflow_provider_tela.testing.dags import DAG, airflow_version, run_dag, task, task_states, tries, xcoms

START = datetime(2026, 1, 1)


def _context():
    from airflow.providers.common.compat.sdk import get_current_context

    return get_current_context()


def test_run_dag_reads_back_states_xcoms_and_mapped_tasks():
    with DAG("compat_plain", schedule=None, start_date=START) as dag:
        @task
        def one():
            return {"a": 1}

        @task
        def times_ten(value):
            return value * 10

        @task
        def fails():
            raise ValueError("on purpose")

        one()
        times_ten.expand(value=[1, 2])
        fails()

    dag_run = run_dag(dag)
    assert task_states(dag_run) == {
        "one": "success", "times_ten[0]": "success", "times_ten[1]": "success", "fails": "failed",
    }
    values = xcoms(dag_run)
    assert values[("one", -1, "return_value")] == {"a": 1}
    assert [values[("times_ten", i, "return_value")] for i in (0, 1)] == [10, 20]


def test_a_variable_survives_a_retry_and_the_tasks_own_xcom_does_not():
    """The durable store below 3.3: a Variable written by try 1 is read by try 2; XCom is cleared."""
    seen: dict[int, tuple] = {}

    with DAG("compat_retry", schedule=None, start_date=START) as dag:
        @task(retries=1, retry_delay=timedelta(seconds=0))
        def flaky():
            from airflow.providers.common.compat.sdk import Variable

            ti = _context()["ti"]
            key = f"compat-test-{ti.dag_id}-{ti.run_id}"
            stored = Variable.get(key, None)  # default_var= on 2.11, default= on 3.x
            marker = ti.xcom_pull(task_ids=ti.task_id, key="marker")
            seen[ti.try_number] = (ti.max_tries, stored, marker)
            if ti.try_number == 1:
                Variable.set(key, json.dumps({"run": "r-1"}))
                ti.xcom_push(key="marker", value="from try 1")
                raise RuntimeError("first try fails")
            Variable.delete(key)
            return json.loads(stored)

        flaky()

    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"flaky": "success"}
    assert tries(dag_run) == {"flaky": (2, 1)}
    assert xcoms(dag_run)[("flaky", -1, "return_value")] == {"run": "r-1"}
    # dag.test() runs tasks in this process on every line, so the task's closure fills `seen`.
    assert seen[1] == (1, None, None)
    assert seen[2] == (1, json.dumps({"run": "r-1"}), None)  # max_tries unchanged on a retry


def test_task_state_store_exists_from_airflow_3_3_only():
    with DAG("compat_state_store", schedule=None, start_date=START) as dag:
        @task
        def probe():
            return "task_state_store" in _context()

        probe()

    present = xcoms(run_dag(dag))[("probe", -1, "return_value")]
    assert present == (airflow_version() >= (3, 3, 0))


def test_a_fail_exception_subclass_fails_without_retrying():
    from airflow.providers.common.compat.sdk import AirflowFailException

    class Fatal(AirflowFailException):
        pass

    with DAG("compat_fail", schedule=None, start_date=START) as dag:
        @task(retries=2, retry_delay=timedelta(seconds=0))
        def fatal():
            raise Fatal("no retry")

        fatal()

    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"fatal": "failed"}
    assert tries(dag_run)["fatal"][0] == 1
