"""Cells that list several things, separated by `;`: the `instructors` and `child_course_ids`.

One rule for both: blanks around a `;` are not part of an entry, a single trailing `;` (as people
type lists) ends the list, any other empty entry is a mistake named by its neighbour, an entry
listed twice is a mistake, and every mistake in a cell is reported at once, one message each.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from ._invalid import Invalid

_T = TypeVar("_T")


def parse_entries(
    value: str,
    *,
    noun: str,
    example: str,
    parse: Callable[[str], _T],
    key: Callable[[_T], Hashable],
    twice: Callable[[_T, _T], str],
) -> tuple[_T, ...]:
    """What a non-blank `;`-separated cell lists, each entry read by `parse`, in order.

    Invalid with one message per mistake: a cell of nothing but `;`, an empty entry, what
    `parse` refuses, and an entry whose `key` an earlier one has (`twice(earlier, again)` says
    what to do). `noun` is what one entry names (`user`), `example` one written right.
    """
    entries = [entry.strip() for entry in value.split(";")]
    if len(entries) > 1 and not entries[-1]:
        entries.pop()
    if not any(entries):
        raise Invalid(
            f"lists no {noun}, only ';': list {noun}s like {example}, or leave the cell blank"
        )
    messages: list[str] = []
    parsed: list[_T] = []
    first: dict[Hashable, _T] = {}
    for at, entry in enumerate(entries):
        if not entry:
            messages.append(_empty_entry(entries, at, noun))
            continue
        try:
            item = parse(entry)
        except Invalid as exc:
            messages.extend(exc.messages)
            continue
        earlier = first.get(key(item))
        if earlier is not None:
            messages.append(twice(earlier, item))
            continue
        first[key(item)] = item
        parsed.append(item)
    if messages:
        raise Invalid(*dict.fromkeys(messages))  # `a;;;b` is one mistake, said once
    return tuple(parsed)


def _empty_entry(entries: list[str], at: int, noun: str) -> str:
    """What to do about the empty entry at `at` (a `;` too many) in a list of `noun`s."""
    before = next((entry for entry in reversed(entries[:at]) if entry), None)
    if before is not None:
        return f"empty entry after {before}: remove the extra ';' (one ';' between {noun}s)"
    after = next(entry for entry in entries[at:] if entry)
    return f"empty entry before {after}: remove the ';' at the start of the cell"
