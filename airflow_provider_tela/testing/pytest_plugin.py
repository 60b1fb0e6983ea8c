"""pytest fixtures backed by the Tela API emulator.

Installing the provider registers this plugin through the ``pytest11`` entry point
(``tela_emulator = airflow_provider_tela.testing.pytest_plugin``), so the fixtures are
available everywhere. Without the installed entry point enable it explicitly::

    pytest -p airflow_provider_tela.testing.pytest_plugin

or in a ``conftest.py``: ``pytest_plugins = ["airflow_provider_tela.testing.pytest_plugin"]``.

Fixtures:

``tela_emulator_session``
    One emulator (plain HTTP, default API key) shared by the whole session.
``tela_emulator``
    The session emulator, reset before each test: no runs, files, faults or counts,
    and the constructor's configuration and built-in canvases restored.
``tela_connection_env`` (alias ``tela_conn``)
    ``tela_emulator`` with ``AIRFLOW_CONN_TELA_DEFAULT`` set to its connection JSON
    for the duration of the test, so ``TelaHook()`` talks to the emulator.
``tela_reviewer``
    A ``TelaReviewer`` of ``tela_emulator``: the test plays the person who reviews Workstation tasks
    (approve, edit the output, revoke an approval, fail, cancel), decided before ``dag.test()`` runs
    (``approve_when_ready``, ``script``) or from another thread (``wait_for``, then ``approve``).

Example::

    def test_my_dag(tela_connection_env):
        tela_connection_env.add_fault("429", method="POST", path="/v2/chat/completions", count=1)
        ...  # run the task
        assert tela_connection_env.stats()["runs_created"] == 1

    def test_my_reviewed_dag(tela_connection_env, tela_reviewer):
        # each task of the app is approved, its output edited, 0.1 s after its canvas run ended
        tela_reviewer.approve_when_ready("app-review", output={"total": 42}, after=0.1)
        ...  # run the DAG: it creates a task of app-review and waits for its approval
        [task] = tela_reviewer.tasks()
        assert task["status"] == "completed" and task["outputContent"]["content"]["total"] == 42
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported by the fixtures themselves: the plugin costs nothing unless one is used
    from .emulator import TelaEmulator
    from .reviewer import TelaReviewer

CONNECTION_ENV = "AIRFLOW_CONN_TELA_DEFAULT"


@pytest.fixture(scope="session")
def tela_emulator_session() -> Iterator[TelaEmulator]:
    from .emulator import TelaEmulator

    with TelaEmulator() as emulator:
        yield emulator


@pytest.fixture
def tela_emulator(tela_emulator_session: TelaEmulator) -> TelaEmulator:
    # Reusing one server and resetting it is much cheaper than a server per test.
    tela_emulator_session.reset()
    return tela_emulator_session


@pytest.fixture
def tela_connection_env(tela_emulator: TelaEmulator, monkeypatch: pytest.MonkeyPatch) -> TelaEmulator:
    monkeypatch.setenv(CONNECTION_ENV, tela_emulator.connection_json())
    return tela_emulator


@pytest.fixture
def tela_conn(tela_connection_env: TelaEmulator) -> TelaEmulator:
    return tela_connection_env


@pytest.fixture
def tela_reviewer(tela_emulator: TelaEmulator) -> TelaReviewer:
    from .reviewer import TelaReviewer

    return TelaReviewer(tela_emulator)
