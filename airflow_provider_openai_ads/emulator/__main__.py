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

#: allocations between two collections of the youngest generation (Python's default: 700)
_GC_THRESHOLD = 50_000


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
    # passes from walking it again and again.
    gc.freeze()
    # Judging a request builds up to 1,000 validated events, some 20,000 objects without reference
    # cycles that are freed when the request is answered. At the default threshold (700) the
    # collector walked them dozens of times per request, a third of the emulator's CPU time;
    # at this one it runs about once per request.
    gc.set_threshold(_GC_THRESHOLD, 10, 10)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
