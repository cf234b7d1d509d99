"""The core's entry points, one per command: run, validate (and its live preflight), status,
report, resolve.

They take explicit paths: which file is which (the default names, the rehearsal's) is the CLI's
choice, as are the signal handlers around a run.

The CLI parses options and calls exactly one of these; they never print. Each returns a small
result object the CLI turns into a human summary and an exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import structlog

from rollover.elsewhere import (
    continue_from,
    held_elsewhere,
    manifest_line,
    other_ledgers,
    refuse_other_ledgers,
)
from rollover.engine import QuotaKeeper, Rollover, RunOptions, exit_code, resumable
from rollover.errors import (
    ExitCode,
    FailedAfterChange,
    LearnNotFound,
    LedgerMissing,
    LedgerUnwritable,
    ManifestInvalid,
    RunStopped,
)
from rollover.events import both, transition_logger
from rollover.learn import LearnClient, Site, id_form, learn_datetime
from rollover.ledger import Ledger, LedgerRow, Resolution, Revision, State, revisions
from rollover.manifest import Enrolment, Manifest, load_manifest
from rollover.one_row import CourseHeld, RowTrail, named_row
from rollover.plan import (
    PROFILES,
    CallEstimate,
    CopyOptions,
    DateShift,
    RowSpec,
    estimate,
    row_spec,
    term_without_start,
)
from rollover.preflight import PAGE_SIZE, PreflightProblem, PreflightReport, check_learn
from rollover.progress import Progress, stop_ticking
from rollover.report import LedgerStatus, ledger_status, status_counts, write_results
from rollover.times import utc_now

log = structlog.get_logger("rollover")


@dataclass
class RunReport:
    """What a run did, for the summary and the exit code."""

    counts: Counter[str]
    calls: Counter[str]
    elapsed: float
    exit_code: ExitCode
    stopped: str | None
    results_path: Path
    quota_remaining: int | None
    hint: str | None = None  # what to do about the error that ended the run, if one did
    results_error: str | None = None  # why the results file could not be written
    settling: int = 0  # rows left waiting out --adopt-settle
    settle_until: datetime | None = None  # until then
    needs_person: list[LedgerRow] = field(default_factory=list)
    retried: list[LedgerRow] = field(default_factory=list)  # failed rows re-opened
    left_alone: list[LedgerRow] = field(default_factory=list)  # in the ledger, not the manifest


def read_manifest(
    path: Path,
    tz: ZoneInfo,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    profiles: Mapping[str, CopyOptions | None] = PROFILES,
    shift_dates: DateShift | None = None,
) -> Manifest:
    """Load and validate the manifest (ManifestInvalid lists every problem), with the shift
    given for every row whose cell is blank (`shift_dates`): a `term` needs each such row's
    start_date."""
    manifest = load_manifest(
        path, timezone=tz, delimiter=delimiter, encoding=encoding, profiles=profiles
    )
    problems = term_without_start(manifest.rows, shift_dates)
    if problems:
        raise ManifestInvalid(str(path), problems, warnings=manifest.warnings)
    return manifest


def validate(
    manifest: Manifest,
    *,
    verify: bool = False,
    profiles: Mapping[str, CopyOptions | None] = PROFILES,
    shift_dates: DateShift | None = None,
    calendar_reader: Enrolment | None = None,
) -> CallEstimate:
    """The offline plan of a manifest: what it asks and what it will cost in API calls."""
    return estimate(
        manifest.rows,
        verify=verify,
        profiles=profiles,
        shift_dates=shift_dates,
        calendar_reader=calendar_reader,
    )


async def preflight(
    manifest: Manifest,
    site: Site,
    *,
    ledger_path: Path,
    retry_failed: bool = False,
    page_size: int = PAGE_SIZE,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    profiles: Mapping[str, CopyOptions | None] = PROFILES,
    allow_nonempty_shell: bool = False,
    verify: bool = False,
    shift_dates: DateShift | None = None,
    calendar_reader: Enrolment | None = None,
) -> PreflightReport:
    """Check the manifest against Learn and the ledger (if there is one yet, and it belongs to
    this site: another site's record says nothing of this one); changes nothing."""
    ledger_rows: list[LedgerRow] = []
    foreign: str | None = None
    if ledger_path.exists():  # noqa: ASYNC240 - a stat before any call; nothing to overlap
        with open_existing_ledger(ledger_path) as ledger, ledger.snapshot():
            bound = ledger.bound_site()
            if bound is None or bound == site.identity:
                ledger_rows = ledger.rows(in_manifest_only=False)
            else:
                foreign = f"{ledger_path} records a rollover against {bound}"
    beside = [
        PreflightProblem(
            manifest_line(manifest, found.targets[0]),
            "target_course_id",
            found.targets[0],
            f"{held_elsewhere(found)}; {continue_from(found)}",
        )
        for found in other_ledgers(manifest, site, ledger_path)
    ]
    client = LearnClient.for_site(site, sleep=sleep)
    async with client:
        checked = await check_learn(
            manifest.rows,
            ledger_rows,
            client,
            page_size=page_size,
            retry_failed=retry_failed,
            profiles=profiles,
            allow_nonempty_shell=allow_nonempty_shell,
            verify=verify,
            shift_dates=shift_dates,
            calendar_reader=calendar_reader,
            zone=manifest.zone,
        )
    return replace(checked, foreign_ledger=foreign, problems=(*beside, *checked.problems))


class StopWatch(Protocol):
    """What watches for a stop from outside while the engine runs (the CLI's signals)."""

    @property
    def cut_short(self) -> bool:
        """Whether it cancelled the run at once (a second Ctrl-C), not just asked it to stop."""

    def remove(self) -> None:
        """Stop watching: the run has ended."""


async def run(
    manifest: Manifest,
    site: Site,
    *,
    ledger_path: Path,
    results_path: Path,
    options: RunOptions,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], datetime] = utc_now,
    monotonic: Callable[[], float] = time.monotonic,
    stop_signals: Callable[[Callable[[str], None]], StopWatch] | None = None,
    on_plan: Callable[[CallEstimate, list[RowSpec]], None] | None = None,
    on_revised: Callable[[list[Revision]], None] | None = None,
    retry_failed: bool = False,
    progress: Progress | None = None,
    profiles: Mapping[str, CopyOptions | None] = PROFILES,
    shift_dates: DateShift | None = None,
) -> RunReport:
    """Copy, poll, patch and write the results for every row of the manifest (`shift_dates`
    moving the dates of every row whose cell is blank); `on_plan` is told the plan and the
    rows it starts, and `on_revised` the done rows the manifest changed, before any copy;
    `stop_signals`, given the engine's `request_stop`, watches for a stop from outside (the
    CLI's signal handlers) while the engine runs."""
    started = time.monotonic()
    refuse_other_ledgers(manifest, site, ledger_path)
    with Ledger(ledger_path, clock=clock) as ledger:
        ledger.acquire_run_lock()
        ledger.check_site(site.identity)
        log_transition = transition_logger(clock, clock())
        ledger.observer = log_transition
        specs = [
            row_spec(
                row, profiles, shift_dates=shift_dates, calendar_reader=options.calendar_reader
            )
            for row in manifest.rows
        ]
        revised = revisions(ledger.rows(in_manifest_only=False), specs) if on_revised else []
        ledger.sync_manifest(specs)
        retried = ledger.retry_failed() if retry_failed else []
        rows = ledger.rows()
        unfinished = {row.target_course_id for row in rows if row.state is State.PENDING}
        starting = [row for row in manifest.rows if row.target_course_id in unfinished]
        plan = estimate(
            starting,
            verify=options.verify,
            profiles=profiles,
            shift_dates=shift_dates,
            calendar_reader=options.calendar_reader,
        )
        log.info(
            "run.plan", rows=len(manifest.rows), rows_to_start=plan.rows, planned_calls=plan.calls
        )
        if on_plan is not None:
            on_plan(plan, [spec for spec in specs if spec.target_course_id in unfinished])
        if on_revised is not None:
            on_revised(revised)
        client = LearnClient.for_site(site, sleep=sleep, clock=clock, monotonic=monotonic)
        # Bound to the site that first grants a token, not the first one named nor the first
        # that answers: a typo in the host, a /webapps/... address or a wrong key leaves the
        # ledger free for the right site.
        client.on_token_granted = lambda: ledger.bind_site(site.identity)

        quota = QuotaKeeper(ledger, monotonic=monotonic)
        client.on_quota = quota.seen
        if progress is not None:
            progress.start(rows, quota=client)
            ledger.observer = both(log_transition, progress.observe)
        async with client:
            engine = Rollover(
                ledger,
                client,
                options,
                clock=clock,
                sleep=sleep,
                planned_calls=plan.calls,
                monotonic=monotonic,
                zone=manifest.zone,
            )
            signals = stop_signals(engine.request_stop) if stop_signals is not None else None
            ticking = (
                asyncio.create_task(progress.keep_showing(sleep)) if progress is not None else None
            )
            try:
                outcome = await engine.run()
            except asyncio.CancelledError:
                if signals is None or not signals.cut_short:
                    raise
                # Every ledger transition is one short transaction and none spans an await, so
                # cancelling mid-call leaves each row as last recorded (a copy POST whose
                # answer is lost stays at intent, for the next run to reconcile).
                raise RunStopped(
                    "stopped at once by a second Ctrl-C; the ledger is consistent",
                    hint="run the same command again to continue; "
                    "`rollover report` writes the results file from the ledger",
                ) from None
            except Exception as exc:
                # Not one of the tool's own errors: a bug. Each transition is one transaction,
                # so the ledger is consistent; once Learn was changed it is a resumable stop.
                cause = _first_cause(exc)
                if client.changes_sent:
                    raise FailedAfterChange(cause) from cause
                if cause is exc:
                    raise
                raise cause from exc
            finally:
                if signals is not None:
                    signals.remove()
                if ticking is not None:
                    await stop_ticking(ticking)
                if progress is not None:
                    progress.finish()
        with contextlib.suppress(LedgerUnwritable):  # the run already says what is full
            quota.save()
        rows = ledger.rows()
        left_alone = ledger.left_alone()
        results_error = None
        try:
            write_results(rows, results_path)
        except OSError as exc:
            results_error = (
                f"the results file {results_path} could not be written ({exc.strerror or exc}): "
                "once there is room, `rollover report` writes it from the ledger"
            )
            log.error("results.unwritable", path=str(results_path), error=exc.strerror)
    counts = status_counts(rows)
    code = exit_code(counts, outcome, changes_sent=client.changes_sent)
    return RunReport(
        counts=counts,
        calls=client.calls,
        elapsed=time.monotonic() - started,
        exit_code=resumable(code) if results_error else code,
        results_error=results_error,
        settling=sum(1 for row in rows if row.settling),
        settle_until=max(
            (row.settle_until for row in rows if row.settling and row.settle_until), default=None
        ),
        stopped=outcome.fatal.message if outcome.fatal else outcome.stopped,
        results_path=results_path,
        quota_remaining=client.quota_remaining,
        hint=outcome.fatal.hint if outcome.fatal else None,
        needs_person=[r for r in rows if r.state in (State.FAILED, State.NEEDS_REVIEW)],
        retried=retried,
        left_alone=left_alone,
    )


def _first_cause(exc: Exception) -> Exception:
    """The first error a task group gathered (the one that ended the run), or `exc` itself."""
    while isinstance(exc, ExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def open_existing_ledger(path: Path, *, read_only: bool = True) -> Ledger:
    """A ledger that must already exist: to read (status, report, validate), or to write with
    `read_only=False` (resolve)."""
    if not path.exists():
        raise LedgerMissing(path)
    return Ledger(path, read_only=read_only)


def report(ledger_path: Path, results_path: Path) -> Counter[str]:
    """Rewrite the results CSV from the ledger, from one consistent snapshot."""
    with open_existing_ledger(ledger_path) as ledger, ledger.snapshot():
        rows = ledger.rows()
    write_results(rows, results_path)
    return status_counts(rows)


def status(ledger_path: Path) -> LedgerStatus:
    """Counts by results status and by stage, the quota last seen, and the rows to look at."""
    with open_existing_ledger(ledger_path) as ledger, ledger.snapshot():
        rows = ledger.rows()
        quota = ledger.last_quota()
        left_alone = ledger.left_alone()
        left_attached = {
            row.target_course_id: ledger.left_attached(row.target_course_id) for row in rows
        }
    return ledger_status(rows, quota, left_alone, left_attached)


async def course_held(
    ledger_path: Path,
    ref: str,
    site: Site,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> CourseHeld | None:
    """The new course of row `ref` if Learn holds it (a GET, nothing changed), else None; None
    for a copy into an existing course, whose course always exists. A ledger bound to another
    site is refused: that site's courses say nothing of this one's."""
    with open_existing_ledger(ledger_path) as ledger, ledger.snapshot():
        ledger.check_site(site.identity)
        row = named_row(ledger, ref)
    if row.copy_into_existing or row.state is not State.NEEDS_REVIEW:
        return None  # `resolve` refuses a row that is not needs_review, in its own words
    async with LearnClient.for_site(site, sleep=sleep) as client:
        try:
            course = await client.get_course(id_form(row.target_course_id), "id,created")
        except LearnNotFound:
            return None
    return CourseHeld(row, str(course.get("id") or ""), learn_datetime(course.get("created")))


def resolve(ledger_path: Path, ref: str, resolution: Resolution) -> LedgerRow:
    """Record a person's decision about a needs_review row; refused while a run holds the
    ledger, and for rows that are not needs_review."""
    with open_existing_ledger(ledger_path, read_only=False) as ledger:
        ledger.acquire_run_lock()
        return ledger.resolve(named_row(ledger, ref).target_course_id, resolution)


def row_trail(ledger_path: Path, ref: str) -> RowTrail:
    """The audit trail of one row, named by its target courseId or its manifest line."""
    with open_existing_ledger(ledger_path) as ledger, ledger.snapshot():
        row = named_row(ledger, ref)
        left_alone = {r.target_course_id for r in ledger.left_alone()}
        events = ledger.history(row.target_course_id)
        answers = ledger.answers(row.target_course_id)
        enrolments = ledger.enrolments(row.target_course_id)
        attachments = ledger.attachments(row.target_course_id)
        left_attached = ledger.left_attached(row.target_course_id)
        dated = ledger.dated_items(row.target_course_id)
    return RowTrail(
        row=row,
        in_manifest=row.target_course_id not in left_alone,
        events=events,
        answers=answers,
        enrolments=enrolments,
        attachments=attachments,
        left_attached=left_attached,
        dated=dated,
    )
