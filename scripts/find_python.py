#!/usr/bin/env python3
"""Find a Python interpreter of one version (``3.12``) that really runs, as tox and nox look for one.

Usage::

    python3 scripts/find_python.py 3.12                       # print its path, or exit 1 naming where it looked
    python3 scripts/find_python.py 3.12 --candidate /x/python  # check only that one (a user's explicit choice)

Where it looks, in order (the first that runs, is the version asked for and can make a virtualenv wins):

1. ``pythonX.Y`` in every directory of PATH, not only the first: a pyenv shim answering
   "pyenv: python3.12: command not found" is skipped, and a real one later on PATH still found.
2. A ``py`` launcher (Windows' ``py``, or the python-launcher on Unix): ``py -X.Y``.
3. pyenv's interpreters, wherever pyenv lives: ``pyenv root`` if pyenv is on PATH, ``$PYENV_ROOT``,
   ``~/.pyenv``; the newest patch release first.
4. uv's managed interpreters: ``uv python find X.Y`` if uv is on PATH, and uv's install directory
   (``$UV_PYTHON_INSTALL_DIR``, else ``$XDG_DATA_HOME/uv/python``, else ``~/.local/share/uv/python``).

Each candidate is run (``-c``) and must answer the version asked for and import ``venv`` and
``ensurepip`` (Debian's python3.X without python3.X-venv cannot make a virtualenv). It prints the
interpreter's own ``sys.executable`` (the real file, not a shim or a launcher). Standard library only:
it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

PROBE = (
    "import sys, venv, ensurepip; "
    "print('%d.%d' % sys.version_info[:2]); print(sys.executable)"
)
PROBE_TIMEOUT = 30.0


def probe(command: list[str], version: str) -> tuple[str | None, str]:
    """(the interpreter's sys.executable, "") if ``command`` runs Python ``version`` that can make a
    virtualenv; else (None, why not)."""
    try:
        done = subprocess.run([*command, "-c", PROBE], check=False, capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"does not run ({type(exc).__name__}: {exc})"
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) < 2:
        said = [line.strip()[:150] for line in done.stderr.splitlines() if line.strip()] or [f"exit {done.returncode}"]
        # the first line names a shim's refusal, the last a traceback's error
        return None, f"does not run or cannot make a virtualenv ({' ... '.join(dict.fromkeys((said[0], said[-1])))})"
    if lines[0] != version:
        return None, f"is Python {lines[0]}"
    return lines[1], ""


def _version_key(path: Path) -> tuple[int, ...]:
    """3.12.10 after 3.12.9: the newest patch release first when sorted in reverse."""
    return tuple(int(part) for part in re.findall(r"\d+", path.name))


def on_path(name: str, path: str) -> Iterator[list[str]]:
    seen: set[str] = set()
    for directory in path.split(os.pathsep):
        found = shutil.which(name, path=directory) if directory else None
        if found and os.path.realpath(found) not in seen:
            seen.add(os.path.realpath(found))
            yield [found]


def pyenv_roots(env: dict[str, str], path: str) -> list[Path]:
    roots: list[Path] = []
    pyenv = shutil.which("pyenv", path=path)
    if pyenv:
        try:
            answer = subprocess.run([pyenv, "root"], check=False, capture_output=True, text=True, timeout=PROBE_TIMEOUT,
                                    env=env, stdin=subprocess.DEVNULL)
            if answer.returncode == 0 and answer.stdout.strip():
                roots.append(Path(answer.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    if env.get("PYENV_ROOT"):
        roots.append(Path(env["PYENV_ROOT"]))
    if env.get("HOME"):
        roots.append(Path(env["HOME"]) / ".pyenv")
    unique: list[Path] = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique


def in_pyenv(version: str, env: dict[str, str], path: str) -> Iterator[list[str]]:
    for root in pyenv_roots(env, path):
        installs = [p for p in (root / "versions").glob(f"{version}.*") if re.fullmatch(r"\d+\.\d+\.\d+", p.name)]
        for install in sorted(installs, key=_version_key, reverse=True):
            yield [str(install / "bin" / f"python{version}")]


def uv_dirs(env: dict[str, str]) -> list[Path]:
    if env.get("UV_PYTHON_INSTALL_DIR"):
        return [Path(env["UV_PYTHON_INSTALL_DIR"])]
    if env.get("XDG_DATA_HOME"):
        return [Path(env["XDG_DATA_HOME"]) / "uv" / "python"]
    return [Path(env["HOME"]) / ".local" / "share" / "uv" / "python"] if env.get("HOME") else []


def from_uv(version: str, env: dict[str, str], path: str) -> Iterator[list[str]]:
    uv = shutil.which("uv", path=path)
    if uv:
        try:
            answer = subprocess.run([uv, "python", "find", version], check=False, capture_output=True, text=True,
                                    timeout=PROBE_TIMEOUT, env=env, stdin=subprocess.DEVNULL)
            if answer.returncode == 0 and answer.stdout.strip():
                yield [answer.stdout.strip()]
        except (OSError, subprocess.SubprocessError):
            pass
    for directory in uv_dirs(env):
        installs = directory.glob(f"cpython-{version}.*")
        for install in sorted(installs, key=lambda p: _version_key(Path(p.name.split("-")[1])), reverse=True):
            yield [str(install / "bin" / f"python{version}")]


def candidates(version: str, env: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    path = env.get("PATH", os.defpath)
    for command in on_path(f"python{version}", path):
        yield "PATH", command
    launcher = shutil.which("py", path=path)
    if launcher:
        yield "py launcher", [launcher, f"-{version}"]
    for command in in_pyenv(version, env, path):
        yield "pyenv", command
    for command in from_uv(version, env, path):
        yield "uv", command


def find(version: str, env: dict[str, str], candidate: str | None = None) -> tuple[str | None, list[str]]:
    """The interpreter found (or None) and one line per candidate tried that did not do."""
    tried: list[str] = []
    found = ((("given", [candidate]),) if candidate else candidates(version, env))
    seen: set[str] = set()
    for where, command in found:
        if len(command) == 1 and not candidate and not os.path.exists(command[0]):
            continue  # a pyenv or uv version directory without that binary: nothing to try
        key = " ".join(command)
        if key in seen:
            continue
        seen.add(key)
        executable, why = probe(command, version)
        if executable:
            return executable, tried
        tried.append(f"{where}: {key} {why}")
    return None, tried


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("version", help="major.minor, e.g. 3.12")
    parser.add_argument("--candidate", help="check only this interpreter (a name on PATH or a path)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"\d+\.\d+", args.version):
        parser.error(f"version must be major.minor (like 3.12), not {args.version!r}")
    executable, tried = find(args.version, dict(os.environ), args.candidate)
    if executable:
        print(executable)
        return 0
    looked = "the interpreter given" if args.candidate else (
        f"python{args.version} on PATH, a py launcher, pyenv's versions (pyenv root, $PYENV_ROOT, ~/.pyenv) "
        "and uv's managed interpreters")
    print(f"find_python: no usable Python {args.version} found; looked at {looked}.", file=sys.stderr)
    for line in tried:
        print(f"  - {line}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
