"""Test utilities for the Tela provider: a local emulator of the Tela API.

``TelaEmulator`` is an independent, server-side implementation of the documented
API (sync, async, streaming and webhook completions, run polling, file uploads,
promoted versions, Workstation apps and their reviewed tasks) with fault injection and request
counters; ``TelaReviewer`` plays the person reviewing tasks in a test. It deliberately
imports nothing else from this package and nothing from Airflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .canvases import RunFailed
    from .emulator import TelaEmulator
    from .reviewer import TelaReviewer

__all__ = ["RunFailed", "TelaEmulator", "TelaReviewer"]


def __getattr__(name: str) -> Any:
    # Lazy: the pytest plugin imports this package in every pytest run where the provider is
    # installed, and the emulator (aiohttp, TLS) costs ~0.2 s to import; only a test using it pays.
    if name == "TelaEmulator":
        from .emulator import TelaEmulator

        return TelaEmulator
    if name == "RunFailed":
        from .canvases import RunFailed

        return RunFailed
    if name == "TelaReviewer":
        from .reviewer import TelaReviewer

        return TelaReviewer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
