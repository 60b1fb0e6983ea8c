"""DAG-parse cost: what importing the operator and sensor modules adds once ``airflow.sdk`` is loaded.

Usage::

    .venv/bin/python benchmarks/parse_cost.py [--repeat 9]

A DAG file imports ``airflow.sdk`` and then the operators it uses; the DAG processor pays the second
part for every file, so that is what is measured, beside the http provider's operator module.

Each measurement is a fresh interpreter (a module is imported once per process, so timing a second
import in the same process measures a dict lookup). The candidates are interleaved, so that a
background hiccup hits both alike, after one unmeasured round that warms the disk cache and writes
the ``.pyc`` files (into a private cache tree). The median is printed. The largest imports pulled in
by the Tela modules come from one more run with ``-X importtime``.

It prints a markdown table and one line for the target; it never asserts and always exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import TypedDict, cast

TARGET_MS = 30.0

# Imported after airflow.sdk in the child; prints what the import added, as JSON.
PROBE = """
import json, sys, time
import airflow.sdk
before = set(sys.modules)
started = time.perf_counter()
for name in sys.argv[1:]:
    __import__(name)
elapsed = time.perf_counter() - started
added = set(sys.modules) - before
packages = ("airflow_provider_tela", "airflow.providers.http")
print(json.dumps({"ms": elapsed * 1000, "added": sorted(added), "preloaded": [p for p in packages if p in before]}))
"""

# Modules whose arrival at parse time is worth naming: HTTP clients, validation, the provider's hook.
NOTABLE = ("aiohttp", "requests", "httpx", "pydantic", "tenacity", "airflow_provider_tela.hooks.tela",
           "airflow_provider_tela.models", "airflow.providers.http.hooks.http")


class ProbeResult(TypedDict):
    ms: float
    added: list[str]
    preloaded: list[str]


@dataclass(frozen=True)
class Candidate:
    label: str
    modules: tuple[str, ...]


CANDIDATES = (
    Candidate("Tela operator + sensor", ("airflow_provider_tela.operators.tela", "airflow_provider_tela.sensors.tela")),
    Candidate("http provider operator", ("airflow.providers.http.operators.http",)),
)


@dataclass
class Measurement:
    candidate: Candidate
    times_ms: list[float]
    added: list[str]

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)


def child_env(home: str) -> dict[str, str]:
    env = dict(os.environ)
    # A private AIRFLOW_HOME: the child must not read or create the user's airflow.cfg.
    env["AIRFLOW_HOME"] = home
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    # Bytecode as a DAG processor has it: compiled once (in the warm-up round), then read. A private
    # cache tree, so that a module edited since its .pyc was written, or PYTHONDONTWRITEBYTECODE,
    # does not charge compilation to one side only, and nothing is written next to the sources.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(home, "pycache")
    return env


def probe(modules: tuple[str, ...], env: dict[str, str]) -> ProbeResult:
    out = subprocess.run([sys.executable, "-c", PROBE, *modules], env=env, check=True,
                         capture_output=True, text=True).stdout
    return cast(ProbeResult, json.loads(out.strip().splitlines()[-1]))


def largest_imports(modules: tuple[str, ...], env: dict[str, str], top: int) -> list[tuple[float, str]]:
    """The modules with the largest cumulative import time under ``modules``, after airflow.sdk."""
    code = "import airflow.sdk, sys\nprint('---', file=sys.stderr)\n" + "".join(f"import {m}\n" for m in modules)
    stderr = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, check=True,
                            capture_output=True, text=True).stderr
    rows: list[tuple[float, str]] = []
    for line in stderr.split("---", 1)[-1].splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if cumulative.isdigit():
            rows.append((int(cumulative) / 1000, name.strip()))
    return sorted(rows, reverse=True)[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="measured fresh interpreters per candidate")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tela-bench-parse-") as home:
        try:
            report(args.repeat, child_env(home))
        except subprocess.CalledProcessError as exc:
            # A module that does not import (mid-edit, say) is reported, not measured.
            print(f"An import failed, nothing measured: {' '.join(exc.cmd[-2:])}\n{exc.stderr[-2000:]}")
    return 0


def report(repeat: int, env: dict[str, str]) -> None:
    for candidate in CANDIDATES:  # warm-up round, not measured
        probe(candidate.modules, env)
    measurements = [Measurement(candidate, [], []) for candidate in CANDIDATES]
    preloaded: list[str] = []
    for _ in range(repeat):
        for measurement in measurements:
            result = probe(measurement.candidate.modules, env)
            measurement.times_ms.append(result["ms"])
            measurement.added = result["added"]
            preloaded = result["preloaded"]

    print(f"Import cost after `import airflow.sdk`, fresh interpreter each time, median of {repeat}:")
    print()
    print("| modules | median ms | min ms | max ms | modules added | notable modules added |")
    print("|---|---:|---:|---:|---:|---|")
    for m in measurements:
        notable = [name for name in NOTABLE if name in m.added]
        print(f"| {m.candidate.label} (`{'`, `'.join(m.candidate.modules)}`) | {m.median:.1f} | "
              f"{min(m.times_ms):.1f} | {max(m.times_ms):.1f} | {len(m.added)} | {', '.join(notable) or 'none'} |")
    if preloaded:
        print()
        print(f"`import airflow.sdk` had already loaded {', '.join(f'`{p}`' for p in preloaded)} (provider "
              "discovery), so that is not counted above; a DAG processor has it loaded too.")

    tela, http = measurements
    print()
    verdict = "met" if tela.median <= TARGET_MS else "NOT MET"
    print(f"Target: the Tela operator and sensor modules add at most {TARGET_MS:g} ms: {verdict} "
          f"({tela.median:.1f} ms; the http provider's operator module: {http.median:.1f} ms, "
          f"{http.median / tela.median:.1f}x as much).")
    print()
    print("Largest imports under the Tela modules (cumulative ms, one `-X importtime` run):")
    for ms, name in largest_imports(tela.candidate.modules, env, top=8):
        print(f"- {name}: {ms:.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
