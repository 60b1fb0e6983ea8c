"""airflow-provider-tela: run Tela canvases as steps of Airflow DAGs.

This module stays light: Airflow imports it to discover the provider, and DAG files import from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

_HOOKS = "airflow_provider_tela.hooks.tela"

# The connection form, in one place: Airflow 3 reads it from the provider info, Airflow 2 from
# TelaHook.get_ui_field_behaviour / get_connection_form_widgets, which are derived from it.
UI_FIELD_BEHAVIOUR: dict = {
    "hidden-fields": ["schema", "login", "port"],
    "relabeling": {"host": "Base URL", "password": "API Key"},
    "placeholders": {"host": "https://api.tela.com", "password": "your Tela API key"},
}
CONNECTION_EXTRAS: dict = {
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
        "description": "Retries of one request after 408, 429, 5xx or an unreachable host (default 3).",
        "schema": {"type": ["integer", "null"], "minimum": 0},
    },
    "verify": {
        "label": "Verify TLS",
        "description": "On (default): Tela's certificate is checked, against the CA bundle below if one is given. "
        "Off: Tela's host is not verified (upload URLs always are).",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "ca_bundle": {
        "label": "CA bundle path",
        "description": "A PEM file of CA certificates to verify Tela's host with, on every worker and triggerer "
        "(empty: the system's, or REQUESTS_CA_BUNDLE / SSL_CERT_FILE).",
        "schema": {"type": ["string", "null"]},
    },
    "proxy": {
        "label": "Proxy URL",
        "description": "An http(s):// proxy for every request; without it, HTTPS_PROXY / NO_PROXY apply.",
        "schema": {"type": ["string", "null"]},
    },
    "max_response_bytes": {
        "label": "Max answer size (bytes)",
        "description": "The most bytes read from one answer or stream (default 67108864).",
        "schema": {"type": ["integer", "null"], "minimum": 1024},
    },
    "allow_insecure_http": {
        "label": "Allow plain http",
        "description": "Allow the API key over http to a non-loopback host, or to loopback through a proxy.",
        "schema": {"type": ["boolean", "null"]},
    },
}

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time each name is imported when first used
    from airflow_provider_tela._files import TelaFile
    from airflow_provider_tela.decorators.tela import tela_task
    from airflow_provider_tela.hooks.tela import TelaAsyncHook, TelaHook
    from airflow_provider_tela.operators.batch import TelaBatchOperator
    from airflow_provider_tela.operators.tela import TelaCompletionOperator
    from airflow_provider_tela.sensors.tela import TelaRunSensor, TelaTaskSensor
    from airflow_provider_tela.triggers.batch import TelaBatchTrigger
    from airflow_provider_tela.triggers.tela import TelaRunTrigger, TelaTaskTrigger

# The public names, each imported only when first used: DAG files import this module at every parse.
_PUBLIC = {
    "TelaCompletionOperator": "airflow_provider_tela.operators.tela",
    "TelaBatchOperator": "airflow_provider_tela.operators.batch",
    "TelaRunSensor": "airflow_provider_tela.sensors.tela",
    "TelaTaskSensor": "airflow_provider_tela.sensors.tela",
    "TelaRunTrigger": "airflow_provider_tela.triggers.tela",
    "TelaTaskTrigger": "airflow_provider_tela.triggers.tela",
    "TelaBatchTrigger": "airflow_provider_tela.triggers.batch",
    "TelaHook": _HOOKS,
    "TelaAsyncHook": _HOOKS,
    "TelaFile": "airflow_provider_tela._files",
    "tela_task": "airflow_provider_tela.decorators.tela",
}

__all__ = [
    "TelaAsyncHook", "TelaBatchOperator", "TelaBatchTrigger", "TelaCompletionOperator", "TelaFile", "TelaHook",
    "TelaRunSensor", "TelaRunTrigger", "TelaTaskSensor", "TelaTaskTrigger", "get_provider_info", "tela_task",
]


def __getattr__(name: str) -> object:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONNECTION_EXTRAS,
            }
        ],
    }
