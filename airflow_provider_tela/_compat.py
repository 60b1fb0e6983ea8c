"""What differs between the Airflow lines this provider supports, in one place."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow.providers.common.compat.sdk import BaseHook


async def aget_connection(conn_id: str) -> Any:
    """Look a connection up without blocking the event loop, on every Airflow line.

    Airflow 3 has ``BaseHook.aget_connection``; below it the sync lookup (a database or secrets
    backend call) runs in a thread.
    """
    lookup = getattr(BaseHook, "aget_connection", None)
    if lookup is not None:
        return await lookup(conn_id)
    return await asyncio.to_thread(BaseHook.get_connection, conn_id)
