"""What the tries of one task instance spent on Tela, so that ``max_cost`` holds across retries.

``TelaCompletionOperator(max_cost=...)`` submits at most one run (or Workstation task) per try, and a
retry that submits again (the earlier run failed, its output was refused, the request changed) pays
again. Each try notes its run here: as soon as Tela named it (``submitted``), and again when it ended,
with its cost. The note is a record of its own beside the task's durable record (``tela_spend``: the
task state store from Airflow 3.3, an Airflow Variable below, whatever ``durable`` says), so it
outlives the run record's end below 3.3, where that record goes once the run ended.

Before a try submits, ``settle`` adds the run the durable record names, if any (a try that died before
its note), asks Tela once about each run whose end or cost was not seen, and ``check`` refuses to
submit when the total reached ``max_cost``. The total follows the batch's rule (``_batch.spend``): a
paid run whose cost cannot be read (a succeeded run without a readable cost, a run whose end was
never seen) counts at the highest cost read from this task's runs, and when there is none, the
budget cannot be kept and nothing is submitted; a failed run counts its cost when it can be read.

A record that cannot be read (damaged, or written by a newer release) never lowers the total: each
entry that cannot be read counts as a paid run of unknown cost. A clear starts a new budget (the
record's epoch is the run record's: a clear changes it). Below 3.3 the record is deleted once the
task instance is over (it succeeded, or failed for good); on 3.3 it stays with the DAG run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_tela._batch.spend import Spend, figure
from airflow_provider_tela._durable import Store, epoch_of, store_for
from airflow_provider_tela._types import Kind
from airflow_provider_tela.errors import TelaBudgetError

VERSION = 1
# What a look-up of a run answers: (its outcome, "succeeded" / "failed" or None while active; its cost),
# or None when Tela no longer knows it.
Lookup = Callable[[Kind, str], "tuple[str | None, Any] | None"]


@dataclass
class SpentRun:
    id: str
    kind: Kind = "run"
    status: str = "submitted"  # "submitted" (its end not seen yet), "succeeded" or "failed"
    cost: float | None = None  # the cost read (finite, not negative), or None
    settled: bool = False  # its end was seen with its cost, or Tela was asked once it ended

    @classmethod
    def from_json(cls, data: Any) -> SpentRun:
        """An entry as written; one that cannot be read is a paid run of unknown cost (never less)."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return cls(id="(unreadable entry)", settled=True)
        status = str(data.get("status")) if data.get("status") in ("succeeded", "failed") else "submitted"
        kind: Kind = "task" if data.get("kind") == "task" else "run"
        cost = figure(data.get("cost"))
        return cls(data["id"], kind, status, None if cost is None else float(cost), data.get("settled") is True)


class RunBudget:
    """The runs a task instance's tries paid for, read once per try and written as it goes."""

    def __init__(self, store: Store, epoch: str, max_cost: float) -> None:
        self.store = store
        self.epoch = epoch
        self.max_cost = max_cost
        self.runs: dict[str, SpentRun] = {}
        data = store.load()
        if isinstance(data, dict) and data.get("epoch") == epoch:  # another epoch: a clear, a new budget
            entries = data.get("runs")
            if data.get("version") != VERSION or not isinstance(entries, list):
                entries = [None]  # written by another release, or damaged: one run of unknown cost, at least
            for entry in entries:
                run = SpentRun.from_json(entry)
                key = run.id if run.id not in self.runs else f"{run.id}#{len(self.runs)}"
                self.runs[key] = run

    @classmethod
    def open(cls, context: Any, max_cost: float) -> RunBudget:
        return cls(store_for(context, spend=True), epoch_of(context), max_cost)

    def _save(self) -> None:
        self.store.save({"version": VERSION, "epoch": self.epoch,
                         "runs": [asdict(run) for run in self.runs.values()]})

    # --- as the try goes -------------------------------------------------------------------------------

    def submitted(self, kind: Kind, job_id: str) -> None:
        """Tela named the run this try created (before anything else can go wrong)."""
        if job_id and job_id not in self.runs:
            self.runs[job_id] = SpentRun(job_id, kind)
            self._save()

    def ended(self, kind: Kind, job_id: str, status: str, usage: dict[str, Any] | None) -> None:
        """The run ended (``status``: "succeeded", also when its output is then refused, or "failed")."""
        if not job_id:
            return
        cost = figure((usage or {}).get("cost"))
        # a succeeded run's cost is in its answer; a failed one's may come later: Tela is asked once more
        settled = cost is not None or status == "succeeded"
        run = SpentRun(job_id, kind, status, None if cost is None else float(cost), settled)
        if self.runs.get(job_id) != run:
            self.runs[job_id] = run
            self._save()

    # --- before a try submits --------------------------------------------------------------------------

    def settle(self, lookup: Lookup, recorded: tuple[Kind, str] | None = None) -> None:
        """Add the run the durable record names (its try may have died before noting it), and ask Tela
        about each run whose end, or a failed run's cost, was not seen yet."""
        changed = False
        if recorded is not None and recorded[1] and recorded[1] not in self.runs:
            self.runs[recorded[1]] = SpentRun(recorded[1], recorded[0])
            changed = True
        for run in self.runs.values():
            if run.settled:
                continue
            found = lookup(run.kind, run.id)
            if found is None:  # Tela no longer knows it: what was noted stands
                run.settled = True
            else:
                outcome, cost = found
                if outcome is None:  # still running: it is paid for, its cost is not known yet
                    continue
                read = figure(cost)
                run.status, run.cost, run.settled = outcome, None if read is None else float(read), True
            changed = True
        if changed:
            self._save()

    def spend(self) -> Spend:
        spend = Spend()
        for run in self.runs.values():
            spend.add("failed" if run.status == "failed" else "succeeded", run.cost)
        return spend

    def check(self) -> None:
        """Raise TelaBudgetError when what earlier tries spent leaves nothing to submit with."""
        spend = self.spend()
        paid = len(self.runs)
        named = ", ".join(list(self.runs)[:5]) + (", ..." if paid > 5 else "")
        advice = ("Raise max_cost, or clear the task to start a new budget (a clear asks for a new run); nothing "
                  "was submitted by this try.")
        if spend.unpriced:
            raise TelaBudgetError(
                f"max_cost={self.max_cost:g} cannot be kept: earlier tries of this task paid for {paid} Tela "
                f"run(s) ({named}) and the cost of {spend.costs_estimated} of them cannot be read (Tela did not "
                f"report it, or not as a finite, non-negative number), with no readable cost to estimate it from. "
                f"Look the runs up in Tela. {advice}")
        if spend.total >= self.max_cost:
            estimated = (f"; {spend.costs_estimated} of them counted at {spend.cost_max:.6g}, the highest cost read, "
                         "since their cost could not be read" if spend.costs_estimated else "")
            raise TelaBudgetError(
                f"max_cost={self.max_cost:g} is spent: earlier tries of this task paid {spend.total:.6g} for "
                f"{paid} Tela run(s) ({named}{estimated}). {advice}")

    # --- the end ---------------------------------------------------------------------------------------

    def end(self) -> None:
        """The task instance is over: below 3.3 the record goes (on 3.3 it stays with the DAG run)."""
        end_for_store(self.store)

    @staticmethod
    def end_for(context: Any) -> None:
        end_for_store(store_for(context, spend=True))


def end_for_store(store: Store) -> None:
    if not store.keeps_finished:
        store.delete()
