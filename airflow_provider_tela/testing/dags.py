"""Run a DAG with ``dag.test()`` on every supported Airflow line, and read its results back.

``dag.test()`` runs a whole DAG run in the current process (tasks, and deferred triggers inline) on the
metadata database, but what it needs first differs per Airflow line:

============  ===============================================================================
Airflow       before ``dag.test()`` can run a DAG defined in a test
============  ===============================================================================
2.11, 3.0     a migrated metadata database
3.1, 3.2,     a migrated metadata database, and the DAG serialized into it, as the DAG
3.3 and on    processor would (else: "Cannot create DagRun ... because the dag is not serialized")
============  ===============================================================================

:func:`run_dag` does both, then runs the DAG and returns the finished ``DagRun``. The database is
migrated once per process and database URL (an in-process ``upgradedb``, about 1 s on SQLite, instead
of ``airflow db migrate`` in a subprocess). :func:`task_states`, :func:`xcoms` and :func:`tries` read
a finished run back the same way on every line::

    from datetime import datetime

    from airflow_provider_tela.operators.tela import TelaCompletionOperator
    from airflow_provider_tela.testing.dags import DAG, run_dag, task_states, xcoms


    def test_my_dag(tela_emulator, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", tela_emulator.connection_json())
        with DAG("my_dag", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
            TelaCompletionOperator(task_id="canvas", canvas_id="canvas-echo", variables={"document": "hi"})
        dag_run = run_dag(dag)
        assert task_states(dag_run) == {"canvas": "success"}
        assert xcoms(dag_run)[("canvas", -1, "return_value")]["variables"] == {"document": "hi"}
        assert tela_emulator.stats()["runs_created"] == 1

Set ``AIRFLOW_HOME`` (or ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``) to a throw-away folder *before*
anything imports Airflow, e.g. at the top of your ``conftest.py``: Airflow reads its configuration
once, at import.

``DAG`` and ``task`` are exported here for tests that must run on every line: they are
``airflow.sdk.DAG`` / ``airflow.sdk.task`` on Airflow 3 and ``airflow.models.dag.DAG`` /
``airflow.decorators.task`` on 2.11 (through ``airflow.providers.common.compat.sdk``).
Importing this module imports no Airflow module; each name is resolved when first used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from airflow.models.dagrun import DagRun
    from airflow.providers.common.compat.sdk import DAG, task

__all__ = [
    "DAG",
    "airflow_version",
    "ensure_db",
    "run_dag",
    "serialize_dag",
    "task",
    "task_states",
    "tries",
    "xcoms",
]

# Names re-exported lazily from common-compat's sdk module (the Airflow 3 SDK, or Airflow 2's modules).
_COMPAT_EXPORTS = {"DAG", "task"}
# (pid, database URL) of the databases this process has migrated.
_migrated: set[tuple[int, str]] = set()


def __getattr__(name: str) -> Any:
    if name in _COMPAT_EXPORTS:
        from airflow.providers.common.compat import sdk

        value = getattr(sdk, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def airflow_version() -> tuple[int, int, int]:
    """The running Airflow's (major, minor, micro), e.g. (2, 11, 2)."""
    import airflow

    parts = []
    for piece in airflow.__version__.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit()) or "0"
        parts.append(int(digits))
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def _database_url() -> str:
    from airflow import settings

    return str(settings.SQL_ALCHEMY_CONN)


def ensure_db() -> None:
    """Migrate the metadata database (create it when empty), once per process and database URL."""
    key = (os.getpid(), _database_url())
    if key in _migrated:
        return
    from airflow.utils import db

    # On an empty database upgradedb() creates every table (initdb) without loading Airflow's example
    # connections; on a migrated one it is a no-op check of the alembic revision.
    db.upgradedb()
    _migrated.add(key)


def serialize_dag(dag: Any, *, bundle_name: str | None = None) -> None:
    """Write ``dag`` to the database as the DAG processor would (Airflow 3.1 and later need this).

    On 2.11 and 3.0 ``dag.test()`` works from the DAG object alone, and this does nothing.
    ``bundle_name`` defaults to the first configured DAG bundle (``dags-folder`` unless configured).
    """
    if airflow_version() < (3, 1, 0):
        return
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:
        manager = DagBundlesManager()
        manager.sync_bundles_to_db(session=session)
        session.flush()
        if bundle_name is None:
            bundle_name = next(iter(manager.get_all_dag_bundles())).name
        update_dag_parsing_results_in_db(
            bundle_name, None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
        )


def run_dag(
    dag: Any,
    *,
    logical_date: datetime | None = None,
    run_conf: dict[str, Any] | None = None,
    conn_file_path: str | None = None,
    variable_file_path: str | None = None,
    bundle_name: str | None = None,
) -> DagRun:
    """Run ``dag`` once with ``dag.test()`` on a migrated database and return the finished DagRun.

    Works on Airflow 2.11 and 3.0 onwards: migrates the database if this process has not yet done so
    (:func:`ensure_db`), serializes the DAG where the line needs it (:func:`serialize_dag`), then
    calls ``dag.test()`` (``execution_date=`` on 2.11, ``logical_date=`` on 3.x). Deferred tasks run
    their triggers inline. Task failures do not raise: read them with :func:`task_states`.

    Two ways a run never ends, so guard DAG tests with a process-level timeout (``pytest-timeout`` with
    ``--timeout-method=thread``; SIGALRM does not interrupt a 3.x inline trigger): ``dag.test()`` does not
    enforce ``defer(timeout=...)`` on any line (the trigger runs inline until it fires), and on Airflow
    2.11 it loops forever when a deferred task's trigger raises.
    """
    ensure_db()
    serialize_dag(dag, bundle_name=bundle_name)
    kwargs: dict[str, Any] = {
        "run_conf": run_conf,
        "conn_file_path": conn_file_path,
        "variable_file_path": variable_file_path,
    }
    if logical_date is not None:
        kwargs["execution_date" if airflow_version() < (3, 0, 0) else "logical_date"] = logical_date
    return dag.test(**kwargs)


def _task_instances(dag_run: DagRun, session: Any) -> list[Any]:
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    return list(
        session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
            )
        )
    )


def _label(ti: Any) -> str:
    return ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"


def task_states(dag_run: DagRun) -> dict[str, str]:
    """The final state of every task of ``dag_run``: ``{"task": "success", "mapped[0]": "failed", ...}``."""
    from airflow.utils.session import create_session

    with create_session() as session:
        return {_label(ti): str(ti.state.value if hasattr(ti.state, "value") else ti.state)
                for ti in _task_instances(dag_run, session)}


def tries(dag_run: DagRun) -> dict[str, tuple[int, int]]:
    """``(try_number, max_tries)`` of every task of ``dag_run`` as stored at the end of the run."""
    from airflow.utils.session import create_session

    with create_session() as session:
        return {_label(ti): (ti.try_number, ti.max_tries) for ti in _task_instances(dag_run, session)}


def xcoms(dag_run: DagRun) -> dict[tuple[str, int, str], Any]:
    """Every XCom of ``dag_run``, deserialized, keyed by ``(task_id, map_index, key)``."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    try:
        from airflow.models.xcom import XComModel  # Airflow 3: rows hold the serialized value
    except ImportError:  # Airflow 2: the ORM deserializes `value` on load (BaseXCom.init_on_load)
        from airflow.models.xcom import BaseXCom

        with create_session() as session:
            rows = session.scalars(
                select(BaseXCom).where(BaseXCom.dag_id == dag_run.dag_id, BaseXCom.run_id == dag_run.run_id)
            ).all()
            return {(r.task_id, r.map_index, r.key): r.value for r in rows}
    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id)
        ).all()
        return {(r.task_id, r.map_index, r.key): XComModel.deserialize_value(r) for r in rows}
