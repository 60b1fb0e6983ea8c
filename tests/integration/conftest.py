from __future__ import annotations

import json

import pytest

from airflow_provider_tela.hooks.tela import TelaHook


@pytest.fixture
def tela_env(tela_emulator, monkeypatch):
    """The default Tela connection pointing at the emulator, with quick retries."""
    conn = json.loads(tela_emulator.connection_json())
    conn.setdefault("extra", {})
    conn["extra"] = {**conn["extra"], "max_retries": 3, "timeout": 5}
    monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", json.dumps(conn))
    return tela_emulator


@pytest.fixture
def hook(tela_env):
    hook = TelaHook()
    yield hook
    hook.close()


@pytest.fixture(scope="session")
def tela_emulator_https():
    from airflow_provider_tela.testing import TelaEmulator

    with TelaEmulator(https=True) as emulator:
        yield emulator
