"""Issue 22's views of a shift: the results CSV's `dates_shifted`, `status` totals and the
shifting stage, `status --row` with every item old -> new in the run's zone (and --json in
UTC), the progress counts of the shifting stage and the HTML report's dates moved."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import html5lib
import pytest
from cli_runs import invoke

from rollover.ledger import DateState, ErrorKind, Ledger
from rollover.morning import write_html_report
from rollover.plan import DateShift, RowSpec, shift_moment
from rollover.progress import Progress, Snapshot
from rollover.report import stage_counts, write_results

CHICAGO = ZoneInfo("America/Chicago")
HIST, MATH, BIO = "HIST-101-SP27", "MATH-100-SP27", "BIO-101-SP27"
at = datetime.fromisoformat
RELEASE = "availability.adaptiveRelease.start"
DUE = "grading.due"
REFUSED = "Learn refused the new dates of column _20_1 in _5_1: they break one of its rules"


class View:
    """A view that keeps nothing: progress is read through its snapshots."""

    every = 0.0

    def show(self, snapshot: Snapshot) -> None:
        """Show nothing."""

    def finish(self, snapshot: Snapshot) -> None:
        """Show nothing."""


def patched(ledger: Ledger, target: str) -> None:
    """Take a row through its copy to `patched`, where its dates move."""
    ledger.record_intent(target)
    ledger.record_location(target, f"/learn/api/public/v1/courses/_1_1/tasks/{target}")
    ledger.record_copied(target, f"_{len(target)}_1")
    ledger.record_patched(target)


def moved(ledger: Ledger, target: str, kind: str, item_id: str, days: int) -> None:
    """Move one recorded item as the engine does: new values from its originals, `sending`
    then `shifted`."""
    (item,) = [i for i in ledger.dated_items(target) if i.item_id == item_id]
    new = {
        name: None if old is None else shift_moment(old, days, CHICAGO)
        for name, old in item.original.items()
    }
    ledger.record_date(target, kind, item_id, DateState.SENDING, new=new)
    ledger.record_date(target, kind, item_id, DateState.SHIFTED)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Iterator[Path]:
    """Three rows: HIST shifting (+140d: one item moved across the autumn clock change, one
    pending, one refused, one gone), MATH without a shift (done), BIO shifted (+7d, done)."""
    path = tmp_path / "m.ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.sync_manifest(
            [
                RowSpec(HIST, 2, "HIST-101-FA26", False, shift=DateShift(days=140)),
                RowSpec(MATH, 3, "MATH-100-FA26", False),
                RowSpec(BIO, 4, "BIO-101-FA26", False, shift=DateShift(days=7)),
            ]
        )
        for target in (HIST, MATH, BIO):
            patched(ledger, target)
        ledger.record_shift_offset(HIST, 140)
        ledger.record_dated_items(
            HIST,
            "content",
            [
                ("_10_1", RELEASE, at("2026-09-01T14:00:00.000Z")),
                ("_10_1", "availability.adaptiveRelease.end", None),
                ("_11_1", RELEASE, at("2026-09-15T14:00:00.000Z")),
            ],
        )
        ledger.record_dated_items(
            HIST,
            "column",
            [("_20_1", DUE, at("2026-09-08T04:59:00Z"))],
            titles={"_20_1": "Essay 1"},
        )
        ledger.record_dated_items(
            HIST,
            "announcement",
            [("_30_1", "availability.duration.start", at("2026-09-02T14:00Z"))],
        )
        moved(ledger, HIST, "content", "_10_1", 140)
        ledger.record_date(HIST, "column", "_20_1", DateState.FAILED, error=REFUSED)
        ledger.record_date(HIST, "announcement", "_30_1", DateState.GONE)
        ledger.record_done(MATH)
        ledger.record_shift_offset(BIO, 7)
        ledger.record_dated_items(BIO, "content", [("_40_1", RELEASE, at("2026-09-01T14:00Z"))])
        ledger.record_dated_items(BIO, "column", [])
        ledger.record_dated_items(BIO, "announcement", [])
        moved(ledger, BIO, "content", "_40_1", 7)
        ledger.record_done(BIO)
    yield path


def test_results_count_the_dates_moved_in_words_excel_keeps(
    ledger_path: Path, tmp_path: Path
) -> None:
    """`dates_shifted` is `moved of to move` (`1 of 3`, never `1/3`, which Excel reads as a
    date); a gone item is not counted; blank for a row that asks no shift."""
    with Ledger(ledger_path, read_only=True) as ledger:
        write_results(ledger.rows(), tmp_path / "r.csv")
    raw = (tmp_path / "r.csv").read_bytes()
    header, hist, math, bio = raw.removeprefix(codecs.BOM_UTF8).split(b"\r\n")[:4]
    column = header.split(b",").index(b"dates_shifted")
    assert hist.split(b",")[column] == b"1 of 3"
    assert math.split(b",")[column] == b""
    assert bio.split(b",")[column] == b"1 of 1"


def test_status_totals_the_dates_and_the_rows_waiting_to_shift(ledger_path: Path) -> None:
    """`status` says the items moved of those to move and the rows waiting in the shifting
    stage, and counts that stage; --json carries the same numbers."""
    result = invoke("status", "--ledger", ledger_path, "--timezone", "America/Chicago")
    assert result.exit_code == 0, result.output
    assert "Stages: 0 queued, 0 copying, 0 patching, 1 shifting, 2 done, " in result.stdout
    assert (
        "Dates: 2 of 4 items moved in 2 rows; 1 row waiting in the shifting stage (the next "
        "run moves the rest)"
    ) in result.stdout
    data = json.loads(invoke("status", "--ledger", ledger_path, "--json").stdout)
    assert data["dates"] == {"rows": 2, "to_shift": 4, "shifted": 2, "rows_waiting": 1}
    assert data["stages"]["shifting"] == 1


def test_status_row_lists_every_item_old_to_new_in_the_runs_zone(ledger_path: Path) -> None:
    """`status --row` lists each moved date old -> new in the zone (09:00 stays 09:00 across
    the clock change), and the pending, refused and gone items with their state and error,
    each named by its title when Learn listed one."""
    result = invoke(
        "status", "--ledger", ledger_path, "--row", HIST, "--timezone", "America/Chicago"
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    at_dates = lines.index("Dates: 1 of 3 items moved; shift +140 days (20 weeks)")
    assert lines[at_dates + 1 : at_dates + 6] == [
        "  content _10_1: shifted",
        "    release start 2026-09-01 09:00 CDT -> 2027-01-19 09:00 CST",
        "  content _11_1: pending",
        f'  column "Essay 1" (_20_1): failed: {REFUSED}',
        "  announcement _30_1: gone (no longer in Learn: nothing to move)",
    ]


def test_status_row_json_carries_every_item_in_utc(ledger_path: Path) -> None:
    """`status --row --json`: the offset, the counts and each item with its state, error and
    every date old and new in UTC ISO form (an empty date stays null)."""
    data = json.loads(invoke("status", "--ledger", ledger_path, "--row", "2", "--json").stdout)
    dates = data["dates"]
    assert (dates["shift_days"], dates["shifted"], dates["to_shift"]) == (140, 1, 3)
    first, second, column, gone = dates["items"]
    assert first["dates"] == {
        RELEASE: {"old": "2026-09-01T14:00:00Z", "new": "2027-01-19T15:00:00Z"},
        "availability.adaptiveRelease.end": {"old": None, "new": None},
    }
    assert (first["state"], second["state"], gone["state"]) == ("shifted", "pending", "gone")
    assert (column["kind"], column["state"], column["error"]) == ("column", "failed", REFUSED)
    assert (column["title"], first["title"]) == ("Essay 1", "")


def test_refused_dates_advice_says_only_the_dates_are_retried(ledger_path: Path) -> None:
    """A row failed with dates_refused: the advice says what to set right and that only the
    dates are retried, never the copy."""
    with Ledger(ledger_path) as ledger:
        ledger.record_failed(HIST, ErrorKind.DATES_REFUSED, REFUSED)
    result = invoke("status", "--ledger", ledger_path)
    assert result.exit_code == 0, result.output
    assert "only the dates are retried, never the copy" in result.stdout
    assert "--retry-failed" in result.stdout


def test_stage_counts_and_progress_count_the_shifting_stage(ledger_path: Path) -> None:
    """A patched row whose dates have not all moved is counted `shifting`, by the totals and by
    progress; when it finishes, progress moves it out of `shifting`, not out of `patching`."""
    progress = Progress(View(), clock=lambda: 0.0)
    with Ledger(ledger_path) as ledger:
        rows = ledger.rows()
        assert stage_counts(rows)["shifting"] == 1
        progress.start(rows)
        ledger.observer = progress.observe
        assert progress.snapshot().stages["shifting"] == 1
        ledger.record_done(HIST)
        stages = progress.snapshot().stages
        assert (stages["shifting"], stages["patching"], stages["done"]) == (0, 0, 3)
        assert stages == stage_counts(ledger.rows())


def test_html_report_shows_dates_moved_per_course_and_the_shifting_stage(
    ledger_path: Path, tmp_path: Path
) -> None:
    """The HTML report says the dates moved in all (and the courses still shifting) at a
    glance, and per course `N of M` (blank without a shift), a pending one `shifting dates`."""
    out = write_html_report(ledger_path, tmp_path / "r.html", title="Spring", zone=CHICAGO)
    html5lib.HTMLParser(strict=True).parse(out.read_text(encoding="utf-8"))
    tree = html5lib.parse(out.read_text(encoding="utf-8"), namespaceHTMLElements=False)
    facts = {
        "".join(term.itertext()): " ".join("".join(said.itertext()).split())
        for div in tree.iter("div")
        if (term := div.find("dt")) is not None and (said := div.find("dd")) is not None
    }
    assert facts["Dates moved"] == (
        "2 of 4 due dates, release and display dates in 2 courses; 1 still shifting dates "
        "(the next run moves the rest)"
    )
    rows = {
        cells[1]: cells
        for table in tree.iter("table")
        if "rows" in (table.get("class") or "")
        for tr in table.iter("tr")
        if (cells := [" ".join("".join(td.itertext()).split()) for td in tr.iter("td")])
    }
    table = next(t for t in tree.iter("table") if "rows" in (t.get("class") or ""))
    headers = ["".join(th.itertext()) for th in table.iter("th")]
    column = headers.index("dates moved")
    assert (rows[HIST][5], rows[HIST][column]) == ("pending shifting dates", "1 of 3")
    assert (rows[MATH][column], rows[BIO][column]) == ("", "1 of 1")
