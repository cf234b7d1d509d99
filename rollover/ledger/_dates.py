"""A row's dated items (issue 22): each date field's original, recorded when its kind is listed
and never overwritten, and where each item's PATCH is (`sending` committed before it, the outcome
after), with the row's counts of items moved and to move.

The new value of a date is always computed from its recorded original and the row's recorded
offset, never from what Learn holds now: so a PATCH sent again sends the same value, and no item
is ever moved twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime

from rollover.errors import LedgerError

from ._rows import DATED_KINDS, DatedRecord, DateState
from ._stored import iso, parse


def dated_items_of(db: sqlite3.Connection, target: str) -> list[DatedRecord]:
    """The row's dated items, each with its fields, in the order they were recorded."""
    items: dict[tuple[str, str], DatedRecord] = {}
    for r in db.execute(
        "SELECT * FROM dated_items WHERE target_course_id = ? ORDER BY rowid", (target,)
    ):
        key = (r["kind"], r["item_id"])
        if key not in items:
            items[key] = DatedRecord(
                r["kind"],
                r["item_id"],
                DateState(r["state"]),
                {},
                {},
                r["error"],
                r["updated_at"],
                r["title"],
                r["held_days"],
            )
        items[key].original[r["field"]] = parse(r["original"])
        items[key].new[r["field"]] = parse(r["new"])
    return list(items.values())


def write_dated_items(
    db: sqlite3.Connection,
    target: str,
    kind: str,
    items: Iterable[tuple[str, str, datetime | None]],
    now: str | None,
    titles: Mapping[str, str] | None = None,
    span: tuple[datetime, datetime] | None = None,
) -> None:
    """Record the originals of one listed kind, inside the caller's transaction, and mark the
    kind listed: an item already recorded keeps what it has; an item whose every date is empty
    has nothing to move and is not recorded. `titles` names items as people know them; `span`
    is the time a calendar was read over."""
    if kind not in DATED_KINDS:
        raise LedgerError(f"ledger refused {target}: {kind!r} is not a kind of dated item")
    listed = db.execute(
        "SELECT dates_listed FROM rows WHERE target_course_id = ?", (target,)
    ).fetchone()
    if listed is None:
        raise LedgerError(f"ledger refused {target}: missing")
    fields: dict[str, dict[str, str | None]] = {}
    for item_id, field, original in items:
        fields.setdefault(item_id, {})[field] = _stored(target, original)
    for item_id, originals in fields.items():
        if all(original is None for original in originals.values()):
            continue
        known = db.execute(
            "SELECT 1 FROM dated_items WHERE target_course_id = ? AND kind = ? AND item_id = ?",
            (target, kind, item_id),
        ).fetchone()
        if known is not None:
            continue  # its originals were recorded before: never overwritten
        db.executemany(
            "INSERT INTO dated_items (target_course_id, kind, item_id, field, original, new,"
            " state, error, updated_at, title) VALUES (?, ?, ?, ?, ?, NULL, ?, NULL, ?, ?)",
            [
                (
                    target,
                    kind,
                    item_id,
                    field,
                    original,
                    DateState.PENDING,
                    now,
                    (titles or {}).get(item_id, ""),
                )
                for field, original in originals.items()
            ],
        )
    if span is not None:
        db.execute(
            "UPDATE rows SET calendar_span = ? WHERE target_course_id = ?",
            (f"{_stored(target, span[0])}/{_stored(target, span[1])}", target),
        )
    kinds = set(listed["dates_listed"].split(",")) if listed["dates_listed"] else set()
    db.execute(
        "UPDATE rows SET dates_listed = ? WHERE target_course_id = ?",
        (",".join(sorted(kinds | {kind})), target),
    )
    count_dates(db, target)


def write_date(
    db: sqlite3.Connection,
    target: str,
    kind: str,
    item_id: str,
    state: DateState,
    *,
    new: Mapping[str, datetime | None] | None,
    error: str | None,
    now: str | None,
) -> None:
    """Where one dated item is (all its fields at once), inside the caller's transaction, and
    the row's counts; the new value of each field in `new` is kept (the others keep theirs).
    Refused (LedgerError) for an item, or a field, the row has not recorded."""
    where = "WHERE target_course_id = ? AND kind = ? AND item_id = ?"
    updated = db.execute(
        f"UPDATE dated_items SET state = ?, error = ?, updated_at = ? {where}",
        (state, error, now, target, kind, item_id),
    ).rowcount
    if not updated:
        raise LedgerError(f"ledger refused {target}: it has no dated {kind} {item_id}")
    if state is DateState.SHIFTED:  # Learn now holds the row's offset for it
        db.execute(
            f"UPDATE dated_items SET held_days = COALESCE((SELECT shift_days FROM rows"
            f" WHERE target_course_id = ?), 0) {where}",
            (target, target, kind, item_id),
        )
    for field, value in (new or {}).items():
        if not db.execute(
            f"UPDATE dated_items SET new = ? {where} AND field = ?",
            (_stored(target, value), target, kind, item_id, field),
        ).rowcount:
            raise LedgerError(f"ledger refused {target}: its {kind} {item_id} has no {field}")
    count_dates(db, target)


def _stored(target: str, moment: datetime | None) -> str | None:
    """A date as the ledger keeps it (UTC, milliseconds); a naive one is a bug, refused: it
    would be read in this machine's zone."""
    if moment is not None and moment.tzinfo is None:
        raise LedgerError(f"ledger refused {target}: the date {moment} has no time zone")
    return iso(moment)


def count_dates(db: sqlite3.Connection, target: str) -> None:
    """Keep the row's counts of its dated items: moved, and still in Learn to move."""
    items = "SELECT count(*) FROM (SELECT DISTINCT kind, item_id FROM dated_items"
    db.execute(
        f"UPDATE rows SET dates_shifted = ({items} WHERE target_course_id = ? AND state = ?)),"
        f" dates_to_shift = ({items} WHERE target_course_id = ? AND state != ?))"
        " WHERE target_course_id = ?",
        (target, DateState.SHIFTED, target, DateState.GONE, target),
    )


def shift_again(db: sqlite3.Connection, target: str, now: str | None) -> None:
    """The row's shift changed: its offset is computed again, and every item still in Learn is
    pending, to be moved from its recorded original (which stays) by the new offset."""
    db.execute(  # each item keeps the offset it holds (held_days): its next write's direction
        "UPDATE rows SET shift_days = NULL WHERE target_course_id = ?", (target,)
    )
    db.execute(
        "UPDATE dated_items SET state = ?, new = NULL, error = NULL, updated_at = ?"
        " WHERE target_course_id = ? AND state != ?",
        (DateState.PENDING, now, target, DateState.GONE),
    )
    count_dates(db, target)


def reopen_failed_dates(db: sqlite3.Connection, target: str) -> None:
    """`--retry-failed`: the row's failed dated items are pending again."""
    db.execute(
        "UPDATE dated_items SET state = ?, error = NULL WHERE target_course_id = ? AND state = ?",
        (DateState.PENDING, target, DateState.FAILED),
    )
