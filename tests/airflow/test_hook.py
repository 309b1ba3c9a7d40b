"""OpenAIAdsHook: connection forms, options, delivery and connection tests against the emulator, secrecy."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import structlog
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.sdk.log import redact

from airflow_provider_openai_ads.conversions.batching import PreparedEvent
from airflow_provider_openai_ads.conversions.client import (
    AuthenticationError,
    ConfigurationError,
    ConversionsClient,
    RetryPolicy,
)
from airflow_provider_openai_ads.conversions.report import Report
from airflow_provider_openai_ads.conversions.taxonomy import DEFAULT_BASE_URL
from airflow_provider_openai_ads.emulator import DEFAULT_API_KEY, DEFAULT_PIXEL_ID, EmulatorServer
from airflow_provider_openai_ads.hooks.openai_ads import OpenAIAdsHook

DefineConn = Callable[..., None]
FAST_RETRY = RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.01, budget_s=5)


def _event(event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "page_viewed",
        "timestamp_ms": int(time.time() * 1000),
        "action_source": "other",
        "data": {"type": "contents"},
    }


def _stored_ids(emulator: EmulatorServer) -> list[str]:
    return [event["id"] for event in emulator.events(DEFAULT_PIXEL_ID)]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _recording_transport(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    return httpx.MockTransport(handler)


class TestConnectionForms:
    def test_init_reads_nothing(self) -> None:
        hook = OpenAIAdsHook("not_defined_anywhere", pixel_id="px")
        assert hook.openai_ads_conn_id == "not_defined_anywhere"
        with pytest.raises(AirflowNotFoundException):
            hook.get_conn()

    def test_default_connection_id(self, openai_ads_conn: DefineConn) -> None:
        openai_ads_conn(password="k" * 20, extra={"pixel_id": "px-extra"})
        assert OpenAIAdsHook().openai_ads_conn_id == "openai_ads_default"
        assert OpenAIAdsHook().get_conn().pixel_id == "px-extra"

    def test_pixel_id_from_login(self, openai_ads_conn: DefineConn) -> None:
        openai_ads_conn(password="k" * 20, login="px-login")
        assert OpenAIAdsHook().get_conn().pixel_id == "px-login"

    def test_extra_pixel_id_wins_over_login_and_override_over_both(self, openai_ads_conn: DefineConn) -> None:
        openai_ads_conn(password="k" * 20, login="px-login", extra={"pixel_id": "px-extra"})
        assert OpenAIAdsHook().get_conn().pixel_id == "px-extra"
        assert OpenAIAdsHook(pixel_id="px-override").get_conn().pixel_id == "px-override"

    def test_uri_form_and_get_hook(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(
            "AIRFLOW_CONN_ADS_URI",
            "openai-ads://:kkkkkkkkkkkk@bzr.example.com:8443?pixel_id=px-uri&timeout=12&max_in_flight=3",
        )
        hook = BaseHook.get_hook("ads_uri")
        assert isinstance(hook, OpenAIAdsHook)
        assert hook.openai_ads_conn_id == "ads_uri"
        client = hook.get_conn()
        assert (client.base_url, client.pixel_id, client.max_in_flight) == (
            "https://bzr.example.com:8443",
            "px-uri",
            3,
        )
        assert client._http.timeout.read == 12

    @pytest.mark.parametrize(
        ("host", "port", "base_url"),
        [
            (None, None, DEFAULT_BASE_URL),
            ("", None, DEFAULT_BASE_URL),
            ("http://127.0.0.1:8750", None, "http://127.0.0.1:8750"),
            ("http://127.0.0.1", 8750, "http://127.0.0.1:8750"),
            ("http://localhost:8750/", 8750, "http://localhost:8750"),
            ("https://proxy.example.com/conversions/", None, "https://proxy.example.com/conversions"),
            ("bzr.example.com", None, "https://bzr.example.com"),
            ("bzr.example.com", 8443, "https://bzr.example.com:8443"),
            ("bzr.example.com", 0, "https://bzr.example.com"),  # the 3.3 UI sends port 0 for "none"
        ],
    )
    def test_base_url(
        self, openai_ads_conn: DefineConn, host: str | None, port: int | None, base_url: str
    ) -> None:
        openai_ads_conn(password="k" * 20, host=host, port=port, extra={"pixel_id": "px"})
        assert OpenAIAdsHook().get_conn().base_url == base_url

    def test_port_conflicting_with_the_host_url(self, openai_ads_conn: DefineConn) -> None:
        openai_ads_conn(password="k" * 20, host="http://127.0.0.1:8750", port=9000, extra={"pixel_id": "px"})
        with pytest.raises(ConfigurationError, match=r"'openai_ads_default'.*8750.*9000"):
            OpenAIAdsHook().get_conn()

    def test_plain_http_to_a_remote_host_needs_allow_insecure_http(self, openai_ads_conn: DefineConn) -> None:
        openai_ads_conn(password="k" * 20, host="http://ads-proxy.internal:8080", extra={"pixel_id": "px"})
        with pytest.raises(ConfigurationError, match=r"'openai_ads_default'.*refusing plain http"):
            OpenAIAdsHook().get_conn()
        openai_ads_conn(
            password="k" * 20,
            host="http://ads-proxy.internal:8080",
            extra={"pixel_id": "px", "allow_insecure_http": True},
        )
        assert OpenAIAdsHook().get_conn().base_url == "http://ads-proxy.internal:8080"

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"extra": {"pixel_id": "px"}}, "no Conversions API key: set it as the password"),
            ({"password": "   ", "extra": {"pixel_id": "px"}}, "no Conversions API key"),
            ({"password": "k" * 20}, "no Pixel ID: set its pixel_id field"),
            ({"password": "k" * 20, "extra": {"pixel_id": "px id"}}, "does not look like a Pixel ID"),
            ({"password": "sk-conv with-space", "extra": {"pixel_id": "px"}}, "key contains spaces"),
            ({"password": "sk-conv-caf\u00e9-0001", "extra": {"pixel_id": "px"}}, "not printable ASCII"),
        ],
    )
    def test_missing_or_bad_credentials(
        self, openai_ads_conn: DefineConn, fields: dict, message: str
    ) -> None:
        openai_ads_conn(**fields)
        with pytest.raises(ConfigurationError, match=rf"connection 'openai_ads_default'.*{message}") as info:
            OpenAIAdsHook().get_conn()
        if password := fields.get("password", "").strip():
            assert password not in str(info.value)


class TestOptions:
    def test_extras_reach_the_client(self, openai_ads_conn: DefineConn) -> None:
        openai_ads_conn(
            password="k" * 20,
            extra={
                "pixel_id": "px",
                "timeout": 7,
                "max_in_flight": 2,
                "integration_source": "My-Stack",
                "default_action_source": "web",
                "user_schema": "singular",
            },
        )
        hook = OpenAIAdsHook()
        client = hook.get_conn()
        assert (client.max_in_flight, client.integration_source, client._http.timeout.read) == (
            2,
            "my-stack",
            7,
        )
        assert hook.mapping_defaults() == {"default_action_source": "web", "user_schema": "singular"}

    def test_hook_arguments_win_over_extras(self, openai_ads_conn: DefineConn) -> None:
        openai_ads_conn(password="k" * 20, extra={"pixel_id": "px", "timeout": 7, "max_in_flight": 2})
        retry = RetryPolicy(max_attempts=3)
        client = OpenAIAdsHook(timeout=3, max_in_flight=5, retry=retry, max_batch_events=10).get_conn()
        assert (client._http.timeout.read, client.max_in_flight, client.retry, client.max_batch_events) == (
            3,
            5,
            retry,
            10,
        )

    def test_defaults(self, openai_ads_conn: DefineConn) -> None:
        openai_ads_conn(password="k" * 20, extra={"pixel_id": "px", "timeout": "", "user_schema": None})
        hook = OpenAIAdsHook()
        client = hook.get_conn()
        assert (client.max_in_flight, client.integration_source, client._http.timeout.read) == (4, None, 30)
        assert hook.mapping_defaults() == {"default_action_source": None, "user_schema": "lists"}

    def test_mapping_defaults_need_no_key(self, openai_ads_conn: DefineConn) -> None:
        openai_ads_conn(extra={"default_action_source": "offline"})
        assert OpenAIAdsHook().mapping_defaults()["default_action_source"] == "offline"

    @pytest.mark.parametrize(
        ("extra", "field"),
        [
            ({"timeout": 0}, "timeout"),
            ({"timeout": "soon"}, "timeout"),
            ({"max_in_flight": 33}, "max_in_flight"),
            ({"default_action_source": "website"}, "default_action_source"),
            ({"user_schema": "plural"}, "user_schema"),
            ({"integration_source": "-bad"}, "integration_source"),
            ({"allow_insecure_http": "maybe"}, "allow_insecure_http"),
        ],
    )
    def test_invalid_extras(self, openai_ads_conn: DefineConn, extra: dict, field: str) -> None:
        openai_ads_conn(password="k" * 20, extra={"pixel_id": "px", **extra})
        with pytest.raises(ConfigurationError, match=rf"connection 'openai_ads_default'.* {field}: ") as info:
            OpenAIAdsHook().get_conn()
        assert info.value.__cause__ is None  # the pydantic error, which may quote input, is not chained
        assert info.value.__suppress_context__

    def test_unknown_extras_are_ignored_with_one_warning(self, openai_ads_conn: DefineConn) -> None:
        openai_ads_conn(
            password="k" * 20,
            extra={"pixel_id": "px", "X-Debug": "header-value", "proxy_token": "tok-value"},
        )
        seen: list[httpx.Request] = []
        hook = OpenAIAdsHook(transport=_recording_transport(seen))
        with structlog.testing.capture_logs() as logs:
            hook.send_events([_event("e1")])
            hook.mapping_defaults()
        warnings = [entry for entry in logs if entry["log_level"] == "warning"]
        assert len(warnings) == 1
        assert "ignoring unknown extra fields X-Debug, proxy_token" in warnings[0]["event"]
        assert "header-value" not in str(warnings)
        (request,) = seen
        assert "x-debug" not in request.headers
        assert "proxy_token" not in request.headers
        assert "header-value" not in str(request.headers)

    def test_api_key_only_from_the_connection(self) -> None:
        with pytest.raises(TypeError, match="only from the connection"):
            OpenAIAdsHook(api_key="k" * 20)

    def test_client_is_cached_until_closed(self, openai_ads_conn: DefineConn) -> None:
        openai_ads_conn(password="k" * 20, extra={"pixel_id": "px"})
        hook = OpenAIAdsHook()
        client = hook.get_conn()
        assert isinstance(client, ConversionsClient)
        assert hook.get_conn() is client is hook.client
        hook.close()
        assert client._http.is_closed
        assert hook.get_conn() is not client
        hook.close()
        hook.close()


class TestAgainstTheEmulator:
    @pytest.fixture
    def conn(self, openai_ads_conn: DefineConn, emulator: EmulatorServer) -> Callable[..., None]:
        def define(
            key: str = DEFAULT_API_KEY, pixel_id: str = DEFAULT_PIXEL_ID, host: str = emulator.url
        ) -> None:
            openai_ads_conn(password=key, host=host, extra={"pixel_id": pixel_id})

        define()
        return define

    def test_send_events_end_to_end(self, conn: Callable[..., None], emulator: EmulatorServer) -> None:
        events = [_event(f"order-{i}") for i in range(5)]
        progress: list[int] = []
        hook = OpenAIAdsHook(max_batch_events=2)
        report = hook.send_events(iter(events), on_progress=lambda r: progress.append(r.events["sent"]))
        assert report.events["sent"] == report.events_accounted == 5
        assert report.requests == 3
        assert progress[-1] == 5
        assert sorted(_stored_ids(emulator)) == [f"order-{i}" for i in range(5)]

        report = hook.send_events([PreparedEvent.from_event(_event("order-5"))], report=report)
        assert report.events["sent"] == 6
        assert "order-5" in _stored_ids(emulator)
        hook.close()

    def test_validate_only_stores_nothing(self, conn: Callable[..., None], emulator: EmulatorServer) -> None:
        report = OpenAIAdsHook().send_events([_event("probe-1"), _event("probe-2")], validate_only=True)
        assert report.validate_only
        assert report.events["sent"] == 2
        assert _stored_ids(emulator) == []

    def test_rejected_events_are_reported(self, conn: Callable[..., None]) -> None:
        bad = {**_event("bad-1"), "type": "no_such_type"}
        report = OpenAIAdsHook().send_events([_event("good-1"), bad])
        assert report.events["sent"] == 1
        assert report.events["rejected"] == 1
        assert report.samples[0]["event_id"] == "bad-1"

    def test_test_connection_ok(self, conn: Callable[..., None], emulator: EmulatorServer) -> None:
        ok, message = OpenAIAdsHook().test_connection()
        assert ok, message
        assert DEFAULT_PIXEL_ID in message
        assert _stored_ids(emulator) == []

    def test_test_connection_wrong_key(self, conn: Callable[..., None]) -> None:
        conn(key="sk-not-a-conversions-key")
        ok, message = OpenAIAdsHook().test_connection()
        assert not ok
        assert "HTTP 401" in message
        assert "not an Advertiser (Ads API) key" in message
        assert "sk-not-a-conversions-key" not in message

    def test_test_connection_wrong_pixel(self, conn: Callable[..., None]) -> None:
        conn(pixel_id="someone-elses-pixel")
        ok, message = OpenAIAdsHook().test_connection()
        assert not ok
        assert "HTTP 403" in message
        assert "Pixel ID 'someone-elses-pixel'" in message
        assert "pixel_id" in message

    def test_test_connection_unreachable(self, conn: Callable[..., None]) -> None:
        conn(host=f"http://127.0.0.1:{_closed_port()}")
        started = time.monotonic()
        ok, message = OpenAIAdsHook().test_connection()
        assert not ok
        assert message.startswith("could not reach the Conversions API at http://127.0.0.1:")
        assert "connection error" in message
        assert time.monotonic() - started < 5

    def test_test_connection_never_raises(self, openai_ads_conn: DefineConn) -> None:
        assert OpenAIAdsHook("not_defined_anywhere").test_connection() == (
            False,
            "AirflowNotFoundException: The conn_id `not_defined_anywhere` isn't defined",
        )
        openai_ads_conn(extra={"pixel_id": "px"})
        ok, message = OpenAIAdsHook().test_connection()
        assert not ok
        assert "no Conversions API key" in message
        openai_ads_conn(password="k" * 20, extra={"pixel_id": "px", "timeout": -1})
        ok, message = OpenAIAdsHook().test_connection()
        assert not ok
        assert "timeout: Input should be greater than or equal to 1" in message

    def test_send_events_with_a_refused_key_raises(self, conn: Callable[..., None]) -> None:
        conn(key="sk-refused-key-0001")
        with pytest.raises(AuthenticationError, match="HTTP 401") as info:
            OpenAIAdsHook().send_events([_event("e1")])
        assert isinstance(info.value.report, Report)


class TestSecrecy:
    """The key never shows: Airflow's masker knows it, and no repr, message or log record holds it."""

    @pytest.fixture
    def key(self) -> str:
        return f"sk-conv-{uuid.uuid4().hex}"

    def test_key_is_registered_with_the_masker(self, openai_ads_conn: DefineConn, key: str) -> None:
        openai_ads_conn(password=key, extra={"pixel_id": "px"})
        OpenAIAdsHook().get_conn()
        assert redact(f"key={key} header=Bearer {key}") == "key=*** header=***"
        assert key not in str(redact({"headers": {"Authorization": f"Bearer {key}"}}))

    def test_no_key_in_reprs_messages_or_logs(
        self,
        openai_ads_conn: DefineConn,
        key: str,
        emulator: EmulatorServer,
        caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        caplog.set_level(logging.DEBUG)
        for name in ("httpx", "httpcore", "airflow_provider_openai_ads"):
            caplog.set_level(logging.DEBUG, logger=name)
        texts: list[str] = []
        with structlog.testing.capture_logs() as structured:
            # refused key: exceptions and test_connection messages
            openai_ads_conn(password=key, host=emulator.url, extra={"pixel_id": DEFAULT_PIXEL_ID})
            hook = OpenAIAdsHook(retry=FAST_RETRY)
            texts += [repr(hook.get_conn()), repr(hook), str(vars(hook)), hook.test_connection()[1]]
            with pytest.raises(AuthenticationError) as refused:
                hook.send_events([_event("e1")])
            texts += [str(refused.value), repr(refused.value)]
            # configuration errors
            openai_ads_conn(password=key, host="http://remote.example", extra={"pixel_id": DEFAULT_PIXEL_ID})
            with pytest.raises(ConfigurationError) as insecure:
                OpenAIAdsHook().get_conn()
            texts += [str(insecure.value), OpenAIAdsHook().test_connection()[1]]
            # unreachable host, with retries logged
            port = _closed_port()
            openai_ads_conn(
                password=key, host=f"http://127.0.0.1:{port}", extra={"pixel_id": DEFAULT_PIXEL_ID}
            )
            texts.append(OpenAIAdsHook(retry=FAST_RETRY).send_events([_event("e2")]).to_dict().__repr__())
            texts.append(OpenAIAdsHook().test_connection()[1])
        texts += [record.getMessage() for record in caplog.records]
        texts += [repr(record.__dict__) for record in caplog.records]
        texts += [repr(entry) for entry in structured]
        captured = capfd.readouterr()
        texts += [captured.out, captured.err]
        assert any(record.name.startswith("httpcore") for record in caplog.records)
        assert [text for text in texts if key in text] == []
