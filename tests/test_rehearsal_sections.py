"""`run --sandbox` rehearses merged sections: the simulated Learn is seeded with every section
the manifest names (by courseId or externalId), so the sample manifest of merged sets runs end
to end, each section attached once to its parent after the parent's copy."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path

from cli_runs import FAST, invoke, sandbox_config

from rollover.sandbox import LearnSandbox

SAMPLE = Path(__file__).parent.parent / "sample_manifests" / "merged_sections.csv"
# The sample's parents and their sections, as courseIds (externalId:X names X's course here).
SETS = {
    "BIO-101-XL-SP27": ["BIO-101-001-SP27", "BIO-101-002-SP27", "BIO-101-003-SP27"],
    "CHEM-111-XL-SP27": ["CHEM-111-001-SP27", "CHEM-111-002-SP27"],
    "HIST-210-XL-SP27": ["HIST-210-001-SP27", "HIST-210-002-SP27"],
}


def test_the_merged_sample_rehearses_with_every_section_attached_once(tmp_path: Path) -> None:
    """`rollover run sample_manifests/merged_sections.csv --sandbox` ends with every row done,
    every section attached once (after its parent's copy, enrolment errors ignored), the
    results counting them and `status` summing them up."""
    manifest = tmp_path / SAMPLE.name
    shutil.copy(SAMPLE, manifest)
    config = sandbox_config(tmp_path)
    args: list[str | Path] = [
        "--sandbox",
        "--sandbox-config",
        config,
        "--timezone",
        "America/Chicago",
        *FAST,
    ]
    result = invoke("run", manifest, "--preflight", *args)
    assert result.exit_code == 0, result.output
    assert "Problems: none" in result.stdout and "Warnings" not in result.stdout
    with (tmp_path / "merged_sections.sandbox.results.csv").open(
        newline="", encoding="utf-8-sig"
    ) as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["target_course_id"], r["status"], r["children"]) for r in rows] == [
        ("BIO-101-XL-SP27", "done", "3 of 3"),
        ("CHEM-111-XL-SP27", "done", "2 of 2"),
        ("HIST-210-XL-SP27", "done", "2 of 2"),
    ]
    learn = LearnSandbox.load(tmp_path / "merged_sections.sandbox.json")
    for parent, sections in SETS.items():
        attached = learn.children_of(f"courseId:{parent}")
        assert sorted(course.course_id for course in attached) == sections, parent
    log = learn.attach_log()
    assert Counter(event.child_course_id for event in log) == Counter(
        section for sections in SETS.values() for section in sections
    )
    assert all(event.copy_complete and event.ignore_enrollment_errors for event in log), log
    status = invoke("status", manifest, "--sandbox")
    assert "Sections: 7 of 7 attached" in status.stdout.splitlines()
    again = invoke("run", manifest, *args)
    assert again.exit_code == 0, again.output
    assert len(LearnSandbox.load(tmp_path / "merged_sections.sandbox.json").attach_log()) == 7


def test_validate_and_run_say_how_many_sections_they_attach(tmp_path: Path) -> None:
    """`validate` counts the sections to attach beside the instructors to enrol; `run`'s plan
    says how many its rows attach; a done row given one more section is taken up again and
    said to attach it, with the cell's change."""
    manifest = tmp_path / SAMPLE.name
    shutil.copy(SAMPLE, manifest)
    zone = ("--timezone", "America/Chicago")
    checked = invoke("validate", manifest, *zone)
    assert checked.exit_code == 0, checked.output
    lines = checked.stdout.splitlines()
    at = lines.index("  instructors to enrol:        4")
    assert lines[at + 1] == "  sections to attach:          7"
    args: list[str | Path] = [
        "--sandbox",
        "--sandbox-config",
        sandbox_config(tmp_path),
        *zone,
        *FAST,
    ]
    first = invoke("run", manifest, *args)
    assert first.exit_code == 0, first.output
    assert "Plan: 3 of 3 rows to copy, attaching 7 sections; about " in first.stdout
    text = manifest.read_text(encoding="utf-8")
    grown = "CHEM-111-001-SP27;CHEM-111-002-SP27"
    manifest.write_text(text.replace(grown, f"{grown};CHEM-111-003-SP27"), encoding="utf-8")
    again = invoke("run", manifest, *args)
    assert again.exit_code == 0, again.output
    lines = again.stdout.splitlines()
    at = lines.index("Changed since they were done: 1 row, taken up again (never copied again):")
    assert lines[at + 1] == (
        "  line 3 CHEM-111-XL-SP27 (done): attaches 1 section: child_course_ids "
        "CHEM-111-001-SP27; CHEM-111-002-SP27 -> CHEM-111-001-SP27; CHEM-111-002-SP27; "
        "CHEM-111-003-SP27"
    )
