"""Error bodies in the OpenAI-style envelope observed for the Conversions API (reference §5.2)."""

from __future__ import annotations

from typing import Any

import orjson

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"


def error_body(
    message: str,
    *,
    error_type: str = INVALID_REQUEST,
    param: str | None = None,
    code: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": error_type, "param": param, "code": code}
    if errors is not None:
        error["errors"] = errors
    return {"error": error}


def nested_error(message: str, param: str, code: str) -> dict[str, Any]:
    """One entry of ``error.errors``."""
    return {"message": message, "param": param, "code": code}


# Constant answers, serialised once.
MISSING_PID = orjson.dumps(
    error_body(
        "[{'type': 'missing', 'loc': ('query', 'pid'), 'msg': 'Field required', 'input': None}]", param="pid"
    )
)
UNAUTHORIZED = orjson.dumps(error_body("Unauthorized"))
UNKNOWN_PID = orjson.dumps(error_body("403: unknown pid", error_type=SERVER_ERROR))
NOT_FOUND = orjson.dumps(error_body("Not Found"))
METHOD_NOT_ALLOWED = orjson.dumps(error_body("Method Not Allowed"))
INTERNAL_ERROR = orjson.dumps(
    error_body("Internal server error (injected by the emulator).", error_type=SERVER_ERROR)
)
SERVICE_UNAVAILABLE = orjson.dumps(
    error_body("Service temporarily unavailable (injected by the emulator).", error_type=SERVER_ERROR)
)


def rate_limited(retry_after: str | None) -> bytes:
    message = "Rate limit exceeded (injected by the emulator)."
    if retry_after is not None:
        message += f" Retry after {retry_after} seconds."
    return orjson.dumps(error_body(message, error_type="rate_limit_error", code="rate_limit_exceeded"))
