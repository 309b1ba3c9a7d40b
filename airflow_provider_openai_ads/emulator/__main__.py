"""``python -m airflow_provider_openai_ads.emulator`` / ``openai-ads-emulator``.

Prints exactly one line, ``OpenAI Ads emulator listening on http://HOST:PORT``, to stdout once
it accepts connections (so a parent process can read the port), logs to stderr only, and stops
cleanly (exit status 0) on SIGINT or SIGTERM.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from airflow_provider_openai_ads.emulator.app import EmulatorApp
from airflow_provider_openai_ads.emulator.cli import BANNER, parse_config
from airflow_provider_openai_ads.emulator.server import bind_socket, build_uvicorn, url_of
from airflow_provider_openai_ads.emulator.state import EmulatorState


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    config, log_level = parse_config(argv)
    logging.basicConfig(
        stream=sys.stderr, level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # uvicorn replaces these while serving, shuts down gracefully on either signal, then re-raises
    # it: these handlers turn that (or a signal during start-up) into a quiet exit.
    signal.signal(signal.SIGINT, _exit_quietly)
    signal.signal(signal.SIGTERM, _exit_quietly)
    try:
        sock = bind_socket(config.host, config.port)
    except OSError as exc:
        print(f"openai-ads-emulator: cannot bind {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    url = url_of(config.host, sock)

    def announce() -> None:
        print(BANNER.format(url=url), flush=True)

    server = build_uvicorn(EmulatorApp(EmulatorState(config)), on_started=announce, log_level=log_level)
    # Everything allocated so far lives as long as the process: keep the garbage collector's full
    # passes, frequent under validation's allocation churn, from walking it again and again.
    gc.freeze()
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
