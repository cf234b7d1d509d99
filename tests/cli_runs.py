"""Helpers for driving the CLI in-process with click's CliRunner, shared by the CLI tests.

Runs use `--sandbox` with a simulator config of near-instant copies and short poll bounds, and
no Learn credentials from the environment unless a test sets them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from click.testing import CliRunner, Result

from rollover.cli import cli

FAST = ["--poll-min", "0.05", "--poll-max", "0.2"]
NO_CREDENTIALS = {"LEARN_KEY": None, "LEARN_SECRET": None, "LEARN_BASE_URL": None}


def invoke(*args: str | Path, env: Mapping[str, str | None] | None = None) -> Result:
    """Run the CLI in-process; credentials are cleared unless `env` sets them."""
    return CliRunner().invoke(cli, [str(a) for a in args], env={**NO_CREDENTIALS, **(env or {})})


def write(path: Path, text: str) -> Path:
    """Write `text` to `path` and return the path."""
    path.write_text(text, encoding="utf-8")
    return path


def sandbox_config(tmp_path: Path, extra: str = "", *, copy_seconds: float = 0.05) -> Path:
    """A simulator config with near-instant copies (plus any extra TOML lines)."""
    return write(tmp_path / "sandbox.toml", f"copy_seconds = {copy_seconds}\n" + extra)


def sandbox_run(
    tmp_path: Path,
    manifest: Path,
    *extra: str | Path,
    copy_seconds: float = 0.05,
    env: Mapping[str, str | None] | None = None,
) -> Result:
    """`rollover run MANIFEST --sandbox` with fast copies (each `copy_seconds`) and fast polls."""
    config = sandbox_config(tmp_path, copy_seconds=copy_seconds)
    return invoke("run", manifest, "--sandbox", "--sandbox-config", config, *FAST, *extra, env=env)
