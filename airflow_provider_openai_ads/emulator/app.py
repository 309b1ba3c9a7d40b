"""The emulator's ASGI application: ``POST /v1/events`` plus the ``/_emulator/`` inspection routes.

Per ``POST /v1/events`` the order is: read the body, draw the fault (added latency, then possibly
a dropped connection, 429, 500 or 503), then ``pid`` present (400), bearer key known (401),
``pid`` known (403), then the body judged by the project's schema (400/422, all-or-nothing), and
finally first-wins deduplication and storage (200).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import ValidationError

from airflow_provider_openai_ads.conversions.taxonomy import EVENTS_PATH
from airflow_provider_openai_ads.emulator import envelopes
from airflow_provider_openai_ads.emulator.asgi import (
    ClientDisconnected,
    Receive,
    Scope,
    Send,
    header,
    lifespan,
    query_params,
    read_body,
    send_json,
)
from airflow_provider_openai_ads.emulator.config import EmulatorConfig
from airflow_provider_openai_ads.emulator.faults import FaultDecision
from airflow_provider_openai_ads.emulator.judge import Rejected, judge
from airflow_provider_openai_ads.emulator.protocol import drop_connection
from airflow_provider_openai_ads.emulator.state import EmulatorState
from airflow_provider_openai_ads.emulator.stats import RequestRecord

INSPECTION_PREFIX = "/_emulator"

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
_FAULT_STATUS: dict[str | None, int | None] = {"drop": None, "429": 429, "500": 500, "503": 503}


class EmulatorApp:
    """The Conversions API emulator as an ASGI 3 application over an :class:`EmulatorState`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._routes: dict[str, dict[str, Handler]] = {
            EVENTS_PATH: {"POST": self._post_events},
            f"{INSPECTION_PREFIX}/events": {"GET": self._get_events},
            f"{INSPECTION_PREFIX}/stats": {"GET": self._get_stats},
            f"{INSPECTION_PREFIX}/requests": {"GET": self._get_requests},
            f"{INSPECTION_PREFIX}/reset": {"POST": self._post_reset},
            f"{INSPECTION_PREFIX}/config": {"GET": self._get_config, "POST": self._post_config},
            f"{INSPECTION_PREFIX}/health": {"GET": self._get_health},
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        methods = self._routes.get(scope["path"])
        if methods is None:
            await send_json(send, 404, envelopes.NOT_FOUND)
            return
        handler = methods.get(scope["method"])
        if handler is None:
            allow = ", ".join(methods).encode()
            await send_json(send, 405, envelopes.METHOD_NOT_ALLOWED, [(b"allow", allow)])
            return
        with contextlib.suppress(ClientDisconnected):
            await handler(scope, receive, send)

    # -- the API -------------------------------------------------------------------------------

    async def _post_events(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        state = self.state
        config = state.config
        params = query_params(scope)
        pid = params.get("pid")
        fault = state.draw_fault(config)
        if fault.delay_s > 0:
            await asyncio.sleep(fault.delay_s)
        if fault.kind is not None:
            await self._inject(fault, pid, config, scope, receive, send)
            return
        if pid is None or not pid.strip():
            state.record(RequestRecord(400, slow=fault.slow, param="pid"))
            await send_json(send, 400, envelopes.MISSING_PID)
            return
        if not _authorized(header(scope, b"authorization"), config.api_keys):
            state.record(RequestRecord(401, pid=pid, slow=fault.slow))
            await send_json(send, 401, envelopes.UNAUTHORIZED)
            return
        if pid not in config.pixel_ids:
            state.record(RequestRecord(403, pid=pid, slow=fault.slow))
            await send_json(send, 403, envelopes.UNKNOWN_PID)
            return

        verdict = judge(body, config, time.time_ns() // 1_000_000 + config.clock_offset_ms)
        if isinstance(verdict, Rejected):
            state.record(
                RequestRecord(
                    verdict.status,
                    pid=pid,
                    events=verdict.events,
                    validate_only=verdict.validate_only,
                    slow=fault.slow,
                    code=verdict.code,
                    param=verdict.param,
                )
            )
            await send_json(send, verdict.status, verdict.body)
            return

        request = verdict
        received = len(request.events)
        validate_only = request.validate_only is True
        accepted = duplicates = 0
        if not validate_only:
            accepted, duplicates = state.accept(pid, request.events, body if config.store_events else None)
        state.record(
            RequestRecord(
                200,
                pid=pid,
                events=received,
                accepted=accepted,
                duplicates=duplicates,
                validate_only=validate_only,
                integration_source=request.integration_source,
                slow=fault.slow,
            )
        )
        answer: dict[str, Any] = {"received": received, "accepted": accepted, "duplicates": duplicates}
        if validate_only:
            answer["validate_only"] = True
        await send_json(send, 200, answer)

    async def _inject(
        self,
        fault: FaultDecision,
        pid: str | None,
        config: EmulatorConfig,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        self.state.record(
            RequestRecord(_FAULT_STATUS[fault.kind], pid=pid, fault=fault.kind, slow=fault.slow)
        )
        if fault.kind == "drop":
            await drop_connection(scope, receive)
        elif fault.kind == "429":
            retry_after = config.retry_after
            headers = [(b"retry-after", retry_after.encode())] if retry_after is not None else []
            await send_json(send, 429, envelopes.rate_limited(retry_after), headers)
        elif fault.kind == "500":
            await send_json(send, 500, envelopes.INTERNAL_ERROR)
        else:
            await send_json(send, 503, envelopes.SERVICE_UNAVAILABLE)

    # -- inspection ----------------------------------------------------------------------------

    async def _get_events(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = query_params(scope)
        try:
            offset = _non_negative(params, "offset") or 0
            limit = _non_negative(params, "limit")
        except _BadParameter as exc:
            await send_json(send, 400, exc.body)
            return
        pid = params.get("pid") or None
        state = self.state
        answer = {
            "pid": pid,
            "total": state.event_count(pid),
            "offset": offset,
            "limit": limit,
            "store_events": state.config.store_events,
            "events": state.events(pid, offset=offset, limit=limit),
        }
        await send_json(send, 200, answer)

    async def _get_stats(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, self.state.stats().as_dict())

    async def _get_requests(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            limit = _non_negative(query_params(scope), "limit")
        except _BadParameter as exc:
            await send_json(send, 400, exc.body)
            return
        records = self.state.requests()
        if limit is not None:
            records = records[-limit:] if limit else []
        await send_json(send, 200, {"requests": [record.as_dict() for record in records]})

    async def _post_reset(self, scope: Scope, receive: Receive, send: Send) -> None:
        options = await _json_object(receive, send, allow_empty=True)
        if options is None:
            return
        restore = options.get("restore_config", False)
        if not isinstance(restore, bool):
            await send_json(
                send, 400, envelopes.error_body("restore_config must be a boolean", param="restore_config")
            )
            return
        self.state.reset(restore_config=restore)
        await send_json(send, 200, {"reset": True, "restore_config": restore})

    async def _get_config(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, self.state.config.public_dict())

    async def _post_config(self, scope: Scope, receive: Receive, send: Send) -> None:
        changes = await _json_object(receive, send)
        if changes is None:
            return
        try:
            config = self.state.configure(changes)
        except ValidationError as exc:
            errors = [
                envelopes.nested_error(
                    error["msg"], ".".join(map(str, error["loc"])) or "config", error["type"]
                )
                for error in exc.errors(include_url=False, include_input=False)
            ]
            body = envelopes.error_body(
                "Invalid emulator configuration.",
                param=errors[0]["param"],
                code="invalid_config",
                errors=errors,
            )
            await send_json(send, 400, body)
            return
        except ValueError as exc:
            await send_json(send, 400, envelopes.error_body(str(exc), code="invalid_config"))
            return
        await send_json(send, 200, config.public_dict())

    async def _get_health(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, {"status": "ok"})


def _authorized(value: bytes | None, api_keys: tuple[str, ...]) -> bool:
    if value is None:
        return False
    scheme, _, token = value.decode("latin-1").partition(" ")
    return scheme.lower() == "bearer" and token.strip() in api_keys


class _BadParameter(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.body = envelopes.error_body(
            f"{name} must be a non-negative integer", param=name, code="invalid_parameter"
        )


def _non_negative(params: dict[str, str], name: str) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit():
        raise _BadParameter(name)
    return int(text)


async def _json_object(receive: Receive, send: Send, *, allow_empty: bool = False) -> dict[str, Any] | None:
    """The request body as a JSON object; answers 400 itself and returns ``None`` otherwise."""
    body = await read_body(receive)
    if allow_empty and not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        await send_json(
            send, 400, envelopes.error_body("The request body must be a JSON object.", code="invalid_json")
        )
        return None
    return data
