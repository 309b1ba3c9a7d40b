"""Provider registration: the entry point, Airflow's schemas, and what discovery and the UI see."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest

from airflow_provider_openai_ads import __version__
from airflow_provider_openai_ads.conversions.schema import ActionSource, UserSchema
from airflow_provider_openai_ads.get_provider_info import get_provider_info
from airflow_provider_openai_ads.hooks.openai_ads import OpenAIAdsHook, _ConnectionExtras

PACKAGE = "airflow-provider-openai-ads"
AIRFLOW_DIR = Path(airflow.__file__).parent


@pytest.fixture(scope="module")
def info() -> dict[str, Any]:
    return get_provider_info()


@pytest.fixture(scope="module")
def conn_type(info: dict[str, Any]) -> dict[str, Any]:
    (entry,) = info["connection-types"]
    return entry


def _schema(name: str) -> dict[str, Any]:
    return json.loads((AIRFLOW_DIR / name).read_text())


def test_valid_against_airflow_runtime_schema(info: dict[str, Any]) -> None:
    jsonschema.validate(info, _schema("provider_info.schema.json"))


def test_connection_types_valid_against_provider_yaml_schema(info: dict[str, Any]) -> None:
    connection_types = _schema("provider.yaml.schema.json")["properties"]["connection-types"]
    jsonschema.validate(info["connection-types"], connection_types)


def test_names_match_the_distribution_and_the_hook(info: dict[str, Any], conn_type: dict[str, Any]) -> None:
    assert info["package-name"] == distribution(PACKAGE).metadata["Name"] == PACKAGE
    assert info["versions"][0] == __version__ == distribution(PACKAGE).version
    assert conn_type["connection-type"] == OpenAIAdsHook.conn_type == "openai_ads"
    assert conn_type["hook-name"] == OpenAIAdsHook.hook_name == "OpenAI Ads"
    hook_path = f"{OpenAIAdsHook.__module__}.{OpenAIAdsHook.__qualname__}"
    assert conn_type["hook-class-name"] == hook_path
    assert info["hooks"][0]["python-modules"] == [OpenAIAdsHook.__module__]


def test_module_is_import_light() -> None:
    code = (
        "import sys, airflow_provider_openai_ads.get_provider_info as m; m.get_provider_info(); "
        "print(sorted(n for n in ('airflow', 'httpx', 'pydantic') if n in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


class TestConnFields:
    @pytest.fixture
    def fields(self, conn_type: dict[str, Any]) -> dict[str, Any]:
        return conn_type["conn-fields"]

    def test_each_schema_is_valid_and_its_default_fits(self, fields: dict[str, Any]) -> None:
        for field in fields.values():
            jsonschema.Draft7Validator.check_schema(field["schema"])
            if "default" in field["schema"]:
                jsonschema.validate(field["schema"]["default"], field["schema"])

    def test_only_pixel_id_is_required(self, fields: dict[str, Any]) -> None:
        # Airflow 3.3 renders a non-nullable field as required unless it is pre-filled by a default
        required = {
            name
            for name, field in fields.items()
            if "null" not in field["schema"]["type"] and "default" not in field["schema"]
        }
        assert required == {"pixel_id"}

    def test_every_field_is_understood_by_the_hook(self, fields: dict[str, Any]) -> None:
        assert set(fields) <= set(_ConnectionExtras.model_fields)

    def test_enums_match_the_api_vocabulary(self, fields: dict[str, Any]) -> None:
        assert set(fields["default_action_source"]["schema"]["enum"]) == {
            *typing.get_args(ActionSource),
            None,
        }
        assert set(fields["user_schema"]["schema"]["enum"]) == set(typing.get_args(UserSchema))

    @pytest.mark.parametrize(
        ("name", "good", "bad"),
        [
            ("pixel_id", ["emulator-pixel", "AbC123_x"], ["", " px", "px id", "https://x", "a" * 129, None]),
            ("default_action_source", ["web", "phone_call", None], ["website", ""]),
            ("timeout", [1, 2.5, 30, None], [0, 0.5, "30"]),
            ("integration_source", ["my-stack.v2", "A_b", None], ["-x", "a b", "x" * 65]),
            ("user_schema", ["lists", "singular"], ["plural", None]),
            ("max_in_flight", [1, 32, None], [0, 33, 1.5]),
            ("allow_insecure_http", [True, False], ["yes", None]),
        ],
    )
    def test_validation(self, fields: dict[str, Any], name: str, good: list[Any], bad: list[Any]) -> None:
        validator = jsonschema.Draft7Validator(fields[name]["schema"])
        assert [v for v in good if not validator.is_valid(v)] == []
        assert [v for v in bad if validator.is_valid(v)] == []


class TestDiscovery:
    """Through the real entry point of the installed distribution, as every Airflow component does."""

    def test_provider_is_discovered(self) -> None:
        from airflow.providers_manager import ProvidersManager

        provider = ProvidersManager().providers[PACKAGE]
        assert provider.version == __version__
        assert provider.data["name"] == "OpenAI Ads"
        assert provider.data["documentation-url"].startswith("https://")

    def test_hook_is_registered_for_the_connection_type(self) -> None:
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        hook_info = ProvidersManagerTaskRuntime().hooks["openai_ads"]
        assert hook_info is not None
        assert hook_info.hook_class_name == "airflow_provider_openai_ads.hooks.openai_ads.OpenAIAdsHook"
        assert hook_info.hook_name == "OpenAI Ads"
        assert hook_info.connection_id_attribute_name == "openai_ads_conn_id"

    def test_connection_type_ui_metadata(self) -> None:
        from airflow.providers_manager import ProvidersManager

        meta = {m.connection_type: m for m in ProvidersManager().iter_connection_type_hook_ui_metadata()}
        ours = meta["openai_ads"]
        assert ours.hook_name == "OpenAI Ads"
        assert set(ours.field_behaviour["hidden_fields"]) == {"schema", "port", "login"}
        assert ours.field_behaviour["relabeling"]["password"] == "Conversions API key"

    def test_form_the_ui_receives(self, conn_type: dict[str, Any]) -> None:
        from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

        (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "openai_ads"]
        assert meta.hook_name == "OpenAI Ads"
        assert meta.standard_fields.password.title == "Conversions API key"
        assert meta.standard_fields.host.title == "Base URL (optional)"
        assert meta.standard_fields.host.placeholder == "https://bzr.openai.com"
        assert meta.standard_fields.login.hidden
        assert set(meta.extra_fields) == set(conn_type["conn-fields"])
        pixel = meta.extra_fields["pixel_id"]
        assert pixel["schema"]["title"] == "Pixel ID"
        assert pixel["schema"]["pattern"] == conn_type["conn-fields"]["pixel_id"]["schema"]["pattern"]
        assert meta.extra_fields["timeout"]["value"] == 30
