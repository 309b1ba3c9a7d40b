"""Set-up of the reliability suites: Airflow environment before import, env connections, helpers.

Airflow reads its configuration when first imported. When this directory runs on its own, the
environment is set here (as ``tests/airflow/conftest.py`` does); once Airflow is imported (the
whole tree runs and another conftest or test module imported it), nothing is changed.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile

if "airflow" not in sys.modules:
    _AIRFLOW_HOME = tempfile.mkdtemp(prefix="openai-ads-reliability-home-")
    atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
    os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

from collections.abc import Callable

import pytest

from airflow_provider_openai_ads.emulator import EmulatorServer

WAREHOUSE_CONN_ID = "reliability_warehouse"
OPENAI_ADS_CONN_ID = "reliability_openai_ads"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long-running reliability test (still part of `make test`)")


@pytest.fixture
def define_conns(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Define the warehouse (SQLite file) and OpenAI Ads connections as ``AIRFLOW_CONN_*`` variables.

    ``define(db_path, emulator, **openai_ads_fields)``: the OpenAI Ads connection points at the
    emulator (its URL, key and pixel) unless ``host``/``password``/``extra`` are given.
    """

    def define(db_path: str, emulator: EmulatorServer | None = None, **fields: object) -> None:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}", json.dumps({"conn_type": "sqlite", "host": db_path})
        )
        conn: dict[str, object] = {"conn_type": "openai_ads"}
        if emulator is not None:
            conn.update(host=emulator.url, password=emulator.api_key, extra={"pixel_id": emulator.pixel_id})
        conn.update(fields)
        monkeypatch.setenv(f"AIRFLOW_CONN_{OPENAI_ADS_CONN_ID.upper()}", json.dumps(conn))

    return define


@pytest.fixture(autouse=True)
def _release_emulator_state(request: pytest.FixtureRequest):
    """After a test that used the shared emulator, drop what it stored (200,000 events weigh)."""
    yield
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator_server").reset(restore_config=True)
