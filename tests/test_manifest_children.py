"""The `child_course_ids` column (merged sections): how a cell reads, which headers mean it, and
how children are compared across rows. The corpus (test_manifest_corpus.py, `children_*.csv`)
pins the exact words of each mistake; these pin the rules behind them."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from harness import row as harness_row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollover.errors import ManifestInvalid, Problem
from rollover.manifest import Manifest, load_manifest
from rollover.plan import PROFILES

HEADER = "source_course_id,target_course_id,child_course_ids\n"
_FIXTURE_OK = [HealthCheck.function_scoped_fixture]


def write(tmp_path: Path, content: str) -> Path:
    """Write a UTF-8 manifest under tmp_path and return its path."""
    path = tmp_path / "manifest.csv"
    path.write_text(content, encoding="utf-8")
    return path


def load(path: Path) -> Manifest:
    """Load in UTC with the shipped profiles."""
    return load_manifest(path, timezone=ZoneInfo("UTC"), profiles=PROFILES)


def problems_of(path: Path) -> list[Problem]:
    """The problems ManifestInvalid carries for this file."""
    with pytest.raises(ManifestInvalid) as caught:
        load(path)
    return caught.value.problems


@pytest.mark.parametrize(
    ("cell", "children"),
    [
        ("BIO-101-001-SP27", ("BIO-101-001-SP27",)),
        (" a.1 ; b_2 ;", ("a.1", "b_2")),
        ("EXTERNALID: SIS 101, sec 2 ", ("externalId:SIS 101, sec 2",)),
        ("_12_1;BIO-1", ("_12_1", "BIO-1")),
    ],
)
def test_a_child_course_ids_cell_reads_as_children_in_its_order(
    tmp_path: Path, cell: str, children: tuple[str, ...]
) -> None:
    """courseIds as written, externalId: in Learn's spelling (its id may hold spaces and
    commas), primary ids as they are, blanks around ';' and a trailing ';' dropped."""
    path = write(tmp_path, f'{HEADER}SRC,PARENT,"{cell}"\n')
    assert load(path).rows[0].children == children


def test_a_blank_or_missing_child_course_ids_cell_attaches_nothing(tmp_path: Path) -> None:
    """No column, or a blank cell, is no children; ManifestRow defaults to none."""
    assert load(write(tmp_path, "source_course_id,target_course_id\nA,B\n")).rows[0].children == ()
    assert load(write(tmp_path, HEADER + "A,B,\n")).rows[0].children == ()
    row = harness_row(2, "A", "B")  # by keyword, as callers that predate the column do
    assert row.children == ()


@pytest.mark.parametrize(
    "header", ["child_course_id", "children", "Children", "child_ids", "child_sections"]
)
def test_a_header_meant_for_child_course_ids_is_refused_naming_it(
    tmp_path: Path, header: str
) -> None:
    """Close misses and the plain word people write are refused (their cells would be
    ignored and no section merged), naming child_course_ids."""
    path = write(tmp_path, f"source_course_id,target_course_id,{header}\nA,B,C\n")
    (problem,) = problems_of(path)
    assert (problem.line, problem.column, problem.value) == (1, header, header)
    assert problem.message == (
        "unknown column, close to child_course_ids: rename it child_course_ids (as it is, its "
        "cells would be ignored)"
    )


@pytest.mark.parametrize("header", ["Child Course IDs", "child-course-ids", " CHILD_COURSE_IDS "])
def test_the_child_course_ids_header_matches_as_other_headers_do(
    tmp_path: Path, header: str
) -> None:
    """Case, spaces and hyphens between words are ignored, as for every column."""
    path = write(tmp_path, f"source_course_id,target_course_id,{header}\nA,B,C\n")
    assert load(path).rows[0].children == ("C",)


def test_children_beside_child_course_ids_is_only_a_warning(tmp_path: Path) -> None:
    """With the real column present, a `children` column is an unknown column like any other."""
    path = write(tmp_path, "source_course_id,target_course_id,child_course_ids,children\nA,B,C,D\n")
    manifest = load(path)
    assert manifest.rows[0].children == ("C",)
    assert [str(warning) for warning in manifest.warnings] == [
        "line 1, column children: unknown column: its cells are ignored (value 'children')"
    ]


def test_externalid_and_primary_id_children_are_compared_only_as_written(tmp_path: Path) -> None:
    """externalId:X is not taken for courseId X (which course it names only Learn knows), nor
    for externalId:x; a primary id equal to a source as written is that source."""
    accepted = write(
        tmp_path,
        HEADER + "A,P1,externalId:P2;externalId:X\nB,P2,externalId:x;_7_1\n",
    )
    assert [row.children for row in load(accepted).rows] == [
        ("externalId:P2", "externalId:X"),
        ("externalId:x", "_7_1"),
    ]
    refused = write(tmp_path, HEADER + "_7_1,P1,\nB,P2,_7_1\n")
    assert [(p.line, p.column, p.value) for p in problems_of(refused)] == [
        (3, "child_course_ids", "_7_1")
    ]


def test_a_bad_child_cell_is_checked_on_its_own_not_across_rows(tmp_path: Path) -> None:
    """A cell refused for its form says only that: its other entries are not compared with
    other rows (the fixed cell is checked again on the next run)."""
    path = write(tmp_path, HEADER + "A,P1,C1\nB,P2,C1;;C2\n")
    assert [problem.message for problem in problems_of(path)] == [
        "empty entry after C1: remove the extra ';' (one ';' between courses)"
    ]


def test_child_problems_read_after_the_other_columns_of_their_line(tmp_path: Path) -> None:
    """child_course_ids is the last column: its problems follow the line's others."""
    path = write(
        tmp_path,
        "child_course_ids,source_course_id,target_course_id,name\nC 1,A,B,\x00\n",
    )
    assert [(p.line, p.column) for p in problems_of(path)] == [
        (2, "name"),
        (2, "child_course_ids"),
    ]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (
            "C" * 101,
            f"{'C' * 40}... is 101 characters long; a courseId is at most 100: check the id",
        ),
        (
            "externalId:" + "E" * 257,
            f"the externalId in externalId:{'E' * 29}... is 257 characters long; Learn allows at "
            "most 256: check the id",
        ),
        (
            "C1;\x1b[31mC2",
            "contains the control character '\\x1b': remove it (it is invisible in Excel; "
            "retyping the cell removes it)",
        ),
        (
            "C1;C2\nC3",
            "C2\nC3 holds more than one course id: separate courses with ';' (C2;C3)",
        ),
    ],
)
def test_a_child_too_long_or_holding_a_control_character_is_refused(
    tmp_path: Path, cell: str, message: str
) -> None:
    """Learn's lengths (100 for a courseId, 256 for an externalId), control characters and a
    line break (Alt+Enter) between two courses are named with the fix."""
    path = write(tmp_path, f'{HEADER}A,B,"{cell}"\n')
    (problem,) = problems_of(path)
    assert (problem.line, problem.column, problem.value, problem.message) == (
        2,
        "child_course_ids",
        cell,
        message,
    )


_COURSE_ID = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.",
    min_size=1,
    max_size=20,
).filter(lambda text: text.lower() not in {"source.x", "target.x"})  # the row's own courses
_CHILD = st.one_of(
    _COURSE_ID,
    _COURSE_ID.map(lambda text: f"externalId:{text}"),
    st.tuples(st.integers(1, 10**6), st.integers(1, 9)).map(lambda pk: f"_{pk[0]}_{pk[1]}"),
)


@settings(max_examples=100, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(
    children=st.lists(_CHILD, min_size=1, max_size=6, unique_by=lambda child: child.lower()),
    gaps=st.lists(st.sampled_from(["", " ", "  "]), min_size=14, max_size=14),
    trailing=st.booleans(),
)
def test_any_valid_children_cell_reads_back_as_its_children(
    tmp_path: Path, children: list[str], gaps: list[str], trailing: bool
) -> None:
    """Distinct children in any valid form, with blanks around ';' and an optional trailing
    ';', read back exactly, in order."""
    cell = ";".join(f"{gaps[2 * n]}{child}{gaps[2 * n + 1]}" for n, child in enumerate(children))
    path = write(tmp_path, f"{HEADER}SOURCE.X,TARGET.X,{cell}{';' if trailing else ''}\n")
    assert load(path).rows[0].children == tuple(children)


def test_the_merged_sections_sample_loads_with_its_children() -> None:
    """sample_manifests/merged_sections.csv is valid: each parent lists two or three sections,
    one of them by externalId."""
    sample = Path(__file__).resolve().parent.parent / "sample_manifests" / "merged_sections.csv"
    manifest = load(sample)
    assert manifest.warnings == ()
    assert [len(row.children) for row in manifest.rows] == [3, 2, 2]
    assert manifest.rows[2].children == ("HIST-210-001-SP27", "externalId:HIST-210-002-SP27")
    assert manifest.rows[2].copy_into_existing
