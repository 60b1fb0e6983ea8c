"""TelaRunTrigger: waits for a canvas run in the triggerer, without holding a worker slot."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from typing import Any, AsyncIterator

from airflow.triggers.base import BaseTrigger, TriggerEvent

# Event payloads are stored in the metadata database: big outputs are fetched by the task instead.
MAX_INLINE_CONTENT_BYTES = 64 * 1024


class TelaRunTrigger(BaseTrigger):
    """Poll a run until it succeeded or failed, or until ``end_time`` (a Unix timestamp) passed.

    Its kwargs hold only the run id, the connection id and timing: the triggerer resolves the
    connection itself, so the API key never lands in the trigger table. Throttling, server errors
    and dropped connections are retried until the deadline instead of failing the task.

    Yields exactly one event: ``{"status": "success", "run_id", "usage", "content"}`` (``content``
    left out, with ``"content_inline": false``, when it is too big for the database), or
    ``{"status": "failed" | "timeout" | "error", "run_id", "message"}``.
    """

    def __init__(
        self,
        run_id: str,
        tela_conn_id: str = "tela_default",
        poll_interval: float = 10.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.tela_conn_id = tela_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_tela.triggers.tela.TelaRunTrigger",
            {
                "run_id": self.run_id,
                "tela_conn_id": self.tela_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
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
        """Poll until the run ends or the deadline passes; return the one event to yield."""
        from airflow_provider_tela._http.polling import poll_delay, run_finished
        from airflow_provider_tela.errors import (
            TelaConnectionError,
            TelaError,
            TelaRateLimitError,
            TelaRunFailedError,
            TelaServerError,
        )

        transient = (TelaConnectionError, TelaRateLimitError, TelaServerError)
        poll_number = 0
        last_status = None
        while True:
            try:
                run = await hook.poll_run(self.run_id)
                last_status = str(run.status)
                if run_finished(run):
                    return self._success(run)
            except TelaRunFailedError as exc:
                return {"status": "failed", "run_id": self.run_id, "message": exc.reason}
            except transient as exc:
                self.log.warning("Tela run %s: transient error, will poll again: %s", self.run_id, exc)
            except TelaError as exc:
                return {"status": "error", "run_id": self.run_id, "message": str(exc)}
            delay = poll_delay(poll_number, self.poll_interval)
            poll_number += 1
            if self.end_time is not None and time.time() + delay > self.end_time:
                remaining = self.end_time - time.time()
                if remaining <= 0:
                    return {"status": "timeout", "run_id": self.run_id, "last_status": last_status}
                delay = remaining
            await asyncio.sleep(delay)

    def _success(self, run: Any) -> dict[str, Any]:
        event = {"status": "success", "run_id": self.run_id, "usage": run.usage}
        content = run.content
        if len(json.dumps(content, default=str)) <= MAX_INLINE_CONTENT_BYTES:
            event["content"] = content
            event["content_inline"] = True
        else:
            event["content_inline"] = False
        return event
