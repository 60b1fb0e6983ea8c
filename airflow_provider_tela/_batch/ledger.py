"""The batch's ledger: what has been asked of Tela, record by record, kept where a retry finds it.

Entries (JSON arrays), replayed in order by ``LedgerState.apply``:

- ``["i", index, key]``: *intent*, made durable before the record's POST is sent;
- ``["x", index]``: the POST was refused before Tela acted on it (429, 503, not sent): no run exists;
- ``["r", index, run_id, key]``: Tela named the record's run;
- ``["p", part, ranges, stats]``: the rows of the records in ``ranges`` (``[[start, stop), ...]``) are
  in results part ``part``; those records are done. ``stats`` sums the part's statuses and usage.
- ``["s", source, spend]``: what runs of an earlier state folder (``source``) cost that no record of
  this batch takes over (``batch.carry``; the ``batch.spend`` figures): ``max_cost`` counts it. A
  later entry of the same source replaces the earlier one, so writing it twice counts it once.

A retry (or a restarted trigger) replays the lines: done records are not touched, records with a run
id are re-attached (their runs waited for), and records with an intent only were sent without the
answer being recorded, so their run may exist: ``on_ambiguous`` decides.

``key`` is the digest of the request sent for the record (``BatchSpec.key_for``; results parts carry
it too). It is what a later try whose input changed matches its records by (``batch.carry``): a
record whose request is unchanged takes over its run instead of being sent again. (Lines written
before keys existed have none; ``keys`` then lacks the record.)

Framing: each write is one *frame*, a JSON array of the entries it holds on one line
(``[["i",4,"k4"],["r",3,"run-3","k3"]]``). A write that fails at any byte leaves a frame cut short,
which no reader takes for entries (no prefix of a JSON array is JSON): it is as if it never began.
The write after a failed one starts with a newline, so it never continues the cut line; a crash's
torn tail found at open time is ended the same way. A failed write's entries are written again with
the next write (its waiter has learnt that it failed); a frame that did reach the storage in full
although the write failed is then replayed twice, which changes nothing (``apply`` is idempotent).
(Ledgers of earlier releases hold one entry per line: they are read as they are.)

Group commit: entries are written by one thread, in order; a write takes every entry appended since the
previous write began. A record awaits the write holding its intent before its POST, and the write
holding its run id before it frees its concurrency slot, so at most ``concurrency`` records can be
"intent without run id" whenever the process dies. Writes go to a dedicated thread (never the event
loop), and a write once queued completes even if the task awaiting it is cancelled.

Storage: a local path is one file, appended to (and fsync'ed). Object storage cannot append, so each
write is a small object ``ledger/<seq>.jsonl`` (one frame); once there are many, they are compacted
into one ``ledger/base-<seq>.jsonl`` holding the state they add up to, as one frame, written before the
segments it covers are deleted: a crash in between only leaves entries that replay to the same state,
and a base cut short is no base (the newest whole one, and the segments after it, are read instead).
A compaction that fails is tried again at a later write; the write it followed stands.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_tela._batch.spend import SPEND_KEYS, USAGE_KEYS, Spend, figure, finite
from airflow_provider_tela._storage import Location, json_bytes
from airflow_provider_tela.errors import TelaBatchStateError

NEW, INTENT, SUBMITTED, DONE = 0, 1, 2, 3
STAT_KEYS = ("n", "succeeded", "failed", "ambiguous", "skipped", *USAGE_KEYS, *SPEND_KEYS)
COMPACT_AFTER_SEGMENTS = 256


def ranges_of(indexes: Iterable[int]) -> list[list[int]]:
    """Sorted indexes as ``[[start, stop), ...]`` (a part's records are mostly consecutive)."""
    found: list[list[int]] = []
    for index in indexes:
        if found and found[-1][1] == index:
            found[-1][1] = index + 1
        else:
            found.append([index, index + 1])
    return found


def empty_stats() -> dict[str, Any]:
    return dict.fromkeys(STAT_KEYS, 0)


def add_stats(total: dict[str, Any], more: dict[str, Any]) -> None:
    """Sum a part's stats into ``total`` (``cost_max``: the larger). A figure that is not a finite,
    non-negative number (a ledger of an earlier release may hold one) adds nothing."""
    for key in STAT_KEYS:
        value = figure(more.get(key)) or 0
        if key == "cost_max":
            total[key] = max(total.get(key, 0), value)
        else:
            total[key] = finite(total.get(key, 0) + value) if isinstance(value, float) else total.get(key, 0) + value


@dataclass
class LedgerState:
    """What the ledger's lines add up to (pure: no I/O)."""

    total: int
    status: bytearray = field(init=False)
    run_ids: dict[int, str] = field(default_factory=dict)  # records with a run id that are not done
    keys: dict[int, str] = field(default_factory=dict)  # request keys of records sent and not done
    parts: list[list[Any]] = field(default_factory=list)  # the "p" entries, in order, each part once
    part_names: set[int] = field(default_factory=set)
    stats: dict[str, Any] = field(default_factory=empty_stats)
    next_part: int = 0
    carried: dict[str, dict[str, Any]] = field(default_factory=dict)  # the "s" entries, by source

    def __post_init__(self) -> None:
        self.status = bytearray(self.total)

    def apply(self, entry: list[Any]) -> None:
        kind = entry[0]
        if kind == "p":
            _, name, ranges, stats = entry
            if int(name) in self.part_names:
                return  # written twice (a failed write's frame, written again): counted once
            self.part_names.add(int(name))
            for start, stop in ranges:
                for index in range(start, stop):
                    self.status[index] = DONE
                    self.run_ids.pop(index, None)
                    self.keys.pop(index, None)
            self.parts.append(entry)
            add_stats(self.stats, stats)
            self.next_part = max(self.next_part, int(name) + 1)
            return
        if kind == "s":
            _, source, spend = entry
            if not isinstance(spend, dict):
                raise ValueError(f"carried spend of {source!r} is not an object")
            self.carried[str(source)] = spend
            return
        index = int(entry[1])
        if not 0 <= index < self.total:
            raise ValueError(f"record index {index} is outside the batch (0..{self.total - 1})")
        current = self.status[index]
        if current == DONE:
            return
        if kind == "i":
            if current != SUBMITTED:
                self.status[index] = INTENT
                self._key(index, entry, 2)
        elif kind == "x":
            if current == INTENT:
                self.status[index] = NEW
                self.keys.pop(index, None)
        elif kind == "r":
            self.status[index] = SUBMITTED
            self.run_ids[index] = str(entry[2])
            self._key(index, entry, 3)
        else:
            raise ValueError(f"unknown ledger line kind {kind!r}")

    def _key(self, index: int, entry: list[Any], at: int) -> None:
        if len(entry) > at and isinstance(entry[at], str):
            self.keys[index] = entry[at]

    def carried_spend(self) -> Spend:
        """What earlier state folders' runs that no record here takes over cost (``batch.spend``)."""
        total = Spend()
        for spend in self.carried.values():
            total = total.plus(Spend.from_stats(spend))
        return total

    def intent_only(self) -> list[int]:
        return [index for index, status in enumerate(self.status) if status == INTENT]

    def count(self, status: int) -> int:
        return self.status.count(status)

    def snapshot(self) -> list[list[Any]]:
        """Lines that replay to this state (what compaction writes)."""
        lines: list[list[Any]] = list(self.parts)
        lines += [["s", source, spend] for source, spend in self.carried.items()]
        keys = self.keys
        lines += [_with_key(["r", index, run_id], keys.get(index)) for index, run_id in sorted(self.run_ids.items())]
        lines += [_with_key(["i", index], keys.get(index)) for index in self.intent_only()]
        return lines


def _with_key(entry: list[Any], key: str | None) -> list[Any]:
    return [*entry, key] if key is not None else entry


def encode(entries: Iterable[list[Any]]) -> bytes:
    """One frame: the entries as one JSON array on one line."""
    return json_bytes(list(entries), separators=(",", ":")) + b"\n"


def frame(line: bytes) -> list[list[Any]] | None:
    """The entries of one line: a frame, or one entry (ledgers of earlier releases); None for a line
    cut short (a write that failed or a crash: nothing it holds was acted upon, since a POST waits for
    its intent's write to complete)."""
    if not line.strip():
        return []
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if value and isinstance(value[0], str):
        return [value]
    return [entry for entry in value if isinstance(entry, list) and entry]


def decode(lines: Iterable[bytes]) -> Iterator[list[Any]]:
    """The entries of a log, skipping lines cut short (see ``frame``)."""
    for line in lines:
        yield from frame(line) or ()


class _Log(Protocol):
    def read(self) -> Iterator[bytes]: ...
    def write(self, data: bytes) -> None: ...
    def maybe_compact(self, state: LedgerState) -> None: ...


class _AppendLog:
    """A local file, appended to."""

    def __init__(self, location: Location) -> None:
        self.location = location.child("ledger.jsonl")
        self.torn_tail = False

    def read(self) -> Iterator[bytes]:
        try:
            with self.location.open_read() as stream:
                for line in stream:
                    self.torn_tail = not line.endswith(b"\n")
                    yield line
        except FileNotFoundError:
            return

    def write(self, data: bytes) -> None:
        if self.torn_tail:  # end the line a crash or a failed write cut short: it stays one unreadable line
            data = b"\n" + data
        self.torn_tail = True  # until this write is known complete: a failure may leave any of its bytes
        self.location.append(data)
        self.torn_tail = False

    def maybe_compact(self, state: LedgerState) -> None:
        return None  # a local file only grows by a few dozen bytes per record


def _whole(base: list[bytes]) -> bool:
    """A base written in full: one frame, or (an earlier release's) one entry on each ended line."""
    if len(base) == 1:
        return frame(base[0]) is not None
    return bool(base) and all(line.endswith(b"\n") and frame(line) is not None for line in base)


class _SegmentLog:
    """Object storage: one small object per write, compacted into a base once there are many."""

    def __init__(self, location: Location) -> None:
        self.folder = location.child("ledger")
        self.seq = 0
        self.segments: list[Location] = []
        self.bases: list[Location] = []

    def read(self) -> Iterator[bytes]:
        entries = self.folder.children()
        bases = [e for e in entries if e.name.startswith("base-")]
        segments = [e for e in entries if e.name[:1].isdigit()]
        covered = -1
        for base in reversed(bases):  # the newest whole base: one cut short (a failed compaction) is none
            lines = list(self._lines(base))
            if _whole(lines):
                covered = int(base.name[5:].split(".")[0])
                self.bases = bases
                yield from lines
                break
        for segment in segments:
            seq = int(segment.name.split(".")[0])
            self.seq = max(self.seq, seq)
            if seq > covered:
                self.segments.append(segment)
                yield from self._lines(segment)
        self.seq = max(self.seq, covered, *(int(base.name[5:].split(".")[0]) for base in bases))

    @staticmethod
    def _lines(location: Location) -> Iterator[bytes]:
        with location.open_read() as stream:
            yield from stream

    def write(self, data: bytes) -> None:
        self.seq += 1  # a failed write's object, if any, keeps its name: replayed or skipped, never overwritten
        segment = self.folder.child(f"{self.seq:012d}.jsonl")
        self.segments.append(segment)  # (deleted by the next compaction, whatever it holds)
        segment.write_bytes(data)

    def maybe_compact(self, state: LedgerState) -> None:
        if len(self.segments) < COMPACT_AFTER_SEGMENTS:
            return
        base = self.folder.child(f"base-{self.seq:012d}.jsonl")
        base.write_bytes(encode(state.snapshot()))
        old, self.segments, self.bases = self.segments + self.bases, [], [base]
        for location in old:  # covered by the base: one left behind is skipped when read
            with suppress(Exception):
                location.delete()


def _replay(state_dir: Location, total: int) -> tuple[_Log, LedgerState]:
    """The ledger's log in ``state_dir`` and the state its lines add up to (blocking). A ledger that
    cannot be read is an error, never an empty one: "no record" would resubmit runs that may exist."""
    log: _Log = _AppendLog(state_dir) if state_dir.is_local else _SegmentLog(state_dir)
    state = LedgerState(total)
    try:
        for entry in decode(log.read()):
            state.apply(entry)
    except (OSError, ValueError, TypeError, IndexError) as exc:
        raise TelaBatchStateError(
            f"The batch ledger in {state_dir.uri} cannot be read ({type(exc).__name__}: {exc}). It was not "
            "treated as empty, since records it lists may already have runs in Tela; fix the storage "
            "and retry, or clear the task to start the batch afresh."
        ) from None
    return log, state


def read_state(state_dir: Location, total: int) -> LedgerState:
    """What the ledger in ``state_dir`` adds up to, read without opening it for writing (blocking):
    an earlier try's ledger, read by ``batch.carry``."""
    return _replay(state_dir, total)[1]


class Ledger:
    """The ledger of one batch: loaded once (``open``), then appended to through group commits."""

    def __init__(self, log: _Log, state: LedgerState) -> None:
        self._log = log
        # Owned by the writer thread once the batch runs: the engine reads ``initial`` instead.
        self.state = state
        self.initial = bytes(state.status)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tela-ledger")
        self._lock = threading.Lock()
        self._pending: list[list[Any]] = []
        self._scheduled: concurrent.futures.Future[None] | None = None
        self._last: concurrent.futures.Future[None] | None = None

    @classmethod
    def open(cls, state_dir: Location, total: int) -> Ledger:
        """Replay the ledger in ``state_dir`` (blocking; see ``_replay``) and make it ready to append to."""
        return cls(*_replay(state_dir, total))

    def write_now(self, entries: list[list[Any]]) -> None:
        """Write lines at once (blocking), before any engine runs on this ledger (``batch.carry``)."""
        if entries:
            self._log.write(encode(entries))
            for entry in entries:
                self.state.apply(entry)

    # --- group commit ---------------------------------------------------------------------------

    def append(self, entry: list[Any]) -> concurrent.futures.Future[None]:
        """Queue a line; the future completes once it is durable."""
        with self._lock:
            self._pending.append(entry)
            if self._scheduled is None:
                self._scheduled = self._last = self._executor.submit(self._write_pending)
            return self._scheduled

    async def commit(self, entry: list[Any]) -> None:
        """Append a line and wait until it is durable."""
        await durable(self.append(entry))

    async def flush(self) -> None:
        """Wait until every entry appended so far is durable (entries of a failed write included: they
        are written again now if nothing else is to be written)."""
        with self._lock:
            if self._pending and self._scheduled is None:
                self._scheduled = self._last = self._executor.submit(self._write_pending)
            last = self._last
        if last is not None:
            await durable(last)

    def close(self) -> None:
        # Queued writes still run: nothing appended is dropped, even when the loop is going away.
        self._executor.shutdown(wait=False)

    def _write_pending(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._scheduled = None
        if not batch:
            return
        try:
            self._log.write(encode(batch))
        except Exception as exc:  # noqa: BLE001 - any storage backend's failure: named, and the batch stops
            with self._lock:  # written again with the next write: what was learnt is not lost
                self._pending[:0] = batch
            raise TelaBatchStateError(
                f"Could not write the batch ledger ({type(exc).__name__}: {exc}); the batch stops, since it "
                "cannot record what it sends. Runs already recorded are re-attached by a retry."
            ) from None
        for entry in batch:
            self.state.apply(entry)
        with suppress(Exception):  # the write stands; compaction is tried again at a later write
            self._log.maybe_compact(self.state)


async def durable(future: concurrent.futures.Future[None]) -> None:
    """Wait for a ledger write without cancelling it if the waiter is cancelled. (Its failure, if the
    waiter is gone by then, is not logged again as "never retrieved": the batch has already said it.)"""
    waited = asyncio.wrap_future(future)
    waited.add_done_callback(_retrieved)
    await asyncio.shield(waited)


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
