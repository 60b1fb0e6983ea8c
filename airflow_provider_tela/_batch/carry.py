"""A retry whose input changed keeps the runs of the records that did not change.

A batch's state folder is bound to its input (``batch.plan``): when a record is appended, edited or
removed between two tries of one task instance (same epoch: a retry, not a clear), the retry gets a
new folder. Started empty, it would submit again every record the earlier try already paid for.
Instead, before anything is sent, the earlier folder's runs are carried over, matched by *request
key* (``BatchSpec.key_for``: the connection and the whole request sent for the record):

- a record whose request equals one the earlier try sent takes that record's run id (``"r"``): the
  engine re-attaches to it (one status check if it ended), never submits it;
- one the earlier try sent without learning the answer takes its intent (``"i"``): ``on_ambiguous``
  decides, as for any retry;
- new or changed records have no match and are submitted; a record sent twice (same request twice
  in the input) matches at most as many earlier runs as there were, in record order.

Runs of records that left the input (changed or removed) are not reused and not waited for: the
log names how many, and what they cost is carried into the new ledger (``["s", earlier folder,
spend]``, with what the earlier folder itself carried), so that ``max_cost`` counts what earlier tries
spent: a done run at its cost read (``batch.spend``'s rule for one that cannot be read), a run still
in flight when its try ended as a paid run of unknown cost; an intent without an answer is not
counted, as in any batch. The earlier folder's lease is held while its ledger is read (an engine still
running there is waited for). A ledger written before request keys existed cannot be matched: if it
holds any run or intent, the try fails without retrying rather than paying again (see the message).
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_tela._batch.lease import acquire_blocking, lease_for
from airflow_provider_tela._batch.ledger import Ledger, read_state
from airflow_provider_tela._batch.plan import BatchPlan
from airflow_provider_tela._batch.records import Source, iter_records
from airflow_provider_tela._batch.rows import part_location, part_rows
from airflow_provider_tela._batch.spec import BatchSpec
from airflow_provider_tela._batch.spend import Spend
from airflow_provider_tela._storage import Location
from airflow_provider_tela.errors import TelaBatchFailedError


class TelaBatchLineageError(TelaBatchFailedError):
    """The earlier try's runs cannot be matched to the changed input; failing (without retries)
    is what keeps them from being paid again."""


@dataclass(frozen=True)
class Carried:
    reattached: int  # records that take over an earlier run
    ambiguous: int  # records that take over an intent without a known answer
    left_behind: int  # earlier runs or intents whose record is no longer in the input
    spend: Spend = field(default_factory=Spend)  # what the runs left behind (and earlier folders') cost


@dataclass(frozen=True)
class EarlierRun:
    run_id: str | None  # None: an intent without a known answer
    status: str = "submitted"  # its row's status once done; "submitted" while it was in flight
    cost: Any = None  # its row's usage.cost


def earlier_runs(state_dir: Location, total: int) -> tuple[dict[str, deque[EarlierRun]], int, Spend]:
    """Request key -> the earlier try's runs (``run_id`` None: intent only), in record order; how many
    runs or intents have no key (written before keys existed); and what that folder carried itself."""
    state = read_state(state_dir, total)
    found: list[tuple[int, str | None, EarlierRun]] = []
    found += [(index, state.keys.get(index), EarlierRun(run_id)) for index, run_id in state.run_ids.items()]
    found += [(index, state.keys.get(index), EarlierRun(None)) for index in state.intent_only()]
    for entry in state.parts:
        for index, key, row in part_rows(part_location(state_dir, int(entry[1]))):
            data = json.loads(row)
            if data.get("run_id"):
                usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
                found.append((index, key, EarlierRun(str(data["run_id"]), str(data.get("status")), usage.get("cost"))))
            elif data.get("status") == "ambiguous":
                found.append((index, key, EarlierRun(None)))
    runs: dict[str, deque[EarlierRun]] = defaultdict(deque)
    unkeyed = 0
    for _, key, run in sorted(found, key=lambda item: item[0]):
        if key is None:
            unkeyed += 1
        else:
            runs[key].append(run)
    return runs, unkeyed, state.carried_spend()


def left_behind_spend(runs: dict[str, deque[EarlierRun]]) -> Spend:
    """What the earlier runs no record takes over cost: a failed run its cost read, any other run
    (done, or in flight when its try ended) as a paid run (``batch.spend``); an intent nothing."""
    spend = Spend()
    for queue in runs.values():
        for run in queue:
            if run.run_id is not None:
                spend.add("failed" if run.status == "failed" else "succeeded", run.cost)
    return spend


def carry_over(earlier_uri: str, target: Location, source: Source, spec: BatchSpec, conn_id: str, total: int,
               log: Any, *, lease_poll: float = 2.0) -> Carried:
    """Seed ``target``'s ledger with the earlier folder's runs of unchanged records (blocking)."""
    earlier = Location.parse(earlier_uri)
    previous = BatchPlan.load(earlier_uri)
    lease = lease_for(earlier)
    acquire_blocking(lease, log, poll=lease_poll, then="the runs of its unchanged records are carried over")
    try:
        runs, unkeyed, carried = earlier_runs(earlier, previous.total)
        if unkeyed:
            raise TelaBatchLineageError(
                f"The input of this batch changed since an earlier try, whose state is in {earlier_uri}; that try "
                f"sent {unkeyed} record(s) with a provider release that did not record request keys, so their "
                "runs cannot be matched to the changed input, and starting afresh would pay for them again. "
                "Restore the input that try read and retry (the batch then resumes its ledger), or clear the task "
                "to start the batch afresh (every record is submitted again)."
            )
        entries: list[list[Any]] = []
        ambiguous = 0
        for record in iter_records(source):
            key = spec.key_for(conn_id, spec.request_for(record.variables))
            queue = runs.get(key)
            if not queue:
                continue
            run_id = queue.popleft().run_id
            if run_id is None:
                entries.append(["i", record.index, key])
                ambiguous += 1
            else:
                entries.append(["r", record.index, run_id, key])
        spend = carried.plus(left_behind_spend(runs))
        if spend.costs_read or spend.costs_estimated:
            entries.append(["s", earlier_uri, spend.stats()])
        ledger = Ledger.open(target, total)
        try:
            ledger.write_now(entries)  # a repeat after a crash writes the same lines: they replay the same
        finally:
            ledger.close()
    finally:
        lease.release()
    left_behind = sum(len(queue) for queue in runs.values())
    taken = len(entries) - (1 if entries and entries[-1][0] == "s" else 0)
    result = Carried(taken - ambiguous, ambiguous, left_behind, spend)
    log.warning(
        "The records changed since an earlier try of this batch (state in %s). Carried over by request: %d "
        "record(s) take over their earlier run (re-attached, not resubmitted), %d were sent without a known "
        "answer (on_ambiguous applies), %d are new or changed and will be submitted; %d earlier run(s) belong to "
        "records no longer in the input (changed or removed) and are not reused; max_cost counts what they (and "
        "any earlier folder's) cost: %.6g%s.",
        earlier_uri, result.reattached, result.ambiguous, total - taken, left_behind, spend.total,
        f" ({spend.costs_estimated} of them of unknown cost)" if spend.costs_estimated else "",
    )
    return result
