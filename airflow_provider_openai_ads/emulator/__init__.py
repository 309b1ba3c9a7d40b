"""A local emulator of the OpenAI Ads Conversions API, for tests, demos, benchmarks and dry runs.

It judges ``POST /v1/events?pid=...`` with the project's own request schema
(:mod:`airflow_provider_openai_ads.conversions.schema`), answers in the error envelope observed for
the real API, deduplicates first-wins per pixel, injects seeded faults (429/500/503, dropped
connections, latency) and exposes what it received under ``/_emulator/``. Run it in-process with
:class:`EmulatorServer`, as a child process with :class:`EmulatorProcess`, or from the command
line: ``python -m airflow_provider_openai_ads.emulator --port 8080``.
"""

from __future__ import annotations

from airflow_provider_openai_ads.emulator.app import EmulatorApp
from airflow_provider_openai_ads.emulator.config import (
    DEFAULT_API_KEY,
    DEFAULT_PIXEL_ID,
    DEFAULT_POISON_PREFIX,
    EmulatorConfig,
)
from airflow_provider_openai_ads.emulator.process import EmulatorProcess
from airflow_provider_openai_ads.emulator.server import EmulatorServer
from airflow_provider_openai_ads.emulator.state import EmulatorState
from airflow_provider_openai_ads.emulator.stats import EmulatorStats, RequestRecord

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_PIXEL_ID",
    "DEFAULT_POISON_PREFIX",
    "EmulatorApp",
    "EmulatorConfig",
    "EmulatorProcess",
    "EmulatorServer",
    "EmulatorState",
    "EmulatorStats",
    "RequestRecord",
]
