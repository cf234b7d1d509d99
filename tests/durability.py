"""Helpers for tests of what the ledger makes durable: a commit synced to disk (read from the SQL
it sent) and a run killed with SIGKILL right after a commit."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path


def assert_synced_then_ordinary(synced: Sequence[str], ordinary: Sequence[str]) -> None:
    """`synced` (the SQL of one write) is committed FULL, and set back to NORMAL after its
    COMMIT; `ordinary` (the SQL of the next write) is an ordinary commit."""
    assert synced[0] == "PRAGMA synchronous=FULL"
    assert synced.index("COMMIT") < synced.index("PRAGMA synchronous=NORMAL")
    assert not any("synchronous" in statement for statement in ordinary)


def run_killed(script: str, path: Path) -> None:
    """Run the Python `script` (dedented) with `path` as its argument, and check that it ended
    killed by SIGKILL (as it must kill itself)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
