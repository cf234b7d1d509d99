"""The `shift_dates` column (issue 22): how a cell reads into a `DateShift`. The corpus
(test_manifest_corpus.py, `shift_dates_*.csv`) pins the exact words of each mistake; these pin
the rules behind them."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cli_runs import write

from rollover.errors import ManifestInvalid
from rollover.manifest import MAX_SHIFT_DAYS, DateShift, Manifest, load_manifest, parse_shift
from rollover.plan import PROFILES

HEADER = "source_course_id,target_course_id,start_date,end_date,shift_dates\n"


def load(tmp_path: Path, body: str, header: str = HEADER) -> Manifest:
    """Load `header` and `body` as a manifest, in UTC with the shipped profiles."""
    path = write(tmp_path / "manifest.csv", header + body)
    return load_manifest(path, timezone=ZoneInfo("UTC"), profiles=PROFILES)


def problems_of(tmp_path: Path, body: str) -> list[tuple[int | None, str | None, str | None]]:
    """Each problem's line, column and value as ManifestInvalid carries it."""
    with pytest.raises(ManifestInvalid) as caught:
        load(tmp_path, body)
    return [(p.line, p.column, p.value) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("cell", "shift"),
    [
        ("+119d", DateShift(days=119)),
        ("-7d", DateShift(days=-7)),
        ("+17w", DateShift(days=119)),
        (" -2W ", DateShift(days=-14)),
        ("+1D", DateShift(days=1)),
        ("term", DateShift(term=True)),
        (" TERM ", DateShift(term=True)),
        ("", None),
    ],
)
def test_a_shift_dates_cell_reads_as_its_shift(tmp_path: Path, cell: str, shift: object) -> None:
    """Days, weeks (7 days each) or term, in any case, spaces around ignored; blank: no shift."""
    (row,) = load(tmp_path, f"A,B,2027-01-11,2027-05-07,{cell}\n").rows
    assert row.shift == shift


def test_a_manifest_without_the_column_shifts_nothing(tmp_path: Path) -> None:
    """The column is optional: without it every row's shift is None."""
    (row,) = load(tmp_path, "A,B\n", header="source_course_id,target_course_id\n").rows
    assert row.shift is None


@pytest.mark.parametrize(
    ("cell", "days"),
    [
        (f"+{MAX_SHIFT_DAYS}d", MAX_SHIFT_DAYS),
        (f"-{MAX_SHIFT_DAYS}d", -MAX_SHIFT_DAYS),
        ("+156w", 1092),
    ],
)
def test_a_shift_up_to_three_years_either_way_is_accepted(cell: str, days: int) -> None:
    """Three years of days (1096, a leap day among them) is the largest shift either way."""
    assert parse_shift(cell) == DateShift(days=days)


@pytest.mark.parametrize("cell", [f"+{MAX_SHIFT_DAYS + 1}d", f"-{MAX_SHIFT_DAYS + 1}d", "+157w"])
def test_a_shift_beyond_three_years_is_refused(cell: str) -> None:
    """One day past three years is a typo, refused naming the bound."""
    with pytest.raises(ValueError, match="more than three years"):
        parse_shift(cell)


@pytest.mark.parametrize("cell", ["+1 19d", "+ 7d", "7", "+7dd", "++7d", "term2", "+7d;", "t"])
def test_a_cell_that_is_not_one_shift_is_refused(cell: str) -> None:
    """Only the whole cell counts: a space inside, two signs or trailing text is refused."""
    with pytest.raises(ValueError, match=r"needs its|not a date shift"):
        parse_shift(cell)


def test_term_with_a_start_date_given_as_a_date_time_is_accepted(tmp_path: Path) -> None:
    """term needs a start_date of any form: a date-time with its offset will do."""
    (row,) = load(tmp_path, "A,B,2027-01-11T08:00-06:00,2027-05-07,term\n").rows
    assert row.shift == DateShift(term=True)


def test_term_without_a_start_date_is_one_problem_per_row(tmp_path: Path) -> None:
    """Every row with term and a blank start_date is named, on its line, with its cell."""
    assert problems_of(tmp_path, "A,B,,,term\nC,D,,,+7d\nE,F,,,Term\n") == [
        (2, "shift_dates", "term"),
        (4, "shift_dates", "Term"),
    ]


def test_an_invalid_start_date_is_not_reported_again_as_missing_for_term(tmp_path: Path) -> None:
    """A start_date that is there but wrong is its own problem; term does not call it blank."""
    problems = problems_of(tmp_path, "A,B,2027-13-45,2027-05-07,term\n")
    assert [(line, column) for line, column, _ in problems] == [(2, "start_date")]
