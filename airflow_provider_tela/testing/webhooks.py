"""Delivery of finished runs to ``webhook_url`` the way Tela does it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from .runs import Run, webhook_payload

WEBHOOK_TIMEOUT = aiohttp.ClientTimeout(total=10)


class WebhookSender:
    """One task per webhook run sleeps until the run ends, then POSTs the payload once."""

    def __init__(self, on_attempt: Callable[[], None], on_result: Callable[[dict[str, Any]], None]) -> None:
        self._on_attempt = on_attempt
        self._on_result = on_result
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def schedule(self, run: Run, url: str, payload: Callable[[Run], dict[str, Any]] = webhook_payload) -> None:
        """POST ``payload(run)`` to ``url`` once the run ends (a canvas run's completion payload by default)."""
        task = asyncio.get_running_loop().create_task(self._deliver(run, url, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel_pending(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def aclose(self) -> None:
        self.cancel_pending()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _deliver(self, run: Run, url: str, payload: Callable[[Run], dict[str, Any]]) -> None:
        await asyncio.sleep(run.latency)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=WEBHOOK_TIMEOUT)
        self._on_attempt()
        outcome: dict[str, Any] = {"run_id": run.id, "url": url, "status": None, "ok": False, "error": None}
        try:
            async with self._session.post(
                url, json=payload(run), headers={"x-completion-run-id": run.id}
            ) as response:
                await response.read()
                outcome.update(status=response.status, ok=response.status < 400)
        except (TimeoutError, aiohttp.ClientError) as exc:
            outcome["error"] = f"{type(exc).__name__}: {exc}"
        self._on_result(outcome)
