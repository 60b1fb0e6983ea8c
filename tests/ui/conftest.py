"""Browser tests: Airflow's own web UI in headless Chromium, against a real API server and the Tela emulator.

One API server (newest Airflow in .venv, a throw-away AIRFLOW_HOME on SQLite, bound to 127.0.0.1, simple auth
manager with every user an admin, so the browser is logged in without a login page) and one browser serve
every test of this folder; the emulator runs in this process. Run them with ``make test-ui``, which installs
Debian's chromium and chromium-driver when they are missing. ``make test-default`` leaves this folder out
(``make test`` runs it once, as a step of its own: see scripts/test_all.sh).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
# The suite imports test modules with --import-mode=importlib; the process helpers are the e2e tests' own.
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "e2e"))

from airflow_processes import MARKER, Airflow, Process, base_env, kill_marked, wait_until  # noqa: E402
from browser import missing_packages, quit_quietly, start_chromium  # noqa: E402
from ui_deployment import API_KEY, DAG_FILE, DAG_ID  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ui: tests that drive Airflow's web UI in headless Chromium")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test leaves what the browser showed in its tmp_path (kept for failed tests)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    funcargs = getattr(item, "funcargs", {})
    if report.when == "call" and report.failed and "browser" in funcargs and "tmp_path" in funcargs:
        driver, folder = funcargs["browser"], funcargs["tmp_path"]
        try:
            driver.save_screenshot(str(folder / "failure.png"))
            (folder / "failure.html").write_text(driver.page_source)
        except Exception as exc:  # noqa: BLE001 - a browser that died must not hide the test's own failure
            report.sections.append(("browser", f"no failure screenshot: {exc!r}"))


@pytest.fixture(scope="module")
def ui_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui")


@pytest.fixture(scope="module")
def marker() -> str:
    """Every process these tests start carries it in its environment (see kill_marked)."""
    return uuid.uuid4().hex


@pytest.fixture(scope="module")
def emulator() -> Iterator[object]:
    from airflow_provider_tela.testing import TelaEmulator

    with TelaEmulator(api_key=API_KEY) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def api_server(ui_root: Path, marker: str) -> Iterator[Airflow]:
    """``airflow db migrate``, then ``airflow api-server`` alone: no connection in the environment, so every
    connection a test uses is one stored in the metadata database."""
    dags = ui_root / "dags"
    dags.mkdir()
    (dags / f"{DAG_ID}.py").write_text(DAG_FILE)
    deployment = Airflow(ui_root / "airflow", dags, {}, marker,
                         extra_env={"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"})
    try:
        deployment.airflow("db", "migrate", timeout=300)
        server = deployment.start_component("api-server")
        wait_until(lambda: _answering(deployment, server), 240, "the API server to answer", interval=0.5)
        yield deployment
    finally:
        deployment.stop()
        kill_marked(marker)


def _answering(deployment: Airflow, server: Process) -> bool:
    if not server.alive:
        raise RuntimeError(f"the API server exited:\n{server.output()[-3000:]}")
    try:
        health = requests.get(f"{deployment.api_url}/api/v2/monitor/health", timeout=5).json()
    except (requests.RequestException, ValueError):
        return False
    return health.get("metadatabase", {}).get("status") == "healthy"


@pytest.fixture(scope="module")
def browser(ui_root: Path, marker: str, api_server: Airflow) -> Iterator[object]:
    missing = missing_packages()
    if missing:
        pytest.fail(f"Debian's {' and '.join(missing)} not installed: `make test-ui` installs them "
                    f"(apt-get install -y chromium chromium-driver)")
    profile = ui_root / "chromium-profile"
    profile.mkdir()
    env = {**base_env(), MARKER: f"{marker}-browser"}
    driver = start_chromium(profile, env, ui_root / "chromedriver.log")
    try:
        yield driver
    finally:
        quit_quietly(driver)
        kill_marked(f"{marker}-browser")
