"""The command line (``python -m airflow_provider_openai_ads.emulator``) and ``EmulatorProcess``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_openai_ads.emulator import EmulatorProcess

from . import batch

BANNER = re.compile(r"OpenAI Ads emulator listening on (http://127\.0\.0\.1:(\d+))\n")


@pytest.fixture
def start_cli() -> Iterator:
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_openai_ads.emulator", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        match = BANNER.fullmatch(line)
        assert match, (line, process.poll())
        return process, match[1]

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_stops_cleanly(start_cli, stop_signal: signal.Signals) -> None:
    process, url = start_cli("--api-key", "cli-key", "--pixel-id", "cli-pixel", "--pixel-id", "second")
    headers = {"Authorization": "Bearer cli-key"}
    answer = httpx.post(f"{url}/v1/events?pid=second", json={"events": batch(2)}, headers=headers)
    assert answer.json() == {"received": 2, "accepted": 2, "duplicates": 0}
    assert (
        httpx.post(
            f"{url}/v1/events?pid=emulator-pixel", json={"events": batch(1)}, headers=headers
        ).status_code
        == 403
    )
    assert httpx.get(f"{url}/_emulator/stats").json()["events_accepted"] == 2

    process.send_signal(stop_signal)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert stdout == ""  # the banner was the only line
    assert "Traceback" not in stderr
    assert "cli-key" not in stderr
    assert "order-0" not in stderr


def test_cli_options_reach_the_server(start_cli) -> None:
    _, url = start_cli("--rate-429", "1", "--retry-after", "5", "--no-store", "--seed", "3")
    answer = httpx.post(f"{url}/v1/events?pid=emulator-pixel", json={"events": batch(1)})
    assert (answer.status_code, answer.headers["retry-after"]) == (429, "5")
    config = httpx.get(f"{url}/_emulator/config").json()
    assert (config["store_events"], config["seed"], config["rate_429"]) == (False, 3, 1.0)


def test_cli_rejects_bad_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_openai_ads.emulator", "--rate-500", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "rate_500" in result.stderr


def test_cli_reports_a_busy_port(start_cli) -> None:
    _, url = start_cli()
    port = url.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_openai_ads.emulator", "--port", port],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert "cannot bind" in result.stderr


def test_emulator_process() -> None:
    started = time.perf_counter()
    with EmulatorProcess(pixel_ids=("bench-pixel",), store_events=True) as emulator:
        assert time.perf_counter() - started < 10
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emulator.url)
        url = f"{emulator.url}/v1/events?pid={emulator.pixel_id}"
        headers = {"Authorization": f"Bearer {emulator.api_key}"}
        assert httpx.post(url, json={"events": batch(3)}, headers=headers).status_code == 200
        assert emulator.stats()["events_accepted"] == 3
        assert [event["id"] for event in emulator.events(limit=2)] == ["order-0", "order-1"]
        assert emulator.configure(rate_503=1.0)["rate_503"] == 1.0
        assert httpx.post(url, json={"events": batch(1)}, headers=headers).status_code == 503
        emulator.reset(restore_config=True)
        assert emulator.stats()["requests"] == 0
        child = emulator.pid
    assert emulator.stop() is None  # already stopped by the context manager
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
