"""The core's entry points, one per command: run, validate, status, report.

The CLI parses options and calls exactly one of these; they never print. Each returns a small
result object the CLI turns into a human summary and an exit code.
"""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import structlog

from rollover.client import LearnClient
from rollover.engine import Rollover, RunOptions, exit_code
from rollover.errors import LedgerError, UsageError
from rollover.ledger import Ledger, LedgerRow, State
from rollover.manifest import Manifest, load_manifest
from rollover.plan import CallEstimate, estimate, row_spec
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


def read_manifest(path: Path, tz: tzinfo, *, delimiter: str = ",",
                  encoding: str = "utf-8") -> Manifest:
    """Load and validate the manifest (ManifestInvalid lists every problem)."""
    return load_manifest(path, timezone=tz, delimiter=delimiter, encoding=encoding)


def validate(manifest: Manifest) -> CallEstimate:
    """The offline plan of a manifest: what it asks and what it will cost in API calls."""
    return estimate(manifest.rows)


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
) -> RunReport:
    """Copy, poll, patch and write the results for every row of the manifest."""
    started = time.monotonic()
    with Ledger(ledger_path, clock=clock) as ledger:
        ledger.acquire_run_lock()
        ledger.bind_site(site.identity)
        ledger.sync_manifest([row_spec(row) for row in manifest.rows])
        unfinished = {row.target_course_id for row in ledger.rows()
                      if row.state is State.PENDING}
        plan = estimate([row for row in manifest.rows if row.target_course_id in unfinished])
        log.info("run.plan", rows=len(manifest.rows), rows_to_start=plan.rows,
                 planned_calls=plan.calls)
        if on_plan is not None:
            on_plan(plan)
        ledger.observer = _log_transition
        client = LearnClient(site.base_url, site.key, site.secret, transport=site.transport,
                             sleep=sleep, verify=site.verify)
        async with client:
            engine = Rollover(ledger, client, options, clock=clock, sleep=sleep,
                              planned_calls=plan.calls)
            if handle_signals:
                _install_signal_handlers(engine)
            try:
                outcome = await engine.run()
            finally:
                if handle_signals:
                    _remove_signal_handlers()
        rows = ledger.rows()
        write_results(rows, results_path)
    counts = status_counts(rows)
    return RunReport(
        counts=counts, calls=client.calls, elapsed=time.monotonic() - started,
        exit_code=exit_code(counts, outcome), stopped=outcome.fatal.message if outcome.fatal
        else outcome.stopped, results_path=results_path, quota_remaining=client.quota_remaining,
        needs_person=[r for r in rows if r.state in (State.FAILED, State.NEEDS_REVIEW)],
    )


def _log_transition(row: LedgerRow, from_state: str | None, detail: str | None) -> None:
    log.info("row." + row.state.value, line=row.line, source=row.source_course_id,
             target=row.target_course_id, previous=from_state, task=row.task_location,
             attempt=row.attempts, detail=detail)


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


def status(ledger_path: Path) -> tuple[Counter[str], Counter[str], list[LedgerRow]]:
    """Counts by results status and by ledger stage, and the rows that need a person."""
    with open_existing_ledger(ledger_path) as ledger, ledger.snapshot():
        rows = ledger.rows()
    stages = Counter(row.state.value for row in rows)
    return (status_counts(rows), stages,
            [row for row in rows if row.state in (State.FAILED, State.NEEDS_REVIEW)])
