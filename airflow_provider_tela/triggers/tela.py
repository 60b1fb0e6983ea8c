"""TelaRunTrigger: waits for a canvas run in the triggerer, without holding a worker slot."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

# Event payloads are stored in the metadata database: big outputs are fetched by the task instead.
MAX_INLINE_CONTENT_BYTES = 64 * 1024


class TelaRunTrigger(BaseTrigger):
    """Poll a run until it succeeded or failed, or until ``end_time`` (a Unix timestamp) passed.

    Its kwargs hold only the run id, the connection id and timing: the triggerer resolves the
    connection itself, so the API key never lands in the trigger table. The wait is the same state
    machine the worker drives: throttling, server errors and dropped connections are retried until
    the deadline, unknown statuses are read as "not finished", and the timeout event comes at the
    deadline whatever the server does.

    Yields exactly one event: ``{"status": "success", "run_id", "usage", "content"}`` (``content``
    left out, with ``"content_inline": false``, when it is too big for the database),
    ``{"status": "failed" | "timeout", "run_id", "message" | "last_status"}``, or
    ``{"status": "error", "run_id", "error_type", "message", ...}`` naming the error class the task raises.
    """

    def __init__(
        self,
        run_id: str,
        tela_conn_id: str = "tela_default",
        poll_interval: float = 10.0,
        end_time: float | None = None,
        first_poll_in: float = 0.0,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.tela_conn_id = tela_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = end_time
        self.first_poll_in = float(first_poll_in)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_tela.triggers.tela.TelaRunTrigger",
            {
                "run_id": self.run_id,
                "tela_conn_id": self.tela_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "first_poll_in": self.first_poll_in,
            },
        )

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
        from airflow_provider_tela._wait import RunWait, adrive
        from airflow_provider_tela.errors import TelaError, error_to_event

        now = time.time()
        wait = RunWait(self.run_id, poll_interval=self.poll_interval, deadline=self.end_time,
                       first_poll_at=now + self.first_poll_in)
        try:
            finished = await adrive(
                wait, lambda budget: hook.poll_run(self.run_id, deadline=Deadline.after(budget)),
                clock=time.time, log=self.log,
            )
        except TelaError as exc:  # resolving the connection: a bad key or host in it
            return {"status": "error", "run_id": self.run_id, **error_to_event(exc)}
        if finished.outcome == "succeeded":
            return self._success(finished.run)
        if finished.outcome == "failed":
            return {"status": "failed", "run_id": self.run_id, "message": finished.run.failure_reason()}
        if finished.outcome == "timeout":
            return {"status": "timeout", "run_id": self.run_id, "last_status": finished.last_status}
        assert finished.error is not None
        return {"status": "error", "run_id": self.run_id, **error_to_event(finished.error)}

    def _success(self, run: Any) -> dict[str, Any]:
        event = {"status": "success", "run_id": self.run_id, "usage": run.usage}
        content = run.content
        if len(json.dumps(content, default=str)) <= MAX_INLINE_CONTENT_BYTES:
            event["content"] = content
            event["content_inline"] = True
        else:
            event["content_inline"] = False
        return event
