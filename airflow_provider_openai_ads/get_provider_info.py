"""Provider registration, read by Airflow through the ``apache_airflow_provider`` entry point.

Every Airflow component imports this module when it discovers providers, so it imports next to
nothing (only the API's vocabulary). The ``openai_ads`` connection form (Airflow 3.2+) is
declared here, not on the hook.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_openai_ads.conversions.taxonomy import ACTION_SOURCES

#: what a Pixel ID may look like (the format is opaque: short, alphanumeric, maybe ``-``/``_``)
PIXEL_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
INTEGRATION_SOURCE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def get_provider_info() -> dict[str, Any]:
    """Describe the provider: its modules, and the ``openai_ads`` connection type and form."""
    return {
        "package-name": "airflow-provider-openai-ads",
        "name": "OpenAI Ads",
        "description": "Send conversion events from a data warehouse to the OpenAI Ads Conversions API.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "OpenAI Ads",
                "external-doc-url": "https://developers.openai.com/ads/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "OpenAI Ads",
                "python-modules": ["airflow_provider_openai_ads.hooks.openai_ads"],
            }
        ],
        "operators": [
            {
                "integration-name": "OpenAI Ads",
                "python-modules": ["airflow_provider_openai_ads.operators.openai_ads"],
            }
        ],
        "transfers": [
            {
                "source-integration-name": "Common SQL",
                "target-integration-name": "OpenAI Ads",
                "python-module": "airflow_provider_openai_ads.transfers.sql_to_openai_ads",
            }
        ],
        "connection-types": [
            {
                "connection-type": "openai_ads",
                "hook-class-name": "airflow_provider_openai_ads.hooks.openai_ads.OpenAIAdsHook",
                "hook-name": "OpenAI Ads",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"password": "Conversions API key", "host": "Base URL (optional)"},
                    "placeholders": {
                        "host": "https://bzr.openai.com",
                        "password": "A Conversions API key (not an Advertiser API key)",
                        "pixel_id": "The Pixel ID from Ads Manager",
                    },
                },
                "conn-fields": _CONN_FIELDS,
            }
        ],
    }


# The Airflow 3.3 form marks every non-nullable field as required: optional fields are nullable,
# or (an enum, a boolean) pre-filled by their default.
_CONN_FIELDS: dict[str, dict[str, Any]] = {
    "pixel_id": {
        "label": "Pixel ID",
        "description": "The pixel_id of the data source events are sent for (not its clidsrc_/cds_ id).",
        "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": PIXEL_ID_PATTERN},
    },
    "default_action_source": {
        "label": "Default action source",
        "description": "action_source for events that do not carry one.",
        "schema": {"type": ["string", "null"], "enum": [*sorted(ACTION_SOURCES), None], "default": None},
    },
    "timeout": {
        "label": "Request timeout (seconds)",
        "description": "Timeout of one HTTP request to the Conversions API.",
        "schema": {"type": ["number", "null"], "minimum": 1, "default": 30},
    },
    "integration_source": {
        "label": "Integration source",
        "description": "Optional name of the sending integration, sent with every request.",
        "schema": {"type": ["string", "null"], "pattern": INTEGRATION_SOURCE_PATTERN},
    },
    "user_schema": {
        "label": "User fields shape",
        "description": "'lists' (newest documented shape, emails_sha256 etc.) or 'singular' (older shape).",
        "schema": {"type": "string", "enum": ["lists", "singular"], "default": "lists"},
    },
    "max_in_flight": {
        "label": "Requests in flight",
        "description": "How many requests are sent concurrently.",
        "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 32, "default": 4},
    },
    "allow_insecure_http": {
        "label": "Allow plain http",
        "description": "Allow an http:// base URL that is not loopback (never needed for the real API).",
        "schema": {"type": "boolean", "default": False},
    },
}
