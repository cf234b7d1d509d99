"""The `shift_dates` cell: how a row's dated items move, as a `DateShift`.

A cell is a sign, a whole number and `d` (days) or `w` (weeks), as in `+119d`, `-7d`, `+17w`, or
`term` (from the source's start to the row's `start_date`, worked out once the source is read);
in any case, spaces around it ignored. The same rule reads rollover.toml's `shift_dates` key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._invalid import Invalid as _Invalid

# At most three years either way (three years of days, one leap day among them): a larger
# shift is a typo (a year's days written as weeks), never a term's move.
MAX_SHIFT_DAYS = 3 * 365 + 1
TERM = "term"
_OFFSET = re.compile(r"([+-]?)(\d+)([dw])")
_NO_UNIT = re.compile(r"[+-]?\d+")
_FORM = (
    "write a sign, a whole number and d (days) or w (weeks), as in +119d, -7d or +17w, or "
    "term (from the source's start to this row's start_date)"
)


@dataclass(frozen=True)
class DateShift:
    """How a row's dated items move: `days` whole days, or from the source's start (`term`);
    `calendar`: the course calendar's events move too (`--shift-calendar`, never a cell's)."""

    days: int | None = None
    term: bool = False
    calendar: bool = False

    @property
    def offset(self) -> tuple[int | None, bool]:
        """How far the dates move, whatever moves: two shifts with the same offset move every
        date they both move to the same place."""
        return self.days, self.term


def parse_shift(value: str) -> DateShift:
    """A `shift_dates` value as a DateShift; Invalid (a ValueError) saying what is wrong and
    how to fix it. A shift of nothing (`+0d`) is refused: no shift is a blank cell."""
    word = value.strip().lower()
    if word == TERM:
        return DateShift(term=True)
    found = _OFFSET.fullmatch(word)
    if found is None and _NO_UNIT.fullmatch(word):
        signed = word if word[0] in "+-" else f"+{word}"
        raise _Invalid(f"a shift needs its unit: write {signed}d for days or {signed}w for weeks")
    if found is None:
        raise _Invalid(f"not a date shift: {_FORM}")
    sign, number, unit = found.groups()
    days = int(number) * (7 if unit == "w" else 1)
    if days == 0:
        raise _Invalid("a shift of 0 moves no date: leave shift_dates blank for no shift")
    if not sign:
        raise _Invalid(
            f"a shift needs its sign: write +{number}{unit} to move dates later or "
            f"-{number}{unit} to move them earlier"
        )
    if days > MAX_SHIFT_DAYS:
        raise _Invalid(
            f"moves dates by {days} days, more than three years ({MAX_SHIFT_DAYS} days at most): "
            "check the number and the unit (d for days, w for weeks)"
        )
    return DateShift(days=days if sign == "+" else -days)
