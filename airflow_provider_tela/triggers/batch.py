"""TelaBatchTrigger: runs a whole batch in the triggerer's event loop, freeing the worker slot."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class TelaBatchTrigger(BaseTrigger):
    """Run the batch planned in ``state_uri`` (its ``plan.json``) to its end; yield its manifest.

    The kwargs are the state folder's URI and the connection id, whatever the batch's size: the
    records, the request and the ledger live in the state folder. A triggerer that restarts creates
    the trigger again from these kwargs, and the engine resumes from the ledger: finished records are
    kept, runs already submitted are re-attached, none is submitted twice.

    Yields one event: ``{"status": "success", "manifest": {...}}``, or ``{"status": "error",
    "error_type", "message", ...}`` naming the error class the task raises.
    """

    def __init__(self, state_uri: str, tela_conn_id: str = "tela_default") -> None:
        super().__init__()
        self.state_uri = state_uri
        self.tela_conn_id = tela_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("airflow_provider_tela.triggers.batch.TelaBatchTrigger",
                {"state_uri": self.state_uri, "tela_conn_id": self.tela_conn_id})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # Imported in a thread: the first import (aiohttp, pydantic models) would block the loop.
        engine = await asyncio.to_thread(importlib.import_module, "airflow_provider_tela._batch.engine")
        hooks = await asyncio.to_thread(importlib.import_module, "airflow_provider_tela.hooks.tela")
        from airflow_provider_tela.errors import TelaError, error_to_event

        try:
            plan = await asyncio.to_thread(engine.BatchPlan.load, self.state_uri)
            async with hooks.TelaAsyncHook(self.tela_conn_id) as hook:
                manifest = await engine.BatchEngine(plan, hook, self.log).run()
        except TelaError as exc:
            yield TriggerEvent({"status": "error", **error_to_event(exc)})
            return
        yield TriggerEvent({"status": "success", "manifest": manifest})
