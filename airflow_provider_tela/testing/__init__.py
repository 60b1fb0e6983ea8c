"""Test utilities for the Tela provider: a local emulator of the Tela API.

``TelaEmulator`` is an independent, server-side implementation of the documented
API (sync, async, streaming and webhook completions, run polling, file uploads,
promoted versions) with fault injection and request counters. It deliberately
imports nothing else from this package and nothing from Airflow.
"""

from .canvases import RunFailed
from .emulator import TelaEmulator

__all__ = ["RunFailed", "TelaEmulator"]
