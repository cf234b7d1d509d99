"""The CSV manifest reader: what it accepts, what it refuses, and where it says the problem is."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollover.errors import ManifestInvalid, Problem
from rollover.manifest import (
    BUILT_IN_ROLES,
    COLUMNS,
    DEFAULT_ROLE,
    Enrolment,
    Manifest,
    ManifestRow,
    load_manifest,
)
from rollover.plan import PROFILES
from rollover.times import machine_zone

CHICAGO = ZoneInfo("America/Chicago")
HEADER = ",".join(COLUMNS) + "\n"
SAMPLE = Path(__file__).resolve().parent.parent / "sample_manifests" / "fall2026.csv"


def write(tmp_path: Path, content: str | bytes, name: str = "manifest.csv") -> Path:
    """Write content (text as UTF-8) to a file under tmp_path and return its path."""
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def load(path: Path) -> Manifest:
    """Load with the Chicago timezone and the shipped profiles."""
    return load_manifest(path, timezone=CHICAGO, profiles=PROFILES)


def problems_of(path: Path) -> list[Problem]:
    """The problems ManifestInvalid carries for this file."""
    with pytest.raises(ManifestInvalid) as caught:
        load(path)
    return caught.value.problems


def where(problems: list[Problem]) -> list[tuple[int | None, str | None, str | None]]:
    """(line, column, value) of each problem, in the order reported."""
    return [(problem.line, problem.column, problem.value) for problem in problems]


def test_valid_manifest_round_trips_into_typed_rows(tmp_path: Path) -> None:
    """Every column of a valid row lands in ManifestRow with its Python type."""
    path = write(
        tmp_path,
        HEADER + "BIO-101-001-FA26,BIO-101-001-SP27,true,BIO 101: Biology,"
        '"Cells, genes",EXT-1,SP27,term,2027-01-11T08:00:00Z,2027-05-07,no-discussions\n'
        "_123_1,CHEM-111.SP27,,,,,,,,,\n",
    )
    manifest = load(path)
    assert manifest.path == path
    assert manifest.warnings == ()
    assert manifest.rows == (
        ManifestRow(
            line=2,
            source_course_id="BIO-101-001-FA26",
            target_course_id="BIO-101-001-SP27",
            copy_into_existing=True,
            name="BIO 101: Biology",
            description="Cells, genes",
            external_id="EXT-1",
            term_id="SP27",
            available="Term",
            start_date=datetime(2027, 1, 11, 8, tzinfo=UTC),
            end_date=datetime(2027, 5, 8, 4, 59, 59, tzinfo=UTC),  # 23:59:59 CDT
            copy_profile="no-discussions",
        ),
        ManifestRow(
            line=3,
            source_course_id="_123_1",
            target_course_id="CHEM-111.SP27",
            copy_into_existing=False,
            name=None,
            description=None,
            external_id=None,
            term_id=None,
            available=None,
            start_date=None,
            end_date=None,
            copy_profile=None,
        ),
    )


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """A UTF-8 BOM (Excel's 'CSV UTF-8') does not spoil the first header name."""
    path = write(
        tmp_path,
        b"\xef\xbb\xbf"
        + "source_course_id,target_course_id,name\r\nA-FA26,A-SP27,Économie\r\n".encode(),
    )
    assert load(path).rows[0].name == "Économie"


def test_header_names_ignore_case_and_surrounding_spaces(tmp_path: Path) -> None:
    """' Source_Course_ID ' and 'TARGET_COURSE_ID' name the required columns."""
    path = write(tmp_path, " Source_Course_ID , TARGET_COURSE_ID ,Available\nA,B, yes \n")
    row = load(path).rows[0]
    assert (row.source_course_id, row.target_course_id, row.available) == ("A", "B", "Yes")


def test_only_the_two_required_columns_are_needed(tmp_path: Path) -> None:
    """Optional columns may be left out entirely; their fields are None."""
    row = load(write(tmp_path, "source_course_id,target_course_id\nA,B\n")).rows[0]
    assert (row.copy_into_existing, row.name, row.start_date, row.copy_profile) == (
        False,
        None,
        None,
        None,
    )


def test_blank_lines_are_ignored_and_lines_stay_physical(tmp_path: Path) -> None:
    """Blank and comma-only lines are skipped; lines after a multi-line cell stay physical."""
    path = write(
        tmp_path,
        "\r\n".join(
            [
                "source_course_id,target_course_id,description",  # 1
                "",  # 2
                "A,A-SP27,one line",  # 3
                "   ",  # 4
                ",,",  # 5
                'B,B-SP27,"first line',  # 6
                "second line, with a comma",  # 7
                'third ""quoted"" line"',  # 8
                "",  # 9
                "C,bad target,x",  # 10
            ]
        )
        + "\r\n",
    )
    assert where(problems_of(path)) == [(10, "target_course_id", "bad target")]
    good = path.read_bytes().replace(b"bad target", b"C-SP27")
    rows = load(write(tmp_path, good)).rows
    assert [row.line for row in rows] == [3, 6, 10]
    assert rows[1].description == 'first line\r\nsecond line, with a comma\r\nthird "quoted" line'


def test_leading_blank_lines_before_the_header_keep_line_numbers(tmp_path: Path) -> None:
    """Blank lines above the header are skipped and still counted."""
    path = write(tmp_path, "\n\nsource_course_id,target_course_id\nA,B\nC,B\n")
    assert where(problems_of(path)) == [(5, "target_course_id", "B")]


@pytest.mark.parametrize("blank_row", [b"\r\n", b",,\r\n", b" \r\n\r\n"])
def test_byte_order_marks_on_a_blank_first_row_are_skipped_with_it(
    tmp_path: Path, blank_row: bytes
) -> None:
    """A file saved twice as 'CSV UTF-8' (two BOMs) from a sheet whose first rows are blank."""
    path = write(
        tmp_path,
        b"\xef\xbb\xbf\xef\xbb\xbf" + blank_row + b"source_course_id,target_course_id\r\nA,B\r\n",
    )
    rows = load(path).rows
    header_line = 2 + blank_row.count(b"\n") - 1
    assert [(row.line, row.source_course_id, row.target_course_id) for row in rows] == [
        (header_line + 1, "A", "B")
    ]


def test_every_invalid_cell_is_reported_at_once(tmp_path: Path) -> None:
    """All problems of all rows come back together, each with its line, column and value."""
    long_name = "N" * 334
    long_external = "E" * 257
    long_target = "T" * 101
    path = write(
        tmp_path,
        HEADER
        + "\n".join(
            [
                ",,,,,,,,,,",  # 2: blank, ignored
                " ,T2,,,,,,,,,",  # 3: source blank
                "A B,T3,,,,,,,,,",  # 4: space in source
                "A4,,,,,,,,,,",  # 5: target blank
                "A5,T 5/x,,,,,,,,,",  # 6: bad characters
                f"A6,{long_target},,,,,,,,,",  # 7: too long
                "A7,T7,maybe,,,,,,,,",  # 8: not a flag
                f"A8,T8,,{long_name},,{long_external},,,,,",  # 9: name and external_id too long
                "A9,T9,,,,,,Hidden,,,",  # 10: availability
                "A10,T10,,,,,,,2027-13-01,2027-05-07,",  # 11: bad date
                "A11,T11,,,,,,,2027-01-11,,",  # 12: only start
                "A12,T12,,,,,,,,2027-05-07,",  # 13: only end
                "A13,T13,,,,,,,2027-05-07,2027-01-11,",  # 14: end before start
                "A14,T14,,,,,,,2027-01-11T08:00,2027-01-11T08:00,",  # 15: equal is not before
                "A15,T15,,,,,,,,,everything",  # 16: unknown profile
                "A16,a16,,,,,,,,,",  # 17: copies onto itself
                "A17,T9,,,,,,,,,",  # 18: duplicate of line 10
            ]
        )
        + "\n",
    )
    assert where(problems_of(path)) == [
        (3, "source_course_id", ""),
        (4, "source_course_id", "A B"),
        (5, "target_course_id", ""),
        (6, "target_course_id", "T 5/x"),
        (7, "target_course_id", long_target),
        (8, "copy_into_existing", "maybe"),
        (9, "name", long_name),
        (9, "external_id", long_external),
        (10, "available", "Hidden"),
        (11, "start_date", "2027-13-01"),
        (12, "end_date", ""),
        (13, "start_date", ""),
        (14, "end_date", "2027-01-11"),
        (15, "end_date", "2027-01-11T08:00"),
        (16, "copy_profile", "everything"),
        (17, "target_course_id", "a16"),
        (18, "target_course_id", "T9"),
    ]


def test_messages_name_the_fix(tmp_path: Path) -> None:
    """Messages say what to do: the allowed characters, the known profiles, the limits."""
    path = write(tmp_path, HEADER + "A,T 1,,,,,,,,,nope\nB,T2,," + "N" * 334 + ",,,,,,,\n")
    messages = [problem.message for problem in problems_of(path)]
    assert "letters, digits, '-', '_' and '.'; remove ' '" in messages[0]
    assert "known profiles are: default, exact, no-discussions" in messages[1]
    assert "did you mean" not in messages[1]  # 'nope' is close to no profile
    assert "at most 333" in messages[2]


def test_a_misspelled_profile_is_named_with_the_profile_it_resembles(tmp_path: Path) -> None:
    """'no-discusions' is refused with "did you mean 'no-discussions'?" and the known list."""
    path = write(tmp_path, "source_course_id,target_course_id,copy_profile\nA,B,no-discusions\n")
    (problem,) = problems_of(path)
    assert where([problem]) == [(2, "copy_profile", "no-discusions")]
    assert problem.message == (
        "unknown copy profile (did you mean 'no-discussions'?); the known profiles are: "
        "default, exact, no-discussions (more can be defined under [profiles.NAME] in "
        "rollover.toml)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2027-02-30", "there is no such day: 2027-02 has no day 30; check the date"),
        ("2026-02-29T08:00", "there is no such day: 2026-02 has no day 29; check the date"),
        ("2027-04-31", "there is no such day: 2027-04 has no day 31; check the date"),
        (
            "2027-13-01",
            "not an ISO 8601 date or date-time: write a date like 2027-01-11 or a "
            "date-time like 2027-01-11T08:00-06:00",
        ),
        (
            "11/01/2027",
            "not an ISO 8601 date or date-time: write a date like 2027-01-11 or a "
            "date-time like 2027-01-11T08:00-06:00",
        ),
    ],
)
def test_a_day_the_calendar_lacks_is_named_as_such(
    tmp_path: Path, value: str, message: str
) -> None:
    """2027-02-30 is 'no such day'; only text that is no date at all gets the ISO 8601 advice."""
    path = write(
        tmp_path, f"source_course_id,target_course_id,start_date,end_date\nA,B,{value},2027-05-07\n"
    )
    (problem,) = problems_of(path)
    assert (problem.line, problem.column, problem.value, problem.message) == (
        2,
        "start_date",
        value,
        message,
    )


def test_duplicate_target_names_the_line_where_it_first_appeared(tmp_path: Path) -> None:
    """A repeated target (compared ignoring case) points back to its first line."""
    path = write(tmp_path, "source_course_id,target_course_id\nA,X-SP27\nB,Y-SP27\n\nC,x-sp27\n")
    (problem,) = problems_of(path)
    assert where([problem]) == [(5, "target_course_id", "x-sp27")]
    assert "line 2 already produces this course" in problem.message


def test_date_alone_is_the_whole_day_in_the_given_timezone_as_utc(tmp_path: Path) -> None:
    """A start date is its 00:00:00 and an end date its 23:59:59 in Chicago, as UTC; naive
    times are local; offsets are kept as given."""
    path = write(
        tmp_path,
        "source_course_id,target_course_id,start_date,end_date\n"
        "A,A1,2027-01-11,2027-07-01\n"
        "B,B1,2027-01-11T08:30,2027-05-07T23:59:00-04:00\n",
    )
    first, second = load(path).rows
    assert first.start_date == datetime(2027, 1, 11, 6, tzinfo=UTC)
    assert first.end_date == datetime(2027, 7, 2, 4, 59, 59, tzinfo=UTC)  # daylight: UTC-5
    assert second.start_date == datetime(2027, 1, 11, 14, 30, tzinfo=UTC)
    assert second.end_date == datetime(2027, 5, 8, 3, 59, tzinfo=UTC)
    assert all(row.start_date and row.start_date.tzinfo is UTC for row in (first, second))


def test_local_time_skipped_by_daylight_saving_is_refused(tmp_path: Path) -> None:
    """02:30 on the spring-forward night does not exist in Chicago."""
    path = write(
        tmp_path,
        "source_course_id,target_course_id,start_date,end_date\nA,A1,2027-03-14T02:30,2027-05-07\n",
    )
    (problem,) = problems_of(path)
    assert where([problem]) == [(2, "start_date", "2027-03-14T02:30")]
    assert "does not exist in America/Chicago" in problem.message


# -- local time in zones with daylight saving, on both sides of both clock changes ---------------


def utc(text: str) -> datetime:
    """An aware UTC datetime from '2026-05-09T04:59:59' (written out by hand, not computed)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (day, its first second in UTC, its last second in UTC): offsets worked out from each zone's
# published rules, so the test does not borrow the arithmetic it checks.
_WHOLE_DAYS = {
    "America/Chicago": [  # CST UTC-6, CDT UTC-5; back 2026-11-01 02:00, forward 2027-03-14 02:00
        ("2026-05-08", "2026-05-08T05:00:00", "2026-05-09T04:59:59"),
        ("2026-10-31", "2026-10-31T05:00:00", "2026-11-01T04:59:59"),
        ("2026-11-01", "2026-11-01T05:00:00", "2026-11-02T05:59:59"),  # a 25-hour day
        ("2026-11-02", "2026-11-02T06:00:00", "2026-11-03T05:59:59"),
        ("2027-01-11", "2027-01-11T06:00:00", "2027-01-12T05:59:59"),
        ("2027-03-13", "2027-03-13T06:00:00", "2027-03-14T05:59:59"),
        ("2027-03-14", "2027-03-14T06:00:00", "2027-03-15T04:59:59"),  # a 23-hour day
        ("2027-03-15", "2027-03-15T05:00:00", "2027-03-16T04:59:59"),
    ],
    "Europe/Berlin": [  # CET UTC+1, CEST UTC+2; back 2026-10-25 03:00, forward 2027-03-28 02:00
        ("2026-10-24", "2026-10-23T22:00:00", "2026-10-24T21:59:59"),
        ("2026-10-25", "2026-10-24T22:00:00", "2026-10-25T22:59:59"),
        ("2026-10-26", "2026-10-25T23:00:00", "2026-10-26T22:59:59"),
        ("2027-03-27", "2027-03-26T23:00:00", "2027-03-27T22:59:59"),
        ("2027-03-28", "2027-03-27T23:00:00", "2027-03-28T21:59:59"),
        ("2027-03-29", "2027-03-28T22:00:00", "2027-03-29T21:59:59"),
    ],
    "Australia/Sydney": [  # AEST UTC+10, AEDT UTC+11; forward 2026-10-04 02:00, back 2027-04-04
        ("2026-10-03", "2026-10-02T14:00:00", "2026-10-03T13:59:59"),
        ("2026-10-04", "2026-10-03T14:00:00", "2026-10-04T12:59:59"),
        ("2026-10-05", "2026-10-04T13:00:00", "2026-10-05T12:59:59"),
        ("2027-04-03", "2027-04-02T13:00:00", "2027-04-03T12:59:59"),
        ("2027-04-04", "2027-04-03T13:00:00", "2027-04-04T13:59:59"),
        ("2027-04-05", "2027-04-04T14:00:00", "2027-04-05T13:59:59"),
    ],
}
# (zone, a local time the clocks skip, one they pass twice)
_CLOCK_CHANGES = [
    ("America/Chicago", "2027-03-14T02:30", "2026-11-01T01:30"),
    ("Europe/Berlin", "2027-03-28T02:30", "2026-10-25T02:30"),
    ("Australia/Sydney", "2026-10-04T02:30", "2027-04-04T02:30"),
]


def one_day_courses(tmp_path: Path, days: list[str]) -> Path:
    """A manifest with one course per day, each starting and ending on that same date."""
    return write(
        tmp_path,
        "source_course_id,target_course_id,start_date,end_date\n"
        + "".join(f"S{at},T{at},{day},{day}\n" for at, day in enumerate(days)),
    )


@pytest.mark.parametrize("zone_name", sorted(_WHOLE_DAYS))
def test_a_date_alone_takes_that_days_own_offset_on_both_sides_of_each_change(
    tmp_path: Path, zone_name: str
) -> None:
    """Each date's 00:00:00 and 23:59:59 get the offset in force on that date (not today's)."""
    cases = _WHOLE_DAYS[zone_name]
    path = one_day_courses(tmp_path, [day for day, _, _ in cases])
    manifest = load_manifest(path, timezone=ZoneInfo(zone_name), profiles=PROFILES)
    assert manifest.zone.key == zone_name
    assert [(row.start_date, row.end_date) for row in manifest.rows] == [
        (utc(start), utc(end)) for _, start, end in cases
    ]
    assert all(
        moment is not None and moment.tzinfo is UTC
        for row in manifest.rows
        for moment in (row.start_date, row.end_date)
    )


def test_the_machine_zone_from_tz_gives_each_date_its_own_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With TZ=Europe/Berlin and no --timezone, dates either side of both changes are right."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    zone = machine_zone()
    cases = _WHOLE_DAYS["Europe/Berlin"]
    manifest = load_manifest(
        one_day_courses(tmp_path, [day for day, _, _ in cases]), timezone=zone, profiles=PROFILES
    )
    assert manifest.zone.key == "Europe/Berlin"
    assert [(row.start_date, row.end_date) for row in manifest.rows] == [
        (utc(start), utc(end)) for _, start, end in cases
    ]


@pytest.mark.parametrize(("zone_name", "skipped", "repeated"), _CLOCK_CHANGES)
def test_local_times_a_clock_change_skips_or_repeats_are_refused_where_they_are(
    tmp_path: Path, zone_name: str, skipped: str, repeated: str
) -> None:
    """A skipped and a repeated local time are problems with their line, column and value, in
    either date column."""
    path = write(
        tmp_path,
        "source_course_id,target_course_id,start_date,end_date\n"
        f"A,A1,{skipped},2027-12-31\n"
        f"B,B1,{repeated},2027-12-31\n"
        f"C,C1,2026-01-05,{skipped}\n"
        f"D,D1,2026-01-05,{repeated}\n",
    )
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(path, timezone=ZoneInfo(zone_name), profiles=PROFILES)
    problems = caught.value.problems
    assert where(problems) == [
        (2, "start_date", skipped),
        (3, "start_date", repeated),
        (4, "end_date", skipped),
        (5, "end_date", repeated),
    ]
    gap, twice = (f"{value.replace('T', ' ')} " for value in (skipped, repeated))
    assert [problem.message for problem in problems] == [
        f"{gap}does not exist in {zone_name} (the clocks jump forward then): pick another "
        "time or give a UTC offset",
        f"{twice}happens twice in {zone_name} (the clocks fall back then): pick another time "
        "or give a UTC offset",
    ] * 2


def test_chicago_clock_changes_are_refused_with_line_column_and_value(tmp_path: Path) -> None:
    """2027-03-14T02:30 (skipped) and 2026-11-01T01:30 (twice) in Chicago, as the CLI prints."""
    path = write(
        tmp_path,
        "source_course_id,target_course_id,start_date,end_date\n"
        "A,A1,2027-03-14T02:30,2027-05-07\n"
        "B,B1,2026-11-01T01:30,2026-12-18\n",
    )
    assert [str(problem) for problem in problems_of(path)] == [
        "line 2, column start_date: 2027-03-14 02:30 does not exist in America/Chicago (the "
        "clocks jump forward then): pick another time or give a UTC offset (value "
        "'2027-03-14T02:30')",
        "line 3, column start_date: 2026-11-01 01:30 happens twice in America/Chicago (the "
        "clocks fall back then): pick another time or give a UTC offset (value "
        "'2026-11-01T01:30')",
    ]


def test_times_beside_a_clock_change_and_offsets_through_it_are_accepted(tmp_path: Path) -> None:
    """Only the skipped or repeated times are refused: the minutes around them, and a repeated
    time with its UTC offset, are taken as written."""
    path = write(
        tmp_path,
        "source_course_id,target_course_id,start_date,end_date\n"
        "A,A1,2027-03-14T01:59,2027-03-14T03:00\n"
        "B,B1,2026-11-01T00:59,2026-11-01T02:00\n"
        "C,C1,2026-11-01T01:30-05:00,2026-11-01T01:30-06:00\n",
    )
    assert [(row.start_date, row.end_date) for row in load(path).rows] == [
        (utc("2027-03-14T07:59:00"), utc("2027-03-14T08:00:00")),
        (utc("2026-11-01T05:59:00"), utc("2026-11-01T08:00:00")),
        (utc("2026-11-01T06:30:00"), utc("2026-11-01T07:30:00")),
    ]


@pytest.mark.parametrize(
    ("zone_name", "start", "end", "utc_start", "utc_end"),
    [
        # Santiago skips 2026-09-06 00:00-00:59: the day starts at 01:00 (-03).
        (
            "America/Santiago",
            "2026-09-06",
            "2026-09-07",
            "2026-09-06T04:00:00",
            "2026-09-08T02:59:59",
        ),
        # Santiago passes 2026-04-04 23:00-23:59 twice: the day ends at the second 23:59:59 (-04).
        (
            "America/Santiago",
            "2026-04-01",
            "2026-04-04",
            "2026-04-01T03:00:00",
            "2026-04-05T03:59:59",
        ),
        # Havana passes 2026-11-01 00:00-00:59 twice: the day starts at the first midnight (-04).
        (
            "America/Havana",
            "2026-11-01",
            "2026-11-02",
            "2026-11-01T04:00:00",
            "2026-11-03T04:59:59",
        ),
        # Beirut passes 2026-10-24 23:00-23:59 twice: the day ends at the second 23:59:59 (+02).
        ("Asia/Beirut", "2026-10-20", "2026-10-24", "2026-10-19T21:00:00", "2026-10-24T21:59:59"),
    ],
)
def test_a_date_alone_is_the_whole_day_even_when_midnight_is_skipped_or_repeated(
    tmp_path: Path, zone_name: str, start: str, end: str, utc_start: str, utc_end: str
) -> None:
    """Where clocks change at midnight, a date alone still means the whole day, never an error."""
    path = write(
        tmp_path, f"source_course_id,target_course_id,start_date,end_date\nA,A1,{start},{end}\n"
    )
    (row,) = load_manifest(path, timezone=ZoneInfo(zone_name), profiles=PROFILES).rows
    assert (row.start_date, row.end_date) == (utc(utc_start), utc(utc_end))


def test_week_and_basic_dates_alone_are_whole_days_too(tmp_path: Path) -> None:
    """2027-W02-1 and 20270111 are dates alone: the end one runs to 23:59:59, like 2027-01-11."""
    path = write(
        tmp_path,
        "source_course_id,target_course_id,start_date,end_date\nA,A1,20270111,2027-W19-5\n",
    )
    (row,) = load(path).rows
    assert (row.start_date, row.end_date) == (
        utc("2027-01-11T06:00:00"),
        utc("2027-05-15T04:59:59"),
    )


def test_na_null_and_leading_zeros_stay_text(tmp_path: Path) -> None:
    """'NA', 'null' and '0012' are read as the text they are, not NaN or numbers."""
    path = write(
        tmp_path,
        "source_course_id,target_course_id,name,external_id,term_id\n0012,NA,null,0012,NaN\n",
    )
    row = load(path).rows[0]
    assert (row.source_course_id, row.target_course_id, row.name, row.external_id, row.term_id) == (
        "0012",
        "NA",
        "null",
        "0012",
        "NaN",
    )


def test_flags_and_availability_accept_their_spellings(tmp_path: Path) -> None:
    """copy_into_existing takes true/false/yes/no/y/n/1/0 in any case; available is normalised
    to Learn's case."""
    path = write(
        tmp_path,
        "source_course_id,target_course_id,copy_into_existing,available\n"
        "A,A1,TRUE,YES\nB,B1,No,disabled\nC,C1,1,no\nD,D1,0,Term\n"
        "E,E1,Y,\nF,F1,n,\nG,G1,y,\nH,H1,N,\n",
    )
    rows = load(path).rows
    assert [(row.copy_into_existing, row.available) for row in rows] == [
        (True, "Yes"),
        (False, "Disabled"),
        (True, "No"),
        (False, "Term"),
        (True, None),
        (False, None),
        (True, None),
        (False, None),
    ]


def test_a_flag_that_is_no_flag_names_every_spelling(tmp_path: Path) -> None:
    """'maybe' is refused with the words copy_into_existing takes, y/n included."""
    path = write(tmp_path, "source_course_id,target_course_id,copy_into_existing\nA,B,maybe\n")
    (problem,) = problems_of(path)
    assert (problem.line, problem.column, problem.value, problem.message) == (
        2,
        "copy_into_existing",
        "maybe",
        "copy_into_existing must be true or false (also "
        "yes/no, y/n, on/off or 1/0; leave it blank for false)",
    )


def test_non_utf8_file_gets_the_csv_utf8_hint(tmp_path: Path) -> None:
    """Windows-1252 bytes are refused with the line and the Excel 'CSV UTF-8' advice."""
    path = write(
        tmp_path,
        b"source_course_id,target_course_id,name\nA,B,Ok\nC,D," + "Économie\n".encode("cp1252"),
    )
    (problem,) = problems_of(path)
    assert where([problem]) == [(3, None, "C,D,\ufffdconomie")]  # the line, as it can be read
    assert "byte 0xc9 is not utf-8" in problem.message and "CSV UTF-8" in problem.message


def test_unterminated_quote_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    """A quote that never closes is reported where it opens; rows before it are still checked."""
    path = write(
        tmp_path,
        'source_course_id,target_course_id,name\nA,bad id,x\nB,B1,"Biology\nC,C1,Chemistry\n',
    )
    problems = problems_of(path)
    assert where(problems) == [(2, "target_course_id", "bad id"), (3, None, 'B,B1,"Biology')]
    assert "closing double quote is missing" in problems[1].message


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_a_quote_left_open_on_a_later_line_of_a_row_is_reported_on_that_line(
    tmp_path: Path, newline: str
) -> None:
    """The open quote's own line is named, with the first line of its row as the value."""
    path = write(
        tmp_path,
        newline.join(
            [
                "source_course_id,target_course_id,name,description",  # 1
                "A,A1,x,y",  # 2
                'B,B1,"two',  # 3
                'lines","left open',  # 4
                "C,C1,x,y",  # 5
                "",
            ]
        ),
    )
    problems = problems_of(path)
    assert where(problems) == [(4, None, 'B,B1,"two')]
    assert "closing double quote is missing" in problems[0].message


def test_a_cell_longer_than_the_csv_modules_default_limit_is_read_whole(tmp_path: Path) -> None:
    """A description of 200,000 characters (over csv's 128 KiB field limit) is one cell."""
    long = "word, " * 40_000
    path = write(tmp_path, f'source_course_id,target_course_id,description\nA,B,"{long}"\n')
    (row,) = load(path).rows
    assert row.description == long.strip()


def test_row_with_too_many_cells_is_reported_on_its_physical_line(tmp_path: Path) -> None:
    """Each row with extra cells is a problem on its physical line; other rows are still checked."""
    path = write(
        tmp_path,
        "source_course_id,target_course_id,name\n"
        'A,A1,"two\nlines"\n'
        "B,B1,x,extra\n"
        "C,C 1,x\n"
        "D,D1,x,y,z\n",
    )
    problems = problems_of(path)
    assert where(problems) == [
        (4, None, "B,B1,x,extra"),
        (5, "target_course_id", "C 1"),
        (6, None, "D,D1,x,y,z"),
    ]
    assert "has 4 cells but the header has 3" in problems[0].message


def test_header_problems_name_the_column(tmp_path: Path) -> None:
    """A misspelled required column and a duplicate header are problems naming the column; the
    misspelling is named once, as close to the column it resembles, never as missing too."""
    path = write(tmp_path, "source_course_id,targt_course_id,Name,name\nA,B,x,y\n")
    problems = problems_of(path)
    assert where(problems) == [(1, "name", "name"), (1, "targt_course_id", "targt_course_id")]
    assert (
        problems[0].message == "column name appears twice in the header (columns 3 and 4): keep one"
    )
    assert problems[1].message == (
        "unknown column, close to target_course_id: rename it "
        "target_course_id (as it is, its cells would be ignored)"
    )


def test_missing_required_column_that_nothing_resembles_is_named_as_missing(
    tmp_path: Path,
) -> None:
    """Without target_course_id or any header like it, the problem says to add the column."""
    path = write(tmp_path, "source_course_id,name,department\nA,x,Biology\n")
    with pytest.raises(ManifestInvalid) as caught:
        load(path)
    assert [str(problem) for problem in caught.value.problems] == [
        "line 1, column target_course_id: required column target_course_id is missing from the "
        "header: add it"
    ]
    assert [str(warning) for warning in caught.value.warnings] == [
        "line 1, column department: unknown column: its cells are ignored (value 'department')"
    ]


@pytest.mark.parametrize(
    ("header", "near"),
    [
        ("copy_profle", "copy_profile"),
        ("availible", "available"),
        ("strat_date", "start_date"),
        ("nmae", "name"),
        ("Copy Profil", "copy_profile"),
    ],
)
def test_header_close_to_a_column_the_file_lacks_is_an_error(
    tmp_path: Path, header: str, near: str
) -> None:
    """A near-miss header would have its cells ignored: refused, naming the column to rename
    it to, never echoing the header itself as a suggestion."""
    path = write(tmp_path, f"source_course_id,target_course_id,{header}\nA,B,x\n")
    (problem,) = problems_of(path)
    assert where([problem]) == [(1, header, header)]
    assert problem.message == (
        f"unknown column, close to {near}: rename it {near} (as it is, its cells would be ignored)"
    )
    assert "did you mean" not in problem.message


def test_header_close_to_a_column_the_file_has_is_only_a_warning(tmp_path: Path) -> None:
    """'nmae' beside a real 'name' column is not the name column: a warning, and rows load."""
    path = write(tmp_path, "source_course_id,target_course_id,name,nmae\nA,B,Biology,x\n")
    manifest = load(path)
    assert manifest.rows[0].name == "Biology"
    assert [str(warning) for warning in manifest.warnings] == [
        "line 1, column nmae: unknown column: its cells are ignored (value 'nmae')"
    ]


def test_unknown_column_is_a_warning(tmp_path: Path) -> None:
    """A column close to no known one is a warning on line 1 and the rows still load."""
    path = write(tmp_path, "source_course_id,target_course_id,department,Room\nA,B,BIO,x\n")
    manifest = load(path)
    assert len(manifest.rows) == 1
    assert where(list(manifest.warnings)) == [(1, "department", "department"), (1, "Room", "Room")]
    assert [warning.message for warning in manifest.warnings] == [
        "unknown column: its cells are ignored"
    ] * 2


def test_warnings_travel_with_the_problems(tmp_path: Path) -> None:
    """When the manifest is refused, ManifestInvalid still carries its unknown-column warnings."""
    path = write(
        tmp_path, "source_course_id,target_course_id,department,copy_profle\nA,B,BIO,default\n"
    )
    with pytest.raises(ManifestInvalid) as caught:
        load(path)
    assert where(caught.value.problems) == [(1, "copy_profle", "copy_profle")]
    assert where(list(caught.value.warnings)) == [(1, "department", "department")]


@pytest.mark.parametrize(
    "header",
    [
        "Source Course ID,Target Course ID,Copy Into Existing,Start Date,End Date",
        "source-course-id,target-course-id,copy-into-existing,start-date,end-date",
        " SOURCE_COURSE_ID , Target_Course_Id ,copy_into_existing, start date ,END-DATE",
        "source  course_id,target -  course id,copy into-existing,start__date,end_date",
    ],
)
def test_header_words_may_be_joined_by_spaces_hyphens_or_underscores(
    tmp_path: Path, header: str
) -> None:
    """'Source Course ID', 'source-course-id' and 'SOURCE_COURSE_ID' all name source_course_id."""
    path = write(tmp_path, f"{header}\nA,B,yes,2027-01-11,2027-05-07\n")
    manifest = load(path)
    assert manifest.warnings == ()
    row = manifest.rows[0]
    assert (
        row.source_course_id,
        row.target_course_id,
        row.copy_into_existing,
        row.start_date,
        row.end_date,
    ) == (
        "A",
        "B",
        True,
        datetime(2027, 1, 11, 6, tzinfo=UTC),
        datetime(2027, 5, 8, 4, 59, 59, tzinfo=UTC),
    )


def test_a_header_too_long_to_resemble_a_column_is_shown_shortened(tmp_path: Path) -> None:
    """A 10,000-character header is a warning whose column label is cut to 80 characters."""
    long_header = "x" * 10_000
    path = write(tmp_path, f"source_course_id,target_course_id,{long_header}\nA,B,y\n")
    (warning,) = load(path).warnings
    assert (warning.line, warning.column, warning.value) == (1, "x" * 80 + "...", long_header)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("\n\n  \n", "the file is empty"),
        (HEADER, "no course rows"),
        (HEADER + "\n,,,\n", "no course rows"),
    ],
)
def test_empty_file_or_header_without_rows_is_a_problem(
    tmp_path: Path, content: str, expected: str
) -> None:
    """A manifest must have a header and at least one course row."""
    (problem,) = problems_of(write(tmp_path, content))
    assert expected in problem.message


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    """A path that does not exist gives ManifestInvalid, not FileNotFoundError."""
    (problem,) = problems_of(tmp_path / "nope.csv")
    assert "file not found" in problem.message


def test_sample_manifest_loads_cleanly() -> None:
    """sample_manifests/fall2026.csv has every column (instructors, child_course_ids and
    shift_dates optional) and no problems."""
    manifest = load(SAMPLE)
    header = SAMPLE.read_text().splitlines()[0].split(",")
    assert header == [column for column in COLUMNS if column in header]
    assert set(COLUMNS) - set(header) <= {"instructors", "child_course_ids", "shift_dates"}
    assert len(manifest.rows) >= 20 and manifest.warnings == ()
    assert sum(row.copy_into_existing for row in manifest.rows) >= 3
    assert "no-discussions" in {row.copy_profile for row in manifest.rows}


# Cells that stress the tokenizer: quotes, commas and line breaks in every arrangement.
_TRICKY = st.text(alphabet='",\r\n ab\t', max_size=40)
_HEADERED = st.builds(lambda body: (HEADER + body).encode(), _TRICKY)
# tmp_path is shared by the examples; each one overwrites the same file, which is what we want.
_FIXTURE_OK = [HealthCheck.function_scoped_fixture]


@settings(max_examples=300, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(
    content=st.one_of(
        st.binary(max_size=200), _HEADERED, st.text(max_size=200).map(lambda text: text.encode())
    )
)
def test_arbitrary_bytes_raise_nothing_but_manifest_invalid(tmp_path: Path, content: bytes) -> None:
    """Whatever the bytes, the reader returns a Manifest or raises ManifestInvalid with lines."""
    path = write(tmp_path, content)
    try:
        load(path)
    except ManifestInvalid as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.line is None or problem.line >= 1
            assert "cannot be trusted" not in problem.message


_ID = st.text(alphabet="ABCxyz019-_.", min_size=1, max_size=12)
# Free text as people type it: any printable character, tabs and line breaks; never the other
# control characters, which the manifest refuses (they are invisible in Excel).
_FREE = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), include_characters="\t\n"),
    max_size=30,
).map(str.strip)
# Every spelling of copy_into_existing the contract and the house accept, and what it means.
_FLAG_WORDS = {
    "": False,
    "true": True,
    "false": False,
    "TRUE": True,
    "No": False,
    "yes": True,
    "y": True,
    "Y": True,
    "n": False,
    "N": False,
    "1": True,
    "0": False,
}
_MOMENT = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


# Instructors cells the contract accepts, and the enrolments each is read as.
_INSTRUCTOR_CELLS = {
    "": (),
    "userName:jdoe": (Enrolment("userName:jdoe", "Instructor"),),
    "_12_1=grader; externalId:E,1=Mentor;": (
        Enrolment("_12_1", "Grader"),
        Enrolment("externalId:E,1", "Mentor"),
    ),
}


@st.composite
def _valid_rows(draw: st.DrawFn) -> list[dict[str, str]]:
    """Rows that the contract accepts, as the cell text a CSV writer would be given."""
    targets = draw(st.lists(_ID, min_size=1, max_size=6, unique_by=str.lower))
    rows = []
    for target in targets:
        dates = draw(st.none() | st.lists(_MOMENT, min_size=2, max_size=2, unique=True))
        start, end = (moment.isoformat() for moment in sorted(dates)) if dates else ("", "")
        rows.append(
            {
                "source_course_id": "SRC" + draw(_ID).replace("-", ","),
                "target_course_id": target,
                "copy_into_existing": draw(st.sampled_from(sorted(_FLAG_WORDS))),
                "name": draw(_FREE),
                "description": draw(_FREE),
                "external_id": draw(_FREE),
                "term_id": draw(_FREE),
                "available": draw(st.sampled_from(["", "Yes", "No", "Disabled", "Term"])),
                "start_date": start,
                "end_date": end,
                "copy_profile": draw(st.sampled_from(["", "default", "no-discussions"])),
                "instructors": draw(st.sampled_from(sorted(_INSTRUCTOR_CELLS))),
            }
        )
    return rows


@settings(max_examples=150, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(rows=_valid_rows())
def test_valid_rows_written_by_csv_module_round_trip(
    tmp_path: Path, rows: list[dict[str, str]]
) -> None:
    """Rows written by csv.DictWriter come back with the same values and physical lines."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    expected_lines = []
    line = 2
    for row in rows:
        before = out.tell()
        writer.writerow(row)
        expected_lines.append(line)
        line += len(re.findall(r"\r\n|\r|\n", out.getvalue()[before:]))
    manifest = load(write(tmp_path, out.getvalue()))
    assert [row.line for row in manifest.rows] == expected_lines
    for got, want in zip(manifest.rows, rows, strict=True):
        assert got.source_course_id == want["source_course_id"]
        assert got.target_course_id == want["target_course_id"]
        assert got.copy_into_existing == _FLAG_WORDS[want["copy_into_existing"]]
        for column in (
            "name",
            "description",
            "external_id",
            "term_id",
            "available",
            "copy_profile",
        ):
            assert getattr(got, column) == (want[column] or None)
        for column in ("start_date", "end_date"):
            moment = getattr(got, column)
            assert (moment.isoformat() if moment else "") == want[column]
        assert got.instructors == _INSTRUCTOR_CELLS[want["instructors"]]


# -- the instructors column ----------------------------------------------------------------------

INSTRUCTORS_HEADER = "source_course_id,target_course_id,instructors\n"
_ID_FORMS = (
    "a Learn user id is written userName:ID, externalId:ID or uuid:ID, or is a primary id like "
    "_12_1"
)
_NEAR_MISS_ROLE = (
    "an institution's own role id is accepted as written only when it is not a near miss of a "
    "built-in one"
)


def instructors_of(tmp_path: Path, cell: str) -> tuple[Enrolment, ...]:
    """The enrolments one row's instructors cell is read as."""
    (row,) = load(write(tmp_path, INSTRUCTORS_HEADER + f"A,B,{cell}\n")).rows
    return row.instructors


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("userName:jdoe", [("userName:jdoe", "Instructor")]),
        ("externalId:E123", [("externalId:E123", "Instructor")]),
        ("uuid:6a1c0e5f9b", [("uuid:6a1c0e5f9b", "Instructor")]),
        ("_12_1", [("_12_1", "Instructor")]),
        ("userName:jdoe=TeachingAssistant", [("userName:jdoe", "TeachingAssistant")]),
        ("_12_1=Grader", [("_12_1", "Grader")]),
        (
            "userName:jdoe;externalId:E123=CourseBuilder;_12_1=BbFacilitator;uuid:9f=Grader",
            [
                ("userName:jdoe", "Instructor"),
                ("externalId:E123", "CourseBuilder"),
                ("_12_1", "BbFacilitator"),
                ("uuid:9f", "Grader"),
            ],
        ),
        # Spaces around entries, ids, kinds and roles are ignored; ids keep their inner case.
        (
            '" userName : JDoe = Grader ;  _12_1 ; externalId:E 7 "',
            [
                ("userName:JDoe", "Grader"),
                ("_12_1", "Instructor"),
                ("externalId:E 7", "Instructor"),
            ],
        ),
        # A kind in any case is written in Learn's spelling.
        (
            "USERNAME:jdoe;externalid:E1;UUID:ab",
            [
                ("userName:jdoe", "Instructor"),
                ("externalId:E1", "Instructor"),
                ("uuid:ab", "Instructor"),
            ],
        ),
        # One trailing ';', as people end lists, is allowed.
        ("userName:jdoe;", [("userName:jdoe", "Instructor")]),
        ('"userName:jdoe ; "', [("userName:jdoe", "Instructor")]),
    ],
)
def test_instructors_cells_of_every_form_are_read_as_enrolments(
    tmp_path: Path, cell: str, expected: list[tuple[str, str]]
) -> None:
    """userName:, externalId:, uuid: and _N_1 ids, each with an optional =ROLE, in cell order."""
    assert instructors_of(tmp_path, cell) == tuple(Enrolment(*pair) for pair in expected)


@pytest.mark.parametrize(
    ("role", "written"),
    [
        ("instructor", "Instructor"),
        ("TEACHINGASSISTANT", "TeachingAssistant"),
        ("teachingAssistant", "TeachingAssistant"),
        ("coursebuilder", "CourseBuilder"),
        ("grader", "Grader"),
        ("bbfacilitator", "BbFacilitator"),
        # An institution's own role ids, not close to a built-in one, are kept as written.
        ("Mentor", "Mentor"),
        ("mentor", "mentor"),
        ("Student", "Student"),
        ("TA", "TA"),
        ("Dept_Observer", "Dept_Observer"),
    ],
)
def test_built_in_roles_take_learns_spelling_and_others_are_kept_as_written(
    tmp_path: Path, role: str, written: str
) -> None:
    """A built-in role in any case is written as Learn spells it; an institution's own as given."""
    assert instructors_of(tmp_path, f"userName:jdoe={role}") == (
        Enrolment("userName:jdoe", written),
    )


def test_built_in_roles_and_default_are_exported() -> None:
    """The five built-in roles in Learn's spelling; Instructor is the default."""
    assert BUILT_IN_ROLES == (
        "Instructor",
        "TeachingAssistant",
        "CourseBuilder",
        "Grader",
        "BbFacilitator",
    )
    assert DEFAULT_ROLE == "Instructor"


def test_a_blank_or_missing_instructors_cell_enrols_no_one(tmp_path: Path) -> None:
    """A blank cell, or no instructors column at all, is the empty tuple."""
    path = write(tmp_path, INSTRUCTORS_HEADER + "A,B,\nC,D,  \n")
    assert [row.instructors for row in load(path).rows] == [(), ()]
    (row,) = load(write(tmp_path, "source_course_id,target_course_id\nA,B\n")).rows
    assert row.instructors == ()


@pytest.mark.parametrize("header", ["Instructors", " INSTRUCTORS ", "instructors"])
def test_the_instructors_header_matches_in_any_case(tmp_path: Path, header: str) -> None:
    """'Instructors' (any case, surrounding spaces) names the instructors column."""
    path = write(tmp_path, f"source_course_id,target_course_id,{header}\nA,B,userName:jdoe\n")
    manifest = load(path)
    assert manifest.warnings == ()
    assert manifest.rows[0].instructors == (Enrolment("userName:jdoe", "Instructor"),)


def test_newer_columns_come_last() -> None:
    """instructors, child_course_ids and then shift_dates come after copy_profile, so rows
    written for the older columns keep their positions; a line's problems read in this order."""
    assert COLUMNS[-4:] == ("copy_profile", "instructors", "child_course_ids", "shift_dates")


def test_manifest_row_defaults_instructors_to_none_asked() -> None:
    """ManifestRow built by keyword without instructors (as older callers do) has ()."""
    row = ManifestRow(
        line=2,
        source_course_id="A",
        target_course_id="B",
        copy_into_existing=False,
        name=None,
        description=None,
        external_id=None,
        term_id=None,
        available=None,
        start_date=None,
        end_date=None,
        copy_profile=None,
    )
    assert row.instructors == ()


def test_enrolment_is_frozen_and_compares_by_value() -> None:
    """Enrolment(user_id, role) is an immutable value."""
    enrolment = Enrolment("userName:jdoe", "Grader")
    assert enrolment == Enrolment(user_id="userName:jdoe", role="Grader")
    with pytest.raises(AttributeError):
        enrolment.role = "Instructor"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        # a bare word: its kind cannot be guessed
        (
            "jdoe",
            f"jdoe does not say which kind of user id it is: write userName:jdoe ({_ID_FORMS})",
        ),
        # an empty entry between two ';'
        (
            "userName:a;;userName:b",
            "empty entry after userName:a: remove the extra ';' (one ';' between users)",
        ),
        # two ';' at the end are an empty entry too (only one trailing ';' is allowed)
        (
            "userName:a;;",
            "empty entry after userName:a: remove the extra ';' (one ';' between users)",
        ),
        (
            ";userName:a",
            "empty entry before userName:a: remove the ';' at the start of the cell",
        ),
        (";", "lists no user, only ';': list users like userName:jdoe, or leave the cell blank"),
        # a kind with nothing after it
        ("userName:", "userName: names no user: write the user's userName after the ':'"),
        ("externalId: ", "externalId: names no user: write the user's externalId after the ':'"),
        # an unknown kind: the one it resembles is named
        (
            "user:jdoe",
            f"unknown kind of user id in user:jdoe: write userName:jdoe ({_ID_FORMS})",
        ),
        (
            "external_id:E1",
            f"unknown kind of user id in external_id:E1: write externalId:E1 ({_ID_FORMS})",
        ),
        (
            "email:j@x.edu",
            "unknown kind of user id in email:j@x.edu: write userName:j@x.edu, "
            "externalId:j@x.edu or uuid:j@x.edu, whichever it is (or the user's primary id, "
            "like _12_1)",
        ),
        # the same user twice, userName and externalId compared ignoring case
        (
            "userName:jdoe;userName:jdoe",
            "userName:jdoe is listed twice: list each user once, with the one role they "
            "should have",
        ),
        (
            "externalId:e1=Grader;ExternalID:E1",
            "externalId:E1 is listed twice (also as externalId:e1: user ids are compared "
            "ignoring case): list each user once, with the one role they should have",
        ),
        # an empty role after '='
        (
            "userName:jdoe= ",
            "userName:jdoe= has no role after '=': write a course role id after it (like "
            "userName:jdoe=TeachingAssistant), or drop the '=' to enrol as Instructor",
        ),
        # a role that is a near miss of a built-in one
        (
            "userName:jdoe=Instuctor",
            "unknown course role Instuctor, close to the built-in Instructor: write Instructor "
            f"({_NEAR_MISS_ROLE})",
        ),
        (
            "userName:jdoe=teachingasistant",
            "unknown course role teachingasistant, close to the built-in TeachingAssistant: "
            f"write TeachingAssistant ({_NEAR_MISS_ROLE})",
        ),
        (
            "userName:jdoe=Facilitator",
            "unknown course role Facilitator, close to the built-in BbFacilitator: write "
            f"BbFacilitator ({_NEAR_MISS_ROLE})",
        ),
    ],
)
def test_each_instructors_mistake_is_named_with_its_fix(
    tmp_path: Path, cell: str, message: str
) -> None:
    """A bad instructors cell is one problem on its line, column instructors, the cell as its
    value, and a message naming the fix."""
    path = write(tmp_path, INSTRUCTORS_HEADER + f"A,B,userName:ok\nC,D,{cell}\n")
    (problem,) = problems_of(path)
    assert (problem.line, problem.column, problem.value, problem.message) == (
        3,
        "instructors",
        cell.strip(),
        message,
    )


def test_every_mistake_in_one_instructors_cell_is_its_own_problem(tmp_path: Path) -> None:
    """A cell with four mistakes gives four problems, in the cell's order, on one line."""
    cell = "jdoe;userName:=Grader;;userName:asmith=Instuctor"
    problems = problems_of(write(tmp_path, INSTRUCTORS_HEADER + f"A,B,{cell}\n"))
    assert where(problems) == [(2, "instructors", cell)] * 4
    assert [problem.message for problem in problems] == [
        f"jdoe does not say which kind of user id it is: write userName:jdoe ({_ID_FORMS})",
        "userName: names no user: write the user's userName after the ':'",
        "empty entry after userName:=Grader: remove the extra ';' (one ';' between users)",
        "unknown course role Instuctor, close to the built-in Instructor: write Instructor "
        f"({_NEAR_MISS_ROLE})",
    ]


def test_a_bad_instructors_cell_repeated_down_the_rows_is_reported_on_each_line(
    tmp_path: Path,
) -> None:
    """The same bad cell on three lines is three problems, each with its own line."""
    path = write(tmp_path, INSTRUCTORS_HEADER + "A,B,jdoe\nC,D,jdoe\nE,F,userName:jdoe\nG,H,jdoe\n")
    assert where(problems_of(path)) == [
        (2, "instructors", "jdoe"),
        (3, "instructors", "jdoe"),
        (5, "instructors", "jdoe"),
    ]


def test_instructors_problems_read_after_the_other_columns_of_their_line(tmp_path: Path) -> None:
    """On one line, an instructors problem follows a copy_profile problem, as the columns go."""
    path = write(
        tmp_path,
        "instructors,source_course_id,target_course_id,copy_profile\nuser:x,A,B,everything\n",
    )
    assert where(problems_of(path)) == [
        (2, "copy_profile", "everything"),
        (2, "instructors", "user:x"),
    ]


def test_a_control_character_in_instructors_is_refused(tmp_path: Path) -> None:
    """An invisible control character in a user id is named, never passed to Learn's path."""
    (problem,) = problems_of(write(tmp_path, INSTRUCTORS_HEADER + "A,B,userName:j\x00doe\n"))
    assert where([problem]) == [(2, "instructors", "userName:j\x00doe")]
    assert problem.message.startswith("contains the control character '\\x00'")


def test_each_distinct_instructors_cell_is_parsed_once(tmp_path: Path) -> None:
    """A department's instructors repeat down its rows: 100,000 rows with three distinct cells
    hold three tuples, each parsed once and shared by every row with that cell."""
    cells = ["userName:a;userName:b=TeachingAssistant", "_12_1", "externalId:E9=Grader;"]
    path = write(
        tmp_path,
        INSTRUCTORS_HEADER + "".join(f"S{i},T{i},{cells[i % 3]}\n" for i in range(100_000)),
    )
    rows = load(path).rows
    assert len(rows) == 100_000
    assert len({id(row.instructors) for row in rows}) == 3
    assert rows[99_999].instructors == (
        Enrolment("userName:a", "Instructor"),
        Enrolment("userName:b", "TeachingAssistant"),
    )


_USER_ID = st.one_of(
    st.builds(
        "{}:{}".format,
        st.sampled_from(["userName", "externalId", "uuid"]),
        st.text(alphabet="ABCxyz019-_.@", min_size=1, max_size=10),
    ),
    st.integers(1, 10**6).map("_{}_1".format),
)
_ROLE = st.sampled_from(["", *BUILT_IN_ROLES, "Mentor", "Dept_Observer", "TA"])


@settings(max_examples=100, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(
    enrolments=st.lists(
        st.tuples(_USER_ID, _ROLE), min_size=1, max_size=6, unique_by=lambda e: e[0].lower()
    ),
    spaces=st.sampled_from(["", " ", "  "]),
    upper=st.booleans(),
    trailing=st.booleans(),
)
def test_any_valid_instructors_cell_reads_back_as_its_enrolments(
    tmp_path: Path,
    enrolments: list[tuple[str, str]],
    spaces: str,
    upper: bool,
    trailing: bool,
) -> None:
    """Any list of distinct user ids with optional roles, however spaced, built-in roles in any
    case, with or without a trailing ';', reads back in order with Learn's role spelling."""
    entries = [
        f"{spaces}{user}{spaces}"
        + (f"={spaces}{role.upper() if upper and role in BUILT_IN_ROLES else role}" if role else "")
        for user, role in enrolments
    ]
    cell = ";".join(entries) + (";" if trailing else "")
    quoted = '"' + cell + '"'
    expected = tuple(Enrolment(user, role or "Instructor") for user, role in enrolments)
    assert instructors_of(tmp_path, quoted) == expected
