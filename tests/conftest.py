"""Project-wide fixtures: a running Conversions API emulator.

``emulator`` (function scope) is the session's :class:`EmulatorServer`, reset before the test to
its start-up settings (key ``emulator-key``, pixel ``emulator-pixel``, no faults) with no events,
dedup keys or statistics. Use ``emulator.url`` as the API base URL and ``emulator.events()``,
``emulator.stats()``, ``emulator.requests()``, ``emulator.configure(...)`` in-process.

This file must not import Airflow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_openai_ads import conversions
from airflow_provider_openai_ads.emulator import EmulatorServer


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to test a compiled module older than its source: the tests would not see the edit."""
    if os.environ.get("OPENAI_ADS_PURE_PYTHON"):
        return  # the compiled modules are not used
    package = Path(conversions.__file__).parent
    for name in conversions.COMPILED_MODULES:
        source = package / f"{name}.py"
        for compiled in package.glob(f"{name}.*.so"):
            if compiled.stat().st_mtime < source.stat().st_mtime:
                raise pytest.UsageError(
                    f"{compiled.name} is older than {source.name}: rebuild it (make test does, or "
                    f"`uv pip install -e .`), delete it, or set OPENAI_ADS_PURE_PYTHON=1"
                )


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    """One emulator on 127.0.0.1 (a free port) for the whole session; prefer ``emulator``."""
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> EmulatorServer:
    """The session's emulator, reset (events, dedup, stats, request log, settings) for this test."""
    emulator_server.reset(restore_config=True)
    return emulator_server
