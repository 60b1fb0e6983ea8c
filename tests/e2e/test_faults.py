"""Scenario 1: 52 mapped runs through an API that answers 30% of requests with a fault."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

DAG_ID = "tela_e2e_faults"
COMPLETIONS = "/v2/chat/completions"
TASKS = {"enrich_deferred": ("deferred row", 40), "enrich_in_worker": ("in-worker row", 12)}

# Submissions only get faults that Tela rejects before creating a run: retrying those cannot make
# a second run. A submission that got no answer (drop_before) fails its try with TelaRunMayExistError,
# and Airflow's retry submits afresh. Polls get every kind, including ones the client does not retry
# (500: the in-worker try fails, and its retry must reconnect to the run instead of submitting).
FAULTS = [
    # First one of each kind, deterministically: each is seen, and two tries fail on a dropped submission.
    {"kind": "drop_before", "method": "POST", "path": COMPLETIONS, "count": 2},
    {"kind": "429", "method": "POST", "path": COMPLETIONS, "count": 1, "retry_after": 1},
    {"kind": "503", "method": "POST", "path": COMPLETIONS, "count": 1},
    *({"kind": kind, "method": "GET", "path": COMPLETIONS + "/", "count": 1}
      for kind in ("429", "500", "502", "503", "drop_before", "drop_after")),
    # Then about 30% of all requests, at random.
    {"kind": "429", "method": "POST", "path": COMPLETIONS, "rate": 0.12, "retry_after": 1},
    {"kind": "503", "method": "POST", "path": COMPLETIONS, "rate": 0.1},
    {"kind": "drop_before", "method": "POST", "path": COMPLETIONS, "rate": 0.1},
    {"kind": "429", "method": "GET", "path": COMPLETIONS + "/", "rate": 0.08, "retry_after": 1},
    {"kind": "502", "method": "GET", "path": COMPLETIONS + "/", "rate": 0.06},
    {"kind": "503", "method": "GET", "path": COMPLETIONS + "/", "rate": 0.06},
    {"kind": "500", "method": "GET", "path": COMPLETIONS + "/", "rate": 0.04},
    {"kind": "drop_before", "method": "GET", "path": COMPLETIONS + "/", "rate": 0.05},
    {"kind": "drop_after", "method": "GET", "path": COMPLETIONS + "/", "rate": 0.05},
]


def test_every_mapped_run_succeeds_once_through_faults(airflow, tela):
    tela.configure(run_latency=2, seed=7)
    tela.add_faults(*FAULTS)

    run_id = airflow.trigger(DAG_ID)
    assert airflow.wait_for_run(DAG_ID, run_id, timeout=420) == "success"

    instances = airflow.task_instances(DAG_ID, run_id)
    expected_docs = {(task_id, i): f"{prefix} {i}" for task_id, (prefix, n) in TASKS.items() for i in range(n)}
    assert set(instances) == set(expected_docs)
    assert {row["state"] for row in instances.values()} == {"success"}

    # Nothing twice: one accepted run per map index, and no submission that reached Tela was lost.
    stats = tela.stats()
    runs = tela.runs()
    assert stats["runs_created"] == stats["completions_posted"] == len(expected_docs) == 52
    run_by_doc = {run["raw_input"]["variables"]["document"]: run["id"] for run in runs}
    assert len(run_by_doc) == len(runs) == 52

    # Nothing lost: every map index returned its own run's output, and points at that run.
    xcoms = airflow.xcoms(DAG_ID, run_id)
    for (task_id, map_index), document in expected_docs.items():
        assert xcoms[(task_id, map_index, "return_value")]["variables"] == {"document": document}
        assert xcoms[(task_id, map_index, "run_id")] == run_by_doc[document]
        assert xcoms[(task_id, map_index, "usage")]["output_tokens"] > 0

    # The faults really happened, at about the share asked for, and some cost a try that Airflow retried.
    injected = stats["faults_injected"]
    assert set(injected) == {"429", "500", "502", "503", "drop_before", "drop_after"}
    assert sum(injected.values()) >= 0.15 * stats["requests"]
    # Every task ended in success, so each try before its last one failed and was retried. The two dropped
    # submissions fail two tries, of two tasks or of one task twice (its retry can take the second drop).
    failed_tries = [(task_id, try_number, map_index) for (task_id, map_index), row in instances.items()
                    for try_number in range(1, row["try_number"])]
    assert len(failed_tries) >= 2
    failed_logs = "".join(
        airflow.task_log(DAG_ID, run_id, task_id, try_number, map_index)
        for task_id, try_number, map_index in failed_tries
    )
    assert "TelaRunMayExistError" in failed_logs
