"""What the terminal shows and what the log keeps: a quiet terminal, a complete log file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import structlog

from rollover.cli import configure_logs


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def emit() -> None:
    log = structlog.get_logger("rollover")
    log.info("row.done", target="BIO-101-001-SP27")
    log.warning("quota.short", planned_calls=900)


def test_a_terminal_shows_warnings_and_the_log_file_keeps_every_event(tmp_path: Path) -> None:
    """On a terminal row events stay off the screen (the progress line says how it goes),
    warnings show, and --log-file still gets every event as a JSON line."""
    terminal, log_file = Terminal(), tmp_path / "run.log"
    configure_logs(stream=terminal, log_file=log_file)
    emit()
    assert "quota.short" in terminal.getvalue()
    assert "row.done" not in terminal.getvalue()
    kept = [json.loads(line)["event"] for line in log_file.read_text().splitlines()]
    assert kept == ["row.done", "quota.short"]


def test_verbose_puts_row_events_back_on_the_terminal() -> None:
    """`--verbose` shows every row's events on a terminal too."""
    terminal = Terminal()
    configure_logs(stream=terminal, verbose=True)
    emit()
    assert "row.done" in terminal.getvalue() and "quota.short" in terminal.getvalue()


@pytest.mark.parametrize("quiet", [False, True])
def test_without_a_terminal_every_event_is_a_json_line_unless_quiet(quiet: bool) -> None:
    """Under cron (no terminal) stderr carries every event as JSON; --quiet keeps warnings."""
    stream = io.StringIO()
    configure_logs(stream=stream, quiet=quiet)
    emit()
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == (["quota.short"] if quiet else ["row.done", "quota.short"])
