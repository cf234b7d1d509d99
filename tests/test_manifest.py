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
from rollover.manifest import COLUMNS, Manifest, ManifestRow, load_manifest
from rollover.plan import PROFILES

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
    path = write(tmp_path, HEADER + "BIO-101-001-FA26,BIO-101-001-SP27,true,BIO 101: Biology,"
                 '"Cells, genes",EXT-1,SP27,term,2027-01-11T08:00:00Z,2027-05-07,no-discussions\n'
                 "_123_1,CHEM-111.SP27,,,,,,,,,\n")
    manifest = load(path)
    assert manifest.path == path
    assert manifest.warnings == ()
    assert manifest.rows == (
        ManifestRow(
            line=2, source_course_id="BIO-101-001-FA26", target_course_id="BIO-101-001-SP27",
            copy_into_existing=True, name="BIO 101: Biology", description="Cells, genes",
            external_id="EXT-1", term_id="SP27", available="Term",
            start_date=datetime(2027, 1, 11, 8, tzinfo=UTC),
            end_date=datetime(2027, 5, 7, 5, tzinfo=UTC), copy_profile="no-discussions",
        ),
        ManifestRow(
            line=3, source_course_id="_123_1", target_course_id="CHEM-111.SP27",
            copy_into_existing=False, name=None, description=None, external_id=None,
            term_id=None, available=None, start_date=None, end_date=None, copy_profile=None,
        ),
    )


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """A UTF-8 BOM (Excel's 'CSV UTF-8') does not spoil the first header name."""
    path = write(tmp_path, b"\xef\xbb\xbf" + "source_course_id,target_course_id,name\r\n"
                 "A-FA26,A-SP27,Économie\r\n".encode())
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
        False, None, None, None)


def test_blank_lines_are_ignored_and_lines_stay_physical(tmp_path: Path) -> None:
    """Blank and comma-only lines are skipped; lines after a multi-line cell stay physical."""
    path = write(tmp_path, "\r\n".join([
        "source_course_id,target_course_id,description",  # 1
        "",  # 2
        "A,A-SP27,one line",  # 3
        "   ",  # 4
        ',,',  # 5
        'B,B-SP27,"first line',  # 6
        "second line, with a comma",  # 7
        'third ""quoted"" line"',  # 8
        "",  # 9
        "C,bad target,x",  # 10
    ]) + "\r\n")
    assert where(problems_of(path)) == [(10, "target_course_id", "bad target")]
    good = path.read_bytes().replace(b"bad target", b"C-SP27")
    rows = load(write(tmp_path, good)).rows
    assert [row.line for row in rows] == [3, 6, 10]
    assert rows[1].description == 'first line\r\nsecond line, with a comma\r\nthird "quoted" line'


def test_leading_blank_lines_before_the_header_keep_line_numbers(tmp_path: Path) -> None:
    """Blank lines above the header are skipped and still counted."""
    path = write(tmp_path, "\n\nsource_course_id,target_course_id\nA,B\nC,B\n")
    assert where(problems_of(path)) == [(5, "target_course_id", "B")]


def test_every_invalid_cell_is_reported_at_once(tmp_path: Path) -> None:
    """All problems of all rows come back together, each with its line, column and value."""
    long_name = "N" * 334
    long_external = "E" * 257
    long_target = "T" * 101
    path = write(tmp_path, HEADER + "\n".join([
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
        "A14,T14,,,,,,,2027-01-11,2027-01-11,",  # 15: equal is not before
        "A15,T15,,,,,,,,,everything",  # 16: unknown profile
        "A16,a16,,,,,,,,,",  # 17: copies onto itself
        "A17,T9,,,,,,,,,",  # 18: duplicate of line 10
    ]) + "\n")
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
        (15, "end_date", "2027-01-11"),
        (16, "copy_profile", "everything"),
        (17, "target_course_id", "a16"),
        (18, "target_course_id", "T9"),
    ]


def test_messages_name_the_fix(tmp_path: Path) -> None:
    """Messages say what to do: the allowed characters, the known profiles, the limits."""
    path = write(tmp_path, HEADER + "A,T 1,,,,,,,,,nope\nB,T2,,"
                 + "N" * 334 + ",,,,,,,\n")
    messages = [problem.message for problem in problems_of(path)]
    assert "letters, digits, '-', '_' and '.'; remove ' '" in messages[0]
    assert "known profiles are: default, exact, no-discussions" in messages[1]
    assert "at most 333" in messages[2]


def test_duplicate_target_names_the_line_where_it_first_appeared(tmp_path: Path) -> None:
    """A repeated target (compared ignoring case) points back to its first line."""
    path = write(tmp_path, "source_course_id,target_course_id\nA,X-SP27\nB,Y-SP27\n\nC,x-sp27\n")
    (problem,) = problems_of(path)
    assert where([problem]) == [(5, "target_course_id", "x-sp27")]
    assert "line 2 already produces this course" in problem.message


def test_date_alone_is_midnight_in_the_given_timezone_as_utc(tmp_path: Path) -> None:
    """2027-01-11 in Chicago is 06:00 UTC; naive times are local; offsets are kept as given."""
    path = write(tmp_path, "source_course_id,target_course_id,start_date,end_date\n"
                 "A,A1,2027-01-11,2027-07-01\n"
                 "B,B1,2027-01-11T08:30,2027-05-07T23:59:00-04:00\n")
    first, second = load(path).rows
    assert first.start_date == datetime(2027, 1, 11, 6, tzinfo=UTC)
    assert first.end_date == datetime(2027, 7, 1, 5, tzinfo=UTC)  # daylight time: UTC-5
    assert second.start_date == datetime(2027, 1, 11, 14, 30, tzinfo=UTC)
    assert second.end_date == datetime(2027, 5, 8, 3, 59, tzinfo=UTC)
    assert all(row.start_date and row.start_date.tzinfo is UTC for row in (first, second))


def test_local_time_skipped_by_daylight_saving_is_refused(tmp_path: Path) -> None:
    """02:30 on the spring-forward night does not exist in Chicago."""
    path = write(tmp_path, "source_course_id,target_course_id,start_date,end_date\n"
                 "A,A1,2027-03-14T02:30,2027-05-07\n")
    (problem,) = problems_of(path)
    assert where([problem]) == [(2, "start_date", "2027-03-14T02:30")]
    assert "does not exist in America/Chicago" in problem.message


def test_na_null_and_leading_zeros_stay_text(tmp_path: Path) -> None:
    """'NA', 'null' and '0012' are read as the text they are, not NaN or numbers."""
    path = write(tmp_path, "source_course_id,target_course_id,name,external_id,term_id\n"
                 "0012,NA,null,0012,NaN\n")
    row = load(path).rows[0]
    assert (row.source_course_id, row.target_course_id, row.name, row.external_id,
            row.term_id) == ("0012", "NA", "null", "0012", "NaN")


def test_flags_and_availability_accept_their_spellings(tmp_path: Path) -> None:
    """copy_into_existing takes true/false/yes/no/1/0; available is normalised to Learn's case."""
    path = write(tmp_path, "source_course_id,target_course_id,copy_into_existing,available\n"
                 "A,A1,TRUE,YES\nB,B1,No,disabled\nC,C1,1,no\nD,D1,0,Term\n")
    rows = load(path).rows
    assert [(row.copy_into_existing, row.available) for row in rows] == [
        (True, "Yes"), (False, "Disabled"), (True, "No"), (False, "Term")]


def test_non_utf8_file_gets_the_csv_utf8_hint(tmp_path: Path) -> None:
    """Windows-1252 bytes are refused with the line and the Excel 'CSV UTF-8' advice."""
    path = write(tmp_path, b"source_course_id,target_course_id,name\nA,B,Ok\nC,D,"
                 + "Économie\n".encode("cp1252"))
    (problem,) = problems_of(path)
    assert where([problem]) == [(3, None, "C,D,\ufffdconomie")]  # the line, as it can be read
    assert "byte 0xc9 is not utf-8" in problem.message and "CSV UTF-8" in problem.message


def test_unterminated_quote_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    """A quote that never closes is reported where it opens; rows before it are still checked."""
    path = write(tmp_path, "source_course_id,target_course_id,name\n"
                 "A,bad id,x\n"
                 'B,B1,"Biology\n'
                 "C,C1,Chemistry\n")
    problems = problems_of(path)
    assert where(problems) == [(2, "target_course_id", "bad id"), (3, None, 'B,B1,"Biology')]
    assert "closing double quote is missing" in problems[1].message


def test_row_with_too_many_cells_is_reported_on_its_physical_line(tmp_path: Path) -> None:
    """Each row with extra cells is a problem on its physical line; other rows are still checked."""
    path = write(tmp_path, "source_course_id,target_course_id,name\n"
                 'A,A1,"two\nlines"\n'
                 "B,B1,x,extra\n"
                 "C,C 1,x\n"
                 "D,D1,x,y,z\n")
    problems = problems_of(path)
    assert where(problems) == [
        (4, None, "B,B1,x,extra"), (5, "target_course_id", "C 1"), (6, None, "D,D1,x,y,z")]
    assert "has 4 cells but the header has 3" in problems[0].message


def test_header_problems_name_the_column(tmp_path: Path) -> None:
    """Missing required columns and duplicate headers are problems naming the column."""
    path = write(tmp_path, "source_course_id,targt_course_id,Name,name\nA,B,x,y\n")
    problems = problems_of(path)
    assert where(problems) == [(1, "target_course_id", None), (1, "name", "name")]
    assert "did you mean targt_course_id?" in problems[0].message
    assert "appears twice" in problems[1].message


def test_unknown_column_is_a_warning(tmp_path: Path) -> None:
    """An unknown column is reported as a warning on line 1 and the rows still load."""
    path = write(tmp_path, "source_course_id,target_course_id,instructor,nmae\nA,B,Smith,x\n")
    manifest = load(path)
    assert len(manifest.rows) == 1
    assert where(list(manifest.warnings)) == [(1, "instructor", "instructor"), (1, "nmae", "nmae")]
    assert "did you mean name?" in manifest.warnings[1].message


@pytest.mark.parametrize(("content", "expected"), [
    ("", "the file is empty"),
    ("\n\n  \n", "the file is empty"),
    (HEADER, "no course rows"),
    (HEADER + "\n,,,\n", "no course rows"),
])
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
    """sample_manifests/fall2026.csv has every column and no problems."""
    manifest = load(SAMPLE)
    assert SAMPLE.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert len(manifest.rows) >= 20 and manifest.warnings == ()
    assert sum(row.copy_into_existing for row in manifest.rows) >= 3
    assert "no-discussions" in {row.copy_profile for row in manifest.rows}


# Cells that stress the tokenizer: quotes, commas and line breaks in every arrangement.
_TRICKY = st.text(alphabet='",\r\n ab\t', max_size=40)
_HEADERED = st.builds(lambda body: (HEADER + body).encode(), _TRICKY)
# tmp_path is shared by the examples; each one overwrites the same file, which is what we want.
_FIXTURE_OK = [HealthCheck.function_scoped_fixture]


@settings(max_examples=300, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(content=st.one_of(st.binary(max_size=200), _HEADERED,
                         st.text(max_size=200).map(lambda text: text.encode())))
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
_FREE = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"),
                              include_characters="\t\n"), max_size=30).map(str.strip)
_MOMENT = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1),
                       timezones=st.just(UTC))


@st.composite
def _valid_rows(draw: st.DrawFn) -> list[dict[str, str]]:
    """Rows that the contract accepts, as the cell text a CSV writer would be given."""
    targets = draw(st.lists(_ID, min_size=1, max_size=6, unique_by=str.lower))
    rows = []
    for target in targets:
        dates = draw(st.none() | st.lists(_MOMENT, min_size=2, max_size=2, unique=True))
        start, end = (moment.isoformat() for moment in sorted(dates)) if dates else ("", "")
        rows.append({
            "source_course_id": "SRC" + draw(_ID).replace("-", ","),
            "target_course_id": target,
            "copy_into_existing": draw(st.sampled_from(["", "true", "false"])),
            "name": draw(_FREE),
            "description": draw(_FREE),
            "external_id": draw(_FREE),
            "term_id": draw(_FREE),
            "available": draw(st.sampled_from(["", "Yes", "No", "Disabled", "Term"])),
            "start_date": start,
            "end_date": end,
            "copy_profile": draw(st.sampled_from(["", "default", "no-discussions"])),
        })
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
        assert got.copy_into_existing == (want["copy_into_existing"] == "true")
        for column in ("name", "description", "external_id", "term_id", "available",
                       "copy_profile"):
            assert getattr(got, column) == (want[column] or None)
        for column in ("start_date", "end_date"):
            moment = getattr(got, column)
            assert (moment.isoformat() if moment else "") == want[column]
