"""TelaRunTrigger: waits for a canvas run in the triggerer, without holding a worker slot."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_tela._types import Kind, WaitFor

# Event payloads are stored in the metadata database: big outputs are fetched by the task instead.
MAX_INLINE_CONTENT_BYTES = 64 * 1024
# The deferral's own timeout, past the trigger's deadline: it fails the task if the trigger is lost.
DEFER_BACKSTOP_MARGIN = 120.0


def backstop(timeout: float, poll_interval: float) -> timedelta:
    """The ``timeout`` a task defers with to a trigger whose own deadline is ``timeout`` from now."""
    return timedelta(seconds=timeout + max(DEFER_BACKSTOP_MARGIN, 2 * poll_interval))


class TelaRunTrigger(BaseTrigger):
    """Poll a run until it succeeded or failed, or until ``end_time`` (a Unix timestamp) passed.

    ``schedule`` (a sensor's: ``poke_interval``, ``exponential_backoff``, ``max_wait``, ``seed``) spaces
    the checks as the sensor's other modes do; without it they back off from ``first_poll_in`` to
    ``poll_interval``. ``patient``: an answer that cannot be read is "not yet" however many come (a
    sensor's rule, the same in its every mode), not an error after five in a row.

    Its kwargs hold only the run id, the connection id and timing: the triggerer resolves the
    connection itself, so the API key never lands in the trigger table. The wait is the same state
    machine the worker drives: throttling, server errors and dropped connections are retried until
    the deadline, unknown statuses are read as "not finished", and the timeout event comes at the
    deadline whatever the server does.

    Yields exactly one event: ``{"status": "success", "run_id", "usage", "content"}`` (``content``
    left out, with ``"content_inline": false``, when it is too big for the database),
    ``{"status": "failed", "run_id", "message", "usage"}``, ``{"status": "timeout", "run_id", "last_status"}``, or
    ``{"status": "error", "run_id", "error_type", "message", ...}`` naming the error class the task raises.
    """

    def __init__(
        self,
        run_id: str,
        tela_conn_id: str = "tela_default",
        poll_interval: float = 10.0,
        end_time: float | None = None,
        first_poll_in: float = 0.0,
        schedule: dict[str, Any] | None = None,
        patient: bool = False,
    ) -> None:
        from airflow_provider_tela._ids import plain_id

        super().__init__()
        self.run_id = plain_id(run_id, self._id_name)
        self.tela_conn_id = tela_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = end_time
        self.first_poll_in = float(first_poll_in)
        self.schedule = schedule
        self.patient = patient

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "run_id": self.run_id,
            "tela_conn_id": self.tela_conn_id,
            "poll_interval": self.poll_interval,
            "end_time": self.end_time,
            "first_poll_in": self.first_poll_in,
        }
        if self.schedule:
            kwargs["schedule"] = self.schedule
        if self.patient:
            kwargs["patient"] = True
        return "airflow_provider_tela.triggers.tela.TelaRunTrigger", kwargs

    # What is waited for: a run (here), or a Workstation task (TelaTaskTrigger).
    _id_name = "run_id"
    kind: Kind = "run"
    wait_for: WaitFor = "output"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # Imported in a thread: DAG files stay light, and the first import (aiohttp, the models)
        # would otherwise block the triggerer's event loop for about 0.3 s.
        hooks = await asyncio.to_thread(importlib.import_module, "airflow_provider_tela.hooks.tela")
        async with hooks.TelaAsyncHook(self.tela_conn_id) as hook:
            event = await self._wait(hook)
        yield TriggerEvent(event)

    async def _wait(self, hook: Any) -> dict[str, Any]:
        """Drive the wait to its end; return the one event to yield."""
        from airflow_provider_tela._http.deadline import Deadline
        from airflow_provider_tela._wait import MAX_BAD_ANSWERS, RunWait, SensorSchedule, adrive, ends_for
        from airflow_provider_tela.errors import TelaError, error_to_event

        now = time.time()
        wait = RunWait(self.run_id, poll_interval=self.poll_interval, deadline=self.end_time,
                       first_poll_at=now + self.first_poll_in,
                       schedule=SensorSchedule(**self.schedule) if self.schedule else None,
                       max_bad_answers=None if self.patient else MAX_BAD_ANSWERS,
                       ends=ends_for(self.kind, self.wait_for))
        try:
            finished = await adrive(
                wait, lambda budget: hook.poll(self.kind, self.run_id, deadline=Deadline.after(budget)),
                clock=time.time, log=self.log,
            )
        except TelaError as exc:  # resolving the connection: a bad key or host in it
            return {"status": "error", "run_id": self.run_id, **error_to_event(exc)}
        if finished.outcome == "succeeded":
            return self._success(finished.run)
        if finished.outcome == "failed":
            return {"status": "failed", "run_id": self.run_id, "message": finished.run.failure_reason(),
                    "usage": finished.run.usage}
        if finished.outcome == "timeout":
            return {"status": "timeout", "run_id": self.run_id, "last_status": finished.last_status}
        assert finished.error is not None
        return {"status": "error", "run_id": self.run_id, **error_to_event(finished.error)}

    def _success(self, run: Any) -> dict[str, Any]:
        event = {"status": "success", "run_id": self.run_id, "usage": run.usage}
        if self.kind == "task":
            event["task"] = run.review
        from airflow_provider_tela._results import storable

        content = storable(run.content, self.log, f"Tela {self.kind} {self.run_id}")
        if len(json.dumps(content, default=str)) <= MAX_INLINE_CONTENT_BYTES:
            event["content"] = content
            event["content_inline"] = True
        else:
            event["content_inline"] = False
        return event


class TelaTaskTrigger(TelaRunTrigger):
    """Poll a Workstation task until its output is there (``wait_for="output"``: in review or completed)
    or it was approved (``"approval"``: completed), or it failed or was cancelled; the same wait as a
    run's. The success event adds ``"task"``: its review (status, approved at and by, edited, ...)."""

    _id_name = "tela_task_id"
    kind: Kind = "task"

    def __init__(self, tela_task_id: str, tela_conn_id: str = "tela_default", poll_interval: float = 10.0,
                 end_time: float | None = None, first_poll_in: float = 0.0, schedule: dict[str, Any] | None = None,
                 patient: bool = False, wait_for: WaitFor = "output") -> None:
        super().__init__(tela_task_id, tela_conn_id, poll_interval, end_time, first_poll_in, schedule, patient)
        self.wait_for = wait_for

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = dict(super().serialize()[1])
        kwargs["tela_task_id"] = kwargs.pop("run_id")
        kwargs["wait_for"] = self.wait_for
        return "airflow_provider_tela.triggers.tela.TelaTaskTrigger", kwargs
