"""Soak: `rollover run` killed with SIGKILL at seeded random instants, then run to completion.

Real processes on loopback: `rollover sandbox` serves the simulated Learn, and each `rollover run`
is a fresh process on the same manifest and ledger. `kill -9` gives the tool no chance to clean
up, so whatever survives is what the ledger committed. The seed is printed with the figures;
`ROLLOVER_SOAK_SEED=N` replays a soak with the same kill instants (the tool's own timing still
varies a little from run to run).
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import read_sandbox_settings

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("ROLLOVER_SOAK_SEED", "20270111"))  # set it to replay another soak
KILLS = 5
ROWS = 120
SOURCES = ("BIO-101-FA26", "CHEM-110-FA26", "HIST-210-FA26")
START_TIMEOUT = 30.0
RUN_TIMEOUT = 120.0
SANDBOX_SETTINGS = {
    "copy_seconds": 0.3,
    "copy_sigma": 0.8,
    "copy_max_seconds": 2.0,
    "slots": 4,
    "seed": 7,
}


@dataclass
class Sandbox:
    """A `rollover sandbox` process and the settings it printed."""

    process: subprocess.Popen[str]
    base_url: str
    key: str
    secret: str

    def env(self) -> dict[str, str]:
        """This environment without Learn settings, plus the sandbox's key and secret."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("LEARN_BASE_URL", "LEARN_KEY", "LEARN_SECRET")
        }
        return {**env, "LEARN_KEY": self.key, "LEARN_SECRET": self.secret}

    def record(self) -> dict[str, Any]:
        """What the simulated Learn applied: copies, patches, calls and faults."""
        response = httpx.get(f"{self.base_url}/__sandbox__/record", timeout=10)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def calls(self) -> int:
        """How many API calls the simulated Learn has answered so far."""
        return sum(self.record()["calls"].values())


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` every 20 ms; fail the test naming `what` after START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def write_config(path: Path) -> Path:
    """A sandbox TOML: the sources, the SP27 term, short lognormal copies on 4 slots."""
    lines = [f"{name} = {value}" for name, value in SANDBOX_SETTINGS.items()]
    for course in SOURCES:
        lines += ["[[courses]]", f'course_id = "{course}"', f'name = "{course} (seeded)"']
    lines += ["[[terms]]", 'external_id = "SP27"', 'name = "Spring 2027"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_manifest(path: Path) -> list[str]:
    """ROWS new-course rows, each renamed, termed and dated so every one is patched."""
    targets = [f"SOAK-{i:03d}-SP27" for i in range(ROWS)]
    lines = ["source_course_id,target_course_id,name,term_id,start_date,end_date"]
    lines += [
        f"{SOURCES[i % len(SOURCES)]},{target},Soak section {i:03d},SP27,2027-01-11,2027-05-07"
        for i, target in enumerate(targets)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return targets


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """`rollover sandbox --port 0` as a real process; killed when the test ends."""
    config = write_config(tmp_path / "soak.toml")
    with (tmp_path / "sandbox.err").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "rollover", "sandbox", "--port", "0", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=tmp_path,
        )
    try:
        settings = read_sandbox_settings(process, START_TIMEOUT)
        yield Sandbox(
            process, settings["LEARN_BASE_URL"], settings["LEARN_KEY"], settings["LEARN_SECRET"]
        )
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _ledger_states(ledger: Path) -> Counter[str]:
    """Rows per ledger state, read without writing (empty while there is no ledger)."""
    if not ledger.exists():
        return Counter()
    with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5)) as db:
        return Counter(dict(db.execute("SELECT state, count(*) FROM rows GROUP BY state")))


def run_then_kill(
    command: list[str], sandbox: Sandbox, delay: float, log: Path
) -> tuple[int, bool]:
    """Start `command`, SIGKILL it `delay` s after its first call to Learn; (exit, killed)."""
    calls_before = sandbox.calls()
    killed = False
    with log.open("w") as out:
        run = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=sandbox.env(), cwd=log.parent
        )
        try:
            # The clock starts at the run's first call to Learn, not at process start:
            # interpreter and import time would otherwise swallow most kills.
            wait_until(
                lambda: run.poll() is not None or sandbox.calls() > calls_before,
                "the run's first call to Learn",
            )
            time.sleep(delay)
        finally:
            if run.poll() is None:
                run.kill()
                killed = True
            code = run.wait(timeout=RUN_TIMEOUT)
    return code, killed


# An adopted copy (its answer lost to a kill) is patched this long after its request. It must
# outlast the longest copy (copy_max_seconds 2) plus its wait in the queue (8 in flight over 4
# slots), or a patch could land before the copy ends: that is --adopt-settle's documented bargain.
ADOPT_SETTLE = 8


def test_sigkill_soak_copies_each_target_exactly_once(tmp_path: Path, sandbox: Sandbox) -> None:
    """Killed with SIGKILL at random instants, re-runs copy each target once, patch after."""
    manifest = tmp_path / "soak.csv"
    targets = write_manifest(manifest)
    ledger, results = tmp_path / "soak.ledger.sqlite", tmp_path / "soak.results.csv"
    command = [
        sys.executable,
        "-m",
        "rollover",
        "run",
        str(manifest),
        "--base-url",
        sandbox.base_url,
        "--poll-min",
        "0.05",
        "--poll-max",
        "0.3",
        "--concurrency",
        "8",
        "--adopt-settle",
        str(ADOPT_SETTLE),
    ]
    rng = random.Random(SEED)
    print(f"\nsoak seed {SEED}: {ROWS} rows, {KILLS} SIGKILLs")
    kills = 0
    for attempt in range(1, KILLS + 1):
        delay = rng.uniform(0.2, 1.5)
        code, killed = run_then_kill(command, sandbox, delay, tmp_path / f"run{attempt}.out")
        kills += killed
        applied = len(sandbox.record()["copies"])
        print(
            f"  run {attempt}: killed {delay:.2f} s after its first call (exit {code}); "
            f"ledger {dict(_ledger_states(ledger))}; copies applied so far {applied}"
        )

    final = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=sandbox.env(),
        cwd=tmp_path,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert final.returncode == 0, final.stdout + final.stderr
    assert f"Rollover: {ROWS} rows: {ROWS} done, 0 failed" in final.stdout, final.stdout
    assert _ledger_states(ledger) == {"done": ROWS}

    record = sandbox.record()
    copies = record["copies_per_target"]
    duplicates = {target: n for target, n in copies.items() if n > 1}
    early = [p["course_id"] for p in record["patches"] if not p["copy_complete"]]
    figures = (
        f"soak seed {SEED}: rows {ROWS}, kills {kills}, copies {len(record['copies'])}, "
        f"patches {len(record['patches'])}, duplicates found {len(duplicates)}, "
        f"patches before completion {len(early)}, calls {sum(record['calls'].values())}"
    )
    print(figures)

    assert duplicates == {}, figures
    assert copies == dict.fromkeys(targets, 1), figures
    assert early == [], f"{figures}: {early}"
    assert {p["course_id"] for p in record["patches"]} == set(targets), figures
    with results.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["target_course_id"] for r in rows] == targets
    assert {r["status"] for r in rows} == {"done"}, figures
    assert all(int(r["attempts"]) >= 1 for r in rows), figures
