"""Suite-wide set-up: a throw-away AIRFLOW_HOME on SQLite, set before anything imports Airflow."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

REPO = Path(__file__).resolve().parent.parent
_HOME = tempfile.mkdtemp(prefix="tela-airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "example_dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")


def pytest_unconfigure(config: object) -> None:
    """The session leaves no folder behind (pytest's own tmp_path folders: see tmp_path_retention_policy)."""
    shutil.rmtree(_HOME, ignore_errors=True)


# --- no aiohttp session outlives its event loop ------------------------------------------------------
# aiohttp reports a session left open only when it is collected, often at interpreter exit and far from
# the test that made it ("Unclosed client session", "Unclosed connector" on stderr, failing nothing).
# Every session is held here from its making until it is seen closed: after each test, one still open
# whose event loop has closed fails that test (nothing can close it any more), and any left open at the
# end fails the run.

_unclosed: list[aiohttp.ClientSession] = []
_session_init = aiohttp.ClientSession.__init__


@functools.wraps(_session_init)
def _noted_init(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
    _session_init(self, *args, **kwargs)
    _unclosed.append(self)


aiohttp.ClientSession.__init__ = _noted_init  # type: ignore[method-assign]


def _left_open(*, loop_closed_only: bool) -> list[aiohttp.ClientSession]:
    """The sessions left open (those whose loop has closed, or all): no longer held once returned."""
    held, leaked = [], []
    for session in _unclosed:
        if not session.closed:
            (leaked if session._loop.is_closed() or not loop_closed_only else held).append(session)
    _unclosed[:] = held
    return leaked


def _describe(sessions: list[aiohttp.ClientSession]) -> str:
    return ", ".join(f"{s!r} (connector {s.connector!r})" for s in sessions)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield
    leaked = _left_open(loop_closed_only=True)
    if leaked:
        pytest.fail(f"{item.nodeid} left {len(leaked)} aiohttp session(s) open after their event loop closed: "
                    f"{_describe(leaked)}. Close what is opened (async with TelaAsyncHook(), await "
                    "session.close()).", pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaked = _left_open(loop_closed_only=False)
    if leaked:
        session.config.get_terminal_writer().line(
            f"aiohttp session(s) left open at the end of the run: {_describe(leaked)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
