"""End-to-end tests: real Airflow processes (scheduler, DAG processor, triggerer, API server) and the
Tela emulator as a process of its own, all on a throw-away AIRFLOW_HOME with SQLite.

One deployment is shared by every test of this folder (starting it costs ~20 s); each test has its own
DAG and starts from a reset emulator. Select or skip them with ``-m e2e`` / ``-m "not e2e"``.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the suite imports test modules with --import-mode=importlib

from airflow_processes import Airflow, EmulatorProcess, free_port, kill_marked  # noqa: E402

# Distinctive and long, so that finding them anywhere is meaningful (see test_secrets.py).
API_KEY = f"tela-e2e-key-{secrets.token_hex(24)}"
WRONG_KEY = f"tela-e2e-wrong-{secrets.token_hex(24)}"
DAG_IDS = (
    "tela_e2e_faults", "tela_e2e_triggerer_restart", "tela_e2e_worker_crash", "tela_e2e_outage_before_submit",
    "tela_e2e_outage_while_waiting", "tela_e2e_secrets", "tela_e2e_clear",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end tests that start real Airflow processes (slow)")


@pytest.fixture(scope="session")
def api_keys() -> dict[str, str]:
    """The keys the connections hold: the emulator's, and a wrong one it refuses."""
    return {"API key": API_KEY, "wrong key": WRONG_KEY}


@pytest.fixture(scope="session")
def marker() -> str:
    """Every process the e2e tests start carries this in its environment (see kill_marked)."""
    return uuid.uuid4().hex


@pytest.fixture(scope="session")
def e2e_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def emulator(e2e_root: Path, marker: str) -> Iterator[EmulatorProcess]:
    (e2e_root / "emulator").mkdir()
    emulator = EmulatorProcess(e2e_root / "emulator", free_port(), API_KEY, f"{marker}-emulator")
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
        kill_marked(f"{marker}-emulator")


@pytest.fixture(scope="session")
def airflow(e2e_root: Path, emulator: EmulatorProcess, marker: str) -> Iterator[Airflow]:
    dags = e2e_root / "dags"
    shutil.copytree(HERE / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    connections = {
        "tela_default": emulator.connection(max_retries=2, timeout=10),
        # Scenario 1: a retry budget that outlasts a 30% fault rate.
        "tela_faults": emulator.connection(max_retries=5, timeout=10),
        # Scenario 4: a small retry budget, so that an outage outlasts it.
        "tela_outage": emulator.connection(max_retries=1, connect_timeout=2, timeout=10),
        "tela_wrong_key": emulator.connection().replace(API_KEY, WRONG_KEY),
        # The key as read from a secrets file, newline included: it works and is masked like the others.
        "tela_key_from_file": emulator.connection().replace(API_KEY, API_KEY + "\\n"),
    }
    deployment = Airflow(e2e_root / "airflow", dags, connections, marker,
                         extra_env={"TELA_E2E_PID_DIR": str(e2e_root / "pids")})
    try:
        deployment.start()
        deployment.wait_for_dags(*DAG_IDS)
        yield deployment
    finally:
        deployment.stop()
        leftovers = kill_marked(marker)
        assert not leftovers, f"processes outlived their component and had to be killed: {leftovers}"


@pytest.fixture
def tela(emulator: EmulatorProcess, airflow: Airflow) -> Iterator[EmulatorProcess]:
    """The emulator with no runs, faults or counts; running again after the test even if it stopped it."""
    emulator.reset()
    try:
        yield emulator
    finally:
        if not emulator.process.alive:
            emulator.start()
