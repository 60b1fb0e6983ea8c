"""Command line entry point (``tela-emulator`` / ``python -m airflow_provider_tela.testing``).

Prints the base URL on stdout once listening (and writes it to ``--ready-file``,
followed by the CA bundle path on a second line with ``--https``), then serves
until SIGTERM or SIGINT, removing the ready file on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .emulator import TelaEmulator, new_event_loop
from .state import DEFAULT_API_KEY


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tela-emulator", description="Local emulator of the Tela API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--https", action="store_true", help="serve HTTPS with a fresh self-signed certificate")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY,
                        help=f"the key clients must send as Bearer token (default: {DEFAULT_API_KEY})")
    parser.add_argument("--forbidden-key", action="append", default=[], help="a key answered with 403 (repeatable)")
    parser.add_argument("--run-latency", type=float, default=0.2, help="seconds from run creation to its end")
    parser.add_argument("--seed", type=int, default=0, help="seed for rate-based faults")
    parser.add_argument("--ready-file", type=Path, help="write the URL here once listening")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    loop = new_event_loop()
    try:
        loop.run_until_complete(_serve(args))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
    return 0


async def _serve(args: argparse.Namespace) -> None:
    emulator = TelaEmulator(
        args.host, args.port, https=args.https, api_key=args.api_key,
        forbidden_keys=args.forbidden_key, run_latency=args.run_latency, seed=args.seed,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    async with emulator:
        if args.ready_file is not None:
            _write_ready_file(args.ready_file, emulator)
        if emulator.ca_bundle:
            print(f"tela-emulator: CA bundle at {emulator.ca_bundle}", file=sys.stderr, flush=True)
        print(emulator.url, flush=True)
        try:
            await stopping.wait()
        finally:
            if args.ready_file is not None:
                # A stale ready file would announce a server that is gone.
                args.ready_file.unlink(missing_ok=True)


def _write_ready_file(path: Path, emulator: TelaEmulator) -> None:
    lines = [emulator.url] + ([emulator.ca_bundle] if emulator.ca_bundle else [])
    # Write then rename so a watcher never reads a half-written file.
    partial = path.with_name(path.name + ".tmp")
    partial.write_text("\n".join(lines) + "\n")
    os.replace(partial, path)
