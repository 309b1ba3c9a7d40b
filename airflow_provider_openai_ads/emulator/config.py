"""The emulator's settings: identities, validation switches and fault injection.

One immutable :class:`EmulatorConfig` is in force at a time. Runtime changes (the
``/_emulator/config`` endpoint, :meth:`EmulatorServer.configure`) build a new, fully validated
instance, so a request in flight always sees one consistent set of settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

DEFAULT_API_KEY = "emulator-key"
DEFAULT_PIXEL_ID = "emulator-pixel"
DEFAULT_POISON_PREFIX = "poison-"

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Token = Annotated[str, StringConstraints(min_length=1, pattern=r"^[!-~]+$")]
"""A key or pixel id: printable ASCII without spaces, so it survives a header or a query string."""

#: fields fixed for the life of a server (the socket is already bound)
STARTUP_ONLY_FIELDS = frozenset({"host", "port"})
FAULT_RATE_FIELDS = ("rate_drop", "rate_429", "rate_500", "rate_503")


class EmulatorConfig(BaseModel):
    """Settings of the Conversions API emulator.

    ``api_keys`` / ``pixel_ids`` are the accepted bearer keys and ``pid`` values.
    ``user_schema`` forces one ``user`` shape (``"lists"`` or ``"singular"``); ``None`` accepts both.
    ``poison_prefix``: events whose ``id`` starts with it are rejected as if by a server-side rule
    the client cannot pre-validate (``None`` disables). Fault rates are per ``POST /v1/events``
    probabilities, drawn from ``random.Random(seed)``; their sum must not exceed 1.
    ``clock_offset_ms`` shifts the emulator's clock (for time-window tests).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    api_keys: tuple[Token, ...] = Field(default=(DEFAULT_API_KEY,), min_length=1)
    pixel_ids: tuple[Token, ...] = Field(default=(DEFAULT_PIXEL_ID,), min_length=1)
    user_schema: Literal["lists", "singular"] | None = None
    store_events: bool = True
    errors_without_index: bool = False
    poison_prefix: Annotated[str, StringConstraints(min_length=1)] | None = DEFAULT_POISON_PREFIX
    seed: int = 0
    rate_drop: Probability = 0.0
    rate_429: Probability = 0.0
    rate_500: Probability = 0.0
    rate_503: Probability = 0.0
    retry_after: str | None = "1"
    latency_ms: float = Field(default=0.0, ge=0.0)
    slow_rate: Probability = 0.0
    slow_ms: float = Field(default=0.0, ge=0.0)
    clock_offset_ms: int = 0

    @field_validator("retry_after", mode="before")
    @classmethod
    def _retry_after_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and not (value and value.isprintable() and value.isascii()):
            raise ValueError("retry_after must be a non-empty printable ASCII header value")
        return value

    @model_validator(mode="after")
    def _rates_fit(self) -> EmulatorConfig:
        if sum(getattr(self, name) for name in FAULT_RATE_FIELDS) > 1.0 + 1e-9:
            raise ValueError(f"the sum of {', '.join(FAULT_RATE_FIELDS)} must not exceed 1")
        return self

    def with_changes(self, changes: Mapping[str, Any]) -> EmulatorConfig:
        """A validated copy with ``changes`` applied; raises ``ValueError`` for a start-up-only field."""
        fixed = STARTUP_ONLY_FIELDS.intersection(changes)
        if fixed:
            raise ValueError(f"cannot change {', '.join(sorted(fixed))} of a running emulator")
        return type(self).model_validate({**self.model_dump(), **changes})

    def public_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready data, without the API keys."""
        return self.model_dump(mode="json", exclude={"api_keys"})
