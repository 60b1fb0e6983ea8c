"""Reading a finished DAG run back from the metadata database."""

from __future__ import annotations


def xcoms(dag_run) -> dict[tuple[str, int, str], object]:
    """Every XCom of a DAG run, keyed by (task_id, map_index, key)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(XComModel).where(XComModel.dag_run_id == dag_run.id)).all()
        return {(r.task_id, r.map_index, r.key): XComModel.deserialize_value(r) for r in rows}


def task_states(dag_run) -> dict[str, str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
            for ti in dag_run.get_task_instances(session=session)
        }


def run_dag(dag, **kwargs):
    """dag.test() for a DAG defined in a test: serialize it to the database first, as a parser would."""
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.flush()
        update_dag_parsing_results_in_db(
            "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
        )
    return dag.test(**kwargs)
