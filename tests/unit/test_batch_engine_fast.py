"""The batch engine against an in-memory fake Tela: no HTTP, no sleeps, milliseconds per batch.

The fake Tela answers with JSON bytes, which go through the provider's own parsers (``endpoints``,
``responses``): what is tested is how the engine reads, counts and writes what a Tela might send
(NaN costs, half an emoji), not a mock's idea of it. It counts the POSTs of every record, so that
"paid once" is a number. The emulator tests (tests/integration) keep the real wire beside these.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from batch_faults import Fault, FaultStore, Killed, NullLease

from airflow_provider_tela._batch import ledger as ledger_module
from airflow_provider_tela._batch.engine import BatchEngine
from airflow_provider_tela._batch.plan import BatchPlan
from airflow_provider_tela._batch.progress import DurationEstimate
from airflow_provider_tela._batch.records import describe, scan
from airflow_provider_tela._batch.spec import BatchSpec
from airflow_provider_tela._http import calls, endpoints, sending
from airflow_provider_tela._http.responses import error_for_status, may_exist
from airflow_provider_tela.errors import detached

LOG = logging.getLogger("test_batch_fast")


# --- a fake Tela ---------------------------------------------------------------------------------


@dataclass
class Answer:
    """What the fake Tela does with one record's POST, and what its run comes to."""

    status: str = "succeeded"
    content: Any = None  # default: the record's variables
    information: dict[str, Any] | None = None  # default: {"cost": 0.003, ...}
    post_status: int | None = None  # answer the POST with this status instead (400, 429, 500 ...)
    creates_run: bool = True  # with post_status >= 500: whether Tela created the run anyway


def information(cost: Any = 0.003) -> dict[str, Any]:
    return {"cost": cost, "input_tokens": 10, "output_tokens": 20, "duration": 0.5}


@dataclass
class FakeTela:
    """Runs that end at once. ``answer(document, attempt)`` decides each POST (attempt counts from 1)."""

    answer: Callable[[str, int], Answer] = lambda document, attempt: Answer()
    posts: Counter[str] = field(default_factory=Counter)
    created: Counter[str] = field(default_factory=Counter)  # runs created per record: what was paid
    alive: Callable[[], bool] = lambda: True  # a dead process's requests reach no one
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # run id -> {"document", "body", "status"}
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def post(self, request: Any) -> bytes:
        if not self.alive():
            raise Killed("a dead process sends nothing")
        document = request.variables["document"]
        self.posts[document] += 1
        answer = self.answer(document, self.posts[document])
        call = calls.completion(request)
        if answer.post_status is not None and not (answer.post_status >= 500 and answer.creates_run):
            if answer.post_status >= 500:
                raise detached(may_exist(call, f"{answer.post_status} (fake)", status_code=answer.post_status))
            raise detached(error_for_status(call, answer.post_status, {"Retry-After": "0.001"}, b"{}", ()))
        run_id = f"run-{next(self._ids)}"
        self.created[document] += 1
        content = answer.content if answer.content is not None else {"variables": dict(request.variables)}
        body = {"id": run_id, "status": answer.status,
                "output_content": {"content": content,
                                   "information": answer.information if answer.information is not None
                                   else information()}}
        if answer.status == "failed":
            body["error"] = {"message": "the fake run failed"}
        self.runs[run_id] = {"document": document, "status": answer.status, "body": json.dumps(body).encode()}
        if answer.post_status is not None:  # a 5xx after the run was created: its id is lost
            raise detached(may_exist(call, f"{answer.post_status} (fake)", status_code=answer.post_status))
        return json.dumps({"id": run_id, "status": "created"}).encode()

    def get(self, run_id: str) -> bytes:
        if not self.alive():
            raise Killed("a dead process sends nothing")
        return self.runs[run_id]["body"]


class FakeHook:
    """The async hook's two calls the engine makes, answered by a FakeTela through the real parsers."""

    def __init__(self, tela: FakeTela) -> None:
        self.tela = tela

    async def transport(self) -> None:
        return None

    async def submit_request(self, request: Any, **_: Any) -> Any:
        sending.beginning()  # as both transports do when a request begins
        await asyncio.sleep(0)
        return endpoints.submit(request).parse(self.tela.post(request), ())

    async def poll(self, kind: str, run_id: str, **_: Any) -> Any:
        assert kind == "run"  # (the fake Tela runs canvases)
        await asyncio.sleep(0)
        return endpoints.poll_run(run_id, cached=False).parse(self.tela.get(run_id), ())


# --- batches -------------------------------------------------------------------------------------


def documents(n: int) -> list[dict[str, str]]:
    return [{"document": f"doc {i}"} for i in range(n)]


def make_plan(folder: Path, records: list[dict[str, Any]], **settings: Any) -> BatchPlan:
    spec = BatchSpec(canvas_id="canvas-fake")
    source_path = folder / "in.jsonl"
    source_path.parent.mkdir(parents=True, exist_ok=True)
    source_path.write_text("".join(json.dumps(record) + "\n" for record in records))
    source = describe(str(source_path))
    checked = scan(source, lambda record: spec.request_for(record.variables))
    plan = BatchPlan(spec=spec, records=source, output_uri=str(folder / "out"),
                     state_uri=str(folder / "out" / "_tela_batch" / "t"), total=checked.total,
                     records_digest=checked.digest, fingerprint="test",
                     **{"concurrency": 1, "poll_interval": 0.001, "timeout": 60.0, **settings})
    plan.save()
    return plan


def engine_for(plan: BatchPlan, tela: FakeTela, *, log: logging.Logger = LOG, **kwargs: Any) -> BatchEngine:
    engine = BatchEngine(plan, FakeHook(tela), log, **{"stop_grace": 0.05, **kwargs})
    engine.estimate = DurationEstimate(seconds=0.0, floor=0.0)  # runs end at once: check them at once
    return engine


def run_batch(plan: BatchPlan, tela: FakeTela, **kwargs: Any) -> dict[str, Any]:
    return asyncio.run(engine_for(plan, tela, **kwargs).run())


def rows_of(plan: BatchPlan) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(plan.results.uri).read_bytes().splitlines()]


def strict_json(data: bytes | str) -> Any:
    """JSON as the standard has it: NaN and Infinity are not JSON."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(data, parse_constant=refuse)


def every_file_is_strict_json(folder: Path) -> int:
    """Every JSON or JSONL file under ``folder`` (results, parts, ledger, plan) parses as standard
    JSON, as UTF-8; the number of lines read."""
    lines = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix not in (".json", ".jsonl"):
            continue
        data = path.read_bytes()
        data.decode("utf-8")  # strict: a lone surrogate written raw would fail here
        if path.suffix == ".json":
            strict_json(data)
            lines += 1
            continue
        for line in data.splitlines():
            if line.strip():
                strict_json(line.rsplit(b"\t", 1)[-1])  # parts: index<TAB>key<TAB>row
                lines += 1
    return lines


# --- the spend guard (issue 16, item 1) ---------------------------------------------------------------


def costs(first: Any, then: Any = 0.003) -> Callable[[str, int], Answer]:
    return lambda document, attempt: Answer(information=information(first if document == "doc 0" else then))


def test_honest_costs_stop_the_batch_once_max_cost_is_reached(tmp_path):
    tela = FakeTela(costs(0.003))
    manifest = run_batch(make_plan(tmp_path, documents(40), max_cost=0.01), tela)
    assert sum(tela.posts.values()) == 4 and manifest["skipped"] == 36
    assert manifest["usage"]["cost"] == pytest.approx(0.012) and manifest["usage"]["costs_estimated"] == 0


@pytest.mark.parametrize("odd", [math.nan, math.inf, -math.inf, -0.003, -1e300, "NaN", True, None, {"usd": 1}],
                         ids=["nan", "inf", "-inf", "negative", "very-negative", "nan-text", "bool", "null", "object"])
def test_one_odd_first_cost_never_switches_the_guard_off(tmp_path, odd):
    """The first run's cost cannot be read and no other has been yet: there is nothing to estimate it
    from, so the guard cannot be kept: the batch stops submitting (max_cost set), saying why."""
    tela = FakeTela(costs(odd))
    plan = make_plan(tmp_path, documents(40), max_cost=0.01)
    manifest = run_batch(plan, tela)
    assert sum(tela.posts.values()) == 1 and manifest["skipped"] == 39
    assert "could not be read" in manifest["skipped_reason"]
    assert manifest["usage"]["cost"] == 0 and manifest["usage"]["costs_estimated"] == 1
    json.dumps(manifest, allow_nan=False)
    assert rows_of(plan)[0]["usage"]["cost"] is None
    every_file_is_strict_json(tmp_path / "out")


@pytest.mark.parametrize("odd", [math.nan, math.inf, -0.003, None], ids=["nan", "inf", "negative", "null"])
def test_an_odd_cost_after_readable_ones_counts_at_the_highest_cost_read(tmp_path, odd):
    """Records 0..2 cost 0.001, 0.004, 0.002; record 3's cost cannot be read: it counts 0.004."""
    figures = {"doc 0": 0.001, "doc 1": 0.004, "doc 2": 0.002, "doc 3": odd}
    tela = FakeTela(lambda document, attempt: Answer(information=information(figures.get(document, 0.001))))
    plan = make_plan(tmp_path, documents(40), max_cost=0.0145)
    manifest = run_batch(plan, tela)
    # 0.001 + 0.004 + 0.002 + (0.004) = 0.011, then 0.001 each: the 8th run reaches 0.015 >= 0.0145
    assert sum(tela.posts.values()) == 8 and manifest["skipped"] == 32
    assert manifest["usage"]["cost"] == pytest.approx(0.015) and manifest["usage"]["costs_estimated"] == 1
    assert "max_cost=0.0145 reached" in manifest["skipped_reason"]


def test_without_max_cost_an_odd_cost_still_never_lowers_or_poisons_the_total(tmp_path):
    figures = {"doc 0": 0.002, "doc 1": math.nan, "doc 2": -5.0, "doc 3": math.inf}
    tela = FakeTela(lambda document, attempt: Answer(information=information(figures.get(document, 0.001))))
    plan = make_plan(tmp_path, documents(6))
    manifest = run_batch(plan, tela)
    assert manifest["succeeded"] == 6 and manifest["usage"]["costs_estimated"] == 3
    assert manifest["usage"]["cost"] == pytest.approx(0.002 + 3 * 0.002 + 2 * 0.001)
    json.dumps(manifest, allow_nan=False)
    every_file_is_strict_json(tmp_path / "out")


def test_odd_tokens_and_durations_are_unreadable_and_nothing_written_holds_nan(tmp_path, caplog):
    odd = {"cost": 0.001, "input_tokens": math.nan, "output_tokens": -4, "duration": math.inf,
           "extra_figure": math.nan}
    tela = FakeTela(lambda document, attempt: Answer(information=odd, content={"score": math.nan, "n": math.inf}))
    plan = make_plan(tmp_path, documents(3))
    with caplog.at_level(logging.INFO):
        manifest = run_batch(plan, tela)
    assert manifest["succeeded"] == 3
    assert manifest["usage"] == {"input_tokens": 0, "output_tokens": 0, "cost": pytest.approx(0.003),
                                 "costs_estimated": 0}
    row = rows_of(plan)[0]
    assert row["usage"]["input_tokens"] is None and row["usage"]["output_tokens"] is None
    assert row["usage"]["duration"] is None
    assert row["content"] == {"score": None, "n": None}  # as JavaScript's JSON.stringify writes them
    json.dumps(manifest, allow_nan=False)
    assert every_file_is_strict_json(tmp_path / "out") >= 3 + 1
    said = " ".join(record.getMessage() for record in caplog.records)
    assert "cost so far" in said and not re.search(r"\b(nan|inf|infinity)\b", said, re.IGNORECASE)


# --- the engine through thousands of storage faults (issue 16, structure) -------------------------------------
#
# Each scenario: the first try runs with one fault (a step of the state store failing, failing after part
# of its bytes, failing from then on, or the process killed there); the retry runs on the same state with
# the storage sound again. Per record, over both tries: never paid twice (runs Tela created), never lost
# (one row each), never reported wrongly (the row says what Tela did; "ambiguous" only where a POST may
# have created a run whose id was not recorded).

FAULT_RECORDS = 9
BOUND = 20.0  # seconds a try may take before the test calls it hung (a try takes milliseconds)
FAILED, REJECTED, THROTTLED, LOST_ANSWER = "doc 2", "doc 4", "doc 5", "doc 6"


def fault_answers(document: str, attempt: int) -> Answer:
    if document == FAILED:
        return Answer(status="failed")
    if document == REJECTED:
        return Answer(post_status=400)
    if document == THROTTLED and attempt == 1:
        return Answer(post_status=429)
    if document == LOST_ANSWER:
        return Answer(post_status=502, creates_run=True)  # the run exists; its id never came back
    return Answer()


def store_plan(store: FaultStore, records: list[dict[str, Any]], **settings: Any) -> BatchPlan:
    store.write("".join(json.dumps(record) + "\n" for record in records).encode(), "in.jsonl")
    spec = BatchSpec(canvas_id="canvas-fake")
    source = describe(store.location("in.jsonl").uri)
    checked = scan(source, lambda record: spec.request_for(record.variables))
    plan = BatchPlan(spec=spec, records=source, output_uri=store.location("out").uri,
                     state_uri=store.location("out", "_tela_batch", "t").uri, total=checked.total,
                     records_digest=checked.digest, fingerprint="test",
                     **{"concurrency": 3, "poll_interval": 0.001, "timeout": 60.0, **settings})
    plan.save()
    return plan


KEEPS: dict[str, Callable[[int], int] | None] = {
    "fails": None, "one byte": lambda n: 1, "half": lambda n: n // 2, "all but one": lambda n: n - 1,
    "all, then fails": lambda n: n,
}


def faults_at(step: int, *, fewer: bool = False) -> list[Fault]:
    """Every way step ``step`` can go wrong (``fewer``: one of each kind, for a storage with many steps)."""
    keeps = {how: KEEPS[how] for how in ("fails", "half", "all, then fails")} if fewer else KEEPS
    found = [Fault(step, keep, label=how) for how, keep in keeps.items()]
    found += [Fault(step, KEEPS["all, then fails"], persistent=True, label="all, then every step fails"),
              Fault(step, dead=True, label="killed")]
    if not fewer:
        found += [Fault(step, KEEPS["half"], persistent=True, label="half, then every step"),
                  Fault(step, None, persistent=True, label="every step from here")]
    return found


@dataclass
class Outcome:
    faults: list[Fault]
    ends: list[str]  # how each faulted try ended: "done", or the error type
    hits: list[Any]  # the steps that failed, over every faulted try
    rows: list[dict[str, Any]]
    manifest: dict[str, Any]
    tela: FakeTela

    @property
    def fault(self) -> Fault:
        return self.faults[0]


QUIET = logging.Logger("test_batch_fast.faults", logging.CRITICAL)  # hundreds of tries: no lines kept


async def tries(plan: BatchPlan, store: FaultStore, faults: list[Fault],
                answers: Callable[[str, int], Answer] = fault_answers) -> Outcome:
    """One try per fault, each on the state the one before left; then a try with sound storage."""
    tela = FakeTela(answers, alive=lambda: not store.dead)
    ends, hits = [], []
    for fault in faults:
        store.arm(fault)
        try:  # (bounded: a try that hangs fails the test, naming its fault, instead of blocking the suite)
            await asyncio.wait_for(engine_for(plan, tela, lease=NullLease(), log=QUIET).run(), BOUND)
            ends.append("done")
        except TimeoutError:
            raise AssertionError(f"a try hung: {fault}, {store.hits}") from None
        except (Killed, Exception) as exc:  # noqa: BLE001 - what the try ended with is asserted
            ends.append(type(exc).__name__)
        hits += store.hits
        store.disarm()
    try:
        manifest = await asyncio.wait_for(engine_for(plan, tela, lease=NullLease(), log=QUIET).run(), BOUND)
    except TimeoutError:
        raise AssertionError(f"the last try hung after: {faults}, {hits}") from None
    rows = [json.loads(line) for line in store.read("out", "results.jsonl").splitlines()]
    return Outcome(faults, ends, hits, rows, manifest, tela)


def check(outcome: Outcome, total: int, concurrency: int) -> None:
    tela, rows = outcome.tela, outcome.rows
    what = ([(fault.at, fault.label) for fault in outcome.faults], outcome.ends, outcome.hits)
    assert set(outcome.ends) <= {"done", "TelaBatchStateError", "Killed"}, what
    assert [row["index"] for row in rows] == list(range(total)), what  # never lost: one row each
    assert max(tela.created.values()) == 1, (what, tela.created)  # never paid twice
    stats = Counter(row["status"] for row in rows)
    assert {key: outcome.manifest[key] for key in stats} == dict(stats), what
    landed = any(hit.kept is not None and hit.kept >= hit.size - 1 for hit in outcome.hits)
    dead = any(fault.dead for fault in outcome.faults)
    lasting = any(fault.persistent for fault in outcome.faults)
    unsure = dead or (lasting and landed)  # an intent may be durable, its POST never sent
    for row in rows:
        document, status = f"doc {row['index']}", row["status"]
        where = (*what, row)
        if status == "ambiguous":  # only where a POST may have created a run whose id is not recorded
            assert document == LOST_ANSWER or lasting or dead, where
            assert tela.posts[document] >= 1 or unsure, where
            assert row["run_id"] is None, where
            continue
        assert document != LOST_ANSWER, where
        if document == REJECTED:
            assert status == "failed" and "400" in row["error"] and row["run_id"] is None, where
            continue
        run = tela.runs[row["run_id"]]
        assert run["document"] == document, where
        if document == FAILED:
            assert status == "failed" and "the fake run failed" in row["error"], where
        else:
            assert status == "succeeded" and row["content"] == {"variables": {"document": document}}, where
    ambiguous = [row for row in rows if row["status"] == "ambiguous" and f"doc {row['index']}" != LOST_ANSWER]
    assert len(ambiguous) <= concurrency * len(outcome.faults), what


STORAGES = ["local", "object-storage", "object-storage-compacting"]


def fault_store(monkeypatch: pytest.MonkeyPatch, storage: str) -> FaultStore:
    store = FaultStore(local=storage == "local")
    store.install(monkeypatch)
    if storage == "object-storage-compacting":  # a base every few segments: compaction under faults too
        monkeypatch.setattr(ledger_module, "COMPACT_AFTER_SEGMENTS", 3)
    return store


@pytest.mark.parametrize("storage", STORAGES)
def test_every_storage_fault_at_every_step_never_pays_twice_loses_or_misreports_a_record(monkeypatch, storage):
    """Each step of a try (18 local, 17 in object storage, 36 compacting) failing in each way in turn."""
    store = fault_store(monkeypatch, storage)
    plan = store_plan(store, documents(FAULT_RECORDS))
    initial = dict(store.files)

    async def every_fault() -> Counter[str]:
        check(await tries(plan, store, [Fault(10**9)]), FAULT_RECORDS, plan.concurrency)
        steps = len(store.log)  # how many steps a try takes with no fault
        assert steps >= 15, store.log
        ends: Counter[str] = Counter()
        for step in range(1, steps + 3):
            for fault in faults_at(step, fewer=storage == "object-storage-compacting"):
                store.files = dict(initial)
                outcome = await tries(plan, store, [fault])
                check(outcome, FAULT_RECORDS, plan.concurrency)
                ends.update(outcome.ends)
        return ends

    ends = asyncio.run(every_fault())
    assert sum(ends.values()) >= 150 and ends["TelaBatchStateError"] and ends["Killed"] and ends["done"], ends


@pytest.mark.parametrize("storage", STORAGES)
def test_a_fault_in_the_retry_too_still_never_pays_twice_loses_or_misreports_a_record(monkeypatch, storage):
    """A fault in the first try, another in the retry (each at a random step), then a sound try."""
    rng = random.Random(16)
    store = fault_store(monkeypatch, storage)
    plan = store_plan(store, documents(FAULT_RECORDS))
    initial = dict(store.files)

    async def two_faults() -> None:
        for _ in range(50):
            faults = [rng.choice(faults_at(rng.randint(1, 24))) for _ in range(2)]
            store.files = dict(initial)
            check(await tries(plan, store, faults), FAULT_RECORDS, plan.concurrency)

    asyncio.run(two_faults())


@pytest.mark.parametrize("storage", ["local", "object-storage"])
def test_with_resubmit_a_storage_fault_never_makes_a_recorded_run_be_paid_again(monkeypatch, storage):
    """on_ambiguous="resubmit" sends again a record whose run id is not in the ledger: a write that
    failed (at any byte) must therefore never lose a run id the batch had learnt. Only the record whose
    answer Tela lost (a 502 after creating its run) is paid twice, as that policy accepts."""
    store = fault_store(monkeypatch, storage)
    plan = store_plan(store, documents(FAULT_RECORDS), on_ambiguous="resubmit")
    initial = dict(store.files)

    def answers(document: str, attempt: int) -> Answer:
        return Answer() if document == LOST_ANSWER and attempt > 1 else fault_answers(document, attempt)

    async def every_fault() -> int:
        scenarios = 0
        for step in range(1, 21):
            for how, keep in KEEPS.items():
                store.files = dict(initial)
                outcome = await tries(plan, store, [Fault(step, keep, label=how)], answers)
                what = (step, how, outcome.ends, outcome.hits)
                created = {document: count for document, count in outcome.tela.created.items() if count > 1}
                assert created == {LOST_ANSWER: 2}, (what, created)
                statuses = Counter(row["status"] for row in outcome.rows)
                assert statuses == {"succeeded": FAULT_RECORDS - 2, "failed": 2}, (what, statuses)
                scenarios += 1
        return scenarios

    assert asyncio.run(every_fault()) == 20 * len(KEEPS)
