"""Helpers for tests that run `rollover sandbox` as a real process."""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

SETTINGS = frozenset({"LEARN_BASE_URL", "LEARN_KEY", "LEARN_SECRET"})


def read_sandbox_settings(process: subprocess.Popen[str], timeout: float) -> dict[str, str]:
    """The KEY=value lines `rollover sandbox` prints once it is ready, without blocking forever."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    settings: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while not settings.keys() >= SETTINGS:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail("`rollover sandbox` printed no settings")
        if not line:
            pytest.fail(f"`rollover sandbox` exited with {process.wait()}")
        name, sep, value = line.strip().partition("=")
        if sep:
            settings[name] = value
    return settings


def rows_past_pending(ledger: Path) -> int:
    """How many ledger rows have left `pending`, read without writing (0 while unreadable)."""
    if not ledger.exists():
        return 0
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=1)
        ) as db:
            return int(
                db.execute("SELECT count(*) FROM rows WHERE state != 'pending'").fetchone()[0]
            )
    except sqlite3.Error:
        return 0


def wait_for_rows_past_pending(
    ledger: Path, count: int, run: subprocess.Popen[Any], *, timeout: float = 60.0
) -> None:
    """Wait until `count` rows of the ledger `run` writes have left `pending`, while it runs."""
    deadline = time.monotonic() + timeout
    while rows_past_pending(ledger) < count and run.poll() is None:
        assert time.monotonic() < deadline, f"fewer than {count} rows left pending in time"
        time.sleep(0.02)
    assert run.poll() is None, "the run finished before it was caught mid-way"
