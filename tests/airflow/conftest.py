"""Airflow set-up for the provider's Airflow-layer tests: no metadata DB, env-var connections.

Airflow reads its configuration when first imported, so the environment is set at the top of
this module, before anything imports ``airflow``.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from typing import Any

import pytest

if "airflow" in sys.modules:
    warnings.warn("airflow was imported before tests/airflow/conftest.py set its environment", stacklevel=1)
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="openai-ads-airflow-home-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


@pytest.fixture
def openai_ads_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Define ``openai_ads_default`` (or ``conn_id``) as a JSON env connection of type ``openai_ads``."""

    def define(conn_id: str = "openai_ads_default", **fields: Any) -> None:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "openai_ads", **fields})
        )

    return define
