"""The connection form is defined once; every field it offers is one the client reads."""

from __future__ import annotations

from types import SimpleNamespace

from airflow_provider_tela import CONNECTION_EXTRAS, UI_FIELD_BEHAVIOUR, get_provider_info
from airflow_provider_tela._http.settings import ClientSettings
from airflow_provider_tela.hooks.tela import TelaHook


def test_airflow_2_and_3_read_the_same_form():
    (connection_type,) = get_provider_info()["connection-types"]
    assert connection_type["ui-field-behaviour"] is UI_FIELD_BEHAVIOUR
    assert connection_type["conn-fields"] is CONNECTION_EXTRAS
    assert TelaHook.get_ui_field_behaviour() == {
        "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
        "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
        "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
    }


def test_every_extra_of_the_form_is_read_by_the_client(tmp_path):
    from airflow_provider_tela.testing.tls import create_tls_material

    material = create_tls_material()
    ca = tmp_path / "ca.pem"
    ca.write_bytes(material.cert_path.read_bytes())  # a CA bundle must hold a certificate
    material.cleanup()
    values = {
        "timeout": "12", "connect_timeout": "3", "max_retries": "5", "verify": "true", "ca_bundle": str(ca),
        "proxy": "http://proxy.internal:3128", "max_response_bytes": "2048", "allow_insecure_http": "true",
    }
    assert set(values) == set(CONNECTION_EXTRAS)
    conn = SimpleNamespace(host="https://api.tela.com", port=None, schema=None, password="k", extra_dejson=values)
    settings = ClientSettings.from_connection(conn)
    assert (settings.read_timeout, settings.connect_timeout, settings.max_retries) == (12, 3, 5)
    assert (settings.verify, settings.ca_bundle, settings.proxy) == (True, str(ca), "http://proxy.internal:3128")
    assert (settings.max_response_bytes, settings.allow_insecure_http) == (2048, True)


def test_the_package_exports_what_users_import_and_nothing_else_is_public():
    import importlib
    import pkgutil

    import airflow_provider_tela as package

    assert set(package.__all__) == set(package._PUBLIC) | {"get_provider_info"}
    for name in package._PUBLIC:
        assert getattr(package, name).__name__ == name
    public_modules = {m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")}
    assert public_modules == {"decorators", "errors", "hooks", "models", "operators", "sensors", "testing", "triggers"}
    assert importlib.import_module("airflow_provider_tela.models").CompletionRequest
