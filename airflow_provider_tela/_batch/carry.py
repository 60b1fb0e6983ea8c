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
log names how many. The earlier folder's lease is held while its ledger is read (an engine still
running there is waited for). A ledger written before request keys existed cannot be matched: if it
holds any run or intent, the try fails without retrying rather than paying again (see the message).
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from airflow_provider_tela._batch.lease import acquire_blocking, lease_for
from airflow_provider_tela._batch.ledger import Ledger, read_state
from airflow_provider_tela._batch.plan import BatchPlan
from airflow_provider_tela._batch.records import Source, iter_records
from airflow_provider_tela._batch.rows import part_location, part_rows
from airflow_provider_tela._batch.spec import BatchSpec
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


def earlier_runs(state_dir: Location, total: int) -> tuple[dict[str, deque[str | None]], int]:
    """Request key -> the earlier try's run ids (None: intent only), in record order; and how many
    runs or intents have no key (written before keys existed)."""
    state = read_state(state_dir, total)
    found: list[tuple[int, str | None, str | None]] = []
    found += [(index, state.keys.get(index), run_id) for index, run_id in state.run_ids.items()]
    found += [(index, state.keys.get(index), None) for index in state.intent_only()]
    for entry in state.parts:
        for index, key, row in part_rows(part_location(state_dir, int(entry[1]))):
            data = json.loads(row)
            if data.get("run_id"):
                found.append((index, key, str(data["run_id"])))
            elif data.get("status") == "ambiguous":
                found.append((index, key, None))
    runs: dict[str, deque[str | None]] = defaultdict(deque)
    unkeyed = 0
    for _, key, run_id in sorted(found, key=lambda item: item[0]):
        if key is None:
            unkeyed += 1
        else:
            runs[key].append(run_id)
    return runs, unkeyed


def carry_over(earlier_uri: str, target: Location, source: Source, spec: BatchSpec, conn_id: str, total: int,
               log: Any, *, lease_poll: float = 2.0) -> Carried:
    """Seed ``target``'s ledger with the earlier folder's runs of unchanged records (blocking)."""
    earlier = Location.parse(earlier_uri)
    previous = BatchPlan.load(earlier_uri)
    lease = lease_for(earlier)
    acquire_blocking(lease, log, poll=lease_poll, then="the runs of its unchanged records are carried over")
    try:
        runs, unkeyed = earlier_runs(earlier, previous.total)
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
            run_id = queue.popleft()
            if run_id is None:
                entries.append(["i", record.index, key])
                ambiguous += 1
            else:
                entries.append(["r", record.index, run_id, key])
        ledger = Ledger.open(target, total)
        try:
            ledger.write_now(entries)  # a repeat after a crash writes the same lines: they replay the same
        finally:
            ledger.close()
    finally:
        lease.release()
    left_behind = sum(len(queue) for queue in runs.values())
    carried = Carried(len(entries) - ambiguous, ambiguous, left_behind)
    log.warning(
        "The records changed since an earlier try of this batch (state in %s). Carried over by request: %d "
        "record(s) take over their earlier run (re-attached, not resubmitted), %d were sent without a known "
        "answer (on_ambiguous applies), %d are new or changed and will be submitted; %d earlier run(s) belong to "
        "records no longer in the input (changed or removed) and are not reused.",
        earlier_uri, carried.reattached, carried.ambiguous, total - len(entries), left_behind,
    )
    return carried
