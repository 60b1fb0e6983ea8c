"""A Tela connection made in Airflow's own web UI, as a new user makes it (issue 15), proven in a browser.

Admin -> Connections -> Add Connection in headless Chromium: type Tela, a Connection Id, the emulator's URL as
Base URL and its key as API Key, a read timeout typed in, every other extra left empty; saved. The form shows
what the provider declares (relabelled fields, placeholders, hidden fields, the eight extras with their labels
and descriptions, Verify TLS on), the key is never shown again, and a real DAG task (``airflow dags test`` on
the same metadata database) runs with the saved connection against the emulator.

Screenshots of the form are saved in the test's tmp_path; ``TELA_UI_SCREENSHOTS=docs/img make test-ui`` also
copies them there (docs/img/connection-form.png is one).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from airflow_processes import PYTHON
from browser import (
    click,
    everything_shown,
    keep_copy,
    screenshots_folder,
    sent_bodies,
    toasts,
    visible,
    wait_for,
)
from selenium.webdriver.common.by import By
from ui_deployment import API_KEY, CONN_ID, DAG_ID, WRONG_KEY

from airflow_provider_tela import CONNECTION_EXTRAS, UI_FIELD_BEHAVIOUR

pytestmark = pytest.mark.ui

DIALOG = "//*[@role='dialog']"
# What Airflow answers when the UI's Test sends port 0 for a connection stored without a port (3.3.2).
PORT_REFUSAL = ("The host or port to test differs from the stored connection. "
                "Include the credentials to test in the request body.")
# The extras as the form of Airflow 3.3.2 saved them when only the read timeout was typed (seen by the first test).
FORM_EXTRA = {"timeout": 30, **{name: None for name in CONNECTION_EXTRAS if name != "timeout"}, "verify": True}


def test_a_connection_made_in_the_form_shows_what_the_provider_declares_and_runs_a_task(
        browser, api_server, emulator, tmp_path):
    driver = browser
    runs_before = emulator.stats()["runs_created"]
    driver.get(f"{api_server.api_url}/")
    click(driver, "//button[@aria-label='Admin']", "the Admin menu")
    click(driver, "//a[@role='menuitem'][normalize-space()='Connections']", "Admin -> Connections")
    click(driver, "//button[normalize-space()='Add Connection']", "the Add Connection button")
    wait_for(driver, lambda: visible(driver, DIALOG), "the Add Connection form")
    field(driver, "connection_id").send_keys(CONN_ID)
    field(driver, "combobox", by="role").send_keys("Tela")
    click(driver, "//*[@role='option'][normalize-space()='Tela']", "the connection type Tela")
    wait_for(driver, lambda: visible(driver, f"{DIALOG}//input[@name='host']"), "the Tela form's Base URL")

    # Standard fields: relabelled, with placeholders; login, schema and port hidden.
    assert shown_fields(driver) == {"connection_id", "description", "host", "password"}
    assert label_of(driver, "host") == UI_FIELD_BEHAVIOUR["relabeling"]["host"] == "Base URL"
    assert label_of(driver, "password") == UI_FIELD_BEHAVIOUR["relabeling"]["password"] == "API Key"
    assert field(driver, "host").get_attribute("placeholder") == UI_FIELD_BEHAVIOUR["placeholders"]["host"]
    assert field(driver, "password").get_attribute("placeholder") == UI_FIELD_BEHAVIOUR["placeholders"]["password"]
    assert field(driver, "password").get_attribute("type") == "password"
    field(driver, "host").send_keys(emulator.url)
    field(driver, "password").send_keys(API_KEY)
    shot(driver, tmp_path / "connection-form-standard.png")

    # The extras: all eight, each with its label and description; Verify TLS on, Allow plain http off.
    click(driver, f"{DIALOG}//button[normalize-space()='Extra Fields']", "the Extra Fields section")
    wait_for(driver, lambda: visible(driver, f"{DIALOG}//input[@name='element_timeout']")
             and not visible(driver, f"{DIALOG}//input[@name='host']"), "the extras, the standard fields folded")
    assert shown_fields(driver) == {"connection_id", *(f"element_{name}" for name in CONNECTION_EXTRAS)}
    for name, spec in CONNECTION_EXTRAS.items():
        assert (label_of(driver, f"element_{name}"), description_of(driver, f"element_{name}")) == (
            spec["label"], spec["description"]), name
    assert _input(driver, "element_verify").get_attribute("type") == "checkbox"
    assert _input(driver, "element_verify").is_selected()
    assert not _input(driver, "element_allow_insecure_http").is_selected()
    field(driver, "element_timeout").send_keys("30")
    shot(driver, tmp_path / "connection-form.png")

    click(driver, f"{DIALOG}//button[normalize-space()='Save']", "Save")
    row = f"//tr[td[@data-testid='table-cell-connection_id'][normalize-space()='{CONN_ID}']]"
    wait_for(driver, lambda: not visible(driver, DIALOG) and visible(driver, row), "the saved connection's row")

    # Saved as typed: the key, the URL, the timeout; every extra left empty is unset (null) or the switch.
    stored = stored_connection(api_server, CONN_ID)
    assert (stored["host"], stored["password"], stored["port"], stored["login"]) == (
        emulator.url, API_KEY, None, None)
    assert stored["extra"]["timeout"] == 30
    assert stored["extra"]["verify"] in (True, None)
    assert all(stored["extra"].get(name) in (None, "") for name in CONNECTION_EXTRAS if name not in (
        "timeout", "verify")), stored["extra"]

    # A real task with the saved connection, from the same metadata database, against the emulator (started
    # now, read below: the browser's checks run meanwhile).
    dag_test = start_cli(api_server, tmp_path, ["dags", "test", DAG_ID])

    # The key is never shown again: not in the list, not in the edit form, not in what the API answers.
    assert API_KEY not in everything_shown(driver)
    assert API_KEY not in requests.get(f"{api_server.api_url}/api/v2/connections/{CONN_ID}",
                                       headers=auth(api_server), timeout=30).text
    click(driver, f"{row}//button[@aria-label='Edit Connection']", "the connection's Edit button")
    wait_for(driver, lambda: visible(driver, f"{DIALOG}//input[@name='host']"), "the edit form")
    assert field(driver, "host").get_attribute("value") == emulator.url
    assert field(driver, "password").get_attribute("value") not in ("", API_KEY)  # Airflow's mask
    assert API_KEY not in everything_shown(driver)
    click(driver, f"{DIALOG}//button[@aria-label='Close']", "the edit form's Close button")
    wait_for(driver, lambda: not visible(driver, DIALOG), "the edit form to close")
    keep_copies(tmp_path)

    (dag_test,) = finish_cli(dag_test)
    assert dag_test.code == 0, dag_test.output[-5000:]
    assert API_KEY not in dag_test.output
    assert emulator.stats()["runs_created"] == runs_before + 1
    run = api_server.query("SELECT run_id, state FROM dag_run WHERE dag_id = ?", DAG_ID)[-1]
    assert run["state"] == "success"
    result = api_server.xcoms(DAG_ID, run["run_id"])[("complete", -1, "return_value")]
    assert result["variables"] == {"document": "from the form"}


def test_the_ui_test_button_and_the_alternatives_that_work(browser, api_server, emulator, tmp_path):
    """Airflow 3.3.2's Test button (on the connections list) sends ``port: 0`` for a connection stored
    without a port, and the API server refuses it before the hook is asked (docs/connection.md, The Test button).
    The test pins that cause while it lasts, and checks what the button shows once Airflow accepts it; the
    alternatives (the API route with the key in the request, ``airflow connections test``) work now."""
    driver = browser
    connections = {"tela_test_right": API_KEY, "tela_test_wrong": WRONG_KEY}
    refused_at_start, refusals = emulator.stats()["auth_failures"], 0
    for conn_id, key in connections.items():
        create_connection(api_server, conn_id, emulator.url, key)
    # `airflow connections test <id>` on the stored connections (AIRFLOW__CORE__TEST_CONNECTION=Enabled),
    # started now and read at the end.
    cli_tests = start_cli(api_server, tmp_path, *(["connections", "test", conn_id] for conn_id in connections))
    driver.get(f"{api_server.api_url}/connections")
    sent_bodies(driver, "/api/v2/connections/test")  # drop what was logged before
    shown: dict[str, dict[str, str]] = {}
    for conn_id in connections:
        before = set(toasts(driver))
        click(driver, f"//tr[td[normalize-space()='{conn_id}']]//button[@aria-label='Test Connection']",
              f"the Test button of {conn_id}")
        new = wait_for(driver, lambda before=before: {k: v for k, v in toasts(driver).items() if k not in before},
                       f"the answer to testing {conn_id}")
        (shown[conn_id],) = new.values()
    driver.save_screenshot(str(tmp_path / "test-button.png"))
    bodies = {body["connection_id"]: body for body in sent_bodies(driver, "/api/v2/connections/test")}
    assert set(bodies) == set(connections)
    assert all(key not in json.dumps(bodies) for key in connections.values())  # the UI sends Airflow's mask

    for conn_id, body in bodies.items():
        answer = requests.post(f"{api_server.api_url}/api/v2/connections/test", json=body,
                               headers=auth(api_server), timeout=60)
        if answer.status_code != 400 and conn_id == "tela_test_wrong":
            refusals += 2  # the button's test and this one's
        if answer.status_code == 400:
            # Airflow 3.3.2: the UI's own request is refused, whatever the key; the provider never runs.
            assert answer.json()["detail"] == PORT_REFUSAL
            assert body["port"] == 0 and stored_connection(api_server, conn_id)["port"] is None
            assert shown[conn_id]["type"] == "error" and "Bad Request" in shown[conn_id]["text"], shown
        elif conn_id == "tela_test_right":
            assert answer.json()["status"] is True
            assert shown[conn_id]["type"] == "success", shown
            assert f"Connected to Tela at {emulator.url}" in shown[conn_id]["text"]
        else:
            assert answer.json()["status"] is False
            assert shown[conn_id]["type"] == "error" and "API Key" in shown[conn_id]["text"], shown

    # The same route with the connection's fields in the request (key included, as a client with it sends).
    for conn_id, key in connections.items():
        body = {"connection_id": conn_id, "conn_type": "tela", "host": emulator.url, "password": key,
                "extra": json.dumps(FORM_EXTRA)}
        answer = requests.post(f"{api_server.api_url}/api/v2/connections/test", json=body,
                               headers=auth(api_server), timeout=60)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        if key == API_KEY:
            assert result == {"status": True, "message": f"Connected to Tela at {emulator.url}"}
        else:
            assert result["status"] is False
            assert "the connection's API Key field" in result["message"] and WRONG_KEY not in result["message"]
            refusals += 1

    right, wrong = finish_cli(cli_tests)
    assert right.code == 0 and "Connection success!" in right.output, right.output[-3000:]
    assert wrong.code != 0 and "Connection failed!" in wrong.output, wrong.output[-3000:]
    assert "the connection's API Key field" in wrong.output
    assert API_KEY not in right.output + wrong.output and WRONG_KEY not in wrong.output
    refusals += 1
    # Each wrong key was really sent, and refused, as many times as the answers above say.
    assert emulator.stats()["auth_failures"] == refused_at_start + refusals


# --- the form ---------------------------------------------------------------------------------------


def field(driver, name: str, by: str = "name"):
    """The field of the open form named ``name`` (or with role ``name``)."""
    return wait_for(driver, lambda: visible(driver, f"{DIALOG}//*[@{by}='{name}']"), f"the form's field {name}")


def shown_fields(driver) -> set[str]:
    """The names of the form's fields a user sees (the type's combobox aside)."""
    elements = driver.find_elements(By.XPATH, f"{DIALOG}//*[self::input or self::textarea][@name]")
    # A switch's input is visually hidden: its label (the switch) is what is shown.
    return {element.get_attribute("name") for element in elements
            if element.is_displayed() or _switch(driver, element).is_displayed()}


def _switch(driver, element):
    return element.find_element(By.XPATH, "./ancestor::label[1]") if element.get_attribute(
        "type") == "checkbox" else element


def label_of(driver, name: str) -> str:
    """The label of the form's field named ``name`` (the one in the field's own group)."""
    group = _input(driver, name).find_element(By.XPATH, "./ancestor::*[@data-scope='field'][@data-part='root'][1]")
    return group.find_element(By.XPATH, ".//label[@data-part='label']").text.strip()


def description_of(driver, name: str) -> str:
    element = _input(driver, name)
    return driver.find_element(By.ID, element.get_attribute("aria-describedby")).text.strip()


def _input(driver, name: str):
    """The field named ``name``, shown or not (a switch's own input is visually hidden)."""
    return driver.find_element(By.XPATH, f"{DIALOG}//*[self::input or self::textarea][@name='{name}']")


def shot(driver, path: Path) -> None:
    """A screenshot of the open form alone."""
    driver.find_element(By.XPATH, DIALOG).screenshot(str(path))


def keep_copies(folder: Path) -> None:
    for name in ("connection-form.png", "connection-form-standard.png"):
        keep_copy(folder / name, screenshots_folder())


# --- Airflow ----------------------------------------------------------------------------------------


def auth(api_server) -> dict[str, str]:
    token = requests.get(f"{api_server.api_url}/auth/token", timeout=30).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def create_connection(api_server, conn_id: str, url: str, key: str) -> None:
    """Through the REST API, with the fields and extras the form saves."""
    api_server.api("POST", "connections", {"connection_id": conn_id, "conn_type": "tela", "host": url,
                                           "password": key, "extra": json.dumps(FORM_EXTRA)})


def stored_connection(api_server, conn_id: str) -> dict[str, Any]:
    """The connection's row, password and extra decrypted with the deployment's Fernet key."""
    from cryptography.fernet import Fernet

    fernet = Fernet(api_server.fernet_key.encode())
    with sqlite3.connect(f"file:{api_server.db_path}?mode=ro", uri=True, timeout=30) as db:
        db.row_factory = sqlite3.Row
        row = dict(db.execute("SELECT * FROM connection WHERE conn_id = ?", (conn_id,)).fetchone())
    row["password"] = fernet.decrypt(row["password"].encode()).decode() if row["is_encrypted"] else row["password"]
    extra = fernet.decrypt(row["extra"].encode()).decode() if row["is_extra_encrypted"] else row["extra"]
    row["extra"] = json.loads(extra)
    return row


class CliRun:
    def __init__(self, code: int, output: str) -> None:
        # Airflow's console wraps long lines at its width: the words are compared, not the line breaks.
        self.code, self.output = code, " ".join(output.split())


Started = list[tuple[Path, subprocess.Popen[bytes]]]


def start_cli(api_server, folder: Path, *commands: list[str]) -> Started:
    """``airflow <command>`` for each command at once, in the deployment's environment, each in a process
    group of its own (and with the deployment's marker: a test that fails before ``finish_cli`` leaves them
    to the fixture's teardown)."""
    started = []
    for command in commands:
        log = folder / f"airflow-{'-'.join(command)}.log"
        with open(log, "wb") as out:
            started.append((log, subprocess.Popen([PYTHON, "-m", "airflow", *command], env=api_server.env,
                                                  stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                  start_new_session=True)))
    return started


def finish_cli(started: Started, timeout: float = 300) -> list[CliRun]:
    """Their exit codes and output; a command that outlives ``timeout`` is killed with its group."""
    try:
        return [CliRun(process.wait(timeout=timeout), log.read_text(errors="replace")) for log, process in started]
    finally:
        for _, process in started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
