"""The results CSV: one row per manifest course, written atomically from the ledger; and the
totals `status` shows, counted from the same rows."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rollover.ledger import (
    SHIFTING,
    STAGES,
    AttachmentRecord,
    ErrorKind,
    LedgerRow,
    QuotaSeen,
    State,
)

COLUMNS = (
    "line",
    "source_course_id",
    "target_course_id",
    "status",
    "course_pk",
    "task_location",
    "error",
    "attempts",
    "requested_at",
    "completed_at",
)
# After the contract's ten, in the contract's order (`children` stays blank for a row without
# merged sections, `dates_shifted` for one that asks no shift); `stage` (the ledger state
# behind `pending`: where a re-run resumes) is the tool's own and comes last.
EXTRA_COLUMNS = (
    "name",
    "term_id",
    "course_url",
    "enrolled",
    "verification",
    "children",
    "dates_shifted",
    "stage",
)
# Excel opened by a double-click reads a CSV as UTF-8 only when it starts with a byte-order mark.
RESULTS_ENCODING = "utf-8-sig"
TERM_PREFIX = "externalId:"  # how the PATCH names a term the manifest gave by its externalId

# Excel evaluates a cell that starts with one of these (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def out_of(done: int, asked: int) -> str:
    """`2 of 2`: a count of those asked, in words Excel does not turn into a date (`2/2`)."""
    return f"{done} of {asked}"


def result_record(row: LedgerRow) -> dict[str, str]:
    """One results CSV row for a ledger row."""
    patch = row.spec.patch
    term = patch.get("termId")
    values: dict[str, object] = {
        "line": row.line,
        "source_course_id": row.source_course_id,
        "target_course_id": row.target_course_id,
        "status": row.state.status,
        "course_pk": row.course_pk,
        "task_location": row.task_location,
        "error": row.error,
        "attempts": row.attempts,
        "requested_at": row.requested_at or row.intent_at,
        "completed_at": row.completed_at,
        # As the manifest gave them: the row's PATCH holds them, the term as Learn takes it.
        "name": patch.get("name"),
        "term_id": term.removeprefix(TERM_PREFIX) if isinstance(term, str) else term,
        "course_url": row.course_url,
        "enrolled": out_of(row.enrolled, len(row.spec.instructors))
        if row.spec.instructors
        else None,
        "verification": row.verification,
        "children": out_of(row.children_attached, len(row.spec.children))
        if row.spec.children
        else None,
        "dates_shifted": out_of(row.dates_shifted, row.dates_to_shift)
        if row.spec.shift is not None
        else None,
        "stage": row.state.value,
    }
    return {name: _cell(value) for name, value in values.items()}


def render(rows: Iterable[LedgerRow]) -> str:
    """The whole results CSV as text."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS + EXTRA_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(result_record(row) for row in rows)
    return buffer.getvalue()


def write_results(rows: Sequence[LedgerRow], path: Path) -> None:
    """Write the results CSV so that a reader never sees half a file. The folder must exist:
    none is created (OSError), as `check_output_paths` promised before the run."""
    write_atomically(render(rows), path, encoding=RESULTS_ENCODING)


def write_atomically(text: str, path: Path, *, encoding: str = "utf-8") -> None:
    """Write `text` to `path` so that a reader never sees half a file (a temp file beside it,
    fsync, rename), with the permissions a plain write would give it (the umask's); nothing is
    left behind when it fails. The folder must exist: none is ever created (OSError). The one
    writer of the results CSV and the HTML report."""
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(handle, 0o666 & ~_umask())  # mkstemp's 0600 would hide the file from others
        with os.fdopen(handle, "w", encoding=encoding, newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (read by setting it, as the only portable way, and set back)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def status_counts(rows: Iterable[LedgerRow]) -> Counter[str]:
    """How many rows have each results status."""
    return Counter(row.state.status for row in rows)


def stage_counts(rows: Iterable[LedgerRow]) -> dict[str, int]:
    """How many rows are in each stage (the row's own: `shifting` for a patched row whose
    dates have not all moved), every stage named (zero included), in stage order."""
    counts = Counter(row.stage for row in rows)
    return {stage: counts.get(stage, 0) for stage in STAGES}


@dataclass(frozen=True)
class ShiftTotals:
    """The dates a ledger's rows move, in all."""

    rows: int  # rows whose dates move (or move back: their shift taken out)
    to_shift: int  # their dated items recorded that still exist in Learn
    shifted: int  # of them, moved
    waiting: int  # rows in the `shifting` stage: patched, dates not all moved


@dataclass(frozen=True)
class LedgerStatus:
    """What `status` shows: counts, the quota last seen, rows for a person, rows left alone."""

    counts: Counter[str]  # by results status
    stages: dict[str, int]  # by stage (queued, copying, patching, done, ...), every one named
    quota: QuotaSeen | None
    needs_person: list[LedgerRow]
    left_alone: list[LedgerRow]  # in the ledger, not in the manifest of its last run
    resolved: list[LedgerRow] = field(default_factory=list)  # a person's decisions, kept
    instructors: int = 0  # instructors the manifest asks for, in all rows
    enrolled: int = 0  # of them, enrolled
    enrol_waiting: int = 0  # unfinished rows with instructors still to enrol
    verified: int = 0  # rows whose copy was counted against its source (--verify)
    settling: int = 0  # adopted copies waiting out --adopt-settle before their PATCH
    settle_until: datetime | None = None  # when the last of those waits ends
    short: int = 0  # of them, rows holding fewer than their source
    sections: int = 0  # merged sections the manifest asks to attach, in all rows
    attached: int = 0  # of them, attached
    attach_waiting: int = 0  # unfinished rows with sections still to attach
    # Per target, the sections the manifest no longer lists that stay attached in Learn.
    left_attached: dict[str, list[AttachmentRecord]] = field(default_factory=dict)
    dates: ShiftTotals = field(default_factory=lambda: ShiftTotals(0, 0, 0, 0))


def ledger_status(
    rows: Sequence[LedgerRow],
    quota: QuotaSeen | None,
    left_alone: list[LedgerRow],
    left_attached: Mapping[str, list[AttachmentRecord]] | None = None,
) -> LedgerStatus:
    """The totals of a ledger's rows (read from one snapshot with its quota, the rows left
    alone and, per target, the sections left attached): by results status and by stage, and
    the rows to look at."""
    return LedgerStatus(
        counts=status_counts(rows),
        stages=stage_counts(rows),
        quota=quota,
        needs_person=[row for row in rows if row.state in (State.FAILED, State.NEEDS_REVIEW)],
        left_alone=left_alone,
        resolved=[row for row in rows if row.resolution is not None],
        instructors=sum(len(row.spec.instructors) for row in rows),
        enrolled=sum(row.enrolled for row in rows),
        enrol_waiting=sum(
            1 for row in rows if not row.state.final and row.enrolled < len(row.spec.instructors)
        ),
        verified=sum(1 for row in rows if row.verification),
        settling=sum(1 for row in rows if row.settling),
        settle_until=max(
            (row.settle_until for row in rows if row.settling and row.settle_until), default=None
        ),
        short=sum(1 for row in rows if row.error_kind is ErrorKind.VERIFY_SHORT),
        sections=sum(len(row.spec.children) for row in rows),
        attached=sum(row.children_attached for row in rows),
        attach_waiting=sum(
            1
            for row in rows
            if not row.state.final and row.children_attached < len(row.spec.children)
        ),
        left_attached={target: left for target, left in (left_attached or {}).items() if left},
        dates=shift_totals(rows),
    )


def shifts(row: LedgerRow) -> bool:
    """Whether the row's dates move: it asks a shift, or its shift was taken out after items
    were recorded (they move back)."""
    return row.spec.shift is not None or row.dates_to_shift > 0


def shift_totals(rows: Iterable[LedgerRow]) -> ShiftTotals:
    """The dated items of the rows whose dates move: to move, moved, and the rows waiting in
    the `shifting` stage."""
    moving = [row for row in rows if shifts(row)]
    return ShiftTotals(
        rows=len(moving),
        to_shift=sum(row.dates_to_shift for row in moving),
        shifted=sum(row.dates_shifted for row in moving),
        waiting=sum(1 for row in moving if row.stage == SHIFTING),
    )
