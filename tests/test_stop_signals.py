"""Real signals to a real `rollover run`: a stop takes effect within the contract's 5 seconds
whatever the run waits for, exits 3 with the ledger consistent, and a re-run finishes.

`rollover sandbox` runs as its own process with a fault that puts the run in the wait under test
(a gateway's 429 with Retry-After 600 while the quota shows plenty, 503s and their back-off, a
long copy); the test waits until the sandbox has seen that happen, then sends the signal.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from test_e2e import (
    SandboxProcess,
    assert_each_copied_once,
    results_of,
    rollover_command,
    run_rollover,
    start_sandbox,
    wait_until,
    write_config,
    write_manifest,
)

pytestmark = pytest.mark.e2e

__all__ = ["start_sandbox"]  # the fixture, used by name

STOP_WITHIN = 5.0  # the contract's promise
LEEWAY = 3.0  # a loaded machine's start-up of the signal's effect, not the run's waiting
ROWS = [("BIO-101-FA26", "BIO-101-001-SP27", False)]
TARGETS = [target for _, target, _ in ROWS]
FAST = ["--poll-min", "0.05", "--poll-max", "0.2"]
SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]


def summary(server: SandboxProcess) -> dict[str, Any]:
    """The sandbox's counts: calls, faults, copies."""
    response = httpx.get(f"{server.base_url}/__sandbox__/summary", timeout=10)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def ledger_states(ledger: Path) -> list[str]:
    """Each row's state, read without writing."""
    with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as db:
        return [state for (state,) in db.execute("SELECT state FROM rows ORDER BY line")]


@contextlib.contextmanager
def running(
    tmp_path: Path, server: SandboxProcess, manifest: Path, *options: str
) -> Iterator[subprocess.Popen[str]]:
    """`rollover run MANIFEST` against the sandbox, output to files; killed if still running."""
    command = rollover_command("run", manifest, "--base-url", server.base_url, *options)
    with (tmp_path / "run.out").open("w") as out, (tmp_path / "run.err").open("w") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=server.env(), text=True)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def output(tmp_path: Path) -> str:
    """What the run printed, stdout then stderr."""
    return (tmp_path / "run.out").read_text() + (tmp_path / "run.err").read_text()


def stop_takes(process: subprocess.Popen[str], signum: signal.Signals) -> tuple[int, float]:
    """Send `signum`; the exit code and the seconds until the process ended (failing the test
    if it outlives the contract's bound)."""
    assert process.poll() is None, "the run ended before the signal"
    sent = time.monotonic()
    process.send_signal(signum)
    try:
        code = process.wait(timeout=STOP_WITHIN + LEEWAY)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_WITHIN + LEEWAY} s after {signum.name}")
    return code, time.monotonic() - sent


def rerun_finishes(tmp_path: Path, server: SandboxProcess, manifest: Path) -> None:
    """A re-run ends with every row done and each target copied once."""
    again = run_rollover(
        "run", manifest, "--base-url", server.base_url, *FAST, env=server.env(), cwd=tmp_path
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert {r["status"] for r in results_of(tmp_path / "spring.results.csv")} == {"done"}
    assert_each_copied_once(server.record(), TARGETS)


def assert_stopped(tmp_path: Path, code: int, signum: signal.Signals) -> None:
    """Exit 3, the signal named as the reason, no traceback, the row still in Learn's hands."""
    text = output(tmp_path)
    assert code == 3, text
    assert f"Stopped early: {signum.name}" in text
    assert "Traceback" not in text and "bug in rollover" not in text
    assert ledger_states(tmp_path / "spring.ledger.sqlite") == ["located"]


@dataclass(frozen=True)
class Wait:
    """A wait to put the run in: the sandbox's settings, the run's options, and when the
    sandbox's summary shows the run is in it (then `settle` seconds more)."""

    settings: dict[str, float]
    options: tuple[str, ...]
    reached: Callable[[dict[str, Any]], bool]
    settle: float = 0.0


WAITS = {
    # A gateway's 429 with Retry-After 600 on the first poll, the quota plenty.
    "retry-after": Wait(
        {"gateway_from": 3, "gateway_calls": 1, "gateway_retry_after": 600},
        tuple(FAST),
        lambda seen: seen["faults"].get("gateway") == 1,
    ),
    # Polls answered 503, retried with back-off.
    "5xx-back-off": Wait(
        {"gateway_from": 3, "gateway_calls": 3, "gateway_status": 503},
        tuple(FAST),
        lambda seen: seen["faults"].get("gateway", 0) >= 1,
    ),
    # A copy that takes a while, polled at long gaps: the run waits for its first poll.
    "poll-gap": Wait(
        {}, ("--poll-min", "3", "--poll-max", "60"), lambda seen: seen["copies"] == 1, 0.5
    ),
}


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("wait", WAITS.values(), ids=WAITS.keys())
def test_a_signal_ends_the_wait_within_5_s(
    tmp_path: Path,
    start_sandbox: Callable[[Path], SandboxProcess],
    wait: Wait,
    signum: signal.Signals,
) -> None:
    """SIGTERM, SIGINT or SIGHUP during a Retry-After, the back-off of 5xx retries or a poll
    gap ends the run within 5 s, exit 3, no row failed; a re-run finishes, one copy per target."""
    config = write_config(
        tmp_path / "cfg.toml", ["BIO-101-FA26"], (), copy_seconds=6, **wait.settings
    )
    server = start_sandbox(config)
    manifest = write_manifest(tmp_path / "spring.csv", ROWS)
    with running(tmp_path, server, manifest, *wait.options) as run:
        wait_until(lambda: wait.reached(summary(server)), "the wait under test")
        time.sleep(wait.settle)
        code, _ = stop_takes(run, signum)
    assert_stopped(tmp_path, code, signum)
    rerun_finishes(tmp_path, server, manifest)


def test_a_second_ctrl_c_ends_the_run_at_once(
    tmp_path: Path, start_sandbox: Callable[[Path], SandboxProcess]
) -> None:
    """A first Ctrl-C lets the call in flight finish (here a slow one); a second ends the run
    at once: exit 3, the ledger consistent and readable, no traceback."""
    server = start_sandbox(write_config(tmp_path / "cfg.toml", ["BIO-101-FA26"], latency=30))
    manifest = write_manifest(tmp_path / "spring.csv", ROWS)
    ledger = tmp_path / "spring.ledger.sqlite"
    with running(tmp_path, server, manifest, *FAST) as run:
        wait_until(ledger.exists, "the ledger")
        time.sleep(1.0)  # the sign-in is on its way to a site that takes 30 s to answer
        run.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert run.poll() is None, "the first Ctrl-C did not wait for the call in flight"
        code, _ = stop_takes(run, signal.SIGINT)
    text = output(tmp_path)
    assert code == 3, text
    assert "Error: stopped at once by a second Ctrl-C; the ledger is consistent" in text
    assert "Traceback" not in text and "Aborted!" not in text
    # Cut short during its sign-in, the copy request never left: the row is back at pending
    # (not at intent, which a copy into an existing course would turn into needs_review).
    assert ledger_states(ledger) == ["pending"]


def test_a_retry_after_over_15_minutes_stops_the_run_saying_when(
    tmp_path: Path, start_sandbox: Callable[[Path], SandboxProcess]
) -> None:
    """A 429 asking for an hour is not waited out: exit 3 at once, the message says how long
    and until when (local time in the run's zone)."""
    server = start_sandbox(
        write_config(
            tmp_path / "cfg.toml",
            ["BIO-101-FA26"],
            gateway_from=3,
            gateway_calls=1,
            gateway_retry_after=3600,
        )
    )
    manifest = write_manifest(tmp_path / "spring.csv", ROWS)
    zone = ZoneInfo("America/Chicago")
    result = run_rollover(
        "run",
        manifest,
        "--base-url",
        server.base_url,
        "--timezone",
        "America/Chicago",
        *FAST,
        env=server.env(),
        cwd=tmp_path,
    )
    text = result.stdout + result.stderr
    assert result.returncode == 3, text
    said = re.search(
        r"Stopped early: Learn asks to wait 3600 s \(until (\d\d):(\d\d)\): stopped; "
        r"run again after that",
        text,
    )
    assert said, text
    expected = datetime.now(zone) + timedelta(seconds=3600)
    told = expected.replace(hour=int(said[1]), minute=int(said[2]))
    assert abs((told - expected).total_seconds()) < 120, (told, expected)
    assert ledger_states(tmp_path / "spring.ledger.sqlite") == ["located"]
