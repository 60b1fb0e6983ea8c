"""Durable identity of a submitted run: what lets a retry re-attach to a run instead of paying twice.

Before its POST, a task writes an *intent* record; once Tela answers, the run id. A later try of
the same task instance reads the record back and decides (``decide``):

- no record, or one written before the task was **cleared** (Airflow raises ``max_tries`` on a
  clear, never on a retry; a DAG run deleted and made again starts at another time), or for
  **other inputs** (the request's fingerprint changed, e.g. the DAG
  was edited between tries): submit a new run;
- a record with a run id: re-attach to that run (wait for it, or take its output);
- an intent without a run id: the earlier try sent its request and never learned the answer. The
  run may exist; ``on_ambiguous`` says whether to fail naming what to check (default) or resubmit.

Where records live: the task state store on Airflow 3.3+ (kept after success for observability; it
goes with the DAG run), an Airflow Variable per task instance below 3.3 (deleted once the run ended,
so that Variables do not pile up).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, get_args

from airflow_provider_tela._types import Mode
from airflow_provider_tela.errors import TelaDurableStateError

RECORD_KEY = "tela_run"
VARIABLE_PREFIX = "tela_run_state__"
# What the tries of a task instance spent (max_cost, ``_budget``): a record of its own, beside this one.
SPEND_KEY = "tela_spend"
SPEND_VARIABLE_PREFIX = "tela_run_spend__"
SCHEMA_VERSION = 1

Action = Literal["submit", "reattach", "ambiguous"]


@dataclass(frozen=True)
class RunRecord:
    fingerprint: str
    # Which "life" of the task instance wrote it: its max_tries (a clear raises it, a retry does not)
    # and its DAG run's start (a DAG run deleted and created again under the same id starts anew).
    epoch: str
    run_id: str | None = None  # None: the request was (about to be) sent, its answer is unknown
    mode: Mode = "async"
    try_number: int | None = None
    written_at: str = ""
    version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> RunRecord | None:
        if not isinstance(data, dict) or not isinstance(data.get("fingerprint"), str):
            return None
        mode = data.get("mode", "async")
        if mode not in get_args(Mode):
            return None  # written by a newer release: not understood, so not acted on
        try:
            return cls(
                fingerprint=data["fingerprint"], epoch=str(data.get("epoch", "")),
                run_id=data.get("run_id") or None, mode=mode,
                try_number=data.get("try_number"), written_at=str(data.get("written_at", "")),
            )
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    record: RunRecord | None = None


def decide(record: RunRecord | None, fingerprint: str, epoch: str) -> Decision:
    """What a try does, given the record an earlier try left (pure: no I/O)."""
    if record is None:
        return Decision("submit", "no earlier submission recorded")
    if record.epoch != epoch:
        return Decision(
            "submit", "the task was cleared since the recorded submission: a clear asks for a new run", record
        )
    if record.fingerprint != fingerprint:
        return Decision(
            "submit",
            "the request changed since the recorded submission (canvas, variables, messages, override or "
            "connection differ), so its run is not reused",
            record,
        )
    if record.run_id:
        return Decision("reattach", f"an earlier try submitted run {record.run_id}", record)
    return Decision("ambiguous", "an earlier try sent its request but did not learn whether a run was created", record)


def epoch_of(context: Any) -> str:
    """The task instance's current life: unchanged by retries, changed by a clear or a new DAG run."""
    max_tries = getattr(context["ti"], "max_tries", None)
    started = getattr(context.get("dag_run"), "start_date", None)
    return f"{max_tries}@{started.isoformat() if started is not None else ''}"


def fingerprint(conn_id: str, payload: dict[str, Any]) -> str:
    """What was asked of Tela, as a digest: the connection (the account billed) and the request body,
    with files named by identity (never read)."""
    canonical = json.dumps({"conn_id": conn_id, "request": payload}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Store(Protocol):
    """Where a task instance's record lives. ``keeps_finished``: the record stays once the run ended
    (Airflow 3.3's task state store goes with the DAG run); ``remembers``: a later try can read it."""

    keeps_finished: bool
    remembers: bool

    def load(self) -> Any: ...
    def save(self, value: dict[str, Any]) -> None: ...
    def delete(self) -> None: ...


class NoStore:
    """``durable=False``: nothing is recorded, nothing is found."""

    keeps_finished = False
    remembers = False

    def load(self) -> Any:
        return None

    def save(self, value: dict[str, Any]) -> None:
        return None

    def delete(self) -> None:
        return None


class _TaskStateStore:
    """Airflow 3.3+: the task instance's own state store (``key``: which of its records)."""

    keeps_finished = True
    remembers = True

    def __init__(self, accessor: Any, key: str = RECORD_KEY) -> None:
        self.accessor = accessor
        self.key = key

    def load(self) -> Any:
        return self.accessor.get(self.key)

    def save(self, value: dict[str, Any]) -> None:
        from airflow.sdk.execution_time.context import NEVER_EXPIRE

        # never expire: a retry may come long after (retry_delay, a long outage); the row goes with the DAG run
        self.accessor.set(self.key, value, retention=NEVER_EXPIRE)

    def delete(self) -> None:
        self.accessor.delete(self.key)


class _VariableStore:
    """Below Airflow 3.3: an Airflow Variable per task instance (the metadata database every worker sees)."""

    keeps_finished = False
    remembers = True

    def __init__(self, dag_id: str, task_id: str, run_id: str, map_index: int, prefix: str = VARIABLE_PREFIX) -> None:
        identity = "\x00".join([dag_id, task_id, run_id, str(map_index)])
        self.key = prefix + hashlib.sha256(identity.encode()).hexdigest()[:40]
        self.identity = {"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "map_index": map_index}

    def load(self) -> Any:
        from airflow.providers.common.compat.sdk import Variable

        # the default is positional: Airflow 2 calls it default_var, the Task SDK default
        stored = Variable.get(self.key, None)
        try:
            return json.loads(stored) if stored else None
        except ValueError:
            return None  # not ours, or damaged: read as no record

    def save(self, value: dict[str, Any]) -> None:
        from airflow.providers.common.compat.sdk import Variable

        Variable.set(self.key, json.dumps({**value, "task_instance": self.identity}))

    def delete(self) -> None:
        from airflow.providers.common.compat.sdk import Variable

        Variable.delete(self.key)


def store_for(context: Any, durable: bool = True, *, spend: bool = False) -> Store:
    """The store of the task instance's run record, or (``spend``) of what its tries spent (``_budget``)."""
    if not durable:
        return NoStore()
    accessor = context.get("task_state_store")
    if accessor is not None:
        return _TaskStateStore(accessor, SPEND_KEY if spend else RECORD_KEY)
    ti = context["ti"]
    map_index = getattr(ti, "map_index", None)
    return _VariableStore(ti.dag_id, ti.task_id, ti.run_id, -1 if map_index is None else int(map_index),
                          SPEND_VARIABLE_PREFIX if spend else VARIABLE_PREFIX)


class DurableRun:
    """The record of one task instance's run, read once per try and written as the try goes."""

    def __init__(self, store: Store, fingerprint: str, epoch: str, try_number: int | None) -> None:
        self.store = store
        self.fingerprint = fingerprint
        self.epoch = epoch
        self.try_number = try_number
        self.decision = decide(RunRecord.from_json(store.load()), fingerprint, epoch)

    @classmethod
    def open(cls, context: Any, fingerprint: str, *, durable: bool = True) -> DurableRun:
        ti = context["ti"]
        return cls(store_for(context, durable), fingerprint, epoch_of(context), getattr(ti, "try_number", None))

    def _write(self, run_id: str | None, mode: Mode) -> RunRecord:
        record = RunRecord(
            fingerprint=self.fingerprint, epoch=self.epoch, run_id=run_id, mode=mode, try_number=self.try_number,
            written_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self.store.save(record.to_json())
        return record

    def intent(self, mode: Mode = "async") -> None:
        """Before the request that creates a run is sent. Read back before anything is sent: a store
        that refused the write without raising (the Task SDK's Variable.set on Airflow 3.0 to 3.2 only
        logs a failure) must stop the submission, or a retry after a crash would pay again."""
        written = self._write(None, mode)
        if self.store.remembers and RunRecord.from_json(self.store.load()) != written:
            raise TelaDurableStateError(
                "The durable record of this task's submission could not be written (the store did not keep "
                "it), so nothing was sent to Tela: a retry after a crash would not know of the run. Check the "
                "metadata database and the task's logs; the task's retry submits once the store works."
            )

    def submitted(self, run_id: str, mode: Mode = "async") -> None:
        """As soon as the run's id is known."""
        self._write(run_id, mode)

    def withdraw(self) -> None:
        """The request surely created no run (refused, or never sent): forget its intent."""
        self.store.delete()

    def ended(self) -> None:
        """The run reached its end and the task took its outcome.

        Below 3.3 the Variable is deleted so that they do not pile up (a worker killed in the
        milliseconds between this and Airflow recording the task's end would submit again on retry).
        """
        if not self.store.keeps_finished:
            self.store.delete()

    def forget(self) -> None:
        """The run ended and its outcome was refused (e.g. its output did not fit ``output_schema``):
        on every store the record goes, so that a retry asks for a new run instead of re-reading this one."""
        self.store.delete()

    @staticmethod
    def end_for(context: Any, durable: bool = True) -> None:
        """``ended`` from a task resumed after deferral (no fingerprint needed to drop a record)."""
        store = store_for(context, durable)
        if not store.keeps_finished:
            store.delete()
