"""Fixtures of the emulator tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_openai_ads.emulator import EmulatorServer


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """An HTTP client on the (reset) emulator, authenticated with its default key."""
    with httpx.Client(
        base_url=emulator.url, headers={"Authorization": f"Bearer {emulator.api_key}"}, timeout=10.0
    ) as http:
        yield http
