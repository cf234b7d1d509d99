"""`make bench`: the performance figures, printed. Not part of `make test`, and asserts nothing.

Every figure comes from real processes on loopback: `rollover sandbox` serving the simulated
Learn and `rollover run` / `rollover validate` as a user would start them. Three benches:

1. Workload: 400 courses whose copies take lognormal time (median 0.3 s, capped at 10 s) on 4
   server copy slots. Calls per course, polls per course, wall time, and the sandbox's ideal
   makespan for the same tasks (its queue replayed with zero client delay).
2. Baseline: Anthology's documented workflow done plainly (POST, poll at a fixed interval, PATCH,
   one course at a time) on the same workload in a fresh sandbox, and our speed-up over it.
3. Scale: 10,000 near-instant copies on many slots (wall, CPU per 1,000 courses, peak RSS), and
   `validate` of a 100,000-row manifest (time, peak RSS).

The workload is Anthology's description of copies compressed 20x: its 10 s cap stands for the
"several minutes" of a very large course, so the baseline polls at Anthology's recommended
60 s compressed the same way, every 3 s. The baseline hardly uses the CPU (one call per 3 s),
so it runs alongside the other benches, each against its own sandbox process.
Usage: python tests/bench.py [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from rollover.plan import copy_options

TIME_SCALE = 1 / 20  # bench seconds per real second
WORKLOAD = {
    "copy_seconds": 0.3,
    "copy_sigma": 1.0,
    "copy_max_seconds": 10.0,
    "slots": 4,
    "seed": 2027,
    "quota_limit": 10_000_000,
    "quota_refill_per_second": 1000.0,
}
WORKLOAD_COURSES = 400
RUN_FLAGS = ["--concurrency", "24", "--poll-min", "0.02", "--poll-max", "2.5"]
BASELINE_INTERVAL = 60.0 * TIME_SCALE
SCALE = {
    "copy_seconds": 0.0,
    "copy_sigma": 0.0,
    "copy_max_seconds": 0.0,
    "slots": 64,
    "seed": 2027,
    "quota_limit": 10_000_000,
    "quota_refill_per_second": 1000.0,
}
SCALE_COURSES = 10_000
SCALE_FLAGS = ["--concurrency", "64", "--poll-min", "0.005", "--poll-max", "0.5"]
VALIDATE_ROWS = 100_000
SOURCES = 40
INSTRUCTORS = 50
ROLLOVER = [sys.executable, "-m", "rollover"]
API = "/learn/api/public"


@dataclass(frozen=True)
class ProcessCost:
    """What one child process took: wall seconds, CPU seconds and peak resident memory."""

    wall: float
    cpu: float
    max_rss_mb: float
    exit_code: int


def run_process(
    argv: Sequence[str], *, env: dict[str, str] | None = None, log: Path | None = None
) -> ProcessCost:
    """Run a command to its end and measure it with wait4 (its own rusage, not ours)."""
    started = time.perf_counter()
    with Path(log or os.devnull).open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=sink, env=env)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return ProcessCost(
        wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode
    )


def sandbox_toml(settings: dict[str, Any], sources: int) -> str:
    """A `rollover sandbox --config` file: the settings, the source courses, the instructors
    and two terms."""
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    for i in range(sources):
        lines += ["[[courses]]", f'course_id = "SRC-{i:03d}-FA26"', f'name = "Source {i:03d}"']
    for i in range(INSTRUCTORS):
        lines += ["[[users]]", f'user_name = "{instructor(i)}"']
    lines += ["[[terms]]", 'external_id = "SP27"', 'name = "Spring 2027"']
    return "\n".join(lines) + "\n"


def manifest_rows(count: int) -> Iterator[tuple[str, str, str, str]]:
    """(source, target, name, term) for `count` new sections of the seeded sources."""
    for i in range(count):
        yield (
            f"SRC-{i % SOURCES:03d}-FA26",
            f"SEC-{i:06d}-SP27",
            f"Section {i:06d} (Spring 2027)",
            "SP27",
        )


def instructor(index: int) -> str:
    """The userName of the index-th seeded instructor."""
    return f"prof{index:03d}"


def write_manifest(
    path: Path, count: int, *, dated: bool = False, instructors: bool = False
) -> Path:
    """A manifest of `count` rows that rename each new section and attach it to SP27 (with
    one instructor each, if asked)."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(
            "source_course_id,target_course_id,name,term_id"
            + (",start_date,end_date" if dated else "")
            + (",instructors" if instructors else "")
            + "\n"
        )
        for n, row in enumerate(manifest_rows(count)):
            handle.write(
                ",".join(row)
                + (",2027-01-19,2027-05-14" if dated else "")
                + (f",userName:{instructor(n % INSTRUCTORS)}" if instructors else "")
                + "\n"
            )
    return path


@contextmanager
def sandbox(settings: dict[str, Any], workdir: Path) -> Iterator[dict[str, str]]:
    """A `rollover sandbox` process on a free port; yields its LEARN_* settings."""
    config = workdir / f"sandbox-{time.monotonic_ns()}.toml"
    config.write_text(sandbox_toml(settings, SOURCES), encoding="utf-8")
    process = subprocess.Popen(
        [*ROLLOVER, "sandbox", "--port", "0", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        found: dict[str, str] = {}
        while len(found) < 3:
            line = process.stdout.readline()
            if not line:
                raise SystemExit(f"rollover sandbox exited with {process.wait()}")
            name, sep, value = line.strip().partition("=")
            if sep:
                found[name] = value
        found["pid"] = str(process.pid)
        yield found
    finally:
        process.terminate()
        process.wait(timeout=30)


def cpu_seconds(pid: str) -> float:
    """CPU seconds a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(learn: dict[str, str]) -> dict[str, Any]:
    """The sandbox's own account of the calls it served and its copy queue."""
    reply = httpx.get(learn["LEARN_BASE_URL"] + "/__sandbox__/summary", timeout=60)
    reply.raise_for_status()
    data: dict[str, Any] = reply.json()
    return data


def run_rollover(learn: dict[str, str], manifest: Path, flags: Sequence[str]) -> ProcessCost:
    """`rollover run` as a scheduled job would start it (logs kept beside the manifest)."""
    env = {**os.environ, **learn}
    return run_process(
        [*ROLLOVER, "run", str(manifest), *flags], env=env, log=manifest.with_suffix(".log")
    )


def sequential_baseline(learn: dict[str, str], count: int, interval: float) -> float:
    """Anthology's documented workflow, one course at a time: POST, poll every `interval`, PATCH."""
    started = time.perf_counter()
    with httpx.Client(base_url=learn["LEARN_BASE_URL"], follow_redirects=False, timeout=60) as http:
        token = http.post(
            f"{API}/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(learn["LEARN_KEY"], learn["LEARN_SECRET"]),
        ).json()
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        for source, target, name, term in manifest_rows(count):
            accepted = http.post(
                f"{API}/v2/courses/courseId:{source}/copy",
                json={"targetCourse": {"courseId": target}, "copy": copy_options(None)},
            )
            accepted.raise_for_status()
            while True:
                time.sleep(interval)
                task = http.get(accepted.headers["Location"])
                if task.status_code == 303:
                    break
                task.raise_for_status()
            course = task.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
            http.patch(
                f"{API}/v3/courses/{course}", json={"name": name, "termId": f"externalId:{term}"}
            ).raise_for_status()
    return time.perf_counter() - started


def calls_by_endpoint(report: dict[str, Any]) -> dict[str, int]:
    """Calls the sandbox served, by endpoint template, largest first."""
    calls: dict[str, int] = report["calls"]
    return dict(sorted(calls.items(), key=lambda item: -item[1]))


def print_calls(calls: dict[str, int], courses: int) -> None:
    """One line per endpoint: total and per course."""
    for endpoint, count in calls.items():
        print(f"    {endpoint:<36} {count:>7}  {count / courses:6.3f}/course")


def workload_bench(workdir: Path, courses: int) -> float:
    """Bench 1; returns the wall time for the speed-up."""
    print(f"1. Workload: {courses} courses, sandbox {json.dumps(WORKLOAD)}")
    print(f"   rollover run {' '.join(RUN_FLAGS)}")
    manifest = write_manifest(workdir / "workload.csv", courses)
    with sandbox(WORKLOAD, workdir) as learn:
        cost = run_rollover(learn, manifest, RUN_FLAGS)
        report = summary(learn)
    calls = calls_by_endpoint(report)
    total = sum(calls.values())
    polls = calls.get("GET /v1/courses/{id}/tasks/{id}", 0)
    queue = report["queue"]
    print(
        f"   exit code {cost.exit_code}; copies {report['copies']}, patches "
        f"{report['patches']}, patches before copy complete "
        f"{report['patches_before_copy_complete']}, most copies of one target "
        f"{report['max_copies_per_target']}"
    )
    print(f"   API calls per course:  {total / courses:.3f}  ({total} calls)  [target <= 3.3]")
    print_calls(calls, courses)
    print(f"   polls per course:      {polls / courses:.3f}  [aim <= 1.2]")
    print(f"   wall time:             {cost.wall:.1f} s (process start to exit)")
    print(f"   copies busy span:      {queue['busy_span']:.1f} s (first POST to last copy end)")
    print(
        f"   ideal makespan:        {queue['ideal_makespan']:.1f} s "
        f"({queue['tasks']} tasks on {queue['slots']} slots, zero client delay)"
    )
    print(f"   wall / ideal:          {cost.wall / queue['ideal_makespan']:.3f}  [target <= 1.15]")
    return cost.wall


def teaching_bench(workdir: Path, courses: int) -> None:
    """Bench 4: the workload with one instructor per row and --verify; calls against budget."""
    print(f"4. Ready to teach: bench 1's workload, {courses} courses, one instructor each")
    flags = [*RUN_FLAGS, "--verify"]
    print(f"   rollover run {' '.join(flags)}")
    manifest = write_manifest(workdir / "teaching.csv", courses, instructors=True)
    with sandbox(WORKLOAD, workdir) as learn:
        cost = run_rollover(learn, manifest, flags)
        report = summary(learn)
    calls = calls_by_endpoint(report)
    total = sum(calls.values())
    sources = len({row[0] for row in manifest_rows(courses)})
    # The budget: the copy's 3.3, one PUT per enrolment, two counts per target and two
    # per distinct source (each list fits one page).
    budget = 3.3 + 1 + 2 + 2 * sources / courses
    per_course = total / courses
    print(
        f"   exit code {cost.exit_code}; copies {report['copies']}, enrolments "
        f"{report['enrolments']}, lost (made below 15%) {report['enrolments_lost']}"
    )
    print(
        f"   API calls per course:  {per_course:.3f}  ({total} calls)  [budget <= {budget:.3f}: "
        f"{'met' if per_course <= budget else 'MISSED'}]"
    )
    print_calls(calls, courses)
    print(f"   wall time:             {cost.wall:.1f} s")


def baseline_bench(workdir: Path, courses: int) -> tuple[float, float]:
    """Bench 2: the sequential workflow's wall time and calls per course."""
    with sandbox(WORKLOAD, workdir) as learn:
        wall = sequential_baseline(learn, courses, BASELINE_INTERVAL)
        report = summary(learn)
    return wall, sum(report["calls"].values()) / courses


def print_baseline(wall: float, per_course: float, ours: float) -> None:
    """Bench 2's figures and our speed-up over it."""
    print(
        f"2. Baseline: sequential POST / poll every {BASELINE_INTERVAL:g} s / PATCH, "
        "same workload, fresh sandbox (ran alongside 1 and 3)"
    )
    print(f"   wall time:             {wall:.1f} s")
    print(f"   API calls per course:  {per_course:.3f}")
    print(f"   speed-up of rollover:  {wall / ours:.1f}x  [target >= 10x]")


def scale_bench(workdir: Path, courses: int, rows: int) -> None:
    """Bench 3."""
    print(f"3. Scale: {courses} courses, sandbox {json.dumps(SCALE)}")
    print(f"   rollover run {' '.join(SCALE_FLAGS)}")
    manifest = write_manifest(workdir / "scale.csv", courses)
    with sandbox(SCALE, workdir) as learn:
        cost = run_rollover(learn, manifest, SCALE_FLAGS)
        report = summary(learn)
        served = cpu_seconds(learn["pid"])
    total = sum(report["calls"].values())
    print(
        f"   exit code {cost.exit_code}; copies {report['copies']}, patches {report['patches']},"
        f" {total / courses:.3f} calls/course"
    )
    print(f"   wall time:             {cost.wall:.1f} s  [target < 60 s]")
    print(
        f"   CPU per 1,000 courses: {cost.cpu / courses * 1000:.2f} s in rollover, "
        f"{served / courses * 1000:.2f} s in the sandbox serving it"
    )
    print(f"   peak RSS:              {cost.max_rss_mb:.0f} MB")
    big = write_manifest(workdir / "validate.csv", rows, dated=True)
    cost = run_process([*ROLLOVER, "validate", str(big), "--timezone", "America/Chicago"])
    print(
        f"   validate {rows} rows:  {cost.wall:.1f} s, peak RSS {cost.max_rss_mb:.0f} MB "
        f"[target < 300 MB], exit code {cost.exit_code}"
    )


def main(argv: Sequence[str]) -> None:
    """Run the three benches; `--quick` runs them small, to check the bench itself."""
    quick = "--quick" in argv
    courses, scale, rows = (
        (40, 500, 5_000) if quick else (WORKLOAD_COURSES, SCALE_COURSES, VALIDATE_ROWS)
    )
    print(
        f"rollover bench on {os.cpu_count()} cores, Python {sys.version.split()[0]}"
        f"{' (quick)' if quick else ''}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="rollover-bench-") as tmp,
        ThreadPoolExecutor(max_workers=1) as background,
    ):
        workdir = Path(tmp)
        baseline = background.submit(baseline_bench, workdir, courses)
        ours = workload_bench(workdir, courses)
        teaching_bench(workdir, courses)
        scale_bench(workdir, scale, rows)
        print_baseline(*baseline.result(), ours)


if __name__ == "__main__":
    main(sys.argv[1:])
