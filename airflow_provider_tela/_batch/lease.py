"""One engine per state folder: an exclusive lease, held for the engine's whole life.

Two engines on one ledger would each submit the records the other has not yet recorded: a triggerer
that lost its heartbeat but keeps running while another triggerer takes its trigger over, a zombie
worker still running while its retry starts. The lease makes the second one wait until the first
has stopped (and its last ledger writes are durable), then resume from the ledger like any retry.

- A local folder: ``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``engine.lock``. The kernel frees the lock
  when its holder exits or is killed, so a waiting engine never waits for a dead one. (flock is per
  open file: two engines in one process exclude each other too.)
- Object storage has no lock and, in general, no conditional create: ``lease.json`` names its owner
  (a random id per engine) and an expiry on the wall clock, renewed every ``ttl / 4``. An engine
  finding a live lease that is not its own waits until it is released or expires. It takes a free
  or expired lease by writing its own, waiting ``settle`` seconds and reading it back: the last
  writer wins, the other sees a stranger's lease and waits. An engine that could not renew its lease
  within three quarters of the lease (or finds a stranger's lease when renewing) stops submitting (a retryable
  ``TelaBatchStateError``). The residual race: two engines that read an expired lease within
  ``settle`` seconds of each other and both read back their own (a store without read-after-write
  consistency, or a write slower than ``settle``) can both run until the next renewal, one of them
  then stopping; README's batch limits say so.

Every method blocks (I/O); the engine calls them through ``asyncio.to_thread``. A storage failure
while taking a lease is a ``TelaBatchStateError`` (retryable), whoever waits for it (``try_acquire``);
what a wait logs is ``LeaseWait``'s, for the engine's async wait and ``acquire_blocking`` alike.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import IO, Any

from airflow_provider_tela._storage import Location
from airflow_provider_tela.errors import TelaBatchStateError

LOCK_FILE = "engine.lock"
LEASE_FILE = "lease.json"
LEASE_TTL = 60.0
LEASE_SETTLE = 2.0
# How often a wait for a lease held by another engine says, again, that it still waits.
LEASE_NOTE_EVERY = 300.0


def _holder() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


class _Lease:
    folder: Location

    def try_acquire(self) -> str | None:
        """None once the lease is ours; else who holds it. The storage failing is a ``TelaBatchStateError``."""
        try:
            return self._take()
        except OSError as exc:
            raise TelaBatchStateError(
                f"Could not take the batch's lease in {self.folder.uri} ({type(exc).__name__}: {exc})."
            ) from None

    def _take(self) -> str | None:
        raise NotImplementedError


class LocalLease(_Lease):
    """flock on a file in a local state folder."""

    renew_every: float | None = None

    def __init__(self, state_dir: Location) -> None:
        self.folder = state_dir
        self.location = state_dir.child(LOCK_FILE)
        self._file: IO[str] | None = None

    def _take(self) -> str | None:
        """None once held; else who holds it (as far as the lock file says)."""
        import fcntl

        if self._file is not None:
            return None
        self.location.make_parents()
        stream = open(self.location.uri, "a+")  # noqa: SIM115 - held open for the engine's life
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.seek(0)
            holder = stream.read().strip() or "another engine"
            stream.close()
            return holder
        except BaseException:
            stream.close()
            raise
        stream.seek(0)
        stream.truncate()
        stream.write(json.dumps(_holder()))
        stream.flush()
        self._file = stream
        return None

    def renew(self) -> None:
        return None

    def check(self) -> None:
        return None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the last descriptor drops the flock
            self._file = None


class ObjectLease(_Lease):
    """A lease object with an owner and an expiry, renewed while the engine runs.

    ``renew`` and ``release`` exclude each other: the engine's heartbeat cannot stop a renew already
    running in its thread, and a renew writing after ``release`` deleted the lease would bring it
    back, holding the next try off for up to ``ttl``. ``release`` waits for a renew in flight, and a
    renew after ``release`` does nothing.
    """

    def __init__(self, state_dir: Location, *, ttl: float = LEASE_TTL, settle: float = LEASE_SETTLE,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, owner: str | None = None) -> None:
        self.folder = state_dir
        self.location = state_dir.child(LEASE_FILE)
        self.ttl = ttl
        self.settle = settle
        self.clock = clock
        self.monotonic = monotonic
        self.sleep = sleep
        self.owner = owner or uuid.uuid4().hex
        self.renew_every: float | None = ttl / 4
        self.held_until: float | None = None  # on our monotonic clock: past it, another may take over
        self._renewing = threading.Lock()
        self._released = False

    def _read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.location.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            return None  # a torn or foreign object: treated as no lease (it names no live owner)
        return data if isinstance(data, dict) else None

    def _write(self) -> float:
        started = self.monotonic()
        self.location.write_bytes(json.dumps(
            {"owner": self.owner, "expires_at": self.clock() + self.ttl, **_holder()}
        ).encode())
        # This engine stops submitting a quarter of the lease before others may take it over: slack
        # for a slow write and for clocks that disagree between hosts.
        return started + self.ttl * 0.75

    def _live_stranger(self, lease: dict[str, Any] | None) -> bool:
        if lease is None or lease.get("owner") == self.owner:
            return False
        expires = lease.get("expires_at")
        return isinstance(expires, (int, float)) and expires > self.clock()

    @staticmethod
    def _describe(lease: dict[str, Any]) -> str:
        return (f"engine {lease.get('owner')} on {lease.get('host')} (pid {lease.get('pid')}), lease until "
                f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(float(lease.get('expires_at') or 0)))}")

    def _take(self) -> str | None:
        current = self._read()
        if self._live_stranger(current):
            assert current is not None
            return self._describe(current)
        held_until = self._write()
        self.sleep(self.settle)  # another engine that read the same free lease writes within this
        current = self._read()
        if current is None or current.get("owner") != self.owner:
            return self._describe(current) if current else "another engine (it took the lease meanwhile)"
        with self._renewing:
            self._released = False
            self.held_until = held_until
        return None

    def renew(self) -> None:
        """Extend the lease; a stranger's lease means this engine was presumed dead: it must stop."""
        with self._renewing:
            if self._released:
                return  # a renew that started before release: writing now would take the lease again
            current = self._read()
            if current is not None and current.get("owner") != self.owner:
                self.held_until = None
                raise TelaBatchStateError(
                    f"The batch's lease {self.location.uri} was taken over by {self._describe(current)}: this "
                    "engine stops submitting, and the other resumes the ledger."
                )
            self.held_until = self._write()

    def check(self) -> None:
        """Before a submission: is the lease still surely ours?"""
        if self.held_until is None or self.monotonic() >= self.held_until:
            raise TelaBatchStateError(
                f"The batch's lease {self.location.uri} could not be renewed in time: another engine may have "
                "taken the batch over, so this one stops submitting. A retry resumes from the ledger."
            )

    def release(self) -> None:
        with self._renewing:  # waits for a renew in flight
            self._released = True
            if self.held_until is None:
                return
            self.held_until = None
            current = self._read()
            if current is not None and current.get("owner") == self.owner:
                self.location.delete()


Lease = LocalLease | ObjectLease


def lease_for(state_dir: Location, **options: Any) -> Lease:
    return LocalLease(state_dir) if state_dir.is_local else ObjectLease(state_dir, **options)


class LeaseWait:
    """What a wait for a lease says: who holds it, at first and every ``note_every`` seconds after; and
    that the folder is free again once it is. The caller asks (``try_acquire``) and sleeps."""

    def __init__(self, lease: Lease, log: Any, *, then: str, monotonic: Callable[[], float] = time.monotonic,
                 note_every: float = LEASE_NOTE_EVERY) -> None:
        self.lease = lease
        self.log = log
        self.then = then
        self.monotonic = monotonic
        self.note_every = note_every
        self.noted_at: float | None = None

    def answered(self, holder: str | None) -> bool:
        """True once ``try_acquire`` answered that the lease is ours; else it says (now and then) who has it."""
        if holder is None:
            if self.noted_at is not None:
                self.log.info("The state folder %s is free again: %s.", self.lease.folder.uri, self.then)
            return True
        now = self.monotonic()
        if self.noted_at is None or now - self.noted_at >= self.note_every:
            self.log.warning(
                "Tela batch waits: its state folder %s is in use by %s (an earlier try, or another triggerer, "
                "still running that batch). Nothing is submitted until it stops; then %s.",
                self.lease.folder.uri, holder, self.then,
            )
            self.noted_at = now
        return False


def acquire_blocking(lease: Lease, log: Any, *, poll: float = 2.0, sleep: Callable[[float], None] = time.sleep,
                     monotonic: Callable[[], float] = time.monotonic, then: str = "this try goes on") -> None:
    """Wait (in a worker, blocking) until the lease is ours."""
    wait = LeaseWait(lease, log, then=then, monotonic=monotonic)
    while not wait.answered(lease.try_acquire()):
        sleep(poll)
