"""Every word in the registrar's language: advice prints the command the person can paste, and
the HTML report says what happened in plain words, with course names and instructors."""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime
from pathlib import Path

import html5lib
import pytest
from cli_runs import FAST, invoke, sandbox_config, write
from harness import row
from test_status import trouble_row

from rollover.cli import Invocation, next_step
from rollover.ledger import ErrorKind, State
from rollover.plan import PATCH_COLUMNS, patch_body, patch_columns

SHELL_ROW = (
    "source_course_id,target_course_id,copy_into_existing,name,instructors\n"
    "HIST-210-FA26,HIST-210-001-SP27,true,Historia de España,"
    "userName:tnguyen=TeachingAssistant;userName:jdoe\n"
)
# Line 2, a copy into a shell that may or may not have been applied.
REVIEW = trouble_row(
    State.NEEDS_REVIEW, ErrorKind.COPY_MAYBE_APPLIED, "its answer was lost", into=True
)


@pytest.mark.parametrize(
    ("invocation", "command"),
    [
        (Invocation("spring.csv"), "rollover resolve spring.csv 2 --copied"),
        (
            Invocation("Spring 2027/final.csv", sandbox=True),
            "rollover resolve 'Spring 2027/final.csv' 2 --copied --sandbox",
        ),
        (
            Invocation(None, ledger="/srv/rollover/spring.ledger.sqlite"),
            "rollover resolve MANIFEST 2 --copied --ledger /srv/rollover/spring.ledger.sqlite",
        ),
    ],
)
def test_advice_names_the_manifest_the_ledger_and_the_rehearsal_as_given(
    invocation: Invocation, command: str
) -> None:
    """The resolve command in advice is the person's own: their manifest (quoted for a shell
    when it holds a space), their --ledger, --sandbox in a rehearsal."""
    assert f"run `{command}`;" in (next_step(REVIEW, invocation) or "")


def test_every_error_kind_has_plain_words() -> None:
    """Each ErrorKind reads as words a dean's office knows: no code, no underscore, distinct."""
    words = [kind.words for kind in ErrorKind]
    assert len(set(words)) == len(words)
    for kind in ErrorKind:
        assert "_" not in kind.words and kind.value not in kind.words


def _text(element: object) -> str:
    return " ".join("".join(element.itertext()).split())  # type: ignore[attr-defined]


def test_a_rehearsal_s_advice_and_report_speak_plainly_and_paste(tmp_path: Path) -> None:
    """A rehearsal whose copy into a shell lost its answer: `run` and its HTML report advise the
    real `rollover resolve` command (manifest as given, --sandbox), which works when pasted; the
    report names the trouble in words (never its code), with the course name and instructors."""
    manifest = write(tmp_path / "spring 2027.csv", SHELL_ROW)
    night = tmp_path / "night.html"
    config = sandbox_config(tmp_path, "drop_copy_response_rate = 1.0\n")
    ran = invoke(
        "run", manifest, "--sandbox", "--sandbox-config", config, *FAST, "-q", "--html", night
    )
    assert ran.exit_code == 1, ran.output
    command = f"rollover resolve {shlex.quote(str(manifest))} 2 --copied --sandbox"
    assert f"`{command}`" in ran.stdout

    html = night.read_text(encoding="utf-8")
    tree = html5lib.parse(html, namespaceHTMLElements=False)
    shown = _text(tree)
    assert "What to do: open HIST-210-001-SP27 in Learn" in shown
    assert command in shown
    assert ErrorKind.COPY_MAYBE_APPLIED.words in shown
    assert not [kind.value for kind in ErrorKind if kind.value in shown]
    assert "API calls" not in shown and "slots" not in shown
    assert "Requests to Learn" in shown and "Learn's copy workers busy" in shown
    [person] = list(tree.iter("article"))
    assert "HIST-210-001-SP27 Historia de España" in _text(person)
    assert "Instructors: tnguyen (TeachingAssistant), jdoe" in _text(person)
    [table] = [t for t in tree.iter("table") if t.get("class") == "rows"]
    row = next(tr for tr in table.iter("tr") if "HIST-210-001-SP27" in _text(tr))
    cells = [_text(td) for td in row.iter("td")]
    assert cells[1:5] == [
        "HIST-210-001-SP27",
        "Historia de España",
        "tnguyen (TeachingAssistant), jdoe",
        "HIST-210-FA26",
    ]

    again = tmp_path / "again.html"
    reported = invoke("report", manifest, "--sandbox", "--html", again)
    assert reported.exit_code == 0, reported.output
    assert command in _text(html5lib.parse(again.read_text(encoding="utf-8")))

    pasted = invoke(*shlex.split(command)[1:])
    assert pasted.exit_code == 0, pasted.output
    assert re.match(r"Line 2 HIST-210-001-SP27: resolved as copied", pasted.stdout)


RENAMED = (
    "source_course_id,target_course_id,name,start_date,end_date,instructors\n"
    "BIO-101-FA26,BIO-101-001-SP27,{bio},2027-01-11,{end},\n"
    "CHEM-110-FA26,CHEM-110-001-SP27,Chemistry,,,{people}\n"
    "HIST-210-FA26,HIST-210-001-SP27,History,,,\n"
)


def test_a_re_run_plan_says_which_done_rows_are_patched_again_and_what_changes(
    tmp_path: Path,
) -> None:
    """Renaming and re-dating a done row, and adding an instructor to another: the re-run's
    plan lists each with what changes (old -> new, dates in the run's zone); an unchanged row
    is not listed; nothing is copied again."""
    manifest = tmp_path / "spring.csv"
    write(manifest, RENAMED.format(bio="Biology", end="2027-05-07", people="userName:jdoe"))
    first = invoke("run", manifest, "--sandbox", *FAST, "-q", "--timezone", "America/Chicago")
    assert first.exit_code == 0, first.output
    assert "Changed since they were done" not in first.stdout
    write(
        manifest,
        RENAMED.format(
            bio="Biology 101",
            end="2027-05-14",
            people="userName:jdoe;userName:tnguyen=TeachingAssistant",
        ),
    )
    again = invoke("run", manifest, "--sandbox", *FAST, "-q", "--timezone", "America/Chicago")
    assert again.exit_code == 0, again.output
    lines = again.stdout.splitlines()
    start = lines.index(
        "Changed since they were done: 2 rows, taken up again (never copied again):"
    )
    assert lines[start + 1 : start + 3] == [
        "  line 2 BIO-101-001-SP27 (done): patched again: name 'Biology' -> 'Biology 101'; "
        "end_date 2027-05-07 23:59:59 CDT -> 2027-05-14 23:59:59 CDT",
        "  line 3 CHEM-110-001-SP27 (done): instructors enrolled: instructors userName:jdoe -> "
        "userName:jdoe; userName:tnguyen=TeachingAssistant",
    ]
    assert lines[start - 1].startswith("Plan: no copy left to start")
    assert "HIST-210-001-SP27 (done)" not in again.stdout


def test_a_re_run_plan_lists_at_most_twenty_changed_rows(tmp_path: Path) -> None:
    """23 done rows renamed: 20 are listed, then "and 3 more"."""
    manifest = tmp_path / "many.csv"
    rows = [f"BIO-101-FA26,BIO-101-{n:03d}-SP27,{{name}} {n}\n" for n in range(23)]
    text = "source_course_id,target_course_id,name\n" + "".join(rows)
    write(manifest, text.format(name="Biology"))
    assert invoke("run", manifest, "--sandbox", *FAST, "-q").exit_code == 0
    write(manifest, text.format(name="Biologie"))
    again = invoke("run", manifest, "--sandbox", *FAST, "-q")
    assert again.exit_code == 0, again.output
    listed = [line for line in again.stdout.splitlines() if line.startswith("  line ")]
    assert len(listed) == 20
    assert (
        listed[0]
        == "  line 2 BIO-101-000-SP27 (done): patched again: name 'Biology 0' -> 'Biologie 0'"
    )
    assert "  and 3 more" in again.stdout.splitlines()


def test_a_patch_body_reads_back_as_the_manifest_columns_that_asked_for_it() -> None:
    """patch_columns(patch_body(row)) gives each column the row set, the term as the manifest
    named it and dates as Learn takes them; a blank column is absent."""
    asked = row(
        2,
        "A",
        "B",
        name="Biology 101",
        description="Cells",
        external_id="E-1",
        term_id="SP27",
        available="Yes",
        start_date=datetime(2027, 1, 11, 6, tzinfo=UTC),
        end_date=datetime(2027, 5, 8, 4, 59, 59, tzinfo=UTC),
    )
    assert patch_columns(patch_body(asked)) == {
        "name": "Biology 101",
        "description": "Cells",
        "external_id": "E-1",
        "term_id": "SP27",
        "available": "Yes",
        "start_date": "2027-01-11T06:00:00.000Z",
        "end_date": "2027-05-08T04:59:59.000Z",
    }
    assert set(dict(PATCH_COLUMNS)) == set(patch_columns(patch_body(asked)))
    assert patch_columns(patch_body(row(2, "A", "B", name="Only"))) == {"name": "Only"}
