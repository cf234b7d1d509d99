"""Keeping the sandbox's state on disk: atomic JSON files and random generators as plain data."""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any


def write_json_atomically(path: Path, data: Any) -> None:
    """Write `data` as JSON via a temporary file and os.replace, so no reader sees half a file."""
    handle, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory is synced: a journal reset after the new
    # snapshot must not outlive it in a power cut. Best effort: not every platform or file
    # system can open or sync a directory.
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(handle)
    finally:
        os.close(handle)


def rng_state(rng: random.Random) -> list[Any]:
    """A random generator's exact position as JSON-safe data."""
    version, internal, gauss_next = rng.getstate()
    return [version, list(internal), gauss_next]


def restored_rng(saved: list[Any]) -> random.Random:
    """A generator continuing exactly where the one `rng_state` saved left off."""
    rng = random.Random()
    rng.setstate((saved[0], tuple(saved[1]), saved[2]))
    return rng
