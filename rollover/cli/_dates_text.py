"""A shift of dates in words: `status`'s totals, `status --row`'s items old -> new, and their
JSON (dates in UTC ISO form)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from rollover.ledger import DatedRecord, DateState, LedgerRow
from rollover.report import ShiftTotals

from ._plan_text import offset_words


def dates_total_line(dates: ShiftTotals) -> str:
    """The items moved of those to move, and the rows waiting in the shifting stage."""
    waiting = (
        f"; {dates.waiting} row{'' if dates.waiting == 1 else 's'} waiting in the shifting "
        "stage (the next run moves the rest)"
        if dates.waiting
        else ""
    )
    return (
        f"Dates: {dates.shifted} of {dates.to_shift} items moved in {dates.rows} "
        f"row{'' if dates.rows == 1 else 's'}{waiting}"
    )


def dates_totals_json(dates: ShiftTotals) -> dict[str, int]:
    """`status --json`'s dates."""
    return {
        "rows": dates.rows,
        "to_shift": dates.to_shift,
        "shifted": dates.shifted,
        "rows_waiting": dates.waiting,
    }


def row_dates_json(row: LedgerRow, dated: Sequence[DatedRecord]) -> dict[str, Any]:
    """`status --row --json`'s dates: the offset, the counts and every item."""
    return {
        "shift_days": row.shift_days,
        "shifted": row.dates_shifted,
        "to_shift": row.dates_to_shift,
        "calendar_read": (
            None
            if row.calendar_span is None
            else {"since": _iso(row.calendar_span[0]), "until": _iso(row.calendar_span[1])}
        ),
        "items": [_dated_json(item) for item in dated],
    }


# The date fields in words (Learn's dotted paths, `learn.DATE_FIELDS`, otherwise as they are).
_FIELD_WORDS = {
    "availability.adaptiveRelease.start": "release start",
    "availability.adaptiveRelease.end": "release end",
    "grading.due": "due",
    "availability.duration.start": "display start",
    "availability.duration.end": "display end",
    "start": "starts",
    "end": "ends",
}


def dates_lines(
    row: LedgerRow, dated: Sequence[DatedRecord], shown: Callable[[datetime], str]
) -> list[str]:
    """The row's shift and each dated item: moved ones with every date old -> new (each as
    `shown` writes a moment; an empty one `(none)`), the others with their state (and Learn's
    refusal)."""
    offset = "not computed yet" if row.shift_days is None else offset_words(row.shift_days)
    asked = "taken out of the manifest: dates move back" if row.spec.shift is None else offset
    lines = [f"Dates: {row.dates_shifted} of {row.dates_to_shift} items moved; shift {asked}"]
    if row.calendar_span is not None:
        since, until = row.calendar_span
        lines.append(
            f"  calendar read from {shown(since)} to {shown(until)} (events outside were not "
            "looked at)"
        )
    elif row.spec.shift is not None and row.spec.shift.calendar:
        lines.append("  calendar not read yet (--shift-calendar)")
    for item in dated:
        named = f'"{item.title}" ({item.item_id})' if item.title else item.item_id
        head = f"  {item.kind} {named}: {item.state}"
        if item.state is DateState.GONE:
            head += " (no longer in Learn: nothing to move)"
        if item.error:
            head += f": {item.error}"
        lines.append(head)
        if item.state is DateState.SHIFTED or item.state is DateState.SENDING:
            lines += [
                f"    {_FIELD_WORDS.get(name, name)} {shown(old)} -> "
                f"{_moment(item.new.get(name), shown)}"
                for name, old in item.original.items()
                if old is not None
            ]
    return lines


def _moment(moment: datetime | None, shown: Callable[[datetime], str]) -> str:
    return "(none)" if moment is None else shown(moment)


def _dated_json(item: DatedRecord) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "item_id": item.item_id,
        "title": item.title,
        "state": str(item.state),
        "error": item.error,
        "at": item.updated_at,
        "dates": {
            name: {"old": _iso(old), "new": _iso(item.new.get(name))}
            for name, old in item.original.items()
        },
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
