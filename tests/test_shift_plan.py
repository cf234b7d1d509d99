"""Issue 22's plan: `--shift-dates` on run and validate, the rows that shift and their offsets in
the plan, and the preflight reading each shifted row's source (its dated items, its start)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cli_runs import FAST, invoke, sandbox_config, write
from click.testing import Result
from harness import Learn, make_learn, row

from rollover.cli import preflight_summary_lines
from rollover.config import load_config
from rollover.learn import COURSE_KINDS
from rollover.ledger import Ledger
from rollover.manifest import DateShift, ManifestRow
from rollover.plan import DatedCounts
from rollover.preflight import PreflightReport, check_learn

REPO = Path(__file__).resolve().parent.parent
CHICAGO = ZoneInfo("America/Chicago")
GRADEBOOK = "course.gradebook.MODIFY"
TERM = DateShift(term=True)
SHIFTED = """\
source_course_id,target_course_id,start_date,end_date,shift_dates
BIO-101-FA26,BIO-101-001-SP27,2027-01-11,2027-05-07,+17w
CHEM-110-FA26,CHEM-110-001-SP27,2027-01-11,2027-05-07,term
BIO-101-FA26,BIO-101-002-SP27,,,
"""


def check(learn: Learn, rows: Sequence[ManifestRow], **options: Any) -> PreflightReport:
    """The preflight of `rows` against `learn` with a fresh real client."""

    async def go() -> PreflightReport:
        async with learn.client() as client:
            return await check_learn(rows, [], client, zone=CHICAGO, **options)

    return asyncio.run(go())


def held(learn: Learn, course_id: str) -> DatedCounts:
    """What the sandbox's course holds to move, by kind (its own seam, not the client)."""
    items = learn.sandbox.dated_items(f"courseId:{course_id}")
    return DatedCounts(
        **{kind.value: sum(1 for item in items if item.kind == kind) for kind in COURSE_KINDS}
    )


def give_start(learn: Learn, course_id: str, start: str, end: str) -> None:
    """Give a sandbox course a start date, through Learn's own PATCH."""

    async def go() -> None:
        async with learn.client() as client:
            duration = {"type": "DateRange", "start": start, "end": end}
            await client.patch_course(
                f"courseId:{course_id}", {"availability": {"duration": duration}}
            )

    asyncio.run(go())


# --- the option -----------------------------------------------------------------------------


def test_shift_dates_in_the_file_is_the_default_of_the_option(tmp_path: Path) -> None:
    """rollover.toml's shift_dates fills --shift-dates (a setting stands for a run option), and
    moves the dates of blank cells only: the plan lists every row then."""
    manifest = write(tmp_path / "m.csv", SHIFTED)
    write(tmp_path / "rollover.toml", 'timezone = "America/Chicago"\nshift_dates = "-7d"\n')
    assert load_config(tmp_path / "rollover.toml").option_defaults()["shift_dates"] == DateShift(
        days=-7
    )
    result = invoke("validate", manifest)
    assert result.exit_code == 0, result.output
    assert "Dates to shift: 3 rows" in result.stdout
    assert "  line 2 BIO-101-001-SP27: +119 days (17 weeks)" in result.stdout
    assert "  line 4 BIO-101-002-SP27: -7 days (1 week)" in result.stdout


def test_option_wins_over_the_file(tmp_path: Path) -> None:
    """--shift-dates on the command line wins over the file's shift_dates."""
    manifest = write(tmp_path / "m.csv", SHIFTED)
    write(tmp_path / "rollover.toml", 'timezone = "America/Chicago"\nshift_dates = "-7d"\n')
    result = invoke("validate", manifest, "--shift-dates", "+3d")
    assert result.exit_code == 0, result.output
    assert "  line 4 BIO-101-002-SP27: +3 days" in result.stdout


def test_a_bad_option_value_says_how_to_write_it(tmp_path: Path) -> None:
    """--shift-dates 3d is a usage error naming the value and the fix (the column's rule)."""
    manifest = write(tmp_path / "m.csv", SHIFTED)
    result = invoke("run", manifest, "--timezone", "UTC", "--shift-dates", "3d")
    assert result.exit_code == 2
    assert "'3d': a shift needs its sign: write +3d to move dates later" in result.output
    assert not (tmp_path / "m.ledger.sqlite").exists()


def test_term_for_every_row_refuses_rows_without_start_date(tmp_path: Path) -> None:
    """--shift-dates term meets a blank-cell row without start_date: a manifest problem naming
    the line and column, exit 2, for validate and run alike, and nothing is written."""
    manifest = write(tmp_path / "m.csv", SHIFTED)
    for command in ("validate", "run"):
        result = invoke(command, manifest, "--timezone", "UTC", "--shift-dates", "term")
        assert result.exit_code == 2, result.output
        assert "line 4, column start_date: shift_dates term" in result.stderr
        assert "nothing was sent to Learn" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["m.csv"]


# --- the plan, offline ----------------------------------------------------------------------


def test_offline_plan_lists_each_shift_and_the_calls_it_can_count(tmp_path: Path) -> None:
    """validate lists the rows that shift with their offsets (a term one is computed when the
    source is read), and the date lists; the PATCHes are unknown until the sources are read."""
    manifest = write(tmp_path / "m.csv", SHIFTED)
    result = invoke("validate", manifest, "--timezone", "America/Chicago")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    at = lines.index(
        "Dates to shift: 2 rows; 6 lists of dated items, PATCHes unknown until the sources "
        "are read (validate --check-learn counts them)"
    )
    assert lines[at + 1 : at + 3] == [
        "  line 2 BIO-101-001-SP27: +119 days (17 weeks)",
        "  line 3 CHEM-110-001-SP27: term: from the source's start to the row's start_date, in "
        "whole weeks (computed when the source is read)",
    ]


def test_a_manifest_without_shifts_says_nothing_of_dates(tmp_path: Path) -> None:
    """No shift anywhere: the plan has no date lines."""
    manifest = write(tmp_path / "m.csv", "source_course_id,target_course_id\nA,B\n")
    result = invoke("validate", manifest, "--timezone", "UTC")
    assert result.exit_code == 0, result.output
    assert "Dates to shift" not in result.stdout


def test_sample_manifest_with_shifts_validates_shows_them_and_rehearses(tmp_path: Path) -> None:
    """sample_manifests/shift_dates.csv validates with its rollover.toml, its plan listing the
    shifts (+52w, term, +17w, -7d), and a rehearsal of it finishes every row, the `term` row's
    source seeded with a start so its offset is computed (52 weeks to the row's start_date)."""
    sample = REPO / "sample_manifests"
    result = invoke("validate", sample / "shift_dates.csv")
    assert result.exit_code == 0, result.output
    assert "Dates to shift: 4 rows" in result.stdout
    for shown in ("+364 days (52 weeks)", "+119 days (17 weeks)", "-7 days (1 week)"):
        assert shown in result.stdout
    for name in ("shift_dates.csv", "rollover.toml"):
        shutil.copy(sample / name, tmp_path / name)
    rehearsal = invoke(
        "run",
        tmp_path / "shift_dates.csv",
        "--sandbox",
        "--sandbox-config",
        sandbox_config(tmp_path),
        *FAST,
    )
    assert rehearsal.exit_code == 0, rehearsal.output
    assert "Rollover: 4 rows: 4 done" in rehearsal.stdout
    with Ledger(tmp_path / "shift_dates.sandbox.ledger.sqlite", read_only=True) as ledger:
        termed = ledger.row("HIST210-SP27")
    assert (termed.shift_days, termed.dates_shifted) == (364, termed.dates_to_shift)
    assert termed.dates_to_shift > 0


# --- the preflight --------------------------------------------------------------------------


def test_preflight_counts_each_sources_dated_items_once() -> None:
    """Rows sharing a source read its three lists once; each row carries the counts Learn
    holds, and the PATCHes are their sum (one per dated item of each row)."""
    learn = make_learn()
    report = check(
        learn,
        [
            row(2, "BIO-101-FA26", "BIO-101-001-SP27", shift=DateShift(days=119)),
            row(3, "BIO-101-FA26", "BIO-101-002-SP27"),
            row(4, "CHEM-110-FA26", "CHEM-110-001-SP27"),
        ],
        shift_dates=DateShift(days=-7),
    )
    bio, chem = held(learn, "BIO-101-FA26"), held(learn, "CHEM-110-FA26")
    assert report.problems == ()
    assert report.date_lists == 2 * len(COURSE_KINDS)
    assert [(s.line, s.days, s.dated) for s in report.shifts] == [
        (2, 119, bio),
        (3, -7, bio),
        (4, -7, chem),
    ]
    assert report.date_patches == 2 * bio.total + chem.total > 0


def test_preflight_computes_a_term_offset_from_the_sources_start() -> None:
    """A term row's offset runs from its source's start to its start_date in whole weeks, in
    the manifest's zone; the words say the offset and the start."""
    learn = make_learn()
    give_start(learn, "BIO-101-FA26", "2026-01-12T06:00:00.000Z", "2026-05-08T05:00:00.000Z")
    start = datetime_in_chicago("2027-01-11")
    report = check(
        learn, [row(2, "BIO-101-FA26", "BIO-101-001-SP27", start_date=start)], shift_dates=TERM
    )
    assert report.problems == ()
    assert [shift.days for shift in report.shifts] == [364]
    words = "\n".join(preflight_lines(report))
    assert "  line 2 BIO-101-001-SP27: term: +364 days (52 weeks), from the source's start " in (
        words
    )
    assert "2026-01-12; " in words


def test_a_term_source_without_a_start_is_a_problem_naming_the_fix() -> None:
    """A source with neither its own start nor its term's cannot give a term offset: a problem
    on the row's shift_dates, saying what to do."""
    learn = make_learn()
    start = datetime_in_chicago("2027-01-11")
    report = check(
        learn,
        [row(2, "CHEM-110-FA26", "CHEM-110-001-SP27", start_date=start, shift=TERM)],
    )
    assert [str(problem) for problem in report.problems] == [
        "line 2, shift_dates 'term': a term shift moves dates from the source's start, but "
        "CHEM-110-FA26 has no start date in Learn (neither its own duration nor its term's): "
        "give the course or its term a start date in Learn, or write a shift like +119d in "
        "this row's shift_dates cell"
    ]


def test_a_refused_list_is_a_problem_naming_the_entitlement() -> None:
    """403 on the columns' list (the entitlement denied): one problem naming it, on the first
    row that shifts; the source's counts stay unknown."""
    learn = make_learn(missing_entitlements=[GRADEBOOK])
    report = check(
        learn,
        [
            row(2, "BIO-101-FA26", "BIO-101-001-SP27", shift=DateShift(days=7)),
            row(3, "CHEM-110-FA26", "CHEM-110-001-SP27", shift=DateShift(days=7)),
        ],
    )
    assert len(report.problems) == 1
    problem = report.problems[0]
    assert (problem.line, problem.column, problem.value) == (2, "shift_dates", "+7d")
    assert f"lacks the entitlement {GRADEBOOK}" in problem.message
    assert report.date_patches is None


def test_preflight_without_shifts_reads_no_dated_item() -> None:
    """No row shifts: no list of dated items is read."""
    learn = make_learn()
    report = check(learn, [row(2, "BIO-101-FA26", "BIO-101-001-SP27")])
    assert (report.shifts, report.date_lists, report.date_patches) == ((), 0, 0)


def test_validate_check_learn_shows_the_patches(tmp_path: Path) -> None:
    """validate --check-learn --sandbox: the rows that shift, what each source holds and the
    PATCHes the run sends, in the quota it needs."""
    result = against_the_sandbox(tmp_path, "validate", "--check-learn")
    assert result.exit_code == 0, result.output
    assert "Dates to shift: 2 rows; the run sends " in result.stdout
    assert "  line 2 BIO-101-001-SP27: +119 days (17 weeks); " in result.stdout
    assert "lists of the sources' dated items" in result.stdout


def test_rehearsal_with_shift_dates_runs(tmp_path: Path) -> None:
    """run --sandbox --preflight with shifted rows checks, plans the shifts and finishes."""
    result = against_the_sandbox(tmp_path, "run", "--preflight", *FAST)
    assert result.exit_code == 0, result.output
    assert "Dates to shift: 2 rows; the run sends " in result.stdout
    assert "Dates to shift: 2 rows; 6 lists of dated items" in result.stdout


def against_the_sandbox(tmp_path: Path, command: str, *options: str) -> Result:
    """`command` on SHIFTED (its term row shifted -7d instead) against a fresh sandbox."""
    manifest = write(tmp_path / "m.csv", SHIFTED.replace("term", "-7d"))
    return invoke(
        command,
        manifest,
        "--timezone",
        "UTC",
        "--sandbox",
        "--sandbox-config",
        sandbox_config(tmp_path),
        *options,
    )


def datetime_in_chicago(day: str) -> datetime:
    """Midnight of `day` in Chicago, as the manifest reads a start_date."""
    return datetime.fromisoformat(day).replace(tzinfo=CHICAGO)


def preflight_lines(report: PreflightReport) -> list[str]:
    """The check in words, dates in Chicago."""
    return preflight_summary_lines(report, CHICAGO)


def test_a_rerun_says_which_done_rows_move_their_dates_again_and_how(tmp_path: Path) -> None:
    """A done row whose shift_dates changed is listed by the re-run's plan with what happens
    (dates moved again from their originals, or back to them when the cell is emptied) and the
    cell's change; the re-run moves only those rows' dates."""
    sample = REPO / "sample_manifests"
    for name in ("shift_dates.csv", "rollover.toml"):
        shutil.copy(sample / name, tmp_path / name)
    manifest = tmp_path / "shift_dates.csv"
    args: list[str | Path] = ["--sandbox", "--sandbox-config", sandbox_config(tmp_path), *FAST]
    assert invoke("run", manifest, *args).exit_code == 0
    text = manifest.read_text(encoding="utf-8")
    text = text.replace("(Summer 2026),,,,+17w", "(Summer 2026),,,,+18w")
    text = text.replace("(late start),,,,-7d", "(late start),,,,")
    manifest.write_text(text, encoding="utf-8")
    again = invoke("run", manifest, *args)
    assert again.exit_code == 0, again.output
    lines = again.stdout.splitlines()
    at = lines.index("Changed since they were done: 2 rows, taken up again (never copied again):")
    assert lines[at + 1 : at + 3] == [
        "  line 4 BIO101-SU26 (done): dates moved again from their originals: shift_dates "
        "+119 days (17 weeks) -> +126 days (18 weeks)",
        "  line 5 CHEM110-LATE-SP26 (done): dates moved back to their originals: shift_dates "
        "-7 days (1 week) -> (blank)",
    ]
    with Ledger(tmp_path / "shift_dates.sandbox.ledger.sqlite", read_only=True) as ledger:
        assert ledger.row("BIO101-SU26").shift_days == 126
        assert ledger.row("CHEM110-LATE-SP26").shift_days == 0
