"""One summary of a ledger (and of the run that just ended), for a webhook or a mail.

The structured fields are for machines (a chat bot, a script); `text` is the short message
people read. Both are built here once, so the webhook and the mail never say different things.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollover.errors import ExitCode, printable
from rollover.times import humanized

from ._html import EXIT_MEANINGS
from ._night import LedgerRead, RunFacts, read_ledger

NEEDS_PERSON_LISTED = 10  # rows listed in the structured summary
NEEDS_PERSON_IN_TEXT = 3  # of them, rows named in the text
ERROR_IN_TEXT = 160  # characters of an error shown in the text


@dataclass(frozen=True)
class PersonNeeded:
    """A row that needs a person, as a notification names it."""

    line: int
    target_course_id: str
    status: str
    error: str | None


@dataclass(frozen=True)
class Summary:
    """What a notification says: counts, how the run ended, the first rows for a person."""

    title: str
    counts: dict[str, int]  # by results status, every status named
    total: int
    exit_code: ExitCode | None  # None when no run just ended (`report`)
    duration_seconds: float | None
    needs_person: tuple[PersonNeeded, ...]  # the first NEEDS_PERSON_LISTED, in manifest order
    needs_person_total: int
    report_path: str | None
    text: str  # the short human message

    def fields(self) -> dict[str, Any]:
        """The structured fields, JSON-ready (everything but `text`)."""
        return {
            "title": self.title,
            "counts": dict(self.counts),
            "total": self.total,
            "exit_code": self.exit_code,
            "duration_seconds": self.duration_seconds,
            "needs_person": [
                {
                    "line": person.line,
                    "target_course_id": person.target_course_id,
                    "status": person.status,
                    "error": person.error,
                }
                for person in self.needs_person
            ],
            "needs_person_total": self.needs_person_total,
            "report_path": self.report_path,
        }

    @property
    def subject(self) -> str:
        """A one-line subject for a mail: the title and the counts that matter."""
        return printable(f"{self.title}: {_counts_phrase(self.counts, self.total)}")


def _counts_phrase(counts: dict[str, int], total: int) -> str:
    shown = [f"{counts[status]} {status}" for status in counts if counts[status]]
    if not shown:
        return "no rows"
    return f"{', '.join(shown)} of {total}"


def _shorter(text: str, limit: int) -> str:
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def summary_of(
    read: LedgerRead,
    *,
    title: str,
    run: RunFacts | None = None,
    report_path: Path | None = None,
) -> Summary:
    """The summary of a ledger already read (see `summary`)."""
    counts = read.counts()
    total = sum(counts.values())
    needing = read.needs_person()
    listed = tuple(
        PersonNeeded(r.row.line, r.row.target_course_id, r.row.state.status, r.row.error)
        for r in needing[:NEEDS_PERSON_LISTED]
    )
    duration = (run.ended_at - run.started_at).total_seconds() if run is not None else None
    lines = [f"{printable(title)}: {_counts_phrase(counts, total)}."]
    if run is not None and duration is not None:
        meaning = EXIT_MEANINGS.get(run.exit_code)
        ended = f"exit {run.exit_code}" + (f", {meaning}" if meaning else "")
        lines.append(f"The run took {humanized(duration)} ({ended}).")
        if run.stopped:
            lines.append(f"Stopped: {_shorter(run.stopped, ERROR_IN_TEXT)}")
    if needing:
        lines.append(f"Needs a person ({len(needing)}):")
        for person in listed[:NEEDS_PERSON_IN_TEXT]:
            error = f": {_shorter(person.error, ERROR_IN_TEXT)}" if person.error else ""
            lines.append(f"- line {person.line} {person.target_course_id} {person.status}{error}")
        if len(needing) > NEEDS_PERSON_IN_TEXT:
            lines.append(f"- and {len(needing) - NEEDS_PERSON_IN_TEXT} more")
    if report_path is not None:
        lines.append(f"Report: {report_path}")
    return Summary(
        title=title,
        counts=counts,
        total=total,
        exit_code=run.exit_code if run is not None else None,
        duration_seconds=duration,
        needs_person=listed,
        needs_person_total=len(needing),
        report_path=str(report_path) if report_path is not None else None,
        text="\n".join(lines),
    )


def summary(
    ledger_path: Path,
    *,
    title: str,
    run: RunFacts | None = None,
    report_path: Path | None = None,
) -> Summary:
    """The summary of the ledger at `ledger_path` (which must exist) and of the run that just
    ended, if one did; `report_path` is the HTML report to point people to."""
    return summary_of(read_ledger(ledger_path), title=title, run=run, report_path=report_path)
