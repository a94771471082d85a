"""What both console scripts share: arguments, logging, config errors (exit 2), signals."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Protocol, TypeVar

from tweet_pipeline import __version__
from tweet_pipeline.logs import setup_logging
from tweet_pipeline.toml_tables import ConfigError

EXIT_CONFIG = 2


class Config(Protocol):
    def secrets(self) -> list[str]:
        """Secret values loaded with the configuration (redacted from every log line)."""
        ...


C = TypeVar("C", bound=Config)


class App(Protocol):
    def run(self) -> int: ...

    def stop(self) -> None: ...


def parse_args(prog: str, description: str, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", "-c", type=Path, required=True, help="TOML config file")
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate the configuration and exit (0 if valid, 2 if not)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(argv)


def main(
    prog: str,
    description: str,
    argv: Sequence[str] | None,
    load: Callable[[Path], C],
    build: Callable[[C], App],
) -> int:
    args = parse_args(prog, description, argv)
    redactor = setup_logging(args.log_level)
    try:
        config = load(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    redactor.add(*config.secrets())
    if args.check:
        print(f"{args.config}: configuration is valid", file=sys.stderr)
        return 0
    app = build(config)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(prog).info("got %s, shutting down", signal.Signals(signum).name)
        app.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return app.run()
