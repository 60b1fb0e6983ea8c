"""The batch engine: every record of a plan submitted once, waited for, and written as a row.

One asyncio engine, two drivers: the operator runs it with ``asyncio.run`` in the worker, or defers
to ``TelaBatchTrigger``, which runs it in the triggerer's event loop. Nothing here blocks the loop:
reading records, writing parts and the ledger, and merging run in threads.

Per record, within its own ``timeout`` (counted from its first submission attempt):

1. wait for a concurrency slot (``AdaptiveLimiter``) and for any Retry-After pause;
2. make its intent durable in the ledger, then POST it once (``retries=False``): a refusal Tela did
   not act on (429, 503, 408, not sent) is retried by this engine after Retry-After or the transport's
   backoff, and shrinks the concurrency window; an answer that may hide a run (500, 502, 504, a cut
   connection) follows ``on_ambiguous``; a 400/422 fails the record; a 401/403/404/TLS failure or a
   redirect ends the batch (every record would meet it);
3. record the run id (group commit) and wait for the run with the same ``RunWait`` machine as the
   single-run operator, first checking it when runs of this batch are usually done;
4. buffer its row; rows are committed as sorted parts and merged into ``results.jsonl`` at the end.

One engine per state folder (``batch.lease``): an engine finding the folder's lease held (an
earlier try or another triggerer still running the batch) waits until it is free, submitting nothing,
then resumes from the ledger. An engine that loses its lease (object storage) stops submitting.

Stopping (the trigger cancelled, the worker interrupted, a fatal error): POSTs in flight are given a
few seconds to answer so their run ids are recorded, buffered rows are committed, the ledger is
flushed; then the stop goes on. A killed process skips all that and loses nothing either: at most
``concurrency`` records are left with an intent and no run id (ambiguous), everything else is
re-attached or already done.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from itertools import islice
from typing import Any

from airflow_provider_tela._batch.lease import Lease, LeaseWait, lease_for
from airflow_provider_tela._batch.ledger import DONE, INTENT, SUBMITTED, Ledger, durable
from airflow_provider_tela._batch.limiter import AdaptiveLimiter
from airflow_provider_tela._batch.plan import BatchPlan
from airflow_provider_tela._batch.progress import DurationEstimate, Progress
from airflow_provider_tela._batch.records import Record, canonical, iter_records
from airflow_provider_tela._batch.rows import PartWriter, encode_row, merge_parts
from airflow_provider_tela._batch.spend import Spend
from airflow_provider_tela._http import sending
from airflow_provider_tela._http.deadline import Deadline
from airflow_provider_tela._http.retry import RetryPolicy
from airflow_provider_tela._types import Kind
from airflow_provider_tela._wait import Finished, RunWait, adrive, ends_for
from airflow_provider_tela.errors import (
    TelaAuthenticationError,
    TelaBadRequestError,
    TelaBatchStateError,
    TelaClientError,
    TelaConfigError,
    TelaConnectionError,
    TelaError,
    TelaNotFoundError,
    TelaRateLimitError,
    TelaRunMayExistError,
    TelaServerError,
    TelaTimeoutError,
    TelaTLSError,
)

READ_CHUNK = 256
# How long a stopping batch waits for POSTs in flight (to record their run ids) and its last writes.
STOP_GRACE = 10.0
# Beyond it, for the stopping records to write down what their POSTs came to, before the last writes.
STOP_MARGIN = 0.5
# How often an engine waiting for the state folder's lease asks again.
LEASE_POLL = 1.0


class _Quiet:
    """Per-run notes of the wait machine go to debug: 100,000 runs must not mean 200,000 log lines."""

    def __init__(self, log: Any) -> None:
        self.info = self.warning = log.debug


def ends_batch(error: TelaError) -> bool:
    """An error of a status check that no record can get past (the key, TLS, a redirect)."""
    if isinstance(error, (TelaAuthenticationError, TelaTLSError)):
        return True
    return isinstance(error, TelaClientError) and not isinstance(error, (TelaNotFoundError, TelaBadRequestError))


def _refused(error: TelaError) -> bool:
    """A submission Tela surely did not act on (throttled, unavailable, not sent): safe to send again."""
    return isinstance(error, (TelaRateLimitError, TelaServerError, TelaConnectionError)) and error.transient


async def _records(source: Any) -> AsyncIterator[Record]:
    """The records, read in chunks in a thread (reading a file or object storage blocks)."""
    iterator: Iterator[Record] = iter_records(source)
    while True:
        try:
            chunk = await asyncio.to_thread(lambda: list(islice(iterator, READ_CHUNK)))
        except TelaConfigError as exc:  # read fine before the batch began: a retry resumes it, never fatal
            raise TelaBatchStateError(f"The records could not be read again while the batch ran: {exc}") from None
        if not chunk:
            return
        for record in chunk:
            yield record


class BatchEngine:
    """Runs one plan to its end (``run``) and returns the manifest."""

    def __init__(self, plan: BatchPlan, hook: Any, log: logging.Logger | Any, *, stop_grace: float = STOP_GRACE,
                 policy: RetryPolicy | None = None, lease: Lease | None = None, lease_poll: float = LEASE_POLL) -> None:
        self.plan = plan
        self.hook = hook
        self.log = log
        self.quiet = _Quiet(log)
        self.stop_grace = stop_grace
        self.limiter = AdaptiveLimiter(plan.concurrency)
        self.estimate = DurationEstimate()
        self.policy = policy or RetryPolicy()  # backoff after refused submissions (no Retry-After)
        # What each record creates: a canvas run, or a task of a Workstation app (whose output it waits for).
        self.kind: Kind = "task" if plan.spec.application_id else "run"
        self.ends = ends_for(self.kind)
        self.stop_reason: str | None = None
        self.fatal: BaseException | None = None
        self.resumed: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.lease = lease if lease is not None else lease_for(plan.state_dir)
        self.lease_poll = lease_poll
        self.cost_unread = 0  # succeeded runs of this engine whose cost is estimated (said once)
        self.refused: dict[str, int] = {}  # submissions Tela refused without acting (429, 503, unreachable)

    # --- the batch ---------------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        await self._acquire_lease()
        heartbeat = asyncio.ensure_future(self._heartbeat())
        try:
            return await self._run()
        finally:
            heartbeat.cancel()
            try:
                await asyncio.to_thread(self.lease.release)
            except Exception as exc:  # noqa: BLE001 - an unreleased lease expires; the batch's outcome stands
                self.log.warning("Could not release the batch's lease (%s: %s); it expires by itself.",
                                 type(exc).__name__, exc)

    async def _acquire_lease(self) -> None:
        wait = LeaseWait(self.lease, self.log, then="this engine resumes from its ledger")
        while not wait.answered(await asyncio.to_thread(self.lease.try_acquire)):
            await asyncio.sleep(self.lease_poll)

    async def _heartbeat(self) -> None:
        every = self.lease.renew_every
        if every is None:
            return
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self.lease.renew)
            except TelaBatchStateError as exc:
                self._fail(exc)
                return
            except Exception as exc:  # noqa: BLE001 - tried again; check() stops submissions once it expires
                self.log.warning("Could not renew the batch's lease (%s: %s); trying again.", type(exc).__name__, exc)

    def _fail(self, error: BaseException) -> None:
        if self.fatal is None:
            self.fatal = error
            for other in self._tasks:  # the batch stops: every other record stops too (see _stop)
                other.cancel()

    async def _run(self) -> dict[str, Any]:
        plan = self.plan
        self.ledger = await asyncio.to_thread(Ledger.open, plan.state_dir, plan.total)
        state = self.ledger.state
        self.writer = PartWriter(plan.state_dir, self.ledger, state.next_part)
        stats = state.stats
        self.progress = Progress(  # (the spend counts what earlier folders' runs cost: batch.carry)
            plan.total, time.monotonic(), done=state.count(DONE), failed=stats["failed"],
            ambiguous=stats["ambiguous"], skipped=stats["skipped"],
            spend=Spend.from_stats(stats).plus(state.carried_spend()),
        )
        in_flight = dict(state.run_ids)
        if self.progress.done or in_flight or state.count(INTENT):
            self.resumed = {"done": self.progress.done, "reattached": len(in_flight),
                            "ambiguous": state.count(INTENT) if plan.on_ambiguous != "resubmit" else 0}
            self.log.info(
                "Resuming Tela batch from its ledger in %s: %d records done, %d runs to re-attach, %d sent "
                "without a recorded answer (on_ambiguous=%r)", plan.state_uri, self.progress.done, len(in_flight),
                state.count(INTENT), plan.on_ambiguous,
            )
        self.log.info("Tela batch: %d records, up to %d at a time; ledger and parts in %s", plan.total,
                      plan.concurrency, plan.state_uri)
        self._check_budget()
        reporter = asyncio.ensure_future(self._report())
        try:
            await self.hook.transport()  # resolve the connection once, not in each of the first requests
            await self._schedule(self.ledger.initial, in_flight)
            await self.writer.commit()
            await self.ledger.flush()
        except BaseException:
            await self._stop()
            raise
        finally:
            reporter.cancel()
            self.ledger.close()
        self.log.info("%s", self.progress.line(time.monotonic()))
        try:
            await asyncio.to_thread(
                merge_parts, plan.state_dir, [entry[1] for entry in self.ledger.state.parts], plan.results, plan.total
            )
        except OSError as exc:
            raise TelaBatchStateError(
                f"Could not write {plan.results.uri} ({type(exc).__name__}: {exc}); every row is kept in the "
                f"batch's parts under {plan.state_uri}, and a retry merges them again without resubmitting."
            ) from None
        return self.manifest()

    async def _schedule(self, initial: bytes, in_flight: dict[int, str]) -> None:
        keys = dict(self.ledger.state.keys)
        for index, run_id in in_flight.items():
            await self.limiter.acquire()
            self._start(self._reattach(index, run_id, keys.get(index)))
        digest_ok = await self._feed(initial)
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        if self.fatal is not None:
            raise self.fatal
        if not digest_ok:
            raise TelaBatchStateError(
                f"The records read by the batch differ from those checked before it started (the input at "
                f"{self.plan.records.uri if self.plan.records else 'the inline list'} changed while the batch ran)."
            )

    async def _feed(self, initial: bytes) -> bool:
        """Start every record that is not done; True if the records are those the plan fingerprinted."""
        digest = hashlib.sha256()
        count = started = 0
        async for record in _records(self.plan.source):
            if record.index >= self.plan.total:
                return False
            digest.update(canonical(record.variables) + b"\n")
            count += 1
            if self.fatal is not None:
                return True  # stopping: the fatal error is what the task reports
            status = initial[record.index]
            if status in (SUBMITTED, DONE):
                continue
            if status == INTENT and self.plan.on_ambiguous != "resubmit":
                self._ambiguous(record.index, "an earlier try sent this record and did not learn its answer",
                                self._request(record)[1])
                continue
            if self.stop_reason is None:
                await self.limiter.acquire()
                if self.fatal is not None:  # stopping: this record is left as it is, for a retry
                    self.limiter.release()
                    return True
                if self.stop_reason is None:
                    self._start(self._submit_and_wait(record, resubmit=status == INTENT))
                    started += 1
                    if started < self.plan.concurrency:
                        # The first window is spread over one run's duration: records started in one
                        # burst would finish, and start again, in bursts that queue on both sides.
                        await asyncio.sleep(self.estimate.seconds / self.plan.concurrency)
                    continue
                self.limiter.release()
            self._row(record.index, "skipped", error=self.stop_reason)
        return count == self.plan.total and digest.hexdigest() == self.plan.records_digest

    def _start(self, coroutine: Any) -> None:
        """Run a record's coroutine in its own task, holding the slot acquired for it until the task
        ends, however it ends: a task cancelled before it began (the batch stopping) runs no code of its
        own, not even a ``finally``, and a slot it never gave back would hold the feed forever."""
        self._track(coroutine).add_done_callback(lambda _: self.limiter.release())

    def _track(self, coroutine: Any) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._fail(error)

    async def _stop(self) -> None:
        """Record what can be recorded before the batch stops: each POST in flight has ``stop_grace`` to
        answer (see ``_post``), then the rows and the ledger have as long again to be written."""
        for task in self._tasks:
            if not task.cancelling():  # one already stopping is let use its grace (``_post``)
                task.cancel()
        try:
            if self._tasks:  # each ends within its own grace: the margin lets it record what it learnt
                await asyncio.wait(set(self._tasks), timeout=self.stop_grace + STOP_MARGIN)
            await asyncio.wait_for(self._write_out(), self.stop_grace + STOP_MARGIN)
        except BaseException as exc:  # noqa: BLE001 - stopping: nothing more can be done here
            self.log.warning("Tela batch stopped before its last writes completed (%s); a retry re-attaches "
                             "to every run the ledger names.", type(exc).__name__)

    async def _write_out(self) -> None:
        await self.writer.commit()
        await self.ledger.flush()

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(self.progress.interval)
            self.log.info("%s", self.progress.line(time.monotonic()))

    # --- one record ---------------------------------------------------------------------------------

    def _request(self, record: Record) -> tuple[Any, str | None]:
        """The record's request and its key; (the error's text, None) if it cannot be built."""
        try:
            request = self.plan.spec.request_for(record.variables)
        except TelaConfigError as exc:
            return str(exc), None
        return request, self.plan.spec.key_for(self.plan.tela_conn_id, request)

    async def _submit_and_wait(self, record: Record, *, resubmit: bool) -> None:
        index = record.index
        if resubmit:
            self.log.warning("Record %d was sent by an earlier try without a recorded answer; submitting it again "
                             "(on_ambiguous='resubmit'): its run may then exist twice.", index)
        request, key = self._request(record)
        if key is None:
            self._row(index, "failed", error=request)
            return
        deadline = time.monotonic() + self.plan.timeout
        submitted = await self._submit(index, request, deadline, key)
        if submitted is None:
            return
        run_id, sent_at = submitted
        recorded = self.ledger.append(["r", index, run_id, key])
        finished = await self._wait(run_id, first_check_at=sent_at + self.estimate.first_check_in(),
                                    deadline=deadline, sent_at=sent_at)
        await durable(recorded)  # the slot is freed only once the run id is durable
        self._finish(index, run_id, finished, key)

    async def _submit(self, index: int, request: Any, deadline: float, key: str) -> tuple[str, float] | None:
        """POST until Tela names a run; None when the record ended without one (its row is written)."""
        backoff = self.policy.steps()
        while True:
            if not await self.limiter.ready_to_send(deadline):
                self._row(
                    index, "failed", error="Tela kept refusing submissions (Retry-After) past the record's timeout"
                )
                return None
            self.lease.check()  # another engine may have taken the batch over: never send beside it
            try:
                await self.ledger.commit(["i", index, key])
            except BaseException:  # stopping, or the write failed: the POST is not sent, nothing to fear
                self.ledger.append(["x", index])  # (a failed write's intent is written again: this follows it)
                raise
            sent_at = time.monotonic()
            try:
                run = await self._post(index, request, deadline, key)
            except TelaRunMayExistError as exc:
                if exc.run_id:
                    self.log.warning("Record %d: %s", index, exc)
                    return exc.run_id, sent_at
                self.limiter.throttled(sent_at, None)
                if self.plan.on_ambiguous == "resubmit":
                    self.log.warning("Record %d: %s Resubmitting (on_ambiguous='resubmit').", index, exc)
                    continue
                self._ambiguous(index, str(exc), key)
                return None
            except TelaError as exc:
                self.ledger.append(["x", index])  # Tela answered without creating a run
                if not _refused(exc):
                    if isinstance(exc, TelaBadRequestError):
                        self._row(index, "failed", error=str(exc))
                        return None
                    raise  # 401, 403, 404 (the canvas), TLS, a redirect: every record would meet it
                reason = str(vars(exc).get("status_code") or "unreachable")
                self.refused[reason] = self.refused.get(reason, 0) + 1
                retry_after = getattr(exc, "retry_after", None)
                delay = backoff.delay(retry_after, self.policy.retry_after_max)
                self.limiter.throttled(sent_at, delay if retry_after else None)  # a Retry-After pauses them all
                if time.monotonic() + delay >= deadline:
                    self._row(index, "failed", error=str(exc))
                    return None
                await asyncio.sleep(delay)
                continue
            self.limiter.succeeded()
            if self.kind == "task" and run.task_id is None:  # a run no task of the app names: no task to follow
                app = self.plan.spec.application_id
                self._row(index, "failed", run_id=run.run_id, key=key, error=(
                    f"Tela named completion run {run.run_id} and no task of application {app} lists it: the task "
                    "cannot be followed (the run is not submitted again)."))
                return None
            return (run.task_id if self.kind == "task" else run.id), sent_at

    async def _post(self, index: int, request: Any, deadline: float, key: str) -> Any:
        """Send the POST once. If the batch stops meanwhile, the request is let finish (a little while)
        so that the run it may create is recorded rather than left ambiguous; one that had not begun
        (waiting for the connection to be looked up) is dropped and its record left to send again."""
        mark = sending.SendMark()
        post = asyncio.ensure_future(self._watched(mark, request, deadline))
        try:
            return await asyncio.shield(post)
        except asyncio.CancelledError:
            try:
                await asyncio.wait({post}, timeout=self.stop_grace)
            finally:  # also when the grace itself is cut short (every task cancelled at once)
                self._posted(index, key, post, mark)
            raise

    def _posted(self, index: int, key: str, post: asyncio.Future[Any], mark: sending.SendMark) -> None:
        """Record what a POST the batch stopped came to: its run, no run, or (unknown) nothing."""
        if post.done() and not post.cancelled():
            error = post.exception()
            known = None if error is not None else (post.result().task_id if self.kind == "task" else post.result().id)
            if known is not None:
                self.ledger.append(["r", index, known, key])
            elif isinstance(error, TelaError) and not isinstance(error, TelaRunMayExistError):
                self.ledger.append(["x", index])
        elif not mark.began:  # stopped (or still waiting) before it began: it never can now
            post.cancel()
            self.ledger.append(["x", index])

    async def _watched(self, mark: sending.SendMark, request: Any, deadline: float) -> Any:
        sending.watch(mark)  # this task's own context: the transport raises the mark as it begins
        if self.kind == "task":
            return await self.hook.submit_task(request, deadline=Deadline(deadline), retries=False)
        return await self.hook.submit_request(request, deadline=Deadline(deadline), retries=False)

    async def _reattach(self, index: int, run_id: str, key: str | None) -> None:
        now = time.monotonic()
        finished = await self._wait(run_id, first_check_at=now, deadline=now + self.plan.timeout, sent_at=None)
        self._finish(index, run_id, finished, key)

    async def _wait(self, run_id: str, *, first_check_at: float, deadline: float, sent_at: float | None) -> Finished:
        wait = RunWait(run_id, poll_interval=self.plan.poll_interval, deadline=deadline, first_poll_at=first_check_at,
                       first_delay=self.estimate.check_delay(), ends=self.ends)
        last_active: list[float] = []
        clean = True  # a check that failed delays the next one: such a wait says nothing of the duration

        async def check(budget: float | None) -> Any:
            nonlocal clean
            try:
                run = await self.hook.poll(self.kind, run_id, deadline=Deadline.after(budget), cached=False)
            except TelaError:
                clean = False
                raise
            if self.ends.outcome(run.status) is None:
                last_active[:] = [time.monotonic()]
            return run

        finished = await adrive(wait, check, clock=time.monotonic, log=self.quiet)
        if clean and sent_at is not None and finished.outcome in ("succeeded", "failed"):
            now = time.monotonic()
            self.estimate.observe(now - sent_at, last_active[0] - sent_at if last_active else None,
                                  finished.run.usage.get("duration"))
        return finished

    # --- rows ---------------------------------------------------------------------------------------

    def _finish(self, index: int, run_id: str, finished: Finished, key: str | None) -> None:
        what = self.ends.what
        if finished.outcome == "succeeded":
            run = finished.run
            self._row(index, "succeeded", run_id=run_id, content=run.content, usage=run.usage, key=key,
                      task=run.review if self.kind == "task" else None)
        elif finished.outcome == "failed":
            run = finished.run
            self._row(index, "failed", run_id=run_id, error=f"Tela {what} {run_id} failed: {run.failure_reason()}",
                      usage=run.usage, key=key)
        elif finished.outcome == "timeout":
            timed_out = TelaTimeoutError(run_id, self.plan.timeout, finished.last_status, what)
            self._row(index, "failed", run_id=run_id, error=str(timed_out), key=key)
        else:
            error = finished.error
            if error is not None and ends_batch(error):
                raise error  # the key was refused, TLS failed: every record would meet it
            self._row(index, "failed", run_id=run_id, error=str(error), key=key)

    def _ambiguous(self, index: int, why: str, key: str | None) -> None:
        self._row(index, "ambiguous", error=(
            f"{why}: a run may exist in Tela (and be paid for) without this batch knowing its id; it was not "
            "resubmitted. Look for it in the canvas's runs in Tela."
        ), key=key)

    def _row(self, index: int, status: str, *, run_id: str | None = None, content: Any = None,
             error: str | None = None, usage: dict[str, Any] | None = None, key: str | None = None,
             task: dict[str, Any] | None = None) -> None:
        row = encode_row(index, status, run_id, content, error, usage, task)
        if self.writer.add(index, status, row, usage, key):
            self._track(self.writer.commit())
        if not self.progress.finished(status, (usage or {}).get("cost")):
            self._cost_unread(index, run_id)
        self._check_budget()

    def _cost_unread(self, index: int, run_id: str | None) -> None:
        """A paid run whose cost cannot be read (missing, drifted, not a finite non-negative number): it
        counts at an estimate (``batch.spend``), and the log says so, once per batch."""
        self.cost_unread += 1
        if self.cost_unread == 1:
            self.log.warning(
                "Tela run %s (record %d) succeeded, but its cost could not be read (information.cost is missing, "
                "or not a finite, non-negative number): the batch's cost%s counts it at the highest cost read from "
                "this batch's runs (or, before any was read, cannot count it), and the manifest's "
                "usage.costs_estimated says how many were estimated. Said once per batch: other runs may be alike.",
                run_id, index, " and its max_cost budget" if self.plan.max_cost is not None else "",
            )

    def _check_budget(self) -> None:
        max_cost, spend = self.plan.max_cost, self.progress.spend
        if max_cost is None or self.stop_reason is not None:
            return
        if spend.unpriced:
            self._set_stop(
                f"max_cost={max_cost:g} cannot be kept: {spend.costs_estimated} succeeded run(s) have a cost that "
                "could not be read, and no run of this batch has a readable cost to estimate it from"
            )
        elif spend.total >= max_cost:
            estimated = (f", {spend.costs_estimated} of the runs counted at {spend.cost_max:.6g} since their cost "
                         "could not be read" if spend.costs_estimated else "")
            self._set_stop(f"max_cost={max_cost:g} reached (spent {spend.total:.6g}{estimated})")

    def _set_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = f"not submitted: {reason}"
            self.log.warning(
                "Tela batch stops submitting records: %s; the records not yet started are skipped.", reason
            )

    def manifest(self) -> dict[str, Any]:
        stats = self.ledger.state.stats
        carried = self.ledger.state.carried_spend()
        spend = Spend.from_stats(stats).plus(carried)
        manifest: dict[str, Any] = {
            "output_uri": self.plan.results.uri,
            "total": self.plan.total,
            "succeeded": stats["succeeded"],
            "failed": stats["failed"],
            "ambiguous": stats["ambiguous"],
            "skipped": stats["skipped"],
            "usage": {"input_tokens": stats["input_tokens"], "output_tokens": stats["output_tokens"],
                      "cost": round(spend.total, 10), "costs_estimated": spend.costs_estimated},
            "state_uri": self.plan.state_uri,
        }
        if carried.costs_read or carried.costs_estimated:  # runs of earlier tries that no row holds
            manifest["usage"]["cost_carried"] = round(carried.cost + carried.costs_estimated * spend.cost_max, 10)
        if self.refused:
            manifest["throttling"] = {"refused": dict(self.refused), "decreases": self.limiter.window.decreases,
                                      "window_min": self.limiter.window.lowest}
        if stats["skipped"]:
            manifest["skipped_reason"] = self.stop_reason or "skipped by an earlier try: see the rows' error"
        if self.resumed:
            manifest["resumed"] = self.resumed
        return manifest
