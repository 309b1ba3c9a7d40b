"""Seeded fault injection: 429/500/503, dropped connections, latency and slow answers."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from airflow_provider_openai_ads.emulator import EmulatorApp, EmulatorConfig, EmulatorServer, EmulatorState

from . import batch, post


def outcomes(client: httpx.Client, n: int) -> list[int | str]:
    """Status of ``n`` sequential single-event posts (``"drop"`` for a dropped connection)."""
    result: list[int | str] = []
    for i in range(n):
        try:
            result.append(post(client, {"events": batch(1, prefix=f"r{i}")}).status_code)
        except httpx.RemoteProtocolError:
            result.append("drop")
    return result


@pytest.mark.parametrize(("rate", "status"), [("rate_500", 500), ("rate_503", 503)])
def test_server_errors(client: httpx.Client, emulator: EmulatorServer, rate: str, status: int) -> None:
    emulator.configure(**{rate: 1.0})
    answer = post(client, {"events": batch(2)})
    assert answer.status_code == status
    assert answer.json()["error"]["type"] == "server_error"
    assert emulator.events() == []
    stats = emulator.stats()
    assert stats.faults[str(status)] == 1
    assert stats.requests_by_status == {str(status): 1}
    assert stats.events_received == 0


def test_429_carries_retry_after(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.configure(rate_429=1.0)
    answer = post(client, {"events": batch(1)})
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["error"]["code"] == "rate_limit_exceeded"
    emulator.configure(retry_after=7)
    assert post(client, {"events": batch(1)}).headers["retry-after"] == "7"
    emulator.configure(retry_after=None)
    assert "retry-after" not in post(client, {"events": batch(1)}).headers
    assert emulator.stats().faults["429"] == 3


def test_faults_come_before_authentication_and_validation(emulator: EmulatorServer) -> None:
    emulator.configure(rate_503=1.0)
    assert httpx.post(f"{emulator.url}/v1/events", content=b"garbage").status_code == 503
    assert emulator.stats().events_received == 0


def test_faults_only_hit_the_api(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.configure(rate_drop=1.0)
    assert client.get("/_emulator/stats").status_code == 200
    assert client.post("/_emulator/reset").status_code == 200


class TestDroppedConnection:
    def test_client_sees_a_protocol_error_not_a_500(
        self, client: httpx.Client, emulator: EmulatorServer
    ) -> None:
        emulator.configure(rate_drop=1.0)
        with pytest.raises(httpx.RemoteProtocolError):
            post(client, {"events": batch(3)})
        assert emulator.events() == []
        stats = emulator.stats()
        assert stats.faults["drop"] == 1
        assert stats.requests_by_status == {"dropped": 1}
        assert emulator.requests()[-1].status is None
        # the server keeps serving, on a new connection
        emulator.configure(rate_drop=0.0)
        assert post(client, {"events": batch(3)}).status_code == 200

    def test_no_byte_is_sent_back(self, emulator: EmulatorServer) -> None:
        emulator.configure(rate_drop=1.0)
        body = b'{"events": []}'
        request = (
            b"POST /v1/events?pid=emulator-pixel HTTP/1.1\r\nHost: emulator\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
            sock.sendall(request)
            try:
                received = sock.recv(65536)
            except ConnectionResetError:
                received = b""
        assert received == b""

    def test_large_body(self, client: httpx.Client, emulator: EmulatorServer) -> None:
        emulator.configure(rate_drop=1.0)
        with pytest.raises(httpx.TransportError):
            post(client, {"events": batch(1000)})

    @pytest.mark.parametrize("http", ["httptools", "h11"])
    def test_app_served_by_plain_uvicorn_still_drops(self, http: str) -> None:
        """Without the emulator's protocol class, the app falls back to uvicorn's own transport."""
        app = EmulatorApp(EmulatorState(EmulatorConfig(rate_drop=1.0)))
        config = uvicorn.Config(app, host="127.0.0.1", port=0, http=http, lifespan="off", log_config=None)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            with pytest.raises(httpx.RemoteProtocolError):
                httpx.post(f"http://127.0.0.1:{port}/v1/events?pid=emulator-pixel", json={"events": batch(1)})
        finally:
            server.should_exit = True
            thread.join(10)


def test_latency_is_added_to_every_post(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.configure(latency_ms=150)
    for expected in (200, 401):
        started = time.perf_counter()
        headers = {} if expected == 200 else {"Authorization": "Bearer nope"}
        assert post(client, {"events": batch(1)}, headers=headers).status_code == expected
        assert time.perf_counter() - started >= 0.15
    started = time.perf_counter()
    client.get("/_emulator/stats")
    assert time.perf_counter() - started < 0.15
    assert emulator.stats().faults["slow"] == 0


def test_slow_answers(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.configure(slow_rate=1.0, slow_ms=200)
    started = time.perf_counter()
    assert post(client, {"events": batch(1)}).status_code == 200
    assert time.perf_counter() - started >= 0.2
    assert emulator.stats().faults["slow"] == 1
    assert emulator.requests()[-1].slow is True


def test_slow_rate_is_a_share(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.configure(slow_rate=0.5, slow_ms=1)
    outcomes(client, 40)
    slow = emulator.stats().faults["slow"]
    assert 5 <= slow <= 35
    assert slow == sum(record.slow for record in emulator.requests())


MIXED = {"rate_drop": 0.1, "rate_429": 0.2, "rate_500": 0.1, "rate_503": 0.1}


def test_rates_are_honoured_roughly(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.configure(**MIXED)
    result = outcomes(client, 200)
    faults = emulator.stats().faults
    assert faults["drop"] == result.count("drop")
    assert faults["429"] == result.count(429)
    assert 20 <= faults["429"] <= 60
    assert result.count(200) == emulator.stats().events_accepted


def test_seeded_sequence_is_reproducible(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.configure(seed=1234, **MIXED)
    first = outcomes(client, 40)
    assert len(set(first)) >= 4

    emulator.reset()  # restarts the sequence from the same seed
    assert outcomes(client, 40) == first

    emulator.configure(seed=1234)  # so does re-setting the seed
    assert outcomes(client, 40) == first

    emulator.configure(seed=99)
    assert outcomes(client, 40) != first

    with (
        EmulatorServer(EmulatorConfig(seed=1234, **MIXED)) as fresh,
        httpx.Client(base_url=fresh.url, headers={"Authorization": "Bearer emulator-key"}) as other,
    ):
        assert outcomes(other, 40) == first


def test_faults_change_at_runtime_over_http(client: httpx.Client, emulator: EmulatorServer) -> None:
    assert client.post("/_emulator/config", json={"rate_503": 1.0}).status_code == 200
    assert post(client, {"events": batch(1)}).status_code == 503
    assert client.post("/_emulator/config", json={"rate_503": 0.0}).status_code == 200
    assert post(client, {"events": batch(1)}).status_code == 200
