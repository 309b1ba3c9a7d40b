"""The few ASGI helpers the emulator needs.

The emulator is a raw ASGI app: for its handful of routes, Starlette measured ~26 µs of routing and
request-object overhead per call against ~2.4 µs here, which matters for benchmarks that post
many small batches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from airflow_provider_openai_ads.emulator.jsonio import encode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = (b"content-type", b"application/json")


class ClientDisconnected(Exception):
    """The client went away before the request body was complete."""


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_json(
    send: Send, status: int, body: bytes | Any, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Answer with ``body`` (already serialised bytes, or data to serialise)."""
    payload = body if isinstance(body, bytes) else encode(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON, (b"content-length", str(len(payload)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def query_params(scope: Scope) -> dict[str, str]:
    """Decoded query parameters; the last value wins for a repeated name."""
    query = scope.get("query_string", b"")
    return dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if query else {}


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a (lower-case) request header."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge start-up and shutdown; the emulator needs neither."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
