"""Results CSV and off-peak windows: small pure pieces."""

from __future__ import annotations

import codecs
import csv
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from rollover.engine import Window
from rollover.errors import UsageError
from rollover.ledger import AttachmentState, EnrolmentState, ErrorKind, Ledger
from rollover.manifest import Enrolment
from rollover.plan import RowSpec
from rollover.report import COLUMNS, EXTRA_COLUMNS, write_results


def test_results_columns_order_and_formula_neutralised(tmp_path: Path) -> None:
    """Contract columns come first in order; a cell Excel would evaluate is neutralised."""
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.sync_manifest([RowSpec("A-SP27", 2, '=HYPERLINK("x")', False)])
        ledger.record_intent("A-SP27")
        ledger.record_failed("A-SP27", ErrorKind.COPY_REFUSED, "-bad")
        write_results(ledger.rows(), tmp_path / "r.csv")
    with (tmp_path / "r.csv").open(newline="", encoding="utf-8-sig") as handle:
        records = list(csv.reader(handle))
    assert tuple(records[0][: len(COLUMNS)]) == COLUMNS
    record = dict(zip(records[0], records[1], strict=True))
    assert record["source_course_id"] == '\'=HYPERLINK("x")'
    assert record["error"] == "'-bad"
    assert record["status"] == "failed" and record["attempts"] == "1"
    assert record["requested_at"].endswith("Z")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.csv")] == []


def test_results_are_never_written_into_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    """The results CSV is not written into a folder that does not exist, and none is created:
    a typo in a path never becomes a new folder."""
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.sync_manifest([RowSpec("A-SP27", 2, "A-FA26", False)])
        rows = ledger.rows()
    with pytest.raises(FileNotFoundError):
        write_results(rows, tmp_path / "missing" / "r.csv")
    assert not (tmp_path / "missing").exists()


def test_results_extra_columns_follow_the_contract_and_end_with_stage(tmp_path: Path) -> None:
    """After the ten: name and term_id as the manifest gave them, course_url, enrolled and
    verification (blank while unknown), then the tool's own `stage`."""
    assert EXTRA_COLUMNS == (
        "name",
        "term_id",
        "course_url",
        "enrolled",
        "verification",
        "children",
        "dates_shifted",
        "stage",
    )
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.sync_manifest(
            [
                RowSpec(
                    "A-SP27",
                    2,
                    "A-FA26",
                    False,
                    {"name": "Biology 101", "termId": "externalId:SP27"},
                ),
                RowSpec("B-SP27", 3, "B-FA26", False, {"name": "=1+1", "termId": "_12_1"}),
                RowSpec("C-SP27", 4, "C-FA26", True),
            ]
        )
        ledger.record_intent("A-SP27")
        write_results(ledger.rows(), tmp_path / "r.csv")
    with (tmp_path / "r.csv").open(newline="", encoding="utf-8-sig") as handle:
        records = list(csv.reader(handle))
    assert tuple(records[0]) == COLUMNS + EXTRA_COLUMNS
    extras = [dict(zip(records[0], record, strict=True)) for record in records[1:]]
    assert [{name: r[name] for name in EXTRA_COLUMNS} for r in extras] == [
        {
            "name": "Biology 101",
            "term_id": "SP27",
            "course_url": "",
            "enrolled": "",
            "verification": "",
            "children": "",
            "dates_shifted": "",
            "stage": "intent",
        },
        {
            "name": "'=1+1",
            "term_id": "_12_1",
            "course_url": "",
            "enrolled": "",
            "verification": "",
            "children": "",
            "dates_shifted": "",
            "stage": "pending",
        },
        {
            "name": "",
            "term_id": "",
            "course_url": "",
            "enrolled": "",
            "verification": "",
            "children": "",
            "dates_shifted": "",
            "stage": "pending",
        },
    ]


@pytest.mark.parametrize(
    ("window", "hour", "inside"),
    [
        ("22:00-06:00", 23, True),
        ("22:00-06:00", 3, True),
        ("22:00-06:00", 6, False),
        ("22:00-06:00", 12, False),
        ("09:00-17:00", 9, True),
        ("09:00-17:00", 17, False),
    ],
)
def test_window_contains_local_time(window: str, hour: int, inside: bool) -> None:
    """Windows are local time, start inclusive, end exclusive, and may cross midnight."""
    tz = ZoneInfo("America/Chicago")
    moment = datetime(2027, 1, 15, hour, 0, tzinfo=tz).astimezone(UTC)
    assert Window.parse(window, tz).contains(moment) is inside


@pytest.mark.parametrize("text", ["22-06", "25:00-06:00", "10:00-10:00", ""])
def test_bad_window_is_a_usage_error(text: str) -> None:
    """A malformed --window names itself and the expected form."""
    with pytest.raises(UsageError, match="--window"):
        Window.parse(text, ZoneInfo("UTC"))


def test_results_open_in_excel_with_accents_and_counts_intact(tmp_path: Path) -> None:
    """The results start with a byte-order mark (Excel reads UTF-8 only then: `España`, not
    `EspaÃ±a`) and count enrolments as `1 of 2`, which Excel cannot turn into a date."""
    teachers = (Enrolment("userName:ana", "Instructor"), Enrolment("userName:ben", "Instructor"))
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.sync_manifest(
            [
                RowSpec(
                    "HIS-SP27",
                    2,
                    "HIS-FA26",
                    False,
                    {"name": "Historia de España"},
                    instructors=teachers,
                )
            ]
        )
        ledger.record_enrolment("HIS-SP27", "userName:ana", EnrolmentState.DONE)
        write_results(ledger.rows(), tmp_path / "r.csv")
    raw = (tmp_path / "r.csv").read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    assert "Historia de España".encode() in raw
    with (tmp_path / "r.csv").open(newline="", encoding="utf-8-sig") as handle:
        (record,) = list(csv.DictReader(handle))
    assert record["line"] == "2"
    assert record["enrolled"] == "1 of 2"


def test_results_count_attached_sections_in_words_excel_keeps(tmp_path: Path) -> None:
    """`children` is `attached of asked` (`1 of 3`, never `1/3`, which Excel reads as a date),
    counting only the sections the manifest lists; blank for a row without any."""
    sections = ("BIO-101-001", "externalId:BIO-101-002", "_41_1")
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.sync_manifest(
            [
                RowSpec("BIO-XL-SP27", 2, "BIO-FA26", False, children=sections),
                RowSpec("CHEM-SP27", 3, "CHEM-FA26", False),
            ]
        )
        ledger.record_attachment(
            "BIO-XL-SP27", "BIO-101-001", AttachmentState.ATTACHED, child_pk="_40_1"
        )
        ledger.record_attachment("BIO-XL-SP27", "_41_1", AttachmentState.SENDING)
        write_results(ledger.rows(), tmp_path / "r.csv")
    raw = (tmp_path / "r.csv").read_bytes()
    header, merged, alone = raw.removeprefix(codecs.BOM_UTF8).split(b"\r\n")[:3]
    children = header.split(b",").index(b"children")
    assert merged.split(b",")[children] == b"1 of 3"
    assert alone.split(b",")[children] == b""
