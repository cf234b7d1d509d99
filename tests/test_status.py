"""`status` (counts, stages, quota, rows for a person with what to do, rows left alone, one
row's trail), `run --retry-failed`, rows removed from the manifest, and `report` during a run."""

from __future__ import annotations

import asyncio
import csv
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cli_runs import FAST, invoke, sandbox_config, write
from click.testing import Result

from rollover import runner
from rollover.cli import Invocation, default_files, next_step, sandbox_site
from rollover.engine import RunOptions
from rollover.ledger import ErrorKind, Ledger, LedgerRow, State
from rollover.plan import RowSpec
from rollover.progress import Progress, Snapshot
from rollover.report import COLUMNS, EXTRA_COLUMNS
from rollover.sandbox import LearnSandbox

SMALL = """\
source_course_id,target_course_id,copy_into_existing,name,term_id,available,start_date,end_date
BIO-101-FA26,BIO-101-001-SP27,false,Biology 101 (Spring 2027),SP27,No,2027-01-11,2027-05-07
BIO-101-FA26,BIO-101-002-SP27,false,Biology 101 section 2,SP27,Yes,,
CHEM-110-FA26,CHEM-110-001-SP27,,,,,,
HIST-210-FA26,HIST-210-001-SP27,true,,SP27,,,
"""
ONE_ROW = (
    "source_course_id,target_course_id,copy_into_existing\nBIO-101-FA26,BIO-101-001-SP27,false\n"
)


def sandbox_run(tmp_path: Path, manifest: Path, *extra: str, config: str = "") -> Result:
    """`rollover run MANIFEST --sandbox --quiet` with fast copies and fast polls."""
    return invoke(
        "run",
        manifest,
        "--sandbox",
        "--sandbox-config",
        sandbox_config(tmp_path, config),
        *FAST,
        "--quiet",
        *extra,
    )


def results_of(path: Path) -> list[dict[str, str]]:
    """The rows of a results CSV."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def copies(tmp_path: Path, manifest: str = "m") -> dict[str, int]:
    """Applied copy requests per target in the rehearsal's simulated Learn."""
    return LearnSandbox.load(tmp_path / f"{manifest}.sandbox.json").record.copies_per_target()


def status_json(tmp_path: Path, manifest: str = "m", *extra: str) -> dict:
    """`rollover status MANIFEST --sandbox --json` (the rehearsal's ledger), parsed."""
    result = invoke("status", tmp_path / f"{manifest}.csv", "--sandbox", "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A four-row manifest (one into an existing shell)."""
    return write(tmp_path / "spring.csv", SMALL)


@pytest.fixture
def finished(tmp_path: Path, small: Path) -> Path:
    """The small manifest after one successful sandbox run."""
    result = sandbox_run(tmp_path, small)
    assert result.exit_code == 0, result.output
    return small


SHELL_MISSING = (
    "copy_into_existing is true but Learn has no course NO-SUCH-SHELL: create the shell first, "
    "or set copy_into_existing to false"
)


@pytest.fixture
def failed_shell(tmp_path: Path) -> Path:
    """A rehearsal whose second row failed because its shell was missing (the SIS had not made
    it yet; the rehearsal's Learn has it now), as the engine records that failure."""
    manifest = write(tmp_path / "m.csv", ONE_ROW + "BIO-101-FA26,NO-SUCH-SHELL,true\n")
    with Ledger(tmp_path / "m.sandbox.ledger.sqlite") as ledger:
        ledger.sync_manifest(
            [
                RowSpec("BIO-101-001-SP27", 2, "BIO-101-FA26", False),
                RowSpec("NO-SUCH-SHELL", 3, "BIO-101-FA26", True),
            ]
        )
        ledger.record_failed("NO-SUCH-SHELL", ErrorKind.SHELL_MISSING, SHELL_MISSING)
    result = sandbox_run(tmp_path, manifest)
    assert result.exit_code == 1, result.output
    return manifest


# --- status ------------------------------------------------------------------------------------


def test_status_json_exact_shape(tmp_path: Path, small: Path) -> None:
    """`status --json`: counts, rows by stage (every stage named), needs_person, the quota the
    run saw last, the rows left alone, the merged sections and the dates moved (none here)."""
    run = sandbox_run(tmp_path, small)
    assert run.exit_code == 0, run.output
    run_quota = int(run.stdout.split("quota remaining ")[1].split()[0])
    data = json.loads(invoke("status", small, "--sandbox", "--json").stdout)
    quota = data.pop("quota")
    assert data == {
        "counts": {"done": 4, "failed": 0, "needs_review": 0, "pending": 0},
        "stages": {
            "queued": 0,
            "copying": 0,
            "patching": 0,
            "shifting": 0,
            "done": 4,
            "failed": 0,
            "needs_review": 0,
        },
        "needs_person": [],
        "left_alone": [],
        "sections": {"asked": 0, "attached": 0, "rows_waiting": 0, "left_attached": []},
        "dates": {"rows": 0, "to_shift": 0, "shifted": 0, "rows_waiting": 0},
        "resolved": [],
    }
    assert set(quota) == {"remaining", "limit", "seen_at"}
    assert (quota["remaining"], quota["limit"]) == (run_quota, 10000)
    seen_at = datetime.fromisoformat(quota["seen_at"])
    assert abs(datetime.now(UTC) - seen_at) < timedelta(minutes=5)


def test_a_rehearsal_keeps_its_own_files_and_status_and_report_read_them(
    tmp_path: Path, finished: Path
) -> None:
    """A `--sandbox` run writes `<stem>.sandbox.*`; `status` and `report` read them only when
    given `--sandbox`, so without it they find no real run's ledger."""
    names = {p.name for p in tmp_path.glob("spring.*")}
    assert {
        "spring.sandbox.json",
        "spring.sandbox.ledger.sqlite",
        "spring.sandbox.results.csv",
    } <= names
    assert {n for n in names if not n.startswith("spring.sandbox.")} == {"spring.csv"}
    for command in ("status", "report"):
        real = invoke(command, finished)
        assert real.exit_code == 2
        assert f"Error: no ledger at {tmp_path / 'spring.ledger.sqlite'}" in real.stderr
    results = tmp_path / "spring.sandbox.results.csv"
    results.unlink()
    report = invoke("report", finished, "--sandbox")
    assert report.exit_code == 0, report.output
    assert report.stdout.splitlines() == [
        "4 rows: 4 done, 0 failed, 0 needs_review, 0 pending",
        f"Results: {results}",
    ]
    assert [r["status"] for r in results_of(results)] == ["done"] * 4
    assert not (tmp_path / "spring.results.csv").exists()


def test_status_json_needs_person_items_carry_a_hint(tmp_path: Path, failed_shell: Path) -> None:
    """Each needs_person item keeps line, target, status and error, the error's kind, and what
    to do."""
    [item] = status_json(tmp_path)["needs_person"]
    assert item == {
        "line": 3,
        "target_course_id": "NO-SUCH-SHELL",
        "status": "failed",
        "error": "copy_into_existing is true but Learn has no course NO-SUCH-SHELL: create "
        "the shell first, or set copy_into_existing to false",
        "error_kind": "shell_missing",
        "hint": "create NO-SUCH-SHELL in Learn (or set copy_into_existing to false in the "
        "manifest), then run again with --retry-failed",
    }


def test_status_text_shows_stages_quota_and_what_to_do(tmp_path: Path, failed_shell: Path) -> None:
    """`status` prints counts, one line of rows by stage (every stage named), the quota and each
    row for a person with its error and what to do."""
    result = invoke("status", failed_shell, "--sandbox")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "2 rows: 1 done, 1 failed, 0 needs_review, 0 pending",
        "Stages: 0 queued, 0 copying, 0 patching, 0 shifting, 1 done, 1 failed, 0 needs review",
    ]
    assert lines[2].startswith("Quota: ") and " of 10000 calls left when last seen, " in lines[2]
    assert lines[3:] == [
        "Needs a person:",
        "  line 3 NO-SUCH-SHELL [failed]: copy_into_existing is true but Learn has no course "
        "NO-SUCH-SHELL: create the shell first, or set copy_into_existing to false",
        "    What to do: create NO-SUCH-SHELL in Learn (or set copy_into_existing to false in "
        "the manifest), then run again with --retry-failed",
    ]


def test_lost_answer_into_existing_shell_says_to_open_and_check_it(tmp_path: Path) -> None:
    """A needs_review copy into a shell whose answer was lost says to open the target in Learn,
    check the source's content is there once, and tell the tool with `rollover resolve`."""
    manifest = write(
        tmp_path / "m.csv",
        "source_course_id,target_course_id,copy_into_existing\n"
        "HIST-210-FA26,HIST-210-001-SP27,true\n",
    )
    result = sandbox_run(tmp_path, manifest, config="drop_copy_response_rate = 1.0\n")
    assert result.exit_code == 1, result.output
    [item] = status_json(tmp_path)["needs_person"]
    assert (item["status"], item["error_kind"]) == ("needs_review", "copy_maybe_applied")
    assert item["hint"] == (
        "open HIST-210-001-SP27 in Learn and check whether HIST-210-FA26's content is there "
        f"(delete the extra if it is there twice): if it is, run `rollover resolve {manifest} 2 "
        f"--copied --sandbox`; if not, run `rollover resolve {manifest} 2 --not-copied "
        "--sandbox` to have it copied. The tool will not copy into it again on its own"
    )
    assert f"    What to do: {item['hint']}" in result.stdout


AS_GIVEN = Invocation("spring.csv")
RESOLVE = "`rollover resolve spring.csv 2 --copied`"
RESOLVE_NOT = "`rollover resolve spring.csv 2 --not-copied`"


def trouble_row(
    state: State, kind: ErrorKind | None, error: str | None, *, into: bool = False
) -> LedgerRow:
    """Line 2, X-SP27 copied from X-FA26 (task /task), in `state` with an error of `kind`."""
    return LedgerRow(
        spec=RowSpec("X-SP27", 2, "X-FA26", into),
        state=state,
        target_pk=None,
        task_location="/task",
        course_pk=None,
        adopted=False,
        error=error,
        error_kind=kind,
        attempts=1,
        intent_at=None,
        requested_at=None,
        copied_at=None,
        completed_at=None,
    )


@pytest.mark.parametrize(
    ("state", "into", "kind", "error", "hint"),
    [
        (
            State.FAILED,
            False,
            ErrorKind.TARGET_TAKEN,
            "courseId X-SP27 already belongs to a course "
            "created 2026-01-01, before this rollover asked for it: choose another target_course_id",
            "Learn made X-SP27 before this ledger asked for it (the error says when): it may be "
            "the copy of X-FA26 an earlier run made with another ledger (a manifest saved under a "
            "new name, a ledger moved or deleted): if so, run again with --ledger and that "
            "ledger, or take the row out of the manifest. If it is someone else's course, choose "
            "another target_course_id and run again",
        ),
        (
            State.FAILED,
            True,
            ErrorKind.SHELL_MISSING,
            "copy_into_existing is true but Learn has no "
            "course X-SP27: create the shell first, or set copy_into_existing to false",
            "create X-SP27 in Learn (or set copy_into_existing to false in the manifest), then run "
            "again with --retry-failed",
        ),
        (
            State.FAILED,
            False,
            ErrorKind.PATCH_REFUSED,
            "copied as _5_1 but Learn refused the PATCH: Invalid term",
            "correct the row's name, dates, term or availability in the manifest and run again (or, "
            "if the row was right, run again with --retry-failed): the course is patched again, never "
            "copied again",
        ),
        (
            State.FAILED,
            False,
            ErrorKind.COPY_REFUSED,
            "Learn refused the copy: Course not found",
            "check that X-FA26 exists in Learn and that the REST application may copy it, then run "
            "again with --retry-failed",
        ),
        (
            State.FAILED,
            False,
            ErrorKind.REQUEST_REFUSED,
            "Learn refused a request: Bad request",
            "fix what the error names (in Learn or in the manifest), then run again with "
            "--retry-failed",
        ),
        (
            State.FAILED,
            False,
            None,
            "an error from a ledger written before errors had kinds",
            "fix what the error names (in Learn or in the manifest), then run again with "
            "--retry-failed",
        ),
        (
            State.NEEDS_REVIEW,
            True,
            ErrorKind.COPY_MAYBE_APPLIED,
            "the copy of X-FA26 into existing "
            "course X-SP27 (_7_1) may or may not have been applied: its answer was lost",
            "open X-SP27 in Learn and check whether X-FA26's content is there (delete the extra if it "
            f"is there twice): if it is, run {RESOLVE}; if not, run {RESOLVE_NOT} to have it copied. "
            "The tool will not copy into it again on its own",
        ),
        (
            State.NEEDS_REVIEW,
            False,
            ErrorKind.COPY_UNCLEAN,
            "Learn finished the copy with status "
            "CompleteWithErrors; the course was patched, check its content",
            "open X-SP27 in Learn and compare its content with X-FA26: Learn reported problems with "
            f"the copy. Fix what is missing by hand, then run {RESOLVE}",
        ),
        (
            State.NEEDS_REVIEW,
            False,
            ErrorKind.CREATED_UNKNOWN,
            "course X-SP27 exists but Learn did "
            "not say when it was created; check whether it is this rollover's copy",
            f"check whether X-SP27 in Learn is this rollover's copy of X-FA26: if it is, run {RESOLVE}"
            "; if it is someone else's course, choose another target_course_id and run again",
        ),
        (
            State.NEEDS_REVIEW,
            False,
            ErrorKind.COURSE_MISSING,
            "Learn accepted the copy (/task) but "
            "Task not found and no course X-SP27 exists; check the copy in Learn before re-running",
            f"look in Learn for X-SP27, the copy of X-FA26 (task /task): if it is there now, run "
            f"{RESOLVE}; if none was made, run {RESOLVE_NOT} to have it copied again",
        ),
        (
            State.NEEDS_REVIEW,
            False,
            ErrorKind.UNCERTAIN,
            "something the tool cannot tell",
            "check X-SP27 in Learn: the tool cannot tell how this row ended and will not guess. If "
            f"X-FA26's copy is there, run {RESOLVE}; if not, run {RESOLVE_NOT}",
        ),
        (State.DONE, False, None, None, None),
        (State.PENDING, False, None, None, None),
    ],
)
def test_hint_for_each_kind_of_trouble(
    state: State, into: bool, kind: ErrorKind | None, error: str | None, hint: str | None
) -> None:
    """Each kind of failed or needs_review row gets its own short next step; others none.
    needs_review rows end with the `rollover resolve` command that records what was found."""
    assert next_step(trouble_row(state, kind, error, into=into), AS_GIVEN) == hint


def test_hint_comes_from_the_error_kind_never_its_words() -> None:
    """Words of one kind's error under another kind get the other kind's hint."""
    refused = trouble_row(
        State.FAILED,
        ErrorKind.REQUEST_REFUSED,
        "Learn refused the copy: already belongs to a course created; "
        "Learn has no course X-SP27; refused the PATCH",
        into=True,
    )
    assert next_step(refused, AS_GIVEN) == (
        "fix what the error names (in Learn or in the manifest), then run again with --retry-failed"
    )
    unclean = trouble_row(
        State.NEEDS_REVIEW,
        ErrorKind.COPY_UNCLEAN,
        "may or may not have been applied; no course exists",
    )
    assert next_step(unclean, AS_GIVEN) == next_step(
        trouble_row(State.NEEDS_REVIEW, ErrorKind.COPY_UNCLEAN, None), AS_GIVEN
    )
    assert all(
        "remove the row from the manifest"
        not in (next_step(trouble_row(State.NEEDS_REVIEW, kind, "x"), AS_GIVEN) or "")
        for kind in ErrorKind
    )


def test_status_row_shows_the_trail_by_target_or_line(tmp_path: Path, finished: Path) -> None:
    """`status --row TARGET` (in any case) prints every transition with its time and detail;
    `--row LINE` finds the same row, and `--json` gives the events for scripts."""
    result = invoke("status", finished, "--sandbox", "--row", "BIO-101-001-SP27")
    assert result.exit_code == 0, result.output
    assert invoke("status", finished, "--sandbox", "--row", "bio-101-001-sp27").stdout == (
        result.stdout
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "Row: line 2, BIO-101-001-SP27 from BIO-101-FA26"
    assert lines[1].startswith("Status: done (stage done), attempts 1, course _")
    assert lines[2].startswith("Task: /learn/api/public/v1/courses/")
    everything = lines[lines.index("History:") + 1 :]
    history = [line for line in everything if ": HTTP " not in line]
    assert [line.split("  ")[2].split(":")[0] for line in history] == [
        "(new) -> pending",
        "pending -> intent",
        "intent -> located",
        "located -> copied",
        "copied -> patched",
        "patched -> done",
    ]
    assert history[1].endswith("pending -> intent: copy requested")
    answers = [line.split("    ")[1] for line in everything if ": HTTP " in line]
    assert answers[0] == "intent: HTTP 202 POST /v2/courses/{id}/copy"
    assert answers[-2] == "located: HTTP 303 GET /v1/courses/{id}/tasks/{id}"
    assert answers[-1] == "copied: HTTP 200 PATCH /v3/courses/{id}"
    for line in history:
        datetime.fromisoformat(line.split()[0])
    data = json.loads(invoke("status", finished, "--sandbox", "--row", "5", "--json").stdout)
    assert (data["target_course_id"], data["copy_into_existing"], data["in_manifest"]) == (
        "HIST-210-001-SP27",
        True,
        True,
    )
    assert (data["status"], data["stage"], data["error"], data["error_kind"]) == (
        "done",
        "done",
        None,
        None,
    )
    assert [(e["from"], e["to"]) for e in data["events"]][:2] == [
        (None, "pending"),
        ("pending", "pending"),
    ]  # the shell's primary id, then the copy
    assert data["events"][-1]["to"] == "done" and data["hint"] is None
    assert [(a["stage"], a["status"], a["endpoint"]) for a in data["answers"]][:3] == [
        ("pending", 200, "GET /v3/courses/{id}"),
        ("pending", 200, "GET /v1/courses/{id}/contents"),  # the shell is empty: copied into
        ("intent", 202, "POST /v2/courses/{id}/copy"),
    ]


def test_status_row_unknown_exits_2(tmp_path: Path, finished: Path) -> None:
    """`status --row` of a row the ledger lacks exits 2 and says how to name one."""
    result = invoke("status", finished, "--sandbox", "--row", "BIO-999")
    assert result.exit_code == 2
    assert (
        f"Error: no row 'BIO-999' in {tmp_path / 'spring.sandbox.ledger.sqlite'}" in result.stderr
    )
    assert "target_course_id or a manifest line number" in result.stderr


# --- fix and re-run ----------------------------------------------------------------------------


def test_retry_failed_reattempts_a_fixed_row_once_and_never_copies_twice(
    tmp_path: Path, failed_shell: Path
) -> None:
    """A plain re-run leaves a failed row; once its cause is fixed, `--retry-failed` copies it
    once; a further `--retry-failed` finds nothing to re-open and calls nothing."""
    again = sandbox_run(tmp_path, failed_shell)
    assert again.exit_code == 1 and "API calls: 0 " in again.stdout
    retried = sandbox_run(tmp_path, failed_shell, "--retry-failed")
    assert retried.exit_code == 0, retried.output
    assert "Retried: 1 failed row re-opened: NO-SUCH-SHELL" in retried.stdout
    assert [r["status"] for r in results_of(tmp_path / "m.sandbox.results.csv")] == ["done", "done"]
    assert copies(tmp_path) == {"BIO-101-001-SP27": 1, "NO-SUCH-SHELL": 1}
    last = sandbox_run(tmp_path, failed_shell, "--retry-failed")
    assert last.exit_code == 0 and "API calls: 0 " in last.stdout
    assert "Retried:" not in last.stdout
    assert copies(tmp_path) == {"BIO-101-001-SP27": 1, "NO-SUCH-SHELL": 1}
    trail = status_json(tmp_path, "m", "--row", "NO-SUCH-SHELL")
    assert [e["to"] for e in trail["events"]] == [
        "pending",
        "failed",
        "pending",
        "pending",
        "intent",
        "located",
        "copied",
        "done",
    ]
    assert trail["events"][2]["detail"].startswith("retry of a failed row (was: ")
    assert trail["attempts"] == 1
    assert (trail["error"], trail["error_kind"]) == (None, None)


def test_retry_failed_after_the_copy_patches_again_without_copying(tmp_path: Path) -> None:
    """A row whose PATCH failed is re-opened at `copied`: patched again, never copied again."""
    manifest = write(
        tmp_path / "m.csv",
        "source_course_id,target_course_id,name,term_id\n"
        "BIO-101-FA26,BIO-101-001-SP27,Biology,_999_1\n",
    )
    first = sandbox_run(tmp_path, manifest)
    assert first.exit_code == 1, first.output
    retried = sandbox_run(tmp_path, manifest, "--retry-failed")
    assert retried.exit_code == 1, retried.output
    assert "POST /v2/courses/{id}/copy" not in retried.stdout
    assert "PATCH /v3/courses/{id}: 1" in retried.stdout
    assert copies(tmp_path) == {"BIO-101-001-SP27": 1}
    trail = status_json(tmp_path, "m", "--row", "BIO-101-001-SP27")
    assert [e["to"] for e in trail["events"]][-4:] == ["copied", "failed", "copied", "failed"]
    assert trail["attempts"] == 1 and trail["error_kind"] == "patch_refused"


def test_retry_failed_never_reopens_needs_review(tmp_path: Path) -> None:
    """`--retry-failed` leaves a needs_review row to a person: no call, no second copy."""
    manifest = write(
        tmp_path / "m.csv",
        "source_course_id,target_course_id,copy_into_existing\n"
        "HIST-210-FA26,HIST-210-001-SP27,true\n",
    )
    assert sandbox_run(tmp_path, manifest, config="drop_copy_response_rate = 1.0\n").exit_code == 1
    result = sandbox_run(tmp_path, manifest, "--retry-failed")
    assert result.exit_code == 1, result.output
    assert "API calls: 0 " in result.stdout and "Retried:" not in result.stdout
    assert copies(tmp_path) == {"HIST-210-001-SP27": 1}


def test_ledger_retry_failed_reopens_each_failed_row_where_it_is_safe(tmp_path: Path) -> None:
    """pending if no copy was made, located if its task is known, copied if its course is;
    needs_review and rows no longer in the manifest stay; each re-opening is an event and
    clears the error and its kind."""
    targets = ["NEW", "TASK", "COPY", "REVIEW", "GONE"]
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.sync_manifest([RowSpec(t, i + 2, "S", False) for i, t in enumerate(targets)])
        ledger.record_failed("NEW", ErrorKind.COPY_REFUSED, "Learn refused the copy: no")
        for target in targets[1:]:
            ledger.record_intent(target)
        ledger.record_location("TASK", "/task/1")
        ledger.record_failed("TASK", ErrorKind.REQUEST_REFUSED, "Learn refused a request: 400")
        ledger.record_location("COPY", "/task/2")
        ledger.record_copied("COPY", "_5_1")
        ledger.record_failed(
            "COPY", ErrorKind.PATCH_REFUSED, "copied as _5_1 but Learn refused the PATCH: no"
        )
        ledger.record_needs_review("REVIEW", ErrorKind.COPY_MAYBE_APPLIED, "lost")
        ledger.record_failed("GONE", ErrorKind.COPY_REFUSED, "Learn refused the copy: no")
        ledger.sync_manifest([RowSpec(t, i + 2, "S", False) for i, t in enumerate(targets[:4])])
        seen: list[tuple[str, str | None]] = []
        ledger.observer = lambda row, frm, _: seen.append((row.target_course_id, frm))
        reopened = ledger.retry_failed()
        assert [(r.target_course_id, r.state, r.error, r.error_kind) for r in reopened] == [
            ("NEW", State.PENDING, None, None),
            ("TASK", State.LOCATED, None, None),
            ("COPY", State.COPIED, None, None),
        ]
        assert seen == [("NEW", "failed"), ("TASK", "failed"), ("COPY", "failed")]
        review, gone = ledger.row("REVIEW"), ledger.row("GONE")
        assert (review.state, review.error_kind) == (
            State.NEEDS_REVIEW,
            ErrorKind.COPY_MAYBE_APPLIED,
        )
        assert (gone.state, gone.error_kind) == (State.FAILED, ErrorKind.COPY_REFUSED)
        last = ledger.history("COPY")[-1]
        assert (last.from_state, last.to_state) == ("failed", "copied")
        assert last.detail == (
            "retry of a failed row (was: copied as _5_1 but Learn refused the PATCH: no)"
        )
        assert ledger.retry_failed() == []


def test_removed_rows_are_reported_and_left_untouched(tmp_path: Path, small: Path) -> None:
    """Rows taken out of the manifest are not copied, not in the results, named in the run
    summary and in `status`, and their ledger history does not move."""
    now = datetime.now(UTC)
    window = f"{now + timedelta(hours=2):%H:%M}-{now + timedelta(hours=3):%H:%M}"
    closed = sandbox_run(tmp_path, small, "--window", window, "--timezone", "UTC")
    assert closed.exit_code == 3, closed.output
    write(small, "\n".join(SMALL.splitlines()[:3]) + "\n")
    result = sandbox_run(tmp_path, small)
    assert result.exit_code == 0, result.output
    assert (
        "Left alone: 2 rows in the ledger no longer in the manifest, not touched: "
        "CHEM-110-001-SP27 (pending), HIST-210-001-SP27 (pending)"
    ) in result.stdout
    assert [r["target_course_id"] for r in results_of(tmp_path / "spring.sandbox.results.csv")] == [
        "BIO-101-001-SP27",
        "BIO-101-002-SP27",
    ]
    assert copies(tmp_path, "spring") == {"BIO-101-001-SP27": 1, "BIO-101-002-SP27": 1}
    data = status_json(tmp_path, "spring")
    assert data["left_alone"] == [
        {"line": 4, "target_course_id": "CHEM-110-001-SP27", "status": "pending"},
        {"line": 5, "target_course_id": "HIST-210-001-SP27", "status": "pending"},
    ]
    assert data["counts"] == {"done": 2, "failed": 0, "needs_review": 0, "pending": 0}
    text = invoke("status", small, "--sandbox").stdout
    assert text.splitlines()[-1].startswith("Left alone: 2 rows in the ledger")
    trail = status_json(tmp_path, "spring", "--row", "CHEM-110-001-SP27")
    assert [e["to"] for e in trail["events"]] == ["pending"]
    assert trail["in_manifest"] is False


# --- report during a run -----------------------------------------------------------------------


class PauseMidRun:
    """A progress view that holds the run, once a copy is in flight, until the test lets go."""

    every = 0.0

    def __init__(self) -> None:
        self.paused = threading.Event()
        self.resume = threading.Event()

    def show(self, snapshot: Snapshot) -> None:
        """Pause the run's thread the first time a copy is in flight."""
        if snapshot.stages["copying"] and not self.paused.is_set():
            self.paused.set()
            assert self.resume.wait(timeout=60)

    def finish(self, snapshot: Snapshot) -> None:
        """Nothing to end."""


def test_report_while_a_run_holds_the_ledger_writes_a_complete_csv(
    tmp_path: Path, small: Path
) -> None:
    """`report` and `status` during a run (lock held, a copy in flight) read one consistent
    snapshot: every manifest row, in order, in the contract's columns."""
    loaded = runner.read_manifest(small, ZoneInfo("UTC"))
    files = default_files(small, sandbox=True)
    assert (files.ledger.name, files.results.name, files.sandbox_state.name) == (
        "spring.sandbox.ledger.sqlite",
        "spring.sandbox.results.csv",
        "spring.sandbox.json",
    )
    ledger_path, results_path = files.ledger, files.results
    view = PauseMidRun()
    outcome: list[runner.RunReport] = []
    with sandbox_site(loaded, files.sandbox_state, sandbox_config(tmp_path)) as site:

        def go() -> None:
            outcome.append(
                asyncio.run(
                    runner.run(
                        loaded,
                        site,
                        ledger_path=ledger_path,
                        results_path=results_path,
                        options=RunOptions(poll_min=0.05, poll_max=0.2),
                        progress=Progress(view),
                    )
                )
            )

        worker = threading.Thread(target=go)
        worker.start()
        try:
            assert view.paused.wait(timeout=60)
            other = tmp_path / "during.csv"
            result = invoke("report", small, "--sandbox", "--results", other)
            status = invoke("status", small, "--sandbox", "--json")
        finally:
            view.resume.set()
            worker.join(timeout=60)
    assert result.exit_code == 0, result.output
    with other.open(newline="", encoding="utf-8-sig") as handle:
        assert tuple(next(csv.reader(handle))) == COLUMNS + EXTRA_COLUMNS
    rows = results_of(other)
    assert [r["target_course_id"] for r in rows] == [
        "BIO-101-001-SP27",
        "BIO-101-002-SP27",
        "CHEM-110-001-SP27",
        "HIST-210-001-SP27",
    ]
    assert {r["status"] for r in rows} == {"pending"}
    assert "intent" in {r["stage"] for r in rows}
    assert json.loads(status.stdout)["stages"]["copying"] >= 1
    assert outcome and outcome[0].exit_code == 0
    assert {r["status"] for r in results_of(results_path)} == {"done"}
