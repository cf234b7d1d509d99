"""structlog configuration: what the terminal shows, and what the log file and cron keep.

On a terminal the live progress line says how the run goes, so the console shows only warnings
and errors (every row's events too with `--verbose`); `--log-file` keeps every event as a JSON
line whatever the terminal shows. Without a terminal (cron, systemd) every event goes to stderr
as a JSON line, with the minute `progress` events. Called by the CLI only, never at import time.
"""

from __future__ import annotations

import contextlib
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


class _Render:
    """The last processor: the event as the stream shows it (if its level is shown there) and
    as the log file keeps it (if there is one)."""

    def __init__(self, *, console: bool, shown: int, kept: bool) -> None:
        self._stream: Any = (
            structlog.dev.ConsoleRenderer(colors=False)
            if console
            else structlog.processors.JSONRenderer()
        )
        self._json = structlog.processors.JSONRenderer()
        self._shown, self._kept = shown, kept

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        level = logging.getLevelName(str(event.get("level", "info")).upper())
        level = level if isinstance(level, int) else logging.INFO
        return {
            "shown": self._stream(logger, method, dict(event)) if level >= self._shown else None,
            "kept": self._json(logger, method, dict(event)) if self._kept else None,
        }


class _Sinks:
    """Writes each rendered event to the stream and to the log file, as `_Render` decided."""

    def __init__(self, stream: TextIO, log_file: Path | None) -> None:
        self.stream: TextIO | None = stream
        self.log_file = log_file

    def msg(self, shown: str | None = None, kept: str | None = None) -> None:
        if shown is not None and self.stream is not None:
            try:
                self.stream.write(shown + "\n")
                self.stream.flush()
            except OSError:
                # A terminal that was closed (EIO) or a pipe nobody reads (EPIPE): the caller,
                # perhaps a worker mid-step, must not fail for it. The log file goes on.
                self.stream = None
        if kept is not None:
            self._keep(kept)

    def _keep(self, line: str) -> None:
        if self.log_file is None:
            return
        # Opened per line, in append mode: nothing is held open past the event, and lines
        # from an earlier run or a concurrent `status` are never overwritten.
        try:
            with self.log_file.open("a", encoding="utf-8") as extra:
                extra.write(line + "\n")
        except OSError as exc:
            # A full disk or a logrotate gone wrong must not end the run: say it once, keep
            # logging to the stream.
            failed, self.log_file = self.log_file, None
            with contextlib.suppress(OSError):
                if self.stream is not None:
                    self.stream.write(
                        f"Warning: the log file {failed} cannot be written "
                        f"({exc.strerror or exc}); events go to stderr only from now on\n"
                    )

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def configure(
    *,
    verbose: bool = False,
    debug: bool = False,
    quiet: bool = False,
    log_file: Path | None = None,
    stream: TextIO | None = None,
) -> None:
    """Route structlog events to stderr (and, if asked, every event to `log_file`)."""
    stream = stream or sys.stderr
    console = stream.isatty()
    if debug:
        shown = logging.DEBUG
    elif quiet or (console and not verbose):
        shown = logging.WARNING
    else:
        shown = logging.INFO
    kept = logging.DEBUG if debug else logging.INFO
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
        _Render(console=console, shown=shown, kept=log_file is not None),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            min(shown, kept) if log_file is not None else shown
        ),
        logger_factory=lambda *_: _Sinks(stream, log_file),
        cache_logger_on_first_use=False,
    )
