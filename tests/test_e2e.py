"""End to end: `rollover sandbox` and `rollover run` as real processes talking HTTP on loopback.

The only waiting here is what real processes need: for the server to accept connections and for
the ledger to show progress before a signal is sent. Copies are short and polls are fast.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from processes import read_sandbox_settings, rows_past_pending

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_manifests" / "fall2026.csv"
FAST = ["--poll-min", "0.05", "--poll-max", "0.2"]
START_TIMEOUT = 30.0
RUN_TIMEOUT = 120.0

pytestmark = pytest.mark.e2e


def rollover_command(*args: str | Path) -> list[str]:
    """The command line of `python -m rollover ARGS` with this interpreter."""
    return [sys.executable, "-m", "rollover", *(str(a) for a in args)]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any Learn settings, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LEARN_BASE_URL", "LEARN_KEY", "LEARN_SECRET")
    }
    return {**env, **extra}


def free_port() -> int:
    """A free loopback port: bind port 0, read the port, release it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
    """Poll `condition` until it holds; fail the test naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def results_of(path: Path) -> list[dict[str, str]]:
    """The rows of a results CSV."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def write_manifest(path: Path, rows: list[tuple[str, str, bool]]) -> Path:
    """A manifest of (source, target, into_existing) rows, each renamed into term SP27."""
    lines = ["source_course_id,target_course_id,copy_into_existing,name,term_id"]
    lines += [
        f"{source},{target},{str(into).lower()},{target} (Spring 2027),SP27"
        for source, target, into in rows
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_config(
    path: Path, courses: list[str], shells: tuple[str, ...] = (), **settings: float
) -> Path:
    """A sandbox TOML seeding `courses` (empty SIS shells among them) and the SP27 term, with
    the given settings."""
    lines = [f"{name} = {value}" for name, value in settings.items()]
    for course in courses:
        lines += ["[[courses]]", f'course_id = "{course}"', f'name = "{course} (seeded)"']
        lines += ["shell = true"] if course in shells else []
    lines += ["[[terms]]", 'external_id = "SP27"', 'name = "Spring 2027"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class SandboxProcess:
    """A running `rollover sandbox` and the settings it printed."""

    process: subprocess.Popen[str]
    settings: dict[str, str]

    @property
    def base_url(self) -> str:
        """The base URL the server printed."""
        return self.settings["LEARN_BASE_URL"]

    def env(self) -> dict[str, str]:
        """An environment with this sandbox's key and secret (not its URL: that is an option)."""
        return clean_env(
            LEARN_KEY=self.settings["LEARN_KEY"], LEARN_SECRET=self.settings["LEARN_SECRET"]
        )

    def record(self) -> dict[str, Any]:
        """What the simulated Learn applied: copies, patches and calls."""
        response = httpx.get(f"{self.base_url}/__sandbox__/record", timeout=10)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def start_sandbox(tmp_path: Path) -> Iterator[Callable[[Path], SandboxProcess]]:
    """Start `rollover sandbox --port P --config CFG`; every server started is terminated."""
    started: list[subprocess.Popen[str]] = []

    def start(config: Path) -> SandboxProcess:
        port = free_port()
        log = (tmp_path / f"sandbox-{port}.log").open("w")
        process = subprocess.Popen(
            rollover_command("sandbox", "--port", str(port), "--config", config),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=clean_env(),
            cwd=tmp_path,
        )
        log.close()
        started.append(process)
        settings = read_sandbox_settings(process, START_TIMEOUT)
        assert settings["LEARN_BASE_URL"] == f"http://127.0.0.1:{port}"
        wait_until(lambda: _accepts(port) or process.poll() is not None, "the sandbox port")
        assert process.poll() is None, "`rollover sandbox` exited"
        return SandboxProcess(process, settings)

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def run_rollover(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m rollover ARGS` to completion, output captured."""
    return subprocess.run(
        rollover_command(*args),
        capture_output=True,
        text=True,
        env=env or clean_env(),
        cwd=cwd,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def assert_each_copied_once(record: dict[str, Any], targets: list[str]) -> None:
    """Each target was copied exactly once, nothing else was, and every patch came after."""
    assert record["copies_per_target"] == dict.fromkeys(targets, 1)
    assert sorted(event["course_id"] for event in record["patches"]) == sorted(targets)
    assert all(event["copy_complete"] for event in record["patches"])


ROWS = [
    ("BIO-101-FA26", "BIO-101-001-SP27", False),
    ("BIO-101-FA26", "BIO-101-002-SP27", False),
    ("CHEM-110-FA26", "CHEM-110-001-SP27", False),
    ("HIST-210-FA26", "HIST-210-001-SP27", True),
]
SOURCES = ["BIO-101-FA26", "CHEM-110-FA26", "HIST-210-FA26", "HIST-210-001-SP27"]
SHELLS = ("HIST-210-001-SP27",)


def test_run_against_sandbox_process(
    tmp_path: Path, start_sandbox: Callable[[Path], SandboxProcess]
) -> None:
    """Against a real sandbox server: bad secret exits 2; then each target copied once, patched."""
    server = start_sandbox(write_config(tmp_path / "cfg.toml", SOURCES, SHELLS, copy_seconds=0.05))
    manifest = write_manifest(tmp_path / "spring.csv", ROWS)
    refused = run_rollover(
        "run",
        manifest,
        "--base-url",
        server.base_url,
        *FAST,
        env={**server.env(), "LEARN_SECRET": "not-the-secret"},
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert server.record()["copies"] == []
    result = run_rollover("run", manifest, "--base-url", server.base_url, *FAST, env=server.env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Rollover: 4 rows: 4 done, 0 failed, 0 needs_review, 0 pending" in result.stdout
    rows = results_of(tmp_path / "spring.results.csv")
    assert [r["target_course_id"] for r in rows] == [target for _, target, _ in ROWS]
    assert {r["status"] for r in rows} == {"done"}
    assert_each_copied_once(server.record(), [target for _, target, _ in ROWS])
    for text in (result.stdout, result.stderr):
        assert server.settings["LEARN_SECRET"] not in text


SIX_ROWS = [("BIO-101-FA26", f"BIO-101-{i:03d}-SP27", False) for i in range(1, 7)]


def interrupt_run(
    tmp_path: Path, server: SandboxProcess, manifest: Path, signum: signal.Signals
) -> tuple[int, str]:
    """Start `rollover run`, send `signum` once a row has left pending; its exit code, stdout."""
    ledger = tmp_path / "spring.ledger.sqlite"
    command = rollover_command("run", manifest, "--base-url", server.base_url, *FAST)
    out_path, err_path = tmp_path / "interrupted.out", tmp_path / "interrupted.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        run = subprocess.Popen(command, stdout=out, stderr=err, env=server.env(), text=True)
        try:
            wait_until(
                lambda: rows_past_pending(ledger) > 0 or run.poll() is not None,
                "the first row to leave pending",
            )
            assert run.poll() is None, "the run finished before it could be interrupted"
            run.send_signal(signum)
            code = run.wait(timeout=RUN_TIMEOUT)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    return code, out_path.read_text() + err_path.read_text()


def test_sigterm_then_rerun_resumes(
    tmp_path: Path, start_sandbox: Callable[[Path], SandboxProcess]
) -> None:
    """SIGTERM mid-run exits 3 with rows pending; a re-run finishes with each copy made once."""
    server = start_sandbox(
        write_config(tmp_path / "cfg.toml", ["BIO-101-FA26"], copy_seconds=0.5, slots=1)
    )
    manifest = write_manifest(tmp_path / "spring.csv", SIX_ROWS)
    results = tmp_path / "spring.results.csv"
    code, output = interrupt_run(tmp_path, server, manifest, signal.SIGTERM)
    assert code == 3, output
    assert "Stopped early: SIGTERM" in output
    assert "Run the same command again to continue" in output
    statuses = [r["status"] for r in results_of(results)]
    assert "pending" in statuses
    assert set(statuses) <= {"pending", "done"}

    second = run_rollover("run", manifest, "--base-url", server.base_url, *FAST, env=server.env())
    assert second.returncode == 0, second.stdout + second.stderr
    assert [r["status"] for r in results_of(results)] == ["done"] * 6
    assert_each_copied_once(server.record(), [target for _, target, _ in SIX_ROWS])


def test_kill_9_then_rerun_copies_each_target_once(
    tmp_path: Path, start_sandbox: Callable[[Path], SandboxProcess]
) -> None:
    """`kill -9` mid-run, then a re-run: every row done and no target copied twice."""
    server = start_sandbox(
        write_config(tmp_path / "cfg.toml", ["BIO-101-FA26"], copy_seconds=0.3, slots=1)
    )
    manifest = write_manifest(tmp_path / "spring.csv", SIX_ROWS)
    code, output = interrupt_run(tmp_path, server, manifest, signal.SIGKILL)
    assert code == -signal.SIGKILL, output
    # A copy whose answer died with the process is adopted; settle past the queue's last copy.
    second = run_rollover(
        "run",
        manifest,
        "--base-url",
        server.base_url,
        *FAST,
        "--adopt-settle",
        "3",
        env=server.env(),
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert [r["status"] for r in results_of(tmp_path / "spring.results.csv")] == ["done"] * 6
    assert_each_copied_once(server.record(), [target for _, target, _ in SIX_ROWS])


def test_demo_twice_in_process_sandbox(tmp_path: Path) -> None:
    """`make demo`: the sample manifest runs to done in a sandbox; a second run calls nothing."""
    manifest = Path(shutil.copy(SAMPLE, tmp_path / "fall2026.csv"))
    first = run_rollover("run", manifest, "--sandbox", "--concurrency", "8", *FAST, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Rollover: 25 rows: 25 done, 0 failed, 0 needs_review, 0 pending" in first.stdout
    assert "API calls: " in first.stdout
    second = run_rollover("run", manifest, "--sandbox", *FAST, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Rollover: 25 rows: 25 done, 0 failed, 0 needs_review, 0 pending" in second.stdout
    assert "API calls: 0 " in second.stdout
    assert {r["status"] for r in results_of(tmp_path / "fall2026.sandbox.results.csv")} == {"done"}


TEACHING_HEADER = "source_course_id,target_course_id,copy_into_existing,name,term_id,instructors"
TEACHING_ROWS = [
    # (source, target, into_existing, instructors cell): what the row should end as
    ("BIO-101-FA26", "BIO-101-001-SP27", False, "userName:jane.doe"),  # done, 1/1
    ("BIO-101-FA26", "BIO-101-002-SP27", False, "userName:jane.doe;userName:bob=TeachingAssistant"),
    ("CHEM-110-FA26", "FULL-SP27", True, "userName:bob"),  # failed: the shell holds content
    ("CHEM-110-FA26", "EMPTY-SP27", True, "userName:bob"),  # done, copied into
    ("CHEM-110-FA26", "CHEM-110-001-SP27", False, "userName:nobody;userName:jane.doe"),  # 1/2
]


def write_teaching_files(
    tmp_path: Path, name: str, rows: list[tuple[str, str, bool, str]], **settings: float
) -> tuple[Path, Path]:
    """A manifest of `rows` and a sandbox TOML with their sources, the two shells (FULL-SP27
    holding content), the SP27 term, and users jane.doe, bob and root (a system admin)."""
    manifest = tmp_path / f"{name}.csv"
    lines = [TEACHING_HEADER] + [
        f"{source},{target},{str(into).lower()},{target} (Spring 2027),SP27,{cell}"
        for source, target, into, cell in rows
    ]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    toml = [f"{key} = {value}" for key, value in settings.items()]
    toml.append('shells_with_content = ["FULL-SP27"]')
    for course in ("BIO-101-FA26", "CHEM-110-FA26", "FULL-SP27", "EMPTY-SP27"):
        toml += ["[[courses]]", f'course_id = "{course}"', f'name = "{course} (seeded)"']
        toml += ["shell = true"] if course.endswith("-SP27") else []
    toml += ["[[terms]]", 'external_id = "SP27"', 'name = "Spring 2027"']
    for user in ("jane.doe", "bob", "root"):
        toml += ["[[users]]", f'user_name = "{user}"']
        toml += ["system_admin = true"] if user == "root" else []
    config = tmp_path / f"{name}.toml"
    config.write_text("\n".join(toml) + "\n", encoding="utf-8")
    return manifest, config


def assert_enrolled_from_15_percent(record: dict[str, Any]) -> None:
    """Every enrolment Learn made came at 15% of its course's copy or later, and none was lost."""
    assert record["enrolments"], record
    for event in record["enrolments"]:
        assert event["percent"] is None or event["percent"] >= 15, event
        assert not event["lost"], event


def test_ready_to_teach_against_sandbox_process(
    tmp_path: Path, start_sandbox: Callable[[Path], SandboxProcess]
) -> None:
    """Instructors, shells, an unknown user, --verify, a partial copy: each row ends as contracted."""
    manifest, config = write_teaching_files(tmp_path, "spring", TEACHING_ROWS, copy_seconds=1.0)
    server = start_sandbox(config)
    result = run_rollover(
        "run", manifest, "--base-url", server.base_url, "--verify", *FAST, env=server.env()
    )
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {r["target_course_id"]: r for r in results_of(tmp_path / "spring.results.csv")}
    done = ["BIO-101-001-SP27", "BIO-101-002-SP27", "EMPTY-SP27"]
    assert [rows[t]["status"] for t in done] == ["done"] * 3, rows
    assert [rows[t]["enrolled"] for t in done] == ["1 of 1", "2 of 2", "1 of 1"]
    for target in done:
        assert re.fullmatch(r"contents (\d+)/\1; columns (\d+)/\2", rows[target]["verification"])
    full = rows["FULL-SP27"]
    assert full["status"] == "failed" and "already holds" in full["error"], full
    refused = rows["CHEM-110-001-SP27"]
    assert refused["status"] == "failed" and refused["enrolled"] == "1 of 2", refused
    assert "userName:nobody" in refused["error"] and "jane.doe" not in refused["error"]
    assert refused["course_pk"], refused  # copied and patched before it failed

    record = server.record()
    copied = [target for target in rows if target != "FULL-SP27"]
    assert_each_copied_once(record, copied)
    assert_enrolled_from_15_percent(record)
    assert len(record["enrolments"]) == 1 + 2 + 1 + 1  # the unknown user never was

    partial_manifest, partial_config = write_teaching_files(
        tmp_path,
        "partial",
        [("CHEM-110-FA26", "CHEM-110-002-SP27", False, "userName:bob=TeachingAssistant")],
        copy_seconds=1.0,
        partial_copy_rate=1.0,
    )
    partial_server = start_sandbox(partial_config)
    partial = run_rollover(
        "run",
        partial_manifest,
        "--base-url",
        partial_server.base_url,
        "--verify",
        *FAST,
        env=partial_server.env(),
    )
    assert partial.returncode == 1, partial.stdout + partial.stderr
    [short] = results_of(tmp_path / "partial.results.csv")
    counted = re.fullmatch(r"contents (\d+)/(\d+); columns (\d+)/\3", short["verification"])
    assert counted and int(counted[1]) < int(counted[2]), short
    assert short["status"] == "needs_review" and short["verification"] in short["error"], short
    assert short["enrolled"] == "1 of 1", short
    record = partial_server.record()
    assert_each_copied_once(record, ["CHEM-110-002-SP27"])  # patched all the same
    assert_enrolled_from_15_percent(record)


MERGED_HEADER = "source_course_id,target_course_id,copy_into_existing,name,term_id,instructors,"
MERGED_ROWS = [
    # A new parent with two sections (one named by externalId) and an instructor.
    "BIO-101-FA26,BIO-101-SP27,false,Biology 101,SP27,userName:jane.doe,"
    "BIO-101-001-SP27;externalId:SIS.BIO.002",
    # A shell parent with one section.
    "CHEM-110-FA26,CHEM-110-SP27,true,Chemistry 110,SP27,userName:bob,CHEM-110-001-SP27",
    # A section already merged under another parent: the row fails after its copy and PATCH.
    "CHEM-110-FA26,CHEM-210-SP27,false,Chemistry 210,SP27,,ENG-1-001-SP27",
]
MERGED_COURSES = [
    ("BIO-101-FA26", ""),
    ("CHEM-110-FA26", ""),
    ("CHEM-110-SP27", "shell = true"),
    ("BIO-101-001-SP27", "shell = true"),
    ("BIO-101-002-SP27", 'shell = true\nexternal_id = "SIS.BIO.002"\nstudents = ["amy"]'),
    ("CHEM-110-001-SP27", 'shell = true\nstudents = ["amy"]'),
    ("ENG-1-SP27", "shell = true"),
    ("ENG-1-001-SP27", 'shell = true\nparent = "ENG-1-SP27"'),
]


def write_merged_files(tmp_path: Path) -> tuple[Path, Path]:
    """A manifest with merged sets and a sandbox TOML with their courses (a student of two of
    the sections: Learn's duplicate enrolment), the SP27 term and the users."""
    manifest = tmp_path / "merged.csv"
    lines = [MERGED_HEADER + "child_course_ids", *MERGED_ROWS]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    toml = ["copy_seconds = 1.0"]
    for course, extra in MERGED_COURSES:
        toml += ["[[courses]]", f'course_id = "{course}"', f'name = "{course} (seeded)"']
        toml += [extra] if extra else []
    toml += ["[[terms]]", 'external_id = "SP27"', 'name = "Spring 2027"']
    for user in ("jane.doe", "bob", "amy"):
        toml += ["[[users]]", f'user_name = "{user}"']
    config = tmp_path / "merged.toml"
    config.write_text("\n".join(toml) + "\n", encoding="utf-8")
    return manifest, config


def test_merged_sets_against_sandbox_process(
    tmp_path: Path, start_sandbox: Callable[[Path], SandboxProcess]
) -> None:
    """Merged sets against a real sandbox: each section attached once after its parent's copy,
    the instructors enrolled after; a section of another parent fails its row, naming it; a
    re-run makes no call."""
    manifest, config = write_merged_files(tmp_path)
    server = start_sandbox(config)
    result = run_rollover("run", manifest, "--base-url", server.base_url, *FAST, env=server.env())
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {r["target_course_id"]: r for r in results_of(tmp_path / "merged.results.csv")}
    assert rows["BIO-101-SP27"]["status"] == "done", rows
    assert rows["CHEM-110-SP27"]["status"] == "done", rows
    failed = rows["CHEM-210-SP27"]
    assert failed["status"] == "failed" and failed["course_pk"], failed
    assert "ENG-1-001-SP27 is already a section of another course" in failed["error"]
    assert "child_course_ids" in failed["error"]

    record = server.record()
    assert_each_copied_once(record, ["BIO-101-SP27", "CHEM-110-SP27", "CHEM-210-SP27"])
    attached = sorted((a["parent_course_id"], a["child_course_id"]) for a in record["attachments"])
    assert attached == [
        ("BIO-101-SP27", "BIO-101-001-SP27"),
        ("BIO-101-SP27", "BIO-101-002-SP27"),
        ("CHEM-110-SP27", "CHEM-110-001-SP27"),
    ]
    assert all(a["copy_complete"] and a["ignore_enrollment_errors"] for a in record["attachments"])
    for parent in ("BIO-101-SP27", "CHEM-110-SP27"):
        last = max(a["at"] for a in record["attachments"] if a["parent_course_id"] == parent)
        enrolled = [e for e in record["enrolments"] if e["course_id"] == parent]
        assert enrolled and all(e["at"] >= last and e["percent"] is None for e in enrolled)

    calls = sum(record["calls"].values())
    again = run_rollover("run", manifest, "--base-url", server.base_url, *FAST, env=server.env())
    assert again.returncode == 1, again.stdout + again.stderr
    assert sum(server.record()["calls"].values()) == calls


def test_shifted_dates_against_sandbox_process(
    tmp_path: Path, start_sandbox: Callable[[Path], SandboxProcess]
) -> None:
    """A real run with shift_dates moves each date once, local time kept; a re-run moves none."""
    server = start_sandbox(write_config(tmp_path / "cfg.toml", SOURCES, copy_seconds=0.05))
    manifest = tmp_path / "spring.csv"
    manifest.write_text(
        "source_course_id,target_course_id,name,shift_dates\n"
        "BIO-101-FA26,BIO-101-001-SP27,Biology 101 (Spring 2027),+119d\n",
        encoding="utf-8",
    )
    command = ("run", manifest, "--base-url", server.base_url, "--timezone", "America/Chicago")
    result = run_rollover(*command, *FAST, env=server.env())
    assert result.returncode == 0, result.stdout + result.stderr
    changes = server.record()["date_changes"]
    assert changes, "no date moved"
    assert len({(c["item_id"], c["field"]) for c in changes}) == len(changes)
    chicago = ZoneInfo("America/Chicago")
    for change in changes:
        old = datetime.fromisoformat(change["old"].replace("Z", "+00:00")).astimezone(chicago)
        new = datetime.fromisoformat(change["new"].replace("Z", "+00:00")).astimezone(chicago)
        assert new.time() == old.time() and new.date() == old.date() + timedelta(days=119)
    again = run_rollover(*command, *FAST, env=server.env())
    assert again.returncode == 0, again.stdout + again.stderr
    assert server.record()["date_changes"] == changes
