"""A batch's plan: everything the engine needs, as one small JSON file in the batch's state folder.

The worker writes ``plan.json`` before anything is sent; a trigger (whose kwargs hold only the state
folder's URI and the connection id) or a retry reads it back. The state folder is
``{output_path}/_tela_batch/<task instance>/<epoch>-<fingerprint>/``:

- ``<task instance>`` hashes dag, task, DAG run and map index, so every task instance has its own;
- ``<epoch>`` is durable.py's epoch (``max_tries`` and the DAG run's start): a retry finds the folder
  of its earlier tries, a clear starts a new one;
- ``<fingerprint>`` binds what was asked (connection, the request every record shares, the records'
  digest): a batch whose input or request changed never resumes another's ledger. It carries the
  runs of the earlier try's ledger over instead, record by record, by request key (``batch.carry``);
  its folder's name then ends with ``-<hash of the earlier folder>``.

``{output_path}/_tela_batch/<task instance>/<epoch>.latest.json`` names the epoch's latest folder.

The folder holds ``plan.json``, the ledger (``ledger.jsonl``, or ``ledger/`` segments in object
storage), the results parts (``parts/``), and, for inline records sent to a trigger, ``records.jsonl``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_tela._batch.records import RecordFile
from airflow_provider_tela._batch.spec import BatchSpec
from airflow_provider_tela._storage import Location, json_bytes
from airflow_provider_tela._types import OnAmbiguous
from airflow_provider_tela.errors import TelaBatchFailedError, TelaBatchStateError

STATE_FOLDER = "_tela_batch"
RESULTS_FILE = "results.jsonl"
PLAN_FILE = "plan.json"
VERSION = 1


def _short(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _instance_folder(output: Location, identity: Mapping[str, Any]) -> Location:
    instance = "\x00".join(str(identity[key]) for key in ("dag_id", "task_id", "run_id", "map_index"))
    return output.child(STATE_FOLDER, _short(instance, 16))


def state_folder(output: Location, identity: Mapping[str, Any], epoch: str, fingerprint: str,
                 after: str | None = None) -> Location:
    """The batch's state folder; ``after``: the folder of the earlier try it carries runs over from
    (so that a batch carried over never writes into a folder that holds a ledger of its own)."""
    name = f"{_short(epoch, 12)}-{fingerprint[:16]}" + (f"-{_short(after, 8)}" if after else "")
    return _instance_folder(output, identity).child(name)


def lineage_pointer(output: Location, identity: Mapping[str, Any], epoch: str) -> Location:
    """Names the latest state folder of this task instance's epoch (and its fingerprint): what a
    retry whose input changed carries runs over from (``batch.carry``). A clear starts a new epoch,
    hence a new pointer: the batch starts afresh."""
    return _instance_folder(output, identity).child(f"{_short(epoch, 12)}.latest.json")


def read_pointer(pointer: Location) -> dict[str, str] | None:
    try:
        data = json.loads(pointer.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # a torn write: the durable record (or nothing) is the lineage then
    if isinstance(data, dict) and isinstance(data.get("state_uri"), str) and isinstance(data.get("fingerprint"), str):
        return {"state_uri": data["state_uri"], "fingerprint": data["fingerprint"]}
    return None


def write_pointer(pointer: Location, state_uri: str, fingerprint: str) -> None:
    pointer.write_bytes(json.dumps({"state_uri": state_uri, "fingerprint": fingerprint}).encode())


@dataclass(frozen=True)
class BatchPlan:
    spec: BatchSpec
    records: RecordFile | None  # None: inline records, given to the engine in ``inline`` (worker only)
    output_uri: str
    state_uri: str
    total: int
    records_digest: str
    fingerprint: str
    tela_conn_id: str = "tela_default"
    concurrency: int = 20
    poll_interval: float = 10.0
    timeout: float = 3600.0
    max_cost: float | None = None
    on_ambiguous: OnAmbiguous = "fail"
    inline: Iterable[Mapping[str, Any]] | None = field(default=None, compare=False, repr=False)

    @property
    def state_dir(self) -> Location:
        return Location.parse(self.state_uri)

    @property
    def results(self) -> Location:
        return Location.parse(self.output_uri).child(RESULTS_FILE)

    @property
    def source(self) -> Any:
        return self.records if self.records is not None else self.inline

    def to_json(self) -> dict[str, Any]:
        if self.records is None:
            raise TypeError("a plan with inline records cannot be saved: write them to a file first")
        return {
            "version": VERSION, "spec": self.spec.to_json(), "records": self.records.to_json(),
            "output_uri": self.output_uri, "state_uri": self.state_uri, "total": self.total,
            "records_digest": self.records_digest, "fingerprint": self.fingerprint,
            "tela_conn_id": self.tela_conn_id, "concurrency": self.concurrency,
            "poll_interval": self.poll_interval, "timeout": self.timeout, "max_cost": self.max_cost,
            "on_ambiguous": self.on_ambiguous,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchPlan:
        if data.get("version") != VERSION:
            raise TelaBatchStateError(f"batch plan version {data.get('version')!r} is not {VERSION}")
        fields = {k: v for k, v in data.items() if k not in ("version", "spec", "records")}
        if fields.get("on_ambiguous") == "mark":  # a plan written before the operators shared one vocabulary
            fields["on_ambiguous"] = "fail"
        return cls(spec=BatchSpec.from_json(data["spec"]), records=RecordFile.from_json(data["records"]), **fields)

    def save(self) -> None:
        self.state_dir.child(PLAN_FILE).write_bytes(json_bytes(self.to_json(), indent=1))

    @classmethod
    def load(cls, state_uri: str) -> BatchPlan:
        location = Location.parse(state_uri).child(PLAN_FILE)
        try:
            return cls.from_json(json.loads(location.read_bytes()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TelaBatchStateError(
                f"The batch plan {location.uri} cannot be read ({type(exc).__name__}: {exc})."
            ) from None

    def with_records(self, records: RecordFile) -> BatchPlan:
        return replace(self, records=records, inline=None)


def judge(manifest: Mapping[str, Any], max_failed_fraction: float) -> None:
    """Fail (after every row was written) when too many records did not succeed."""
    total = manifest["total"]
    unsuccessful = manifest["failed"] + manifest["ambiguous"]
    where = f"Rows: {manifest['output_uri']}."
    if total and unsuccessful / total > max_failed_fraction:
        raise TelaBatchFailedError(
            f"{manifest['failed']} record(s) failed and {manifest['ambiguous']} are ambiguous out of {total}, "
            f"more than max_failed_fraction={max_failed_fraction:g} allows. {where} Every row is written; the "
            "failed ones name their error."
        )
