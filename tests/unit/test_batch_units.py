"""The batch engine's pure parts: the AIMD window, the ledger's replay and group commit, parts and
their merge, records parsing, progress and the duration estimate. Fake clocks, thousands of steps."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
from typing import Any

import pytest
from batch_faults import Fault, FaultStore

from airflow_provider_tela._batch import ledger as ledger_module
from airflow_provider_tela._batch import rows as rows_module
from airflow_provider_tela._batch.ledger import (
    DONE,
    INTENT,
    NEW,
    SUBMITTED,
    Ledger,
    LedgerState,
    decode,
    encode,
    ranges_of,
)
from airflow_provider_tela._batch.limiter import AimdWindow
from airflow_provider_tela._batch.plan import judge
from airflow_provider_tela._batch.progress import DurationEstimate, Progress
from airflow_provider_tela._batch.records import RecordFile, describe, iter_records, scan
from airflow_provider_tela._batch.rows import encode_row, merge_parts, part_location
from airflow_provider_tela._storage import Location
from airflow_provider_tela.errors import TelaBatchFailedError, TelaBatchStateError, TelaConfigError

# --- the AIMD window ----------------------------------------------------------------------------------


def test_the_window_starts_at_the_ceiling_and_halves_once_per_round_trip():
    window = AimdWindow(ceiling=40)
    assert window.slots == 40
    window.throttled(now=10.0, sent_at=9.9, pause=None)
    assert window.slots == 20
    # answers to requests sent before that decrease describe the load it already answered
    for _ in range(30):
        window.throttled(now=10.1, sent_at=9.95, pause=None)
    assert window.slots == 20 and window.decreases == 1
    window.throttled(now=10.2, sent_at=10.15, pause=None)
    assert window.slots == 10


def test_the_window_grows_back_by_about_one_slot_per_window_of_successes():
    window = AimdWindow(ceiling=50)
    window.throttled(now=1.0, sent_at=1.0, pause=None)
    window.throttled(now=2.0, sent_at=2.0, pause=None)
    assert window.slots == 12
    for _ in range(12):
        window.succeeded()
    assert window.slots == 13
    for _ in range(10_000):
        window.succeeded()
    assert window.slots == 50 and window.limit == 50.0


def test_a_retry_after_pauses_every_submission_and_the_longest_pause_wins():
    window = AimdWindow(ceiling=5)
    window.throttled(now=100.0, sent_at=99.0, pause=30.0)
    window.throttled(now=101.0, sent_at=99.5, pause=2.0)
    assert window.paused_until == 130.0


def test_the_window_never_leaves_its_bounds_under_any_sequence_of_answers():
    rng = random.Random(3)
    window = AimdWindow(ceiling=17)
    now = 0.0
    for _ in range(100_000):
        now += rng.random() / 100
        if rng.random() < 0.3:
            window.throttled(now, now - rng.random() / 10, rng.choice([None, 0.5]))
        else:
            window.succeeded()
        assert 1 <= window.slots <= 17
    assert window.decreases > 100


def test_a_window_needs_a_positive_ceiling():
    with pytest.raises(ValueError):
        AimdWindow(ceiling=0)


# --- the ledger -------------------------------------------------------------------------------------


def test_ranges_compress_sorted_indexes():
    assert ranges_of([0, 1, 2, 5, 6, 9]) == [[0, 3], [5, 7], [9, 10]]
    assert ranges_of([]) == []


def test_replaying_lines_gives_each_record_its_state():
    state = LedgerState(6)
    for entry in (["i", 0], ["i", 1], ["r", 0, "run-0"], ["i", 2], ["x", 2], ["i", 3], ["r", 3, "run-3"],
                  ["p", 0, [[3, 4]], {"n": 1, "succeeded": 1, "cost": 0.5}], ["i", 4]):
        state.apply(entry)
    assert list(state.status) == [SUBMITTED, INTENT, NEW, DONE, INTENT, NEW]
    assert state.run_ids == {0: "run-0"}
    assert state.intent_only() == [1, 4]
    assert state.stats["succeeded"] == 1 and state.stats["cost"] == 0.5 and state.next_part == 1


def test_lines_about_a_done_record_change_nothing():
    state = LedgerState(2)
    state.apply(["p", 4, [[0, 1]], {"n": 1, "failed": 1}])
    state.apply(["i", 0])
    state.apply(["r", 0, "late"])
    assert state.status[0] == DONE and state.run_ids == {} and state.next_part == 5


def test_a_snapshot_replays_to_the_same_state():
    rng = random.Random(7)
    state = LedgerState(500)
    part = 0
    for _ in range(3000):
        index = rng.randrange(500)
        kind = rng.choice("iixrrp")
        if kind == "p":
            state.apply(["p", part, [[index, index + 1]], {"n": 1, "succeeded": 1}])
            part += 1
        elif kind == "r":
            state.apply(["r", index, f"run-{index}"])
        else:
            state.apply([kind, index])
    replayed = LedgerState(500)
    for entry in decode(encode(state.snapshot()).splitlines(keepends=True)):
        replayed.apply(entry)
    assert replayed.status == state.status and replayed.run_ids == state.run_ids
    assert replayed.stats == state.stats and replayed.next_part == state.next_part


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_next_write_starts_a_new_line(tmp_path):
    folder = Location.parse(str(tmp_path))
    (tmp_path / "ledger.jsonl").write_bytes(b'["i",0]\n["r",0,"run-0"]\n["i",1]\n["r",1,"ru')
    ledger = Ledger.open(folder, 3)
    assert list(ledger.state.status) == [SUBMITTED, INTENT, NEW]
    asyncio.run(ledger.commit(["i", 2]))
    ledger.close()
    reopened = Ledger.open(folder, 3)
    assert list(reopened.state.status) == [SUBMITTED, INTENT, INTENT]
    reopened.close()


def test_a_ledger_that_cannot_be_read_is_an_error_not_an_empty_ledger(tmp_path):
    (tmp_path / "ledger.jsonl").write_bytes(b'["i",99]\n')
    with pytest.raises(TelaBatchStateError, match="cannot be read"):
        Ledger.open(Location.parse(str(tmp_path)), 3)


class SlowLog:
    """A log whose writes take until the test lets them go: shows how lines are grouped."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.gate = threading.Event()
        self.entered = threading.Event()  # a write is in progress (held by the gate)

    def read(self):
        return iter(())

    def write(self, data: bytes) -> None:
        self.entered.set()
        self.gate.wait(30)
        self.writes.append(data)

    def maybe_compact(self, state) -> None:
        return None


def test_group_commit_writes_what_accumulated_during_the_previous_write():
    log = SlowLog()
    ledger = Ledger(log, LedgerState(200))

    async def main() -> None:
        first = asyncio.ensure_future(ledger.commit(["i", 0]))
        assert await asyncio.to_thread(log.entered.wait, 30)  # the first write is in progress
        others = [asyncio.ensure_future(ledger.commit(["i", n])) for n in range(1, 200)]
        await asyncio.sleep(0.01)
        assert not any(task.done() for task in [first, *others])
        log.gate.set()
        await asyncio.gather(first, *others)

    asyncio.run(main())
    ledger.close()
    assert len(log.writes) == 2  # one write for the first line, one for the 199 queued behind it
    assert len(json.loads(log.writes[1])) == 199 and log.writes[1].count(b"\n") == 1  # one frame
    assert ledger.state.count(INTENT) == 200


def test_a_write_already_queued_completes_even_if_its_waiter_is_cancelled():
    log = SlowLog()
    ledger = Ledger(log, LedgerState(3))

    async def main() -> None:
        waiter = asyncio.ensure_future(ledger.commit(["r", 1, "run-1"]))
        assert await asyncio.to_thread(log.entered.wait, 30)  # its write is in progress
        waiter.cancel()
        log.gate.set()
        await ledger.flush()

    asyncio.run(main())
    ledger.close()
    assert ledger.state.run_ids == {1: "run-1"}


def test_object_storage_segments_are_compacted_and_replay_to_the_same_state(tmp_path, monkeypatch):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    monkeypatch.setattr(ledger_module, "COMPACT_AFTER_SEGMENTS", 10)
    folder = Location.parse(ObjectStoragePath(f"file://{tmp_path}/state"))
    assert not folder.is_local
    ledger = Ledger.open(folder, 100)

    async def main() -> None:
        for n in range(45):
            await ledger.commit(["i", n])
            await ledger.commit(["r", n, f"run-{n}"])
            if n % 3 == 0:
                await ledger.commit(["p", n // 3, [[n, n + 1]], {"n": 1, "succeeded": 1}])

    asyncio.run(main())
    ledger.close()
    names = sorted(path.name for path in (tmp_path / "state" / "ledger").iterdir())
    assert len([name for name in names if name.startswith("base-")]) == 1
    assert len(names) <= 11
    reopened = Ledger.open(folder, 100)
    reopened.close()
    assert reopened.state.status == ledger.state.status and reopened.state.run_ids == ledger.state.run_ids
    assert reopened.state.count(DONE) == 15 and reopened.state.count(SUBMITTED) == 30


# --- parts and the merge ---------------------------------------------------------------------------------


def write_parts(state_dir: Location, total: int, parts: int, rng: random.Random) -> list[int]:
    indexes = list(range(total))
    rng.shuffle(indexes)
    seqs = []
    for seq in range(parts):
        chunk = sorted(indexes[seq::parts])
        body = b"".join(b"%d\t%s\n" % (i, encode_row(i, "succeeded", f"run-{i}", {"n": i})) for i in chunk)
        part_location(state_dir, seq).write_bytes(body)
        seqs.append(seq)
    return seqs


@pytest.mark.parametrize("fan_in", [64, 3], ids=["one-pass", "intermediate-merges"])
def test_parts_merge_into_rows_in_record_order(tmp_path, monkeypatch, fan_in):
    monkeypatch.setattr(rows_module, "FAN_IN", fan_in)
    state_dir = Location.parse(str(tmp_path / "state"))
    seqs = write_parts(state_dir, 1000, 10, random.Random(1))
    merge_parts(state_dir, seqs, Location.parse(str(tmp_path / "results.jsonl")), 1000)
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [row["index"] for row in rows] == list(range(1000))
    assert rows[7] == {"index": 7, "status": "succeeded", "run_id": "run-7", "content": {"n": 7}, "error": None,
                       "usage": None}


def test_a_missing_row_fails_the_merge_instead_of_writing_a_shorter_file(tmp_path):
    state_dir = Location.parse(str(tmp_path / "state"))
    seqs = write_parts(state_dir, 100, 4, random.Random(2))
    with pytest.raises(TelaBatchStateError, match="missing"):
        merge_parts(state_dir, seqs[:3], Location.parse(str(tmp_path / "results.jsonl")), 100)
    assert not (tmp_path / "results.jsonl").exists()


# --- records ------------------------------------------------------------------------------------------


def test_jsonl_records_are_numbered_in_order_and_blank_lines_are_not_records(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"a": "1"}\n\n  \n{"a": "2"}\r\n{"a": "3"}')
    records = list(iter_records(describe(str(path))))
    assert [(r.index, r.variables, r.line) for r in records] == [
        (0, {"a": "1"}, 1), (1, {"a": "2"}, 4), (2, {"a": "3"}, 5)]


def test_csv_records_keep_quoted_cells_spanning_lines(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes('\ufefftext,lang\n"two\nlines",en\nplain,"fr"\n'.encode())
    records = list(iter_records(describe(str(path))))
    assert [r.variables for r in records] == [{"text": "two\nlines", "lang": "en"}, {"text": "plain", "lang": "fr"}]


@pytest.mark.parametrize("content, name, message", [
    ('{"a": "1"}\n{"a": \n', "in.jsonl", "line 2 of .* is not valid JSON"),
    ('{"a": "1"}\n["a"]\n', "in.jsonl", "line 2 of .* must be a JSON object"),
    ("a,b\n1,2\n3\n", "in.csv", "line 3 of .* has fewer cells"),
    ("a,b\n1,2,3\n", "in.csv", "line 2 of .* has more cells"),
    ("a,a\n1,2\n", "in.csv", "must name each column once"),
    ('{"a": "1"}', "in.json", "Cannot tell the format"),
])
def test_bad_record_files_are_refused_naming_the_line(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TelaConfigError, match=message):
        list(iter_records(describe(str(path))))


def test_records_that_are_not_a_list_of_dicts_are_refused():
    with pytest.raises(TelaConfigError, match="looks like JSON text"):
        describe('[{"a": 1}]')
    with pytest.raises(TelaConfigError, match="must be a list of dicts"):
        describe({"a": 1})
    with pytest.raises(TelaConfigError, match="record 1 must be a dict"):
        list(iter_records([{"a": "1"}, "b"]))


def test_a_missing_or_non_utf8_file_is_named(tmp_path):
    with pytest.raises(TelaConfigError, match="does not exist"):
        list(iter_records(RecordFile(str(tmp_path / "nope.jsonl"), "jsonl")))
    (tmp_path / "latin.csv").write_bytes(b"a\n\xe9t\xe9\n")
    with pytest.raises(TelaConfigError, match="not UTF-8"):
        list(iter_records(describe(str(tmp_path / "latin.csv"))))


def test_scan_counts_hashes_and_names_the_first_bad_record():
    def check(record):
        if record.variables.get("n") == "bad":
            raise TelaConfigError("variable 'n' is bad")

    first = scan([{"n": "1"}, {"n": "2"}], check)
    assert first.total == 2
    assert scan([{"n": "1"}, {"n": "2"}], check).digest == first.digest
    assert scan([{"n": "2"}, {"n": "1"}], check).digest != first.digest
    with pytest.raises(TelaConfigError, match=r"^record 1: variable 'n' is bad"):
        scan([{"n": "1"}, {"n": "bad"}], check)


# --- progress, the duration estimate, and the verdict ------------------------------------------------------


def test_progress_is_logged_at_most_every_ten_seconds_with_rate_and_eta():
    progress = Progress(total=1000, started_at=0.0, done=100)
    lines = []
    for step in range(1, 601):  # 60 s in 0.1 s steps, 5 records per step
        for _ in range(5 if progress.done < 1000 else 0):
            progress.finished("failed" if progress.done % 50 == 0 else "succeeded", 0.001)
        line = progress.due(step / 10)
        if line:
            lines.append((step / 10, line))
    assert [at for at, _ in lines] == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]  # never more often
    assert "600/1,000 records done (60%)" in lines[0][1] and "50.0 records/s" in lines[0][1]
    assert "ETA 8 s" in lines[0][1] and "10 failed" in lines[0][1] and "cost so far 0.5" in lines[0][1]
    assert "1,000/1,000 records done (100%)" in lines[-1][1] and "ETA 0 s" in lines[-1][1]


def test_the_estimate_settles_just_around_a_constant_duration():
    estimate = DurationEstimate()
    duration = 0.3
    checks_per_run = []
    for _ in range(300):  # simulate each run's checks: first at the estimate, then doubling delays
        at, delay, checks, last_active = estimate.first_check_in(), estimate.check_delay(), 1, None
        while at < duration:
            last_active, at, delay, checks = at, at + delay, delay * 2, checks + 1
        checks_per_run.append(checks)
        estimate.observe(at, last_active)
    assert 0.25 < estimate.seconds < 0.33
    assert sum(checks_per_run[-100:]) / 100 <= 2.0


def test_a_reported_duration_is_used_only_when_it_fits_what_the_checks_saw():
    estimate = DurationEstimate(seconds=1.0, weight=1.0)
    estimate.observe(2.0, 1.5, reported=1.8)  # within (1.5, 2.0]: taken, with a small margin
    assert estimate.seconds == pytest.approx(1.8 * 1.02 + 0.005)
    estimate.observe(2.0, 1.5, reported=1800.0)  # milliseconds, or something else: ignored
    assert estimate.seconds == pytest.approx(1.75)
    estimate.observe(2.0, None, reported=None)  # over at the first check: below it
    assert estimate.seconds == pytest.approx(1.6)


def test_judge_fails_past_the_allowed_share_of_unsuccessful_records():
    manifest = {"total": 100, "succeeded": 97, "failed": 2, "ambiguous": 1, "skipped": 0, "output_uri": "x"}
    judge(manifest, 0.03)
    with pytest.raises(TelaBatchFailedError, match="2 record\\(s\\) failed and 1 are ambiguous out of 100"):
        judge(manifest, 0.02)


def test_both_operators_share_one_on_ambiguous_vocabulary_and_mark_still_means_fail():
    from airflow_provider_tela._batch.plan import BatchPlan
    from airflow_provider_tela.operators.batch import TelaBatchOperator
    from airflow_provider_tela.operators.tela import TelaCompletionOperator

    for operator in (TelaCompletionOperator, TelaBatchOperator):
        extra = {"records": [{"a": "b"}], "output_path": "/tmp/out"} if operator is TelaBatchOperator else {}
        assert operator(task_id="t", canvas_id="c", **extra).on_ambiguous == "fail"
        with pytest.raises(TelaConfigError, match=r"on_ambiguous must be one of \('fail', 'resubmit'\)"):
            operator(task_id="t", canvas_id="c", on_ambiguous="ignore", **extra)
    with pytest.warns(DeprecationWarning, match='now spelt "fail"'):
        marked = TelaBatchOperator(task_id="t", canvas_id="c", records=[], output_path="/tmp/o", on_ambiguous="mark")
    assert marked.on_ambiguous == "fail"
    from airflow_provider_tela._batch.spec import BatchSpec

    plan = BatchPlan(spec=BatchSpec(canvas_id="c"), records=RecordFile("/tmp/r.jsonl", "jsonl"), output_uri="/tmp/o",
                     state_uri="/tmp/o/s", total=1, records_digest="d", fingerprint="f")
    written_before = {**plan.to_json(), "on_ambiguous": "mark"}  # a plan.json of a release before 0.1.0
    assert BatchPlan.from_json(written_before).on_ambiguous == "fail"


# --- the state folder's lease -------------------------------------------------------------------------


class FakeClock:
    """Wall and monotonic time in one (the lease compares each with itself only)."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.on_sleep = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.on_sleep is not None:
            hook, self.on_sleep = self.on_sleep, None
            hook()


def object_lease(tmp_path, clock, owner, **options):
    from airflow_provider_tela._batch.lease import ObjectLease

    return ObjectLease(Location.parse(str(tmp_path)), owner=owner,
                       **{"clock": clock, "monotonic": clock, "sleep": clock.sleep, "ttl": 60.0, "settle": 2.0, **options})


def test_an_object_lease_renewed_on_time_is_never_taken_over(tmp_path):
    clock = FakeClock()
    holder, other = object_lease(tmp_path, clock, "a"), object_lease(tmp_path, clock, "b")
    assert holder.try_acquire() is None
    for step in range(5_000):  # renewed every ttl / 4; the other asks every second
        clock.now += 1.0
        if step % 15 == 0:
            holder.renew()
        holder.check()
        assert "engine a" in other.try_acquire()
    holder.release()
    assert not (tmp_path / "lease.json").exists()
    assert other.try_acquire() is None


def test_an_expired_object_lease_is_taken_over_and_its_old_holder_stops(tmp_path):
    clock = FakeClock()
    zombie, successor = object_lease(tmp_path, clock, "zombie"), object_lease(tmp_path, clock, "next")
    assert zombie.try_acquire() is None
    clock.now += 40.0
    zombie.check()  # still surely its own
    assert successor.try_acquire() is not None
    clock.now += 5.0  # not renewed: it stops submitting a quarter of the lease before the lease expires
    with pytest.raises(TelaBatchStateError, match="could not be renewed in time"):
        zombie.check()
    assert successor.try_acquire() is not None
    clock.now += 16.0  # expired
    with pytest.raises(TelaBatchStateError, match="could not be renewed in time"):
        zombie.check()
    assert successor.try_acquire() is None
    with pytest.raises(TelaBatchStateError, match="taken over by engine next"):
        zombie.renew()  # a zombie waking up finds a stranger's lease
    zombie.release()  # a lease not its own is left alone
    assert json.loads((tmp_path / "lease.json").read_text())["owner"] == "next"


def test_two_engines_taking_a_free_object_lease_at_once_end_with_one_owner(tmp_path):
    clock = FakeClock()
    first, second = object_lease(tmp_path, clock, "first"), object_lease(tmp_path, clock, "second")
    answers = {}
    # the second read the lease free before the first wrote, and writes its own while the first waits
    # to read its write back
    real_read, stale = second._read, [None]
    second._read = lambda: stale.pop() if stale else real_read()
    clock.on_sleep = lambda: answers.setdefault("second", second.try_acquire())
    answers["first"] = first.try_acquire()
    assert answers["second"] is None and "second" in answers["first"]
    second.check()
    with pytest.raises(TelaBatchStateError):
        first.check()


def test_a_torn_or_foreign_lease_object_names_no_live_owner(tmp_path):
    clock = FakeClock()
    (tmp_path / "lease.json").write_text('{"owner": "x", "expires_')
    assert object_lease(tmp_path, clock, "a").try_acquire() is None


def test_a_local_lease_is_exclusive_per_open_file_and_freed_on_release(tmp_path):
    from airflow_provider_tela._batch.lease import LocalLease, acquire_blocking

    folder = Location.parse(str(tmp_path / "state"))
    one, two = LocalLease(folder), LocalLease(folder)
    assert one.try_acquire() is None
    assert '"pid"' in two.try_acquire()  # the same process, another open file: excluded too
    slept = []
    acquire_blocking(two, logging.getLogger("t"), sleep=lambda s: (slept.append(s), one.release()))
    assert len(slept) == 1
    assert one.try_acquire() is not None
    two.release()


def test_a_renew_in_flight_or_late_never_brings_a_released_lease_back(tmp_path):
    """The engine's heartbeat cannot stop a renew already running in its thread: release must wait
    for it, and a renew that runs after release must not write the lease again (the next try would
    wait up to the ttl for an engine that has stopped)."""
    clock = FakeClock()
    in_write, resume = threading.Event(), threading.Event()

    def monotonic():  # the renew's write reads the monotonic clock first: it pauses there, once
        if threading.current_thread().name == "renew" and not resume.is_set():
            in_write.set()
            assert resume.wait(10)
        return clock()

    holder = object_lease(tmp_path, clock, "a", monotonic=monotonic)
    assert holder.try_acquire() is None
    clock.now += 15.0
    renewing = threading.Thread(target=holder.renew, name="renew")
    renewing.start()
    assert in_write.wait(10)  # the renew has read its own lease and is about to write it
    releasing = threading.Thread(target=holder.release)
    releasing.start()
    releasing.join(0.2)
    assert releasing.is_alive()  # release waits for the renew in flight...
    resume.set()
    renewing.join(10)
    releasing.join(10)
    assert not (tmp_path / "lease.json").exists()  # ...and then deletes what it wrote
    holder.renew()  # a renew scheduled before release, running after it: nothing written
    assert not (tmp_path / "lease.json").exists()
    other = object_lease(tmp_path, clock, "b")
    assert other.try_acquire() is None  # at once, not a ttl later
    holder.release()
    assert json.loads((tmp_path / "lease.json").read_text())["owner"] == "b"


def test_a_wait_for_a_lease_says_who_holds_it_every_five_minutes_and_when_it_is_free(tmp_path):
    from airflow_provider_tela._batch.lease import LEASE_NOTE_EVERY, acquire_blocking

    clock = FakeClock()
    holder, waiter = object_lease(tmp_path, clock, "a"), object_lease(tmp_path, clock, "b")
    assert holder.try_acquire() is None
    said: list[tuple[str, str]] = []
    log = type("Log", (), {
        "warning": lambda self, msg, *args: said.append(("warning", msg % args)),
        "info": lambda self, msg, *args: said.append(("info", msg % args)),
    })()
    polls = 0

    def sleep(seconds):
        nonlocal polls
        polls += 1
        clock.now += seconds
        if polls % 10 == 0 and polls < 2_000:
            holder.renew()  # alive: renewed every ttl / 6 here
        if polls == 2_000:
            holder.release()

    acquire_blocking(waiter, log, poll=1.0, sleep=sleep, monotonic=clock, then="it goes on")
    assert polls == 2_000
    warnings = [text for level, text in said if level == "warning"]
    assert len(warnings) == 1 + int((2_000 - 1) // LEASE_NOTE_EVERY)  # at first, then every 300 s
    assert all("engine a" in text and str(tmp_path) in text and "then it goes on" in text for text in warnings)
    assert said[-1] == ("info", f"The state folder {tmp_path} is free again: it goes on.")


def test_a_storage_failure_taking_a_lease_is_a_batch_state_error_for_every_waiter(tmp_path):
    from airflow_provider_tela._batch.lease import LocalLease, acquire_blocking

    (tmp_path / "state").write_text("a file where the state folder should be")
    for lease in (LocalLease(Location.parse(str(tmp_path / "state"))),
                  object_lease(tmp_path / "state", FakeClock(), "a")):
        with pytest.raises(TelaBatchStateError, match=r"Could not take the batch's lease in .*state \(\w*Error"):
            acquire_blocking(lease, logging.getLogger("t"), sleep=lambda s: None)


# --- carrying runs over to a changed input -------------------------------------------------------------


def earlier_batch(tmp_path, lines: list[list], parts: dict[int, list[tuple[int, str | None, dict]]]):
    from airflow_provider_tela._batch.plan import BatchPlan
    from airflow_provider_tela._batch.spec import BatchSpec

    state = tmp_path / "earlier"
    (state / "parts").mkdir(parents=True)
    (tmp_path / "old.jsonl").write_text("")
    BatchPlan(spec=BatchSpec(canvas_id="c"), records=RecordFile(str(tmp_path / "old.jsonl"), "jsonl"),
              output_uri=str(tmp_path), state_uri=str(state), total=6, records_digest="d", fingerprint="f").save()
    for seq, rows in parts.items():
        part_location(Location.parse(str(state)), seq).write_bytes(b"".join(
            b"%d\t%s\t%s\n" % (index, (key or "").encode(), json.dumps(row).encode()) for index, key, row in rows
        ))
    (state / "ledger.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(state)


def test_carry_over_matches_records_by_request_key_and_counts_duplicates(tmp_path):
    from airflow_provider_tela._batch.carry import carry_over
    from airflow_provider_tela._batch.spec import BatchSpec

    spec = BatchSpec(canvas_id="c")

    def key(document):
        return spec.key_for("tela_default", spec.request_for({"document": document}))

    ok = {"status": "succeeded", "run_id": None}
    earlier = earlier_batch(tmp_path, [
        ["p", 0, [[0, 3]], {"n": 3, "succeeded": 2, "ambiguous": 1}],
        ["r", 3, "run-d", key("d")], ["i", 4, key("same")], ["r", 5, "run-same", key("same")],
    ], {0: [(0, key("a"), {**ok, "run_id": "run-a"}), (1, key("b"), {**ok, "run_id": "run-b"}),
            (2, key("c"), {"status": "ambiguous", "run_id": None})]})
    records = [{"document": d} for d in ("same", "new", "c", "a", "same", "same", "b, edited")]
    target = Location.parse(str(tmp_path / "target"))
    carried = carry_over(earlier, target, records, spec, "tela_default", len(records), logging.getLogger("t"))
    state = Ledger.open(target, len(records)).state
    # two earlier sends of "same" (an intent, then a run) go to its first two records, in order
    assert state.status[0] == INTENT and state.run_ids == {3: "run-a", 4: "run-same"}
    assert state.status[2] == INTENT  # an ambiguous row stays ambiguous: on_ambiguous decides
    assert [state.status[i] for i in (1, 5, 6)] == [NEW, NEW, NEW]  # new, a third "same", an edited record
    assert (carried.reattached, carried.ambiguous, carried.left_behind) == (2, 2, 2)  # run-b and run-d left
    assert state.keys[4] == key("same")
    # another connection (another account) matches nothing
    other = Location.parse(str(tmp_path / "other"))
    assert carry_over(earlier, other, records, spec, "tela_other", len(records), logging.getLogger("t")).reattached == 0


def test_an_earlier_ledger_without_request_keys_fails_the_task_instead_of_paying_again(tmp_path):
    from airflow_provider_tela._batch.carry import TelaBatchLineageError, carry_over
    from airflow_provider_tela._batch.spec import BatchSpec
    from airflow_provider_tela.errors import TelaBatchFailedError

    earlier = earlier_batch(tmp_path, [["r", 0, "run-0"], ["i", 1]], {})
    with pytest.raises(TelaBatchLineageError, match=r"sent 2 record\(s\) .* clear the task") as raised:
        carry_over(earlier, Location.parse(str(tmp_path / "t")), [{"document": "x"}], BatchSpec(canvas_id="c"),
                   "tela_default", 1, logging.getLogger("t"))
    assert isinstance(raised.value, TelaBatchFailedError)  # AirflowFailException: no retry burnt
    assert earlier in str(raised.value)
    assert not (tmp_path / "t" / "ledger.jsonl").exists()


def test_a_clear_points_to_a_new_epochs_folders_and_a_carried_batch_never_reuses_a_folder(tmp_path):
    from airflow_provider_tela._batch.plan import lineage_pointer, read_pointer, state_folder, write_pointer

    output = Location.parse(str(tmp_path))
    ti = {"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": -1}
    write_pointer(lineage_pointer(output, ti, "1@x"), "somewhere", "f")
    assert read_pointer(lineage_pointer(output, ti, "1@x")) == {"state_uri": "somewhere", "fingerprint": "f"}
    assert read_pointer(lineage_pointer(output, ti, "2@x")) is None  # cleared: max_tries raised
    plain = state_folder(output, ti, "1@x", "f" * 64)
    assert state_folder(output, ti, "1@x", "f" * 64, after=plain.uri).uri != plain.uri
    (tmp_path / "torn.json").write_text("{")
    assert read_pointer(Location.parse(str(tmp_path / "torn.json"))) is None


def test_ledger_keys_follow_their_records_through_replay_and_compaction():
    state = LedgerState(4)
    for entry in (["i", 0, "k0"], ["r", 0, "run-0", "k0"], ["i", 1, "k1"], ["i", 2, "k2"], ["x", 2],
                  ["i", 3], ["p", 0, [[0, 1]], {"n": 1}]):
        state.apply(entry)
    assert state.keys == {1: "k1"}
    state.apply(["r", 2, "run-2", "k2"])
    replayed = LedgerState(4)
    for entry in state.snapshot():
        replayed.apply(entry)
    assert replayed.keys == {1: "k1", 2: "k2"} and replayed.status == state.status


# --- figures Tela reports (issue 16, item 1) ------------------------------------------------------------


ODD_FIGURES = [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"), ("-0.003", "-0.003"), ("1e400", "inf"),
               ("true", "True"), ('"NaN"', "NaN"), ('{"usd": 1}', "{'usd': 1}")]


@pytest.mark.parametrize("reader", ["pydantic", "python"])
@pytest.mark.parametrize("odd, raw", ODD_FIGURES, ids=[odd for odd, _ in ODD_FIGURES])
def test_a_figure_that_is_not_finite_and_non_negative_is_unreadable_by_either_json_reader(reader, odd, raw):
    from airflow_provider_tela.models import CanvasRun, ChatCompletion

    body = (f'{{"id": "r", "status": "succeeded", "output_content": {{"content": "x", "information": '
            f'{{"cost": {odd}, "duration": {odd}, "input_tokens": {odd}, "output_tokens": 7}}}}}}').encode()
    run = CanvasRun.model_validate_json(body) if reader == "pydantic" else CanvasRun.model_validate(json.loads(body))
    assert run.usage == {"cost": None, "duration": None, "input_tokens": None, "output_tokens": 7}
    unreadable = run.output_content.information.unreadable
    assert set(unreadable) == {"cost", "duration", "input_tokens"} and str(unreadable["cost"]) == raw
    json.dumps(run.usage, allow_nan=False)

    answer = (f'{{"choices": [{{"message": {{"content": "x"}}}}], '
              f'"usage": {{"prompt_tokens": {odd}, "completion_tokens": 3, "total_tokens": {odd}}}}}').encode()
    completion = (ChatCompletion.model_validate_json(answer) if reader == "pydantic"
                  else ChatCompletion.model_validate(json.loads(answer)))
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        None, 3, None)


def test_ordinary_figures_are_read_as_they_are():
    from airflow_provider_tela.models import Information

    info = Information.model_validate_json(b'{"cost": 0, "duration": 2.5, "input_tokens": 0, "output_tokens": 12.0}')
    assert (info.cost, info.duration, info.input_tokens, info.output_tokens) == (0.0, 2.5, 0, 12)
    assert info.unreadable == {}


# --- writing what was read (issue 16, items 1 and 3) ------------------------------------------------------


HALF_AN_EMOJI = "\ud83d"  # what JavaScript's JSON.stringify writes for half of "😀": valid JSON, not UTF-8


def test_a_row_holding_a_lone_surrogate_or_nan_is_written_as_standard_json():
    content = {"text": f"smile {HALF_AN_EMOJI} and é", "score": float("nan"), "list": [float("inf"), 1.5]}
    row = encode_row(3, "succeeded", "run-3", content, None, {"cost": 0.001})
    assert b"\t" not in row and b"\n" not in row
    text = row.decode("utf-8")  # valid UTF-8: the surrogate is an escape, not raw bytes
    assert "\\ud83d" in text
    read = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} written"))
    assert read["content"] == {"text": f"smile {HALF_AN_EMOJI} and é", "score": None, "list": [None, 1.5]}
    plain = encode_row(4, "succeeded", "run-4", {"text": "é ✓"}, None, None)
    assert "é ✓".encode() in plain  # ordinary text stays as it is (not escaped)


def test_a_json_output_holding_a_lone_surrogate_or_infinity_is_written(tmp_path):
    from airflow_provider_tela._storage import write_json_output

    uri = write_json_output(str(tmp_path / "content.json"), {"text": HALF_AN_EMOJI, "n": float("-inf")})
    data = (tmp_path / "content.json").read_bytes().decode("utf-8")
    assert json.loads(data, parse_constant=lambda name: pytest.fail(f"{name} written")) == {
        "text": HALF_AN_EMOJI, "n": None}
    assert uri == str(tmp_path / "content.json")


def test_a_paid_answer_holding_a_lone_surrogate_is_read_and_one_that_is_not_json_is_still_refused():
    from airflow_provider_tela._http import calls, endpoints
    from airflow_provider_tela._http.responses import decode_model
    from airflow_provider_tela.errors import TelaBadResponseError
    from airflow_provider_tela.models import CanvasRun

    body = b'{"id": "run-1", "status": "succeeded", "output_content": {"content": {"text": "half \\ud83d"}}}'
    run = endpoints.poll_run("run-1", cached=False).parse(body, ())  # a batch's status check
    assert run.content == {"text": f"half {HALF_AN_EMOJI}"}
    call = calls.get_run("run-1")
    assert decode_model(call, CanvasRun, body, (), "run run-1").content == {"text": f"half {HALF_AN_EMOJI}"}
    with pytest.raises(TelaBadResponseError, match="not JSON"):
        decode_model(call, CanvasRun, b'{"id": "run-1", "status": "succ', (), "run run-1")
    with pytest.raises(TelaBadResponseError, match="does not match the documented CanvasRun"):
        decode_model(call, CanvasRun, b'{"id": "run-1", "status": "succeeded", "x": "\\ud83d", "output_content": 7}',
                     (), "run run-1")


@pytest.mark.parametrize("record", [{"text": f"half {HALF_AN_EMOJI}"}, {HALF_AN_EMOJI: "x"},
                                    {"doc": {"file_url": f"https://x/{HALF_AN_EMOJI}"}}],
                         ids=["value", "name", "nested"])
def test_a_record_holding_a_lone_surrogate_is_refused_at_scan_naming_record_and_line(tmp_path, record):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "fine"}\n' + json.dumps(record) + "\n")  # json.dumps writes the \\ud83d escape
    with pytest.raises(TelaConfigError, match=r"^record 1 \(line 2\): .*lone UTF-16 surrogate") as caught:
        scan(describe(str(path)), lambda record: None)
    assert "UnicodeEncodeError" not in str(caught.value)
    with pytest.raises(TelaConfigError, match=r"^record 1: .*lone UTF-16 surrogate"):
        scan([{"text": "fine"}, record], lambda record: None)


def test_operator_level_text_holding_a_lone_surrogate_still_gets_a_request_key():
    from airflow_provider_tela._batch.spec import BatchSpec

    spec = BatchSpec(canvas_id="c", messages=[{"role": "user", "content": f"half {HALF_AN_EMOJI}"}])
    key = spec.key_for("tela_default", spec.request_for({"text": "x"}))
    assert key == spec.key_for("tela_default", spec.request_for({"text": "x"})) and len(key) == 32
    import hashlib

    plain = BatchSpec(canvas_id="c", messages=[{"role": "user", "content": "é ✓"}])
    request = plain.request_for({"text": "ü"})
    before = json.dumps({"conn_id": "tela_default", "request": request.to_payload()}, sort_keys=True,
                        separators=(",", ":"), ensure_ascii=False, default=str)
    # the keys earlier tries wrote are unchanged: a retry still matches its earlier runs (batch.carry)
    assert plain.key_for("tela_default", request) == hashlib.sha256(before.encode()).hexdigest()[:32]


# --- a ledger write that fails part-way (issue 16, item 2) ---------------------------------------------------


def ledger_groups(total: int) -> list[list[list[Any]]]:
    """What a batch writes, one group per write: intents, then run ids and the next intents, parts."""
    groups: list[list[list[Any]]] = []
    part = 0
    for index in range(0, total, 2):
        groups.append([["i", index, f"k{index}"], ["i", index + 1, f"k{index + 1}"]])
        groups.append([["r", index, f"run-{index}", f"k{index}"], ["x", index + 1]])
        if index % 6 == 4:
            done = list(range(max(0, index - 4), index + 1, 2))
            groups.append([["p", part, ranges_of(done), {"n": len(done), "succeeded": len(done), "cost": 0.5}]])
            part += 1
    return groups


def append_as_one_write(ledger: Ledger, group: list[list[Any]]) -> None:
    """Append lines so that one write takes them all (the writer thread is held while they queue)."""
    gate = threading.Event()
    ledger._executor.submit(gate.wait, 30)
    for entry in group:
        ledger.append(entry)
    gate.set()


def replayed(groups: list[list[list[Any]]], total: int) -> LedgerState:
    state = LedgerState(total)
    for group in groups:
        for entry in group:
            state.apply(entry)
    return state


KEEP = {"nothing": lambda n: 0, "one byte": lambda n: 1, "a third": lambda n: n // 3,
        "all but the newline": lambda n: n - 1, "all, then an error": lambda n: n}


@pytest.mark.parametrize("storage", ["local", "object-storage"])
def test_a_ledger_write_failing_at_any_byte_never_tears_the_writes_after_it(monkeypatch, storage):
    """Every write of a batch's ledger failing, in turn, after 0, 1, a third, all but one and all of its
    bytes (an append to the local log; an object of the segment log); the batch goes on writing (what
    it learns while stopping). Reopened, the ledger holds every entry written after the failure, and
    the failed write's entries too, written again with the next write (its waiter learnt it failed)."""
    total = 20
    groups = ledger_groups(total)
    expected = replayed(groups, total)
    store = FaultStore(local=storage == "local")
    store.install(monkeypatch)
    scenarios = 0
    for fail_at in range(1, len(groups) + 1):
        for how, keep in KEEP.items():
            store.files.clear()
            folder = store.location("state")
            store.arm(Fault(fail_at, keep, kinds=("append", "write")))
            ledger = Ledger.open(folder, total)

            async def write_all(ledger: Ledger = ledger) -> list[int]:
                failures = []
                for number, group in enumerate(groups, start=1):
                    append_as_one_write(ledger, group)
                    try:
                        await ledger.flush()
                    except TelaBatchStateError:
                        failures.append(number)
                return failures

            assert asyncio.run(write_all()) == [fail_at], (fail_at, how)
            ledger.close()
            store.disarm()
            assert store.hits and store.hits[0].kind == ("append" if storage == "local" else "write")
            reopened = Ledger.open(folder, total)
            reopened.close()
            state = reopened.state
            what = (fail_at, how, list(state.status), list(expected.status))
            if fail_at < len(groups):
                assert state.status == expected.status and state.run_ids == expected.run_ids, what
                assert state.stats == expected.stats and state.next_part == expected.next_part, what
            else:  # nothing was written after the last write failed: as if it never began, or whole
                without = replayed(groups[:-1], total)
                assert (state.status, state.stats) in ((without.status, without.stats),
                                                       (expected.status, expected.stats)), what
            scenarios += 1
    assert scenarios == len(groups) * len(KEEP) >= 100


@pytest.mark.parametrize("storage", ["local", "object-storage"])
def test_the_run_ids_written_after_a_torn_write_are_read_back(monkeypatch, storage):
    """Issue 16's symptom: a write stops after a third of its bytes; the run ids the batch writes while
    stopping were glued onto the torn bytes and lost, so the retry reported their records ambiguous."""
    store = FaultStore(local=storage == "local")
    store.install(monkeypatch)
    folder = store.location("state")
    ledger = Ledger.open(folder, 4)
    asyncio.run(ledger.commit(["i", 0, "k0"]))
    asyncio.run(ledger.commit(["i", 1, "k1"]))
    store.arm(Fault(1, lambda n: n // 3, kinds=("append", "write")))
    with pytest.raises(TelaBatchStateError, match="Could not write the batch ledger"):
        asyncio.run(ledger.commit(["i", 2, "k2"]))
    ledger.append(["r", 0, "run-0", "k0"])  # what the POSTs in flight came to, learnt while stopping
    ledger.append(["r", 1, "run-1", "k1"])
    ledger.append(["x", 2])  # the intent's POST was never sent
    asyncio.run(ledger.flush())
    ledger.close()
    store.disarm()
    state = Ledger.open(folder, 4).state
    assert state.run_ids == {0: "run-0", 1: "run-1"} and list(state.status) == [SUBMITTED, SUBMITTED, NEW, NEW]


def test_a_base_cut_short_is_no_base_and_an_earlier_releases_ledger_reads_as_before(monkeypatch):
    store = FaultStore(local=False)
    store.install(monkeypatch)
    folder = store.location("state")
    # an earlier release: one entry per line, in a base and a segment after it
    store.write(b'["p",0,[[0,2]],{"n":2,"succeeded":2}]\n["r",2,"run-2"]\n', "state", "ledger", "base-000000000005.jsonl")
    store.write(b'["i",3]\n', "state", "ledger", "000000000004.jsonl")  # covered by the base: not read
    store.write(b'["r",3,"run-3"]\n', "state", "ledger", "000000000006.jsonl")
    state = Ledger.open(folder, 5).state
    assert list(state.status) == [DONE, DONE, SUBMITTED, SUBMITTED, NEW] and state.run_ids == {2: "run-2", 3: "run-3"}
    # a newer base whose upload was cut off: not a base; the whole one before it and the segments count
    store.write(b'[["p",0,[[0,2]],{"n":2,"succeeded":2}],["r",2,"ru', "state", "ledger", "base-000000000006.jsonl")
    store.write(b'[["r",4,"run-4"]]\n', "state", "ledger", "000000000007.jsonl")
    state = Ledger.open(folder, 5).state
    assert list(state.status) == [DONE, DONE, SUBMITTED, SUBMITTED, SUBMITTED] and state.stats["succeeded"] == 2


# --- CSV and JSONL records (issue 16, items 4 and 6) ------------------------------------------------------------


def test_a_csv_cell_longer_than_pythons_default_field_limit_is_read(tmp_path):
    document = "long document " * 20_000  # 280,000 characters: over csv's default 131,072
    path = tmp_path / "in.csv"
    path.write_text(f'document,lang\n"{document}",en\nshort,fr\n')
    records = list(iter_records(describe(str(path))))
    assert [len(r.variables["document"]) for r in records] == [len(document), 5] and records[1].line == 3


def test_a_record_over_the_documented_limit_is_refused_naming_its_line(tmp_path, monkeypatch):
    from airflow_provider_tela._batch import records as records_module

    monkeypatch.setattr(records_module, "RECORD_LIMIT", 1000)
    (tmp_path / "in.csv").write_text(f'document,lang\nshort,en\n"{"x" * 1001}",fr\n')
    with pytest.raises(TelaConfigError, match=r"line 3 of .*in\.csv: .*longer than 1,000 characters"):
        list(iter_records(describe(str(tmp_path / "in.csv"))))
    (tmp_path / "in.jsonl").write_text('{"document": "short"}\n' + json.dumps({"document": "x" * 1001}) + "\n")
    with pytest.raises(TelaConfigError, match=r"line 2 of .*in\.jsonl: .*longer than 1,000 characters"):
        list(iter_records(describe(str(tmp_path / "in.jsonl"))))
    (tmp_path / "ok.jsonl").write_text(json.dumps({"d": "x" * (1000 - 9)}) + "\r\n")  # 1,000 with its \r
    assert len(list(iter_records(describe(str(tmp_path / "ok.jsonl"))))) == 1


@pytest.mark.parametrize("content, message", [
    ('document\na\n"never closed\nb\nc\n', r"line 3 of .*in\.csv opens a quoted cell that is never closed"),
    ('document,lang\na,en\n"quoted"x,fr\n', r"line 3 of .*in\.csv is not valid CSV"),
    ('"document,lang\na,en\n', r"line 1 of .*in\.csv opens a quoted cell that is never closed"),
], ids=["unterminated-quote", "text-after-a-closing-quote", "unterminated-in-the-header"])
def test_malformed_csv_is_refused_naming_the_line_never_read_as_fewer_records(tmp_path, content, message):
    (tmp_path / "in.csv").write_text(content)
    with pytest.raises(TelaConfigError, match=message) as caught:
        list(iter_records(describe(str(tmp_path / "in.csv"))))
    assert "_csv.Error" not in str(caught.value)


def test_a_jsonl_line_holding_a_lone_carriage_return_as_whitespace_is_one_record(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a":\r"1"}\n{"b": "2"}\r\n\r\n{"c":\r\r"3"}\r')  # \r is whitespace to JSON
    assert [(r.variables, r.line) for r in iter_records(describe(str(path)))] == [
        ({"a": "1"}, 1), ({"b": "2"}, 2), ({"c": "3"}, 4)]


@pytest.mark.parametrize("name", ["", "   "], ids=["empty", "blank"])
def test_an_empty_variable_name_is_refused_before_anything_is_sent(tmp_path, name):
    from airflow_provider_tela._batch.spec import BatchSpec
    from airflow_provider_tela.models import CompletionRequest

    with pytest.raises(TelaConfigError, match=r"variables: variable names must not be empty"):
        CompletionRequest.build(canvas_id="c", variables={"document": "x", name: "y"})  # the single-run path too
    spec = BatchSpec(canvas_id="c")
    path = tmp_path / "in.jsonl"
    path.write_text('{"document": "a"}\n' + json.dumps({name: "x"}) + "\n")
    with pytest.raises(TelaConfigError, match=r"^record 1 \(line 2\): .*variable names must not be empty"):
        scan(describe(str(path)), lambda record: spec.request_for(record.variables))
    with pytest.raises(TelaConfigError, match=r"variable names must not be empty"):
        BatchSpec(canvas_id="c", variables={name: "x"}).request_for({})  # the operator's own variables


@pytest.mark.parametrize("odd", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_record_holding_nan_is_refused_at_scan_not_sent_as_null_or_written_as_nan(tmp_path, odd):
    """A NaN deep in a record (a file option: free-form JSON) passed the request check: it was sent as
    null and written into records.jsonl (inline records, for the trigger) as ``NaN``, which is not JSON."""
    from airflow_provider_tela._batch.spec import BatchSpec

    spec = BatchSpec(canvas_id="c")
    path = tmp_path / "in.jsonl"
    path.write_text('{"doc": "a"}\n{"doc": {"file_url": "https://x/a.pdf", "options": {"dpi": ODD}}}\n'.replace("ODD", odd))
    with pytest.raises(TelaConfigError, match=r"^record 1 \(line 2\): variable 'doc' holds NaN or Infinity"):
        scan(describe(str(path)), lambda record: spec.request_for(record.variables))
    with pytest.raises(TelaConfigError, match=r"^record 0: variable 'doc' holds NaN or Infinity"):
        scan([{"doc": {"file_url": "https://x", "options": {"dpi": float(odd)}}}], lambda record: None)
