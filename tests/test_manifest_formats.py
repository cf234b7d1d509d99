"""Manifests as people really save them: `;` or tab delimiters, and Windows encodings."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from rollover.cli import cli
from rollover.errors import ManifestInvalid
from rollover.manifest import load_manifest
from rollover.plan import PROFILES

UTC = ZoneInfo("UTC")


def write_bytes(tmp_path: Path, data: bytes) -> Path:
    """A manifest file holding exactly `data`."""
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    return path


def refusal(path: Path, **options: str) -> ManifestInvalid:
    """The ManifestInvalid `load_manifest` raises for this file."""
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(path, timezone=ZoneInfo("UTC"), profiles=PROFILES, **options)
    return caught.value


def messages(path: Path, **options: str) -> list[str]:
    """The problems `load_manifest` reports, as their one-line texts."""
    return [str(problem) for problem in refusal(path, **options).problems]


def test_a_semicolon_file_names_the_delimiter_to_pass(tmp_path: Path) -> None:
    """European Excel's ';' file read as ',' is one problem naming --delimiter ';'."""
    path = write_bytes(
        tmp_path, b"source_course_id;target_course_id;name\nBIO-101-FA26;BIO-101-SP27;Biology\n"
    )
    assert messages(path) == [
        "line 1: this file uses ';' as its delimiter, not ',': pass --delimiter ';' (or in "
        "Excel save it as 'CSV UTF-8 (Comma delimited)') (value 'source_course_id;"
        "target_course_id;name')"
    ]
    rows = load_manifest(path, timezone=ZoneInfo("UTC"), delimiter=";", profiles=PROFILES).rows
    assert [(r.source_course_id, r.target_course_id, r.name) for r in rows] == [
        ("BIO-101-FA26", "BIO-101-SP27", "Biology")
    ]


@pytest.mark.parametrize(
    ("data", "option"),
    [
        (b"source_course_id;target_course_id;name\nBIO-101-FA26;BIO-101-SP27;Biology\n", "';'"),
        (b"source_course_id\ttarget_course_id\tname\nBIO-101-FA26\tBIO-101-SP27\tBiology\n", "tab"),
        # Header names as people write them are recognised in the other delimiter too.
        (b"Source Course ID;Target-Course-ID\nBIO-101-FA26;BIO-101-SP27\n", "';'"),
    ],
)
def test_the_hint_for_another_delimiter_is_the_command_to_run(
    tmp_path: Path, data: bytes, option: str
) -> None:
    """A ';' or tab file's one next step, on ManifestInvalid and the CLI's Hint: line, is to run
    the same command again with --delimiter."""
    path = write_bytes(tmp_path, data)
    hint = f"run the same command again with --delimiter {option}"
    assert refusal(path).hint == hint
    result = CliRunner().invoke(cli, ["validate", str(path), "--timezone", "UTC"])
    assert result.exit_code == 2, result.output
    assert result.output.split("\n")[-2:] == [f"Hint: {hint}", ""]


def test_a_tab_file_is_read_with_delimiter_tab(tmp_path: Path) -> None:
    """A tab-separated export is recognised and read with `--delimiter tab`."""
    path = write_bytes(
        tmp_path,
        b"source_course_id\ttarget_course_id\tname\nBIO-101-FA26\tBIO-101-SP27\tBiology, Spring\n",
    )
    assert messages(path) == [
        "line 1: this file uses tabs as its delimiter, not ',': pass --delimiter tab (or in Excel "
        "save it as 'CSV UTF-8 (Comma delimited)') (value 'source_course_id\\ttarget_course_id"
        "\\tname')"
    ]
    result = CliRunner().invoke(cli, ["validate", str(path), "--delimiter", "tab"])
    assert result.exit_code == 0, result.output
    assert "valid, 1 course" in result.stdout


def test_a_windows_encoded_file_names_the_encoding_to_pass(tmp_path: Path) -> None:
    """A cp1252 file read as UTF-8 names the byte and --encoding cp1252; with it, it reads."""
    path = write_bytes(
        tmp_path, b"source_course_id,target_course_id,name\nBIO-101-FA26,BIO-101-SP27,Biolog\xeda\n"
    )
    assert messages(path) == [
        "line 2: the file is not utf-8 text (byte 0xed is not utf-8): in Excel use File > Save "
        "As > 'CSV UTF-8 (Comma delimited)', or pass --encoding cp1252 if Excel saved it as "
        "plain 'CSV' (value 'BIO-101-FA26,BIO-101-SP27,Biolog\ufffda')"
    ]
    rows = load_manifest(path, timezone=ZoneInfo("UTC"), encoding="cp1252", profiles=PROFILES).rows
    assert rows[0].name == "Biología"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--encoding", "klingon", "'klingon' is not a text encoding Python knows"),
        ("--delimiter", ";;", "';;' must be a single character"),
        ("--delimiter", '"', "must be a single character"),
    ],
)
def test_bad_format_options_are_usage_errors(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    """An unknown encoding or an impossible delimiter is refused before the file is read."""
    path = write_bytes(tmp_path, b"source_course_id,target_course_id\nA,B\n")
    result = CliRunner().invoke(cli, ["validate", str(path), option, value])
    assert result.exit_code == 2
    assert message in result.output


def test_a_header_wider_than_any_spreadsheet_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """Millions of cells on the first line are not a manifest: one problem, named at once."""
    path = write_bytes(tmp_path, b"a," * 2_000_000 + b"\n")
    assert messages(path) == [
        "line 1: the header has 2000001 columns, more than any spreadsheet: is this the "
        "manifest? the first line must be the header (source_course_id, target_course_id, "
        "copy_into_existing, name, description, external_id, term_id, available, start_date, "
        "end_date, copy_profile, instructors, child_course_ids, shift_dates)"
    ]
