"""One emulator serves a whole session, reset between tests: a request of one test, slowed by a fault
across the reset, must not create a run (or count anything) in the next test's fresh state."""

from __future__ import annotations

import time

import pytest
import requests

from airflow_provider_tela.testing import TelaEmulator

COMPLETIONS = "/v2/chat/completions"


def test_a_request_slowed_across_a_reset_leaves_the_fresh_state_alone(tela_emulator: TelaEmulator) -> None:
    tela_emulator.add_fault("slow", method="POST", path=COMPLETIONS, count=1, delay=0.5)
    with pytest.raises(requests.ReadTimeout):  # the client gave up; the server holds the request
        requests.post(tela_emulator.url + COMPLETIONS, json={"canvas_id": "canvas-echo", "variables": {}},
                      headers={"Authorization": f"Bearer {tela_emulator.api_key}"}, timeout=(5, 0.1))
    assert tela_emulator.stats()["faults_injected"] == {"slow": 1}
    tela_emulator.reset()  # the next test begins
    time.sleep(1.0)  # past the fault's delay: before the fix, the held request created its run here
    stats = tela_emulator.stats()
    assert tela_emulator.runs() == [] and stats["runs_created"] == stats["completions_posted"] == 0
