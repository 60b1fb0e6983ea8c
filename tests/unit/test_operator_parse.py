"""What happens when a DAG file is parsed: early errors, no heavy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_provider_tela.errors import TelaConfigError
from airflow_provider_tela.operators.tela import TelaCompletionOperator


def test_exactly_one_target_is_checked_at_parse_time():
    with pytest.raises(TelaConfigError, match="exactly one of canvas_id"):
        TelaCompletionOperator(task_id="t")
    with pytest.raises(TelaConfigError, match="exactly one of canvas_id"):
        TelaCompletionOperator(task_id="t", canvas_id="c", application_id="a")


def test_variables_must_be_a_mapping():
    with pytest.raises(TelaConfigError, match="variables must be a mapping"):
        TelaCompletionOperator(task_id="t", canvas_id="c", variables=["a", "b"])


def test_template_fields():
    assert set(TelaCompletionOperator.template_fields) == {
        "canvas_id", "application_id", "version_id", "tela_label", "tags", "variables", "messages", "override",
        "webhook_url", "extra_body", "output_path",
    }


def test_importing_the_batch_operator_from_the_package_builds_no_client():
    code = (
        "import sys, airflow.sdk\n"
        "from airflow_provider_tela import TelaBatchOperator\n"
        "TelaBatchOperator(task_id='t', canvas_id='c', records=[], output_path='/tmp/x')\n"
        "heavy = [m for m in sys.modules if m.startswith(('airflow_provider_tela._batch', 'airflow_provider_tela.hooks',"
        " 'airflow_provider_tela.models', 'airflow_provider_tela._http'))]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_importing_operator_and_sensor_builds_no_client():
    code = (
        "import sys, airflow.sdk\n"
        "import airflow_provider_tela.operators.tela, airflow_provider_tela.sensors.tela\n"
        "heavy = [m for m in ('aiohttp', 'requests', 'pydantic', 'airflow_provider_tela.hooks.tela',"
        " 'airflow_provider_tela.models') if m in sys.modules and m.startswith('airflow_provider')]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
