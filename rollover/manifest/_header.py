"""The manifest's header: the columns it may name, and which of them this file names.

`COLUMNS` is the contract's list, in its order; `check_header` maps each column the header names
to its position and finds the missing, repeated and unknown ones (a near miss of a column the
file lacks is an error, not a warning); `check_repeated_header` finds the header pasted again.
"""

from __future__ import annotations

from rollover.errors import Problem, closest

from ._table import Table, header_key

COLUMNS = (
    "source_course_id",
    "target_course_id",
    "copy_into_existing",
    "name",
    "description",
    "external_id",
    "term_id",
    "available",
    "start_date",
    "end_date",
    "copy_profile",
    "instructors",
    "child_course_ids",
    "shift_dates",
)
REQUIRED_COLUMNS = ("source_course_id", "target_course_id")
# Headers people write for a column that spelling alone does not bring close to it: refused like
# a near miss when the file lacks the column (`child_course_id` and the like are near already).
_KNOWN_NEAR_MISSES = {
    "children": "child_course_ids",
    "child_ids": "child_course_ids",
    "child_sections": "child_course_ids",
    "child_id": "child_course_ids",
}
_LONGEST_HEADER = 2 * max(len(column) for column in COLUMNS)
_HEADER_SHOWN = 80


def check_header(table: Table, problems: list[Problem], notes: list[Problem]) -> dict[str, int]:
    """Map each known column to its position; record missing, duplicate and unknown columns.

    A header close to a known column that the file lacks (`copy_profle`) is an error, not a
    warning: its cells would be ignored, and a copy made without them cannot be undone.
    """
    line = table.header_line
    index: dict[str, int] = {}
    unknown: list[tuple[str, str, str]] = []  # (key, as shown, raw)
    for position, raw in enumerate(table.header):
        shown = _shortened(raw.strip().strip("\ufeff").strip())
        name = header_key(raw)
        if not name:
            if any(table.columns[position]):
                notes.append(
                    Problem(
                        line,
                        None,
                        None,
                        f"column {position + 1} has no name in the header: its cells are ignored",
                    )
                )
        elif name in index:
            problems.append(
                Problem(
                    line,
                    shown,
                    raw,
                    f"column {name} appears twice in the header "
                    f"(columns {index[name] + 1} and {position + 1}): keep one",
                )
            )
        elif name in COLUMNS:
            index[name] = position
        else:
            unknown.append((name, shown, raw))
    missing = [column for column in COLUMNS if column not in index]
    resembled: set[str] = set()
    for name, shown, raw in unknown:
        # A header over twice as long as every column name resembles none of them (and difflib
        # would spend a second on a 10 MB one).
        near = _KNOWN_NEAR_MISSES.get(name)
        if near not in missing:
            near = closest(name, missing) if len(name) <= _LONGEST_HEADER else None
        if near is not None:
            resembled.add(near)
            problems.append(
                Problem(
                    line,
                    shown,
                    raw,
                    f"unknown column, close to {near}: rename "
                    f"it {near} (as it is, its cells would be ignored)",
                )
            )
        else:
            notes.append(Problem(line, shown, raw, "unknown column: its cells are ignored"))
    for column in REQUIRED_COLUMNS:
        if column not in index and column not in resembled:
            problems.append(
                Problem(
                    line,
                    column,
                    None,
                    f"required column {column} is missing from the header: add it",
                )
            )
    return index


def check_repeated_header(table: Table, problems: list[Problem]) -> None:
    """Refuse a row that is the header again (two exports pasted into one file)."""
    names = [header_key(cell) for cell in table.header]
    for at, line in enumerate(table.lines):
        if [header_key(column[at]) for column in table.columns] == names:
            problems.append(
                Problem(
                    line,
                    None,
                    None,
                    "this line repeats the header (two files pasted together?): remove it",
                )
            )


def _shortened(header: str) -> str:
    """A header cell short enough to name a column in a message (the value shows it whole)."""
    return header if len(header) <= _HEADER_SHOWN else header[:_HEADER_SHOWN] + "..."
