"""A server set to UTC cannot shift a registrar's dates: local dates need a named zone."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rollover.cli import cli

LOCAL_DATES = """\
source_course_id,target_course_id,name,start_date,end_date
HIS-101-FA26,HIS-101-SP27,Historia de España,2027-01-18,2027-05-07
"""
OFFSET_DATES = """\
source_course_id,target_course_id,start_date,end_date
HIS-101-FA26,HIS-101-SP27,2027-01-18T00:00:00-06:00,2027-05-07T23:59:59-05:00
"""


def validate(manifest: Path, *args: str) -> tuple[int, str]:
    """`rollover validate MANIFEST ARGS` in-process: (exit code, everything printed)."""
    result = CliRunner().invoke(cli, ["validate", str(manifest), *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("machine", ["UTC", "Etc/UTC", ":/usr/share/zoneinfo/Etc/UTC"])
def test_local_dates_on_a_utc_machine_are_refused_until_a_zone_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, machine: str
) -> None:
    """`validate` and `run` refuse (exit 2, line, column and value, the fix) local dates on a
    machine in UTC; a course would otherwise start six hours early in Chicago."""
    monkeypatch.setenv("TZ", machine)
    manifest = tmp_path / "spring.csv"
    manifest.write_text(LOCAL_DATES, encoding="utf-8")
    code, output = validate(manifest)
    assert code == 2, output
    assert "line 2, start_date '2027-01-18' has no UTC offset" in output
    assert "--timezone America/Chicago" in output and "--timezone UTC" in output
    run = CliRunner().invoke(cli, ["run", str(manifest), "--sandbox"])
    assert run.exit_code == 2, run.output
    assert "has no UTC offset" in run.output
    assert not list(tmp_path.glob("*.ledger.sqlite"))


@pytest.mark.parametrize("zone", ["America/Chicago", "UTC"])
def test_a_named_zone_is_taken_as_given_even_utc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zone: str
) -> None:
    """`--timezone` (UTC included) names the zone: the dates are read in it and the plan says so."""
    monkeypatch.setenv("TZ", "UTC")
    manifest = tmp_path / "spring.csv"
    manifest.write_text(LOCAL_DATES, encoding="utf-8")
    code, output = validate(manifest, "--timezone", zone)
    assert code == 0, output
    assert f"Time zone: {zone}" in output


def test_the_config_files_zone_names_it_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`timezone` in rollover.toml beside the manifest is a named zone: no refusal."""
    monkeypatch.setenv("TZ", "Etc/UTC")
    manifest = tmp_path / "spring.csv"
    manifest.write_text(LOCAL_DATES, encoding="utf-8")
    (tmp_path / "rollover.toml").write_text('timezone = "America/Chicago"\n', encoding="utf-8")
    code, output = validate(manifest)
    assert code == 0, output
    assert "Time zone: America/Chicago" in output


def test_dates_with_offsets_need_no_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dates that carry their UTC offset mean the same in any zone: a UTC machine takes them."""
    monkeypatch.setenv("TZ", "UTC")
    manifest = tmp_path / "spring.csv"
    manifest.write_text(OFFSET_DATES, encoding="utf-8")
    code, output = validate(manifest)
    assert code == 0, output


def test_a_machine_with_a_local_zone_reads_local_dates_in_it(tmp_path: Path) -> None:
    """On a machine set to a registrar's zone, local dates are read in it without a word."""
    manifest = tmp_path / "spring.csv"
    manifest.write_text(LOCAL_DATES, encoding="utf-8")
    code, output = validate(manifest)  # conftest: TZ=America/Chicago
    assert code == 0, output
    assert "Time zone: America/Chicago" in output
