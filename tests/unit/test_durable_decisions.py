"""The durable record's decisions, on every path a try can find it (pure: no Airflow, no HTTP).

The DAG and e2e tests prove these decisions in real runs; this layer names every case once, so that a
change to ``decide`` or ``epoch_of`` that breaks one (a clear read as a retry, an edited DAG read as the
same request) fails here in milliseconds, whatever Airflow line the store lives on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_tela._durable import DurableRun, RunRecord, decide, epoch_of, fingerprint

PAYLOAD = {"canvas_id": "c", "variables": {"document": "d"}}


class MemoryStore:
    remembers = True

    def __init__(self, keeps_finished: bool) -> None:
        self.keeps_finished = keeps_finished
        self.value: dict[str, Any] | None = None

    def load(self) -> Any:
        return self.value

    def save(self, value: dict[str, Any]) -> None:
        self.value = value

    def delete(self) -> None:
        self.value = None


def context(max_tries: int, started: datetime | None = datetime(2026, 1, 1, tzinfo=UTC)) -> dict[str, Any]:
    return {"ti": SimpleNamespace(max_tries=max_tries), "dag_run": SimpleNamespace(start_date=started)}


def test_a_retry_keeps_the_epoch_a_clear_or_a_new_dag_run_changes_it() -> None:
    first = epoch_of(context(2))
    assert epoch_of(context(2)) == first  # a retry: Airflow leaves max_tries alone
    assert epoch_of(context(5)) != first  # a clear raises max_tries by the task's retries + 1
    assert epoch_of(context(2, datetime(2026, 1, 2, tzinfo=UTC))) != first  # the DAG run made again


def test_the_fingerprint_names_the_request_and_the_account() -> None:
    same = fingerprint("tela_default", dict(reversed(list(PAYLOAD.items()))))
    assert fingerprint("tela_default", PAYLOAD) == same  # key order does not matter
    assert fingerprint("tela_other", PAYLOAD) != same  # another account is another run
    assert fingerprint("tela_default", {**PAYLOAD, "variables": {"document": "e"}}) != same


@pytest.mark.parametrize(("record", "epoch", "action", "says"), [
    (None, "1@t", "submit", "no earlier submission"),
    (RunRecord("fp", "1@t", run_id="r1"), "1@t", "reattach", "run r1"),
    (RunRecord("fp", "1@t", run_id=None), "1@t", "ambiguous", "did not learn"),
    (RunRecord("fp", "0@t", run_id="r1"), "1@t", "submit", "cleared"),
    (RunRecord("fp", "0@t", run_id=None), "1@t", "submit", "cleared"),  # a clear asks anew, even after a lost answer
    (RunRecord("other", "1@t", run_id="r1"), "1@t", "submit", "request changed"),
    (RunRecord("other", "1@t", run_id=None), "1@t", "submit", "request changed"),
])
def test_every_record_a_try_can_find(record: RunRecord | None, epoch: str, action: str, says: str) -> None:
    decision = decide(record, "fp", epoch)
    assert decision.action == action and says in decision.reason


@pytest.mark.parametrize("data", [None, "text", [], {"run_id": "r1"}, {"fingerprint": 5}])
def test_a_record_that_cannot_be_read_is_no_record(data: Any) -> None:
    assert RunRecord.from_json(data) is None


@pytest.mark.parametrize("keeps_finished", [True, False], ids=["task state store (3.3+)", "Variable (below 3.3)"])
def test_a_task_s_tries_through_its_store(keeps_finished: bool) -> None:
    store = MemoryStore(keeps_finished)
    fp = fingerprint("tela_default", PAYLOAD)
    first = DurableRun(store, fp, "1@t", try_number=1)
    assert first.decision.action == "submit"
    first.intent()
    assert DurableRun(store, fp, "1@t", 2).decision.action == "ambiguous"  # killed before the answer
    first.submitted("r1")
    retry = DurableRun(store, fp, "1@t", 2)
    assert retry.decision.action == "reattach" and retry.decision.record.run_id == "r1"
    assert DurableRun(store, fp, "4@t", 1).decision.action == "submit"  # after a clear
    retry.ended()
    assert (store.value is not None) is keeps_finished  # below 3.3 the Variable goes with the run
    first.withdraw()
    assert store.value is None
