"""A state store that fails on purpose: every write, append, rename, read, listing and delete a batch
makes through ``Location`` is one numbered *step*, and any step can fail, or fail after part of its
bytes, as a full disk, a quota or an object store cut off does.

``FaultStore`` keeps the files in memory (no disk, no fsync: thousands of batches a second) and
stands in for ``Location``'s storage while installed (``install(monkeypatch)``). It behaves as the
two kinds of storage the provider writes to: ``local=True``, a file system whose whole-file writes
are atomic (a temporary file, then a rename) and whose appends can stop at any byte; ``local=False``,
an object store that cannot append and whose uploads, cut off, may leave the bytes that arrived.

A ``Fault`` names the step and what happens there; ``persistent`` makes every later step fail too
(the disk stays full). ``dead`` instead kills the process at that step: that step and every later
one does nothing and raises ``Killed`` (a BaseException, which no code of the provider handles), and
the fake Tela refuses to hear from a dead process (``store.dead``): nothing it does after its death
reaches the storage or Tela.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from airflow_provider_tela._storage import Location

ROOT = "/fault-store"
KINDS = ("write", "append", "rename", "read", "list", "delete")


@dataclass(frozen=True)
class Fault:
    """At step ``at`` (1 = the first step once armed): ``keep(n)`` of the ``n`` bytes reach the storage
    (writes, appends) or are read (reads) before an OSError; ``keep=None`` fails before any byte.
    Only steps of a kind in ``kinds`` are counted."""

    at: int
    keep: Callable[[int], int] | None = None
    persistent: bool = False
    kinds: tuple[str, ...] = KINDS
    dead: bool = False
    label: str = ""


class Killed(BaseException):
    """The process died here (see ``Fault.dead``)."""


@dataclass
class Hit:
    step: int
    kind: str
    uri: str
    size: int
    kept: int | None  # bytes that reached the storage (or were read) before the error; None: none tried
    whole: bool  # everything reached the storage although the step failed


@dataclass
class FaultStore:
    local: bool = True
    files: dict[str, bytes] = field(default_factory=dict)
    fault: Fault | None = None
    steps: int = 0
    hits: list[Hit] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)  # (kind, uri) of every step once armed
    armed: bool = False
    dead: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- faults ---------------------------------------------------------------------------------

    def arm(self, fault: Fault | None) -> None:
        self.fault, self.steps, self.hits, self.log, self.armed, self.dead = fault, 0, [], [], True, False

    def disarm(self) -> None:
        self.fault, self.armed, self.dead = None, False, False

    def _step(self, kind: str, uri: str, size: int) -> int | None:
        """None: the step succeeds; else how many of its ``size`` bytes go through before it fails
        (-1: none, the step fails before it begins)."""
        with self._lock:
            if not self.armed:
                return None
            if self.dead:
                raise Killed("the process is dead")
            fault = self.fault
            if fault is None or kind not in fault.kinds:
                self.log.append((kind, uri))
                return None
            self.steps += 1
            self.log.append((kind, uri))
            if fault.dead and self.steps >= fault.at:
                self.dead = True
                raise Killed(f"killed at step {fault.at} ({kind} {uri})")
            failing = self.steps == fault.at or (fault.persistent and self.steps > fault.at)
            if not failing:
                return None
            first = self.steps == fault.at
            kept = fault.keep(size) if (first and fault.keep is not None) else None
            kept = None if kept is None else max(0, min(size, kept))
            self.hits.append(Hit(self.steps, kind, uri, size, kept, kept == size))
            return -1 if kept is None else kept

    @staticmethod
    def _fail(kind: str, uri: str) -> OSError:
        return OSError(28 if kind in ("write", "append", "rename") else 5, f"injected {kind} failure: {uri}")

    # --- files ------------------------------------------------------------------------------------

    def location(self, *names: str) -> Location:
        return Location.parse(str(Path(ROOT, *names)))

    def read(self, *names: str) -> bytes:
        return self.files[str(Path(ROOT, *names))]

    def write(self, data: bytes, *names: str) -> None:
        self.files[str(Path(ROOT, *names))] = data

    def listing(self, prefix: str = "") -> list[str]:
        return sorted(uri for uri in self.files if uri.startswith(str(Path(ROOT, prefix))))

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        store = self
        is_local = Location.is_local

        def ours(location: Location) -> bool:
            return location.uri == ROOT or location.uri.startswith(ROOT + "/")

        def wrap(name: str, replacement: Callable[..., Any]) -> None:
            original = getattr(Location, name)

            def method(location: Location, *args: Any, **kwargs: Any) -> Any:
                if ours(location):
                    return replacement(location, *args, **kwargs)
                return original(location, *args, **kwargs)

            monkeypatch.setattr(Location, name, method)

        monkeypatch.setattr(Location, "is_local", property(
            lambda location: store.local if ours(location) else is_local.fget(location)))
        wrap("exists", lambda location: location.uri in store.files or any(
            uri.startswith(location.uri + "/") for uri in store.files))
        wrap("make_parents", lambda location: None)
        wrap("open_read", store._open_read)
        wrap("read_bytes", store._read_bytes)
        wrap("children", store._children)
        wrap("open_write", store._open_write)
        wrap("write_bytes", store._write_bytes)
        wrap("append", store._append)
        wrap("delete", store._delete)

    # --- what Location does, in memory -----------------------------------------------------------------

    @contextmanager
    def _open_read(self, location: Location) -> Iterator[IO[bytes]]:
        data = self.files.get(location.uri)
        if data is None:
            raise FileNotFoundError(location.uri)
        kept = self._step("read", location.uri, len(data))
        if kept == -1:
            raise self._fail("read", location.uri)
        yield io.BufferedReader(_Reading(data, kept, location.uri))  # type: ignore[arg-type]

    def _read_bytes(self, location: Location) -> bytes:
        with self._open_read(location) as stream:
            return stream.read()

    def _children(self, location: Location) -> list[Location]:
        if self._step("list", location.uri, 0) is not None:
            raise self._fail("list", location.uri)
        prefix = location.uri.rstrip("/") + "/"
        names = sorted({uri[len(prefix):].split("/")[0] for uri in self.files if uri.startswith(prefix)})
        return [location.child(name) for name in names]

    @contextmanager
    def _open_write(self, location: Location) -> Iterator[IO[bytes]]:
        buffer = io.BytesIO()
        yield buffer
        self._write_bytes(location, buffer.getvalue())

    def _write_bytes(self, location: Location, data: bytes) -> None:
        uri = location.uri
        kept = self._step("write", uri, len(data))
        if self.local:  # a temporary file, then a rename: the file is old or new, never a part
            if kept is not None:
                raise self._fail("write", uri)
            renamed = self._step("rename", uri, len(data))
            if renamed is not None:
                if renamed == len(data):  # the rename happened, and then the error came
                    self.files[uri] = data
                raise self._fail("rename", uri)
            self.files[uri] = data
            return
        if kept is None:
            self.files[uri] = data
            return
        if kept > 0:  # an upload cut off: the object holds what arrived
            self.files[uri] = data[:kept]
        raise self._fail("write", uri)

    def _append(self, location: Location, data: bytes) -> None:
        if not self.local:
            raise TypeError(f"{location.uri} is in object storage, which cannot append")
        uri = location.uri
        kept = self._step("append", uri, len(data))
        if kept is None:
            self.files[uri] = self.files.get(uri, b"") + data
            return
        if kept > 0:
            self.files[uri] = self.files.get(uri, b"") + data[:kept]
        raise self._fail("append", uri)

    def _delete(self, location: Location) -> None:
        if self._step("delete", location.uri, 0) is not None:
            raise self._fail("delete", location.uri)
        self.files.pop(location.uri, None)


class _Reading(io.RawIOBase):
    """A file's bytes, failing with OSError after ``kept`` of them (None: never)."""

    def __init__(self, data: bytes, kept: int | None, uri: str) -> None:
        self.data, self.kept, self.uri, self.at = data, kept, uri, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        end = len(self.data) if self.kept is None else self.kept
        if self.at >= end and self.kept is not None and self.kept < len(self.data):
            raise OSError(5, f"injected read failure: {self.uri}")
        chunk = self.data[self.at:min(end, self.at + len(buffer))]
        buffer[:len(chunk)] = chunk
        self.at += len(chunk)
        return len(chunk)


class NullLease:
    """The engine's lease, when the test is about something else (leases have tests of their own)."""

    renew_every = None
    owner = "test"

    def try_acquire(self) -> None:
        return None

    def renew(self) -> None:
        return None

    def check(self) -> None:
        return None

    def release(self) -> None:
        return None


async def forever() -> None:
    await asyncio.Event().wait()
