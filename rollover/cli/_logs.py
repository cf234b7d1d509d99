"""structlog configuration: events to stderr, console lines on a terminal, JSON lines otherwise.

Called by the CLI only, never at import time.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, TextIO

import structlog

_SECRET_KEYS = frozenset({"authorization", "token", "access_token", "secret", "key", "password"})


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Never let a credential reach a log line, whatever a caller passes."""
    for name in list(event):
        if name.lower() in _SECRET_KEYS:
            event[name] = "[redacted]"
    return event


class _Tee:
    """Write each JSON line to the log file as well as to the main stream."""

    def __init__(self, main: TextIO, log_file: Path) -> None:
        self.main, self.log_file = main, log_file

    def msg(self, message: str) -> None:
        self.main.write(message + "\n")
        self.main.flush()
        # Opened per line, in append mode: nothing is held open past the event, and lines
        # from an earlier run or a concurrent `status` are never overwritten.
        with self.log_file.open("a", encoding="utf-8") as extra:
            extra.write(message + "\n")

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def configure(
    *,
    verbose: bool = False,
    quiet: bool = False,
    log_file: Path | None = None,
    stream: TextIO | None = None,
) -> None:
    """Route structlog events to stderr (and, if asked, append JSON lines to `log_file`)."""
    stream = stream or sys.stderr
    level = logging.DEBUG if verbose else (logging.WARNING if quiet else logging.INFO)
    console = stream.isatty() and log_file is None
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    if console:
        processors.append(structlog.dev.ConsoleRenderer(colors=False))
        factory: Any = structlog.PrintLoggerFactory(stream)
    else:
        processors.append(structlog.processors.JSONRenderer())
        if log_file is not None:
            factory = lambda *_: _Tee(stream, log_file)  # noqa: E731
        else:
            factory = structlog.PrintLoggerFactory(stream)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
