"""``EmulatorServer`` life cycle and ``EmulatorConfig`` rules."""

from __future__ import annotations

import re
import socket

import httpx
import pytest
from pydantic import ValidationError

from airflow_provider_openai_ads.emulator import EmulatorConfig, EmulatorServer
from airflow_provider_openai_ads.emulator.cli import build_parser, config_from_args, config_to_argv

from . import batch


def test_starts_on_a_free_loopback_port_and_stops() -> None:
    server = EmulatorServer(api_keys=("k",), pixel_ids=("p",))
    with pytest.raises(RuntimeError):
        _ = server.url
    with server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        assert server.port > 0
        assert server.running
        assert (server.api_key, server.pixel_id) == ("k", "p")
        assert server.events_url == f"{server.url}/v1/events?pid=p"
        answer = httpx.post(
            server.events_url, json={"events": batch(2)}, headers={"Authorization": "Bearer k"}
        )
        assert answer.status_code == 200
        assert len(server.events()) == 2
        port = server.port
    assert not server.running
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    server.stop()  # idempotent


def test_two_servers_do_not_share_state(emulator: EmulatorServer) -> None:
    with EmulatorServer() as other:
        assert other.port != emulator.port
        httpx.post(
            other.events_url, json={"events": batch(1)}, headers={"Authorization": "Bearer emulator-key"}
        )
        assert len(other.events()) == 1
    assert emulator.events() == []


def test_cannot_start_twice() -> None:
    with EmulatorServer() as server, pytest.raises(RuntimeError):
        server.start()


def test_port_in_use_fails_at_start() -> None:
    with EmulatorServer() as server, pytest.raises(OSError):
        EmulatorServer(port=server.port).start()


@pytest.mark.parametrize(
    "fields",
    [
        {"rate_drop": 0.5, "rate_503": 0.6},
        {"rate_500": -0.1},
        {"api_keys": ()},
        {"pixel_ids": ("",)},
        {"poison_prefix": ""},
        {"retry_after": ""},
        {"retry_after": "1\r\nX-Evil: 1"},
        {"port": 70000},
        {"surprise": True},
    ],
)
def test_config_rejects(fields: dict) -> None:
    with pytest.raises(ValidationError):
        EmulatorConfig(**fields)


def test_config_is_immutable_and_changes_are_validated_copies() -> None:
    config = EmulatorConfig()
    with pytest.raises(ValidationError):
        config.rate_429 = 0.5  # type: ignore[misc]
    changed = config.with_changes({"rate_429": 0.5, "retry_after": 2})
    assert (changed.rate_429, changed.retry_after, config.rate_429) == (0.5, "2", 0.0)
    with pytest.raises(ValueError, match="host"):
        config.with_changes({"host": "0.0.0.0"})


@pytest.mark.parametrize(
    "config",
    [
        EmulatorConfig(),
        EmulatorConfig(
            host="localhost",
            port=8123,
            api_keys=("a", "b"),
            pixel_ids=("p1", "p2", "p3"),
            user_schema="singular",
            store_events=False,
            errors_without_index=True,
            poison_prefix=None,
            seed=7,
            rate_drop=0.01,
            rate_429=0.1,
            rate_500=0.123456789,
            rate_503=0.2,
            retry_after=None,
            latency_ms=2.5,
            slow_rate=0.3,
            slow_ms=100,
            clock_offset_ms=-5,
        ),
    ],
)
def test_cli_options_round_trip(config: EmulatorConfig) -> None:
    assert config_from_args(build_parser().parse_args(config_to_argv(config))) == config
