"""airflow-provider-tela: run Tela canvases as steps of Airflow DAGs.

This module stays light: Airflow imports it to discover the provider, and DAG files import from it.
"""

from __future__ import annotations

__version__ = "0.1.0"

_HOOKS = "airflow_provider_tela.hooks.tela"

__all__ = ["TelaBatchOperator", "TelaFile", "get_provider_info"]


def __getattr__(name: str) -> object:
    # `from airflow_provider_tela import TelaFile` without importing it when Airflow only wants the provider info
    if name == "TelaFile":
        from airflow_provider_tela.files import TelaFile

        return TelaFile
    if name == "TelaBatchOperator":
        from airflow_provider_tela.operators.batch import TelaBatchOperator

        return TelaBatchOperator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_provider_info() -> dict:
    """What Airflow's provider manager reads: connection type, hooks, operators, sensors, triggers."""
    return {
        "package-name": "airflow-provider-tela",
        "name": "Tela",
        "description": "Run [Tela](https://tela.com) canvases from Apache Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Tela",
                "external-doc-url": "https://docs.tela.com",
                "tags": ["ai", "service"],
            }
        ],
        "hooks": [{"integration-name": "Tela", "python-modules": [_HOOKS]}],
        "operators": [{"integration-name": "Tela", "python-modules": [
            "airflow_provider_tela.operators.tela", "airflow_provider_tela.operators.batch",
        ]}],
        "sensors": [{"integration-name": "Tela", "python-modules": ["airflow_provider_tela.sensors.tela"]}],
        "triggers": [{"integration-name": "Tela", "python-modules": [
            "airflow_provider_tela.triggers.tela", "airflow_provider_tela.triggers.batch",
        ]}],
        "task-decorators": [{"name": "tela", "class-name": "airflow_provider_tela.decorators.tela.tela_task"}],
        "connection-types": [
            {
                "hook-class-name": f"{_HOOKS}.TelaHook",
                "connection-type": "tela",
                "hook-name": "Tela",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"host": "Base URL", "password": "API Key"},
                    "placeholders": {"host": "https://api.tela.com", "password": "your Tela API key"},
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Read timeout (s)",
                        "description": "Seconds to wait for each answer from Tela (default 120).",
                        "schema": {"type": ["number", "null"], "minimum": 0.1},
                    },
                    "connect_timeout": {
                        "label": "Connect timeout (s)",
                        "description": "Seconds to wait for a connection to Tela (default 10).",
                        "schema": {"type": ["number", "null"], "minimum": 0.1},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries of throttled (429), unavailable (502/503/504) or unreachable requests (default 3).",
                        "schema": {"type": ["integer", "null"], "minimum": 0},
                    },
                    "verify": {
                        "label": "Verify TLS",
                        "description": "Verify Tela's TLS certificate (default true).",
                        "schema": {"type": ["boolean", "null"]},
                    },
                    "ca_bundle": {
                        "label": "CA bundle path",
                        "description": "Path to a PEM file of CA certificates to verify Tela's certificate with.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "allow_insecure_http": {
                        "label": "Allow plain http",
                        "description": "Allow sending the API key over http to a host that is not loopback.",
                        "schema": {"type": ["boolean", "null"]},
                    },
                },
            }
        ],
    }
