"""Result rows: one per record, ``{"index", "status", "run_id", "content", "error", "usage"}``.

Records finish in any order. Finished rows are buffered in memory (a bounded number of rows and
bytes), then committed as a *part*: the buffer sorted by index, written to
``<state dir>/parts/<seq>.jsonl`` (one ``index<TAB>key<TAB>row`` line per record, ``key`` being the
record's request key, empty when it has none), then named in the ledger. At the end the parts are merged (k-way,
streaming, ``heapq.merge``) into ``results.jsonl`` in record order. Memory holds one buffer and one
line per open part, whatever the number of records.

A part not yet named in the ledger when the process dies is ignored: its records are re-attached by
the retry (a status check each, no new run) and land in a later part.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from airflow_provider_tela._batch.ledger import Ledger, empty_stats, ranges_of
from airflow_provider_tela._batch.spend import USAGE_KEYS, Spend, figure
from airflow_provider_tela._storage import Location, json_bytes
from airflow_provider_tela.errors import TelaBatchStateError

STATUSES = ("succeeded", "failed", "ambiguous", "skipped")
PART_ROWS = 2000
PART_BYTES = 8 * 1024 * 1024
FAN_IN = 64


def encode_row(index: int, status: str, run_id: str | None = None, content: Any = None, error: str | None = None,
               usage: dict[str, Any] | None = None, task: dict[str, Any] | None = None) -> bytes:
    """One row as standard JSON, whatever the paid answer held (see ``_storage.json_bytes``). For a
    Workstation app, ``run_id`` is the record's task id, and ``tela_task`` its review."""
    row: dict[str, Any] = {"index": index, "status": status, "run_id": run_id, "content": content, "error": error,
                           "usage": usage or None}
    if task is not None:
        row["tela_task"] = task
    return json_bytes(row, separators=(",", ":"))


def part_location(state_dir: Location, seq: int) -> Location:
    return state_dir.child("parts", f"{seq:06d}.jsonl")


class PartWriter:
    """Buffers finished rows and commits them as sorted parts, one commit at a time."""

    def __init__(self, state_dir: Location, ledger: Ledger, first_part: int, *, max_rows: int = PART_ROWS,
                 max_bytes: int = PART_BYTES) -> None:
        self.state_dir = state_dir
        self.ledger = ledger
        self.next_part = first_part
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._rows: list[tuple[int, bytes, bytes]] = []
        self._bytes = 0
        self._stats = empty_stats()
        self._spend = Spend()
        self._lock = asyncio.Lock()

    def add(self, index: int, status: str, row: bytes, usage: dict[str, Any] | None,
            request_key: str | None = None) -> bool:
        """Buffer a finished row; True when the buffer is full and should be committed."""
        self._rows.append((index, (request_key or "").encode(), row))
        self._bytes += len(row)
        stats = self._stats
        stats["n"] += 1
        stats[status] += 1
        for key in USAGE_KEYS:
            value = figure((usage or {}).get(key))
            if value is not None:
                stats[key] += value
        self._spend.add(status, (usage or {}).get("cost"))
        return len(self._rows) >= self.max_rows or self._bytes >= self.max_bytes

    @property
    def buffered(self) -> int:
        return len(self._rows)

    async def commit(self) -> None:
        """Write the buffered rows as a part, then name it in the ledger (in that order)."""
        async with self._lock:
            if not self._rows:
                return
            rows, stats = sorted(self._rows), {**self._stats, **self._spend.stats()}
            self._rows, self._bytes, self._stats, self._spend = [], 0, empty_stats(), Spend()
            seq = self.next_part
            self.next_part += 1
            body = b"".join(b"%d\t%s\t%s\n" % (index, key, row) for index, key, row in rows)
            try:
                await asyncio.to_thread(part_location(self.state_dir, seq).write_bytes, body)
            except Exception as exc:  # noqa: BLE001 - any storage backend's failure: named, and the batch stops
                raise TelaBatchStateError(
                    f"Could not write results part {seq} under {self.state_dir.uri} ({type(exc).__name__}: {exc})."
                ) from None
            await self.ledger.commit(["p", seq, ranges_of(index for index, _, _ in rows), stats])


def split_line(line: bytes) -> tuple[int, str | None, bytes]:
    """``index<TAB>key<TAB>row`` (or ``index<TAB>row``: merged files, parts of earlier releases).
    A JSON row never holds a raw tab (json escapes it), so the fields split unambiguously."""
    index, _, rest = line.partition(b"\t")
    if rest.startswith(b"{"):
        return int(index), None, rest
    key, _, row = rest.partition(b"\t")
    return int(index), key.decode() or None, row


def part_rows(location: Location) -> Iterator[tuple[int, str | None, bytes]]:
    """The lines of one part (blocking)."""
    with location.open_read() as stream:
        for line in stream:
            yield split_line(line)


def _part_lines(location: Location, stack: ExitStack) -> Iterator[tuple[int, bytes]]:
    stream = stack.enter_context(location.open_read())
    for line in stream:
        index, _, row = split_line(line)
        yield index, row


def _merge(sources: list[Location]) -> Iterator[tuple[int, bytes]]:
    with ExitStack() as stack:
        yield from heapq.merge(*(_part_lines(source, stack) for source in sources), key=lambda item: item[0])


def merge_parts(state_dir: Location, parts: list[int], destination: Location, total: int) -> None:
    """Merge committed parts into ``destination`` in record order (blocking, streaming).

    Every record must have exactly one row: a gap means a record was lost, which is an error, never
    a silently shorter file.
    """
    sources = [part_location(state_dir, seq) for seq in parts]
    level = 0
    while len(sources) > FAN_IN:  # bound the open files: merge groups into intermediate parts first
        merged: list[Location] = []
        for group_start in range(0, len(sources), FAN_IN):
            target = state_dir.child("merge", f"{level}-{group_start // FAN_IN:06d}.jsonl")
            with target.open_write() as out:
                for index, row in _merge(sources[group_start:group_start + FAN_IN]):
                    out.write(b"%d\t%s" % (index, row))
            merged.append(target)
        sources, level = merged, level + 1
    expected = 0
    with destination.open_write() as out:
        for index, row in _merge(sources):
            if index < expected:
                continue  # a row seen twice (cannot happen with one ledger; harmless if it did)
            if index > expected:
                raise TelaBatchStateError(
                    f"Results of records {expected}..{index - 1} are missing from the batch's parts in "
                    f"{state_dir.uri}; the results file was not completed."
                )
            out.write(row)
            expected += 1
        if expected != total:
            raise TelaBatchStateError(
                f"Results of records {expected}..{total - 1} are missing from the batch's parts in {state_dir.uri}."
            )
