"""The core's entry points, one per command: run, validate (and its live preflight), status,
report.

The CLI parses options and calls exactly one of these; they never print. Each returns a small
result object the CLI turns into a human summary and an exit code.
"""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import structlog

from rollover.client import LearnClient
from rollover.engine import Rollover, RunOptions, exit_code
from rollover.errors import LedgerError, UsageError
from rollover.ledger import Ledger, LedgerRow, QuotaSeen, State
from rollover.manifest import Manifest, load_manifest
from rollover.plan import CallEstimate, estimate, row_spec
from rollover.preflight import PAGE_SIZE, PreflightReport, check_learn
from rollover.profiles import PROFILES, CopyOptions
from rollover.progress import Progress, stage_counts, stop_ticking
from rollover.report import status_counts, write_results

log = structlog.get_logger("rollover")


@dataclass(frozen=True)
class Site:
    """Where Learn is and how to sign in; `identity` is what the ledger is bound to."""

    base_url: str
    key: str
    secret: str
    identity: str
    transport: httpx.AsyncBaseTransport | None = None
    verify: bool | str = True

    def __repr__(self) -> str:  # never show the secret, even in a debugger or a traceback
        return f"Site(base_url={self.base_url!r}, identity={self.identity!r})"


def checked_base_url(url: str) -> str:
    """The base URL if it is https, or http on a loopback host; else a UsageError."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--base-url {url!r} is not an http(s) URL",
                         hint="pass the site's address, e.g. https://learn.example.edu")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise UsageError(
            f"--base-url {url!r} uses plain http to a host that is not this machine",
            hint="use https:// (http:// is accepted only for 127.0.0.1, ::1 and localhost)")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_paths(manifest_path: Path) -> tuple[Path, Path]:
    """The contract's default ledger and results paths, beside the manifest."""
    stem = manifest_path.with_suffix("") if manifest_path.suffix.lower() == ".csv" \
        else manifest_path
    return (stem.with_name(stem.name + ".ledger.sqlite"),
            stem.with_name(stem.name + ".results.csv"))


@dataclass
class RunReport:
    """What a run did, for the summary and the exit code."""

    counts: Counter[str]
    calls: Counter[str]
    elapsed: float
    exit_code: int
    stopped: str | None
    results_path: Path
    quota_remaining: int | None
    needs_person: list[LedgerRow] = field(default_factory=list)
    retried: list[LedgerRow] = field(default_factory=list)  # failed rows re-opened
    left_alone: list[LedgerRow] = field(default_factory=list)  # in the ledger, not the manifest


def read_manifest(path: Path, tz: tzinfo, *, delimiter: str = ",", encoding: str = "utf-8",
                  profiles: Mapping[str, CopyOptions | None] = PROFILES) -> Manifest:
    """Load and validate the manifest (ManifestInvalid lists every problem)."""
    return load_manifest(path, timezone=tz, delimiter=delimiter, encoding=encoding,
                         profiles=profiles)


def validate(manifest: Manifest) -> CallEstimate:
    """The offline plan of a manifest: what it asks and what it will cost in API calls."""
    return estimate(manifest.rows)


async def preflight(
    manifest: Manifest,
    site: Site,
    *,
    ledger_path: Path,
    retry_failed: bool = False,
    page_size: int = PAGE_SIZE,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> PreflightReport:
    """Check the manifest against Learn and the ledger (if there is one yet); changes nothing."""
    ledger_rows: list[LedgerRow] = []
    if ledger_path.exists():
        with open_existing_ledger(ledger_path) as ledger, ledger.snapshot():
            ledger_rows = ledger.rows(in_manifest_only=False)
    client = LearnClient(site.base_url, site.key, site.secret, transport=site.transport,
                         sleep=sleep, verify=site.verify)
    async with client:
        return await check_learn(manifest.rows, ledger_rows, client, page_size=page_size,
                                 retry_failed=retry_failed)


async def run(
    manifest: Manifest,
    site: Site,
    *,
    ledger_path: Path,
    results_path: Path,
    options: RunOptions,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    handle_signals: bool = False,
    on_plan: Callable[[CallEstimate], None] | None = None,
    retry_failed: bool = False,
    progress: Progress | None = None,
) -> RunReport:
    """Copy, poll, patch and write the results for every row of the manifest."""
    started = time.monotonic()
    with Ledger(ledger_path, clock=clock) as ledger:
        ledger.acquire_run_lock()
        ledger.bind_site(site.identity)
        log_transition = transition_logger(clock, clock())
        ledger.observer = log_transition
        ledger.sync_manifest([row_spec(row, manifest.profiles) for row in manifest.rows])
        retried = ledger.retry_failed() if retry_failed else []
        rows = ledger.rows()
        unfinished = {row.target_course_id for row in rows if row.state is State.PENDING}
        plan = estimate([row for row in manifest.rows if row.target_course_id in unfinished])
        log.info("run.plan", rows=len(manifest.rows), rows_to_start=plan.rows,
                 planned_calls=plan.calls)
        if on_plan is not None:
            on_plan(plan)
        client = LearnClient(site.base_url, site.key, site.secret, transport=site.transport,
                             sleep=sleep, verify=site.verify)

        def save_quota() -> None:
            if client.quota_remaining is not None:
                ledger.record_quota(client.quota_remaining, client.quota_limit)

        if progress is not None:
            progress.start(rows, quota=client, save_quota=save_quota)
            ledger.observer = both(log_transition, progress.observe)
        async with client:
            engine = Rollover(ledger, client, options, clock=clock, sleep=sleep,
                              planned_calls=plan.calls)
            if handle_signals:
                _install_signal_handlers(engine)
            ticking = (asyncio.create_task(progress.keep_showing(sleep))
                       if progress is not None else None)
            try:
                outcome = await engine.run()
            finally:
                if handle_signals:
                    _remove_signal_handlers()
                if ticking is not None:
                    await stop_ticking(ticking)
                if progress is not None:
                    progress.finish()
        save_quota()
        rows = ledger.rows()
        left_alone = ledger.left_alone()
        write_results(rows, results_path)
    counts = status_counts(rows)
    return RunReport(
        counts=counts, calls=client.calls, elapsed=time.monotonic() - started,
        exit_code=exit_code(counts, outcome), stopped=outcome.fatal.message if outcome.fatal
        else outcome.stopped, results_path=results_path, quota_remaining=client.quota_remaining,
        needs_person=[r for r in rows if r.state in (State.FAILED, State.NEEDS_REVIEW)],
        retried=retried, left_alone=left_alone,
    )


Observer = Callable[[LedgerRow, str | None, str | None], None]


def transition_logger(clock: Callable[[], datetime], run_started: datetime) -> Observer:
    """The ledger observer that logs each row's state change, with seconds since its intent."""

    def log_transition(row: LedgerRow, from_state: str | None, detail: str | None) -> None:
        since = row.intent_at or run_started
        log.info("row." + row.state.value, line=row.line, source=row.source_course_id,
                 target=row.target_course_id, previous=from_state, task=row.task_location,
                 attempt=row.attempts, elapsed=round((clock() - since).total_seconds(), 3),
                 detail=detail)

    return log_transition


def both(first: Observer, second: Observer) -> Observer:
    """One ledger observer that calls two, in order."""

    def observe(row: LedgerRow, from_state: str | None, detail: str | None) -> None:
        first(row, from_state, detail)
        second(row, from_state, detail)

    return observe


def _install_signal_handlers(engine: Rollover) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, engine.request_stop, signal.Signals(signum).name)


def _remove_signal_handlers() -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(signum)


def open_existing_ledger(path: Path) -> Ledger:
    """A ledger that must already exist (status, report)."""
    if not path.exists():
        raise LedgerError(f"no ledger at {path}",
                          hint="pass --ledger, or run `rollover run MANIFEST` first")
    return Ledger(path)


def report(ledger_path: Path, results_path: Path) -> Counter[str]:
    """Rewrite the results CSV from the ledger, from one consistent snapshot."""
    with open_existing_ledger(ledger_path) as ledger, ledger.snapshot():
        rows = ledger.rows()
    write_results(rows, results_path)
    return status_counts(rows)


@dataclass(frozen=True)
class LedgerStatus:
    """What `status` shows: counts, the quota last seen, rows for a person, rows left alone."""

    counts: Counter[str]  # by results status
    stages: Counter[str]  # by ledger state
    progress: dict[str, int]  # by the live display's stages: queued, copying, patching, ...
    quota: QuotaSeen | None
    needs_person: list[LedgerRow]
    left_alone: list[LedgerRow]  # in the ledger, not in the manifest of its last run


@dataclass(frozen=True)
class RowTrail:
    """One row and every transition it went through, for `status --row`."""

    row: LedgerRow
    in_manifest: bool
    events: list[tuple[str, str | None, str, str | None]]  # (at, from, to, detail)


def status(ledger_path: Path) -> LedgerStatus:
    """Counts by results status and by stage, the quota last seen, and the rows to look at."""
    with open_existing_ledger(ledger_path) as ledger, ledger.snapshot():
        rows = ledger.rows()
        quota = ledger.last_quota()
        left_alone = ledger.left_alone()
    return LedgerStatus(
        counts=status_counts(rows), stages=Counter(row.state.value for row in rows),
        progress=stage_counts(row.state for row in rows), quota=quota,
        needs_person=[row for row in rows if row.state in (State.FAILED, State.NEEDS_REVIEW)],
        left_alone=left_alone)


def row_trail(ledger_path: Path, ref: str) -> RowTrail:
    """The audit trail of one row, named by its target courseId or its manifest line."""
    with open_existing_ledger(ledger_path) as ledger, ledger.snapshot():
        row = ledger.find(ref)
        if row is None:
            raise UsageError(f"no row {ref!r} in {ledger_path}",
                             hint="pass a target_course_id or a manifest line number; "
                                  "`rollover status --json` lists the rows that need a person")
        left_alone = {r.target_course_id for r in ledger.left_alone()}
        events = ledger.history(row.target_course_id)
    return RowTrail(row=row, in_manifest=row.target_course_id not in left_alone, events=events)
