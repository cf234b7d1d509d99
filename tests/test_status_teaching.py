"""What a registrar reads the next morning about instructors and verification."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from cli_runs import invoke, sandbox_run, write

MANIFEST = (
    "source_course_id,target_course_id,instructors\n"
    "BIO-101-FA26,BIO-101-001-SP27,userName:jdoe;userName:asmith=TeachingAssistant\n"
    "BIO-101-FA26,BIO-101-002-SP27,userName:jdoe;_999_1\n"
)


def test_status_results_and_trail_show_enrolments_and_counts(tmp_path: Path) -> None:
    """A verified rehearsal with one unknown instructor: the row fails naming the user after
    its course was copied; results read `enrolled` 2/2 and 1/2 and the counts; `status` sums
    up instructors and verification; `status --row` lists each enrolment."""
    manifest = write(tmp_path / "spring.csv", MANIFEST)
    result = sandbox_run(tmp_path, manifest, "--verify")
    assert result.exit_code == 1, result.output
    with (tmp_path / "spring.sandbox.results.csv").open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["status"], r["enrolled"]) for r in rows] == [
        ("done", "2 of 2"),
        ("failed", "1 of 2"),
    ]
    assert re.fullmatch(r"contents (\d+)/\1; columns (\d+)/\2", rows[0]["verification"])
    assert rows[1]["course_pk"] and "_999_1 as Instructor (404" in rows[1]["error"]
    status = invoke("status", manifest, "--sandbox").stdout
    assert "Instructors: 3 of 4 enrolled" in status
    assert "Verified: 1 row counted against their source" in status
    assert "only the enrolments are retried" in status
    trail = invoke("status", manifest, "--sandbox", "--row", "3").stdout
    assert "Instructors: 1 of 2 enrolled" in trail
    assert "  userName:jdoe as Instructor: done (" in trail
    assert "  _999_1 as Instructor: failed (" in trail
