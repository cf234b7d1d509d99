"""A night's ledger for the morning's tests, built through the real Ledger API on a stepped clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rollover.ledger import ErrorKind, Ledger, LedgerRow, State
from rollover.plan import RowSpec

NIGHT_START = datetime(2027, 1, 11, 4, 0, tzinfo=UTC)  # 22:00 in Chicago
SCRIPT_ERROR = "<script>alert('pwned')</script> Learn refused the copy & said so"
HOSTILE_URL = "javascript:alert(1)"
DEPARTMENTS = ("BIO", "HIST", "MATH", "CHEM")


class SteppingClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


def course_url(number: int) -> str:
    """The address Learn reports for a new course."""
    return f"https://learn.example.edu/ultra/courses/_{number}_1/outline"


def advice(row: LedgerRow) -> str | None:
    """A stand-in for the CLI's next_step, with markup of its own to be escaped."""
    if row.state.final and row.state is not State.DONE:
        return f"open {row.target_course_id} in Learn <b>then</b> rollover resolve"
    return None


def _spec(line: int, department: str, number: int, term: str | None) -> RowSpec:
    patch: dict[str, str] = {"name": f"{department} {number}"}
    if term is not None:
        patch["termId"] = f"externalId:{term}"
    return RowSpec(
        f"{department}-{number}-001-{term or 'XX'}",
        line,
        f"{department}-{number}-FA26",
        False,
        patch=patch,
    )


def night_specs() -> list[RowSpec]:
    """25 rows over four departments, two terms and a row without a term or a prefix."""
    specs: list[RowSpec] = []
    line = 2
    for index in range(24):
        department = DEPARTMENTS[index % len(DEPARTMENTS)]
        term = "SP27" if index % 3 else "SU27"
        specs.append(_spec(line, department, 100 + index, term))
        line += 1
    specs.append(RowSpec("ORPHAN27", line, "ORPHAN26", False, patch={"name": "No prefix"}))
    return specs


def build_night(path: Path, *, clock: SteppingClock | None = None) -> dict[str, list[str]]:
    """A ledger of 19 done, 2 failed, 1 needs_review and 3 pending rows (one queued, one
    copying, one whose copy request is out); returns the targets by status."""
    clock = clock or SteppingClock(NIGHT_START)
    specs = night_specs()
    targets = [spec.target_course_id for spec in specs]
    by_status: dict[str, list[str]] = {"done": [], "failed": [], "needs_review": [], "pending": []}
    with Ledger(path, clock=clock) as ledger:
        ledger.sync_manifest(specs)
        for number, target in enumerate(targets[:21], start=1):
            clock.advance(1)
            ledger.record_intent(target)
            ledger.note_answer(target, "POST /courses/{id}/copy", 202)
            ledger.record_location(target, f"/learn/api/public/v1/courses/_{number}_1/tasks/_9_1")
            if number == 20:  # Learn refused the copy outright
                ledger.record_failed(target, ErrorKind.COPY_REFUSED, SCRIPT_ERROR)
                by_status["failed"].append(target)
                continue
            clock.advance(7)
            ledger.record_copied(target, f"_{number}_1")
            if number == 21:  # copied, then the patch was refused; its address is hostile
                ledger.record_patched(target, course_url=HOSTILE_URL)
                ledger.record_failed(target, ErrorKind.PATCH_REFUSED, "Invalid termId: SP27")
                by_status["failed"].append(target)
                continue
            ledger.record_patched(target, course_url=course_url(number))
            ledger.record_done(target)
            by_status["done"].append(target)
        clock.advance(2)
        review = targets[21]
        ledger.record_intent(review)
        ledger.note_answer(review, "POST /courses/{id}/copy", 504)
        ledger.record_needs_review(
            review, ErrorKind.UNCERTAIN, "the copy request's answer was lost"
        )
        by_status["needs_review"].append(review)
        clock.advance(1)
        ledger.record_intent(targets[22])
        ledger.record_location(targets[22], "/learn/api/public/v1/courses/_23_1/tasks/_9_1")
        ledger.record_intent(targets[23])
        by_status["pending"] += targets[22:]
        ledger.record_quota(9000, 10000)
    return by_status


def test_the_night_has_the_rows_it_claims(tmp_path: Path) -> None:
    """The builder's ledger holds 19 done, 2 failed, 1 needs_review and 3 pending rows."""
    path = tmp_path / "night.ledger.sqlite"
    by_status = build_night(path)
    with Ledger(path) as ledger:
        statuses = {row.target_course_id: row.state.status for row in ledger.rows()}
    assert {status: len(targets) for status, targets in by_status.items()} == {
        "done": 19,
        "failed": 2,
        "needs_review": 1,
        "pending": 3,
    }
    assert all(statuses[t] == s for s, targets in by_status.items() for t in targets)


def build_rows(
    path: Path,
    *,
    done: int = 0,
    failed: int = 0,
    needs_review: int = 0,
    pending: int = 0,
    clock: SteppingClock | None = None,
) -> None:
    """A ledger of BIO rows with exactly these counts (failed and needs_review rows last)."""
    clock = clock or SteppingClock(NIGHT_START)
    total = done + failed + needs_review + pending
    specs = [_spec(line, "BIO", 100 + line, "SP27") for line in range(2, total + 2)]
    targets = iter(spec.target_course_id for spec in specs)
    with Ledger(path, clock=clock) as ledger:
        ledger.sync_manifest(specs)
        for _ in range(pending):
            next(targets)
        for _ in range(done):
            target = next(targets)
            clock.advance(1)
            ledger.record_intent(target)
            ledger.record_location(target, "/t")
            clock.advance(5)
            ledger.record_copied(target, "_1_1")
            ledger.record_done(target)
        for _ in range(failed):
            target = next(targets)
            clock.advance(1)
            ledger.record_intent(target)
            ledger.record_failed(target, ErrorKind.COPY_REFUSED, f"Learn refused {target}")
        for _ in range(needs_review):
            target = next(targets)
            clock.advance(1)
            ledger.record_intent(target)
            ledger.record_needs_review(target, ErrorKind.UNCERTAIN, "answer lost")
