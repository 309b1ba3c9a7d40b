"""Command-line options of ``python -m airflow_provider_openai_ads.emulator`` <-> :class:`EmulatorConfig`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from airflow_provider_openai_ads.emulator.config import (
    DEFAULT_API_KEY,
    DEFAULT_PIXEL_ID,
    DEFAULT_POISON_PREFIX,
    EmulatorConfig,
)

BANNER = "OpenAI Ads emulator listening on {url}"

_FLOAT_OPTIONS = ("rate_drop", "rate_429", "rate_500", "rate_503", "latency_ms", "slow_rate", "slow_ms")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openai-ads-emulator",
        description="Local emulator of the OpenAI Ads Conversions API (POST /v1/events?pid=...), "
        "with seeded fault injection and inspection routes under /_emulator/.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"accepted key (repeatable; default {DEFAULT_API_KEY!r})",
    )
    parser.add_argument(
        "--pixel-id",
        action="append",
        dest="pixel_ids",
        metavar="PID",
        help=f"known pixel id (repeatable; default {DEFAULT_PIXEL_ID!r})",
    )
    parser.add_argument(
        "--user-schema", choices=("lists", "singular"), help="accept only this user shape (default: both)"
    )
    parser.add_argument(
        "--no-store", action="store_true", help="keep only dedup keys, not the events (large benchmarks)"
    )
    parser.add_argument(
        "--errors-without-index",
        action="store_true",
        help="error bodies carry only a message (no param, no errors)",
    )
    poison = parser.add_mutually_exclusive_group()
    poison.add_argument(
        "--poison-prefix",
        default=DEFAULT_POISON_PREFIX,
        help="events whose id starts with it are rejected (default: %(default)s)",
    )
    poison.add_argument("--no-poison", action="store_true", help="disable poison events")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the fault sequence (default: %(default)s)"
    )
    faults = parser.add_argument_group("fault injection (probabilities per POST /v1/events)")
    faults.add_argument(
        "--rate-drop", type=float, default=0.0, help="close the connection without any response"
    )
    faults.add_argument("--rate-429", type=float, default=0.0, help="answer 429 with Retry-After")
    faults.add_argument("--rate-500", type=float, default=0.0, help="answer 500")
    faults.add_argument("--rate-503", type=float, default=0.0, help="answer 503")
    retry_after = faults.add_mutually_exclusive_group()
    retry_after.add_argument(
        "--retry-after", default="1", help="Retry-After value of a 429 (default: %(default)s)"
    )
    retry_after.add_argument("--no-retry-after", action="store_true", help="send 429 without Retry-After")
    faults.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every POST")
    faults.add_argument(
        "--slow-rate", type=float, default=0.0, help="share of POSTs delayed by --slow-ms more"
    )
    faults.add_argument("--slow-ms", type=float, default=0.0, help="extra delay of a slow POST")
    parser.add_argument("--clock-offset-ms", type=int, default=0, help="shift of the emulator's clock")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug"),
        help="server log level (stderr)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The configuration named by parsed options; raises ``pydantic.ValidationError``."""
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        api_keys=tuple(args.api_keys or (DEFAULT_API_KEY,)),
        pixel_ids=tuple(args.pixel_ids or (DEFAULT_PIXEL_ID,)),
        user_schema=args.user_schema,
        store_events=not args.no_store,
        errors_without_index=args.errors_without_index,
        poison_prefix=None if args.no_poison else args.poison_prefix,
        seed=args.seed,
        retry_after=None if args.no_retry_after else args.retry_after,
        clock_offset_ms=args.clock_offset_ms,
        **{name: getattr(args, name) for name in _FLOAT_OPTIONS},
    )


def config_to_argv(config: EmulatorConfig) -> list[str]:
    """Options that reproduce ``config`` (the inverse of :func:`config_from_args`)."""
    argv = ["--host", config.host, "--port", str(config.port), "--seed", str(config.seed)]
    for key in config.api_keys:
        argv += ["--api-key", key]
    for pid in config.pixel_ids:
        argv += ["--pixel-id", pid]
    if config.user_schema is not None:
        argv += ["--user-schema", config.user_schema]
    if not config.store_events:
        argv.append("--no-store")
    if config.errors_without_index:
        argv.append("--errors-without-index")
    argv += ["--no-poison"] if config.poison_prefix is None else ["--poison-prefix", config.poison_prefix]
    argv += ["--no-retry-after"] if config.retry_after is None else ["--retry-after", config.retry_after]
    for name in _FLOAT_OPTIONS:
        argv += [f"--{name.replace('_', '-')}", repr(getattr(config, name))]
    argv += ["--clock-offset-ms", str(config.clock_offset_ms)]
    return argv


def parse_config(argv: Sequence[str] | None = None) -> tuple[EmulatorConfig, str]:
    """``(config, log_level)`` from command-line arguments; exits with a usage error when invalid."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return config_from_args(args), args.log_level
    except ValueError as exc:
        parser.error(str(exc))
