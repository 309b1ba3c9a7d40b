"""JSON in and out: orjson, with the standard library for what orjson refuses.

Pydantic's parser accepts ``NaN`` and integers beyond 64 bits (possible in a custom event's extra
fields); orjson does not, so such documents fall back to :mod:`json` rather than failing.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def encode(data: Any) -> bytes:
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:
        return json.dumps(data).encode()


def decode(document: bytes) -> Any:
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError:
        return json.loads(document)
