"""The command line as scripts see it: options, messages, files written and exit codes.

Every test drives `rollover.cli.cli` in-process with click's CliRunner. Runs use `--sandbox`, so
the real engine, client and ledger talk HTTP on loopback to the embedded simulator, configured
with short copies and short poll bounds so a whole run takes a fraction of a second.
"""

from __future__ import annotations

import base64
import csv
import json
import shutil
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_runs import FAST, invoke, sandbox_config, sandbox_run, write
from click.testing import Result

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_manifests" / "fall2026.csv"
RESULT_COLUMNS = [
    "line",
    "source_course_id",
    "target_course_id",
    "status",
    "course_pk",
    "task_location",
    "error",
    "attempts",
    "requested_at",
    "completed_at",
]
RUN_OPTIONS = [
    "--ledger",
    "--results",
    "--concurrency",
    "--poll-min",
    "--poll-max",
    "--task-timeout",
    "--window",
    "--quota-reserve",
    "--adopt-settle",
    "--base-url",
    "--sandbox",
]

SMALL = """\
source_course_id,target_course_id,copy_into_existing,name,term_id,available,start_date,end_date
BIO-101-FA26,BIO-101-001-SP27,false,Biology 101 (Spring 2027),SP27,No,2027-01-11,2027-05-07
BIO-101-FA26,BIO-101-002-SP27,false,Biology 101 section 2,SP27,Yes,,
CHEM-110-FA26,CHEM-110-001-SP27,,,,,,
HIST-210-FA26,HIST-210-001-SP27,true,,SP27,,,
"""


def results_of(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows of a results CSV."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A four-row manifest (one into an existing shell) in its own directory."""
    return write(tmp_path / "spring.csv", SMALL)


@pytest.fixture
def finished(tmp_path: Path, small: Path) -> Path:
    """The small manifest after one successful sandbox run."""
    result = sandbox_run(tmp_path, small)
    assert result.exit_code == 0, result.output
    return small


def free_port() -> int:
    """A loopback port nothing listens on (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- help --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [[], ["run"], ["validate"], ["status"], ["report"], ["sandbox"]]
)
def test_help_of_every_command_exits_0(command: list[str]) -> None:
    """`--help` works for the group and for each contract command."""
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_group_help_lists_every_command() -> None:
    """The group's help names run, validate, status, report and sandbox."""
    output = invoke("--help").output
    for command in ("run", "validate", "status", "report", "sandbox"):
        assert f"  {command}" in output


def test_run_help_shows_every_contract_option() -> None:
    """`run --help` documents each option the contract promises."""
    output = invoke("run", "--help").output
    for option in RUN_OPTIONS:
        assert option in output, option


def test_secrets_are_not_options() -> None:
    """The key and secret are never accepted on the command line."""
    output = invoke("run", "--help").output
    assert "--key" not in output and "--secret" not in output
    result = invoke("run", "x.csv", "--secret", "s")
    assert result.exit_code == 2
    assert "--secret is not an option" in result.output


def test_status_and_report_take_ledger_and_results() -> None:
    """`status` and `report` take `--ledger`, and `report` also `--results`."""
    assert "--ledger" in invoke("status", "--help").output
    report_help = invoke("report", "--help").output
    assert "--ledger" in report_help and "--results" in report_help


# --- validate ----------------------------------------------------------------------------------


def test_validate_sample_prints_plan_and_estimate(tmp_path: Path) -> None:
    """`validate` of the sample manifest exits 0 with counts and the API-call estimate."""
    manifest = Path(shutil.copy(SAMPLE, tmp_path / "fall2026.csv"))
    result = invoke("validate", manifest)
    assert result.exit_code == 0, result.output
    assert f"{manifest}: valid, 25 courses" in result.stdout
    assert "new courses to copy:        22" in result.stdout
    assert "copies into existing shells: 3" in result.stdout
    assert "courses to patch afterwards: 25" in result.stdout
    assert "Estimated API calls: " in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fall2026.csv"]


def test_validate_prints_duration_and_the_share_of_the_daily_quota(tmp_path: Path) -> None:
    """`validate` states its duration assumption and what share of the daily quota it needs."""
    manifest = Path(shutil.copy(SAMPLE, tmp_path / "fall2026.csv"))
    result = invoke("validate", manifest)
    assert "Estimated API calls: 87 (about 3.5 per course)" in result.stdout
    assert (
        "Estimated duration: about 4 min if copies take ~30 s each with 4 at once "
        "(Learn's copy queue decides)"
    ) in result.stdout
    assert "Quota: 87 of Learn's default 10000 calls a day" in result.stdout
    assert "Warning" not in result.stdout


def test_validate_warns_when_the_plan_exceeds_the_daily_quota(tmp_path: Path) -> None:
    """A plan beyond the default daily quota is named with the days it needs and the remedy."""
    manifest = write(
        tmp_path / "big.csv",
        "source_course_id,target_course_id,name\n"
        + "".join(f"BIO-101-FA26,BIO-{i:05d}-SP27,Section {i}\n" for i in range(4000)),
    )
    result = invoke("validate", manifest)
    assert result.exit_code == 0, result.output
    assert "Estimated API calls: 12801 (about 3.2 per course)" in result.stdout
    assert (
        "Warning: 12801 calls is more than Learn's default daily quota of 10000 (about 1.3 "
        "days of it)"
    ) in result.stdout
    assert "Run with --quota-reserve N so each run stops before the quota does" in result.stdout


def test_run_prints_its_plan_before_starting_and_only_what_is_left(
    tmp_path: Path, small: Path
) -> None:
    """`run` opens with the rows it will copy and their calls; a re-run plans only the rest."""
    first = sandbox_run(tmp_path, small)
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[1].startswith(
        "Plan: 4 of 4 rows to copy; about 15 API calls; about 30 s if copies take"
    )
    again = sandbox_run(tmp_path, small)
    assert "Plan: no copy left to start" in again.stdout


def test_validate_accepts_sandbox_flag(tmp_path: Path, small: Path) -> None:
    """`validate --sandbox` prints the same offline plan and writes nothing."""
    result = invoke("validate", small, "--sandbox")
    assert result.exit_code == 0, result.output
    assert "valid, 4 courses" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spring.csv"]


BAD = """\
source_course_id,target_course_id,copy_into_existing,available,start_date,end_date
SRC-1,GOOD-1,false,Yes,,
SRC-2,bad target!,false,Yes,,
SRC-3,GOOD-3,maybe,Yes,,
SRC-4,GOOD-4,false,Sometimes,,
SRC-5,GOOD-5,false,No,2027-05-01,2027-01-01
"""
BAD_PLACES = [(3, "target_course_id"), (4, "copy_into_existing"), (5, "available"), (6, "end_date")]


def _assert_lists_every_problem(result: Result, manifest: Path) -> None:
    assert result.exit_code == 2, result.output
    for line, column in BAD_PLACES:
        assert f"{manifest}: line {line}, column {column}: " in result.stderr, (line, column)
    assert "line 2" not in result.stderr
    assert "4 problems; nothing was sent to Learn" in result.stderr
    assert result.stdout == ""


def test_validate_lists_every_manifest_problem(tmp_path: Path) -> None:
    """`validate` of a manifest with four bad lines exits 2 naming each line and column."""
    manifest = write(tmp_path / "bad.csv", BAD)
    _assert_lists_every_problem(invoke("validate", manifest), manifest)


def test_run_with_invalid_manifest_sends_nothing(tmp_path: Path) -> None:
    """`run --sandbox` of an invalid manifest exits 2 before any ledger or sandbox exists."""
    manifest = write(tmp_path / "bad.csv", BAD)
    _assert_lists_every_problem(invoke("run", manifest, "--sandbox", *FAST), manifest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_run_with_invalid_manifest_against_a_site_sends_nothing(tmp_path: Path) -> None:
    """With a real site and credentials, an invalid manifest still stops before any call."""
    manifest = write(tmp_path / "bad.csv", BAD)
    result = invoke(
        "run",
        manifest,
        "--base-url",
        f"http://127.0.0.1:{free_port()}",
        env={"LEARN_KEY": "k", "LEARN_SECRET": "s"},
    )
    _assert_lists_every_problem(result, manifest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_missing_manifest_is_a_usage_error(tmp_path: Path) -> None:
    """A manifest path that does not exist exits 2 with an Error line."""
    result = invoke("validate", tmp_path / "nope.csv")
    assert result.exit_code == 2
    assert "nope.csv" in result.stderr
    assert "Traceback" not in result.output


# --- run against the sandbox --------------------------------------------------------------------


def test_sandbox_run_writes_results_beside_manifest(tmp_path: Path, small: Path) -> None:
    """A sandbox run exits 0 and writes the contract's results CSV beside the manifest."""
    result = sandbox_run(tmp_path, small)
    assert result.exit_code == 0, result.output
    results = tmp_path / "spring.sandbox.results.csv"
    assert (tmp_path / "spring.sandbox.ledger.sqlite").exists()
    assert (tmp_path / "spring.sandbox.json").exists()
    header, rows = results_of(results)
    assert header[: len(RESULT_COLUMNS)] == RESULT_COLUMNS
    assert [(r["line"], r["target_course_id"]) for r in rows] == [
        ("2", "BIO-101-001-SP27"),
        ("3", "BIO-101-002-SP27"),
        ("4", "CHEM-110-001-SP27"),
        ("5", "HIST-210-001-SP27"),
    ]
    assert {r["status"] for r in rows} == {"done"}
    for r in rows:
        assert r["course_pk"].startswith("_") and r["course_pk"].endswith("_1")
        assert r["error"] == ""
        assert datetime.fromisoformat(r["requested_at"]).tzinfo is not None
        assert datetime.fromisoformat(r["completed_at"]) >= datetime.fromisoformat(
            r["requested_at"]
        )
    assert "Rollover: 4 rows: 4 done, 0 failed, 0 needs_review, 0 pending" in result.stdout
    assert f"Results: {results}" in result.stdout
    # The extra columns: the manifest's name and term, and the address Learn reported for each
    # patched course (CHEM-110's row asks for no change, so it is never patched nor asked).
    assert [(r["name"], r["term_id"]) for r in rows] == [
        ("Biology 101 (Spring 2027)", "SP27"),
        ("Biology 101 section 2", "SP27"),
        ("", ""),
        ("", "SP27"),
    ]
    urls = [r["course_url"] for r in rows]
    assert urls[2] == "" and all(urls[i] for i in (0, 1, 3))
    for url, row in zip(urls, rows, strict=True):
        if url:  # the sandbox answers a path, as older Learn does: the results make it clickable
            assert url.startswith("http://127.0.0.1:"), url
            assert url.endswith(f"course_id={row['course_pk']}")
    assert [r["enrolled"] for r in rows] == [""] * 4


def test_second_run_costs_no_api_call(tmp_path: Path, finished: Path) -> None:
    """Re-running a finished manifest exits 0, says 0 API calls and keeps the results."""
    results = tmp_path / "spring.sandbox.results.csv"
    before = results_of(results)
    result = sandbox_run(tmp_path, finished)
    assert result.exit_code == 0, result.output
    assert "API calls: 0 " in result.stdout
    assert results_of(results) == before


def test_ledger_and_results_options_place_files(tmp_path: Path, small: Path) -> None:
    """`--ledger` and `--results` put the ledger, its sandbox state and the CSV where asked."""
    (tmp_path / "state").mkdir()
    (tmp_path / "out").mkdir()
    ledger, results = tmp_path / "state" / "x.ledger.sqlite", tmp_path / "out" / "r.csv"
    result = sandbox_run(tmp_path, small, "--ledger", ledger, "--results", results)
    assert result.exit_code == 0, result.output
    assert ledger.exists() and results.exists()
    assert (tmp_path / "state" / "x.sandbox.json").exists()
    assert not (tmp_path / "spring.sandbox.results.csv").exists()
    assert not (tmp_path / "spring.sandbox.ledger.sqlite").exists()
    assert [r["status"] for r in results_of(results)[1]] == ["done"] * 4


def test_lost_answer_into_existing_shell_needs_review(tmp_path: Path) -> None:
    """A copy into a shell whose answer was lost ends `needs_review` with what to check; exit 1."""
    manifest = write(
        tmp_path / "m.csv",
        "source_course_id,target_course_id,copy_into_existing\n"
        "HIST-210-FA26,HIST-210-001-SP27,true\n",
    )
    config = sandbox_config(tmp_path, "drop_copy_response_rate = 1.0\n")
    result = invoke("run", manifest, "--sandbox", "--sandbox-config", config, *FAST)
    assert result.exit_code == 1, result.output
    [row] = results_of(tmp_path / "m.sandbox.results.csv")[1]
    assert row["status"] == "needs_review"
    assert "HIST-210-001-SP27" in row["error"]
    assert "check" in row["error"]
    assert "Needs a person:" in result.stdout
    assert "line 2 HIST-210-001-SP27 [needs_review]" in result.stdout
    again = invoke("run", manifest, "--sandbox", *FAST)
    assert again.exit_code == 1, again.output
    assert "API calls: 0 " in again.stdout


def test_run_outside_window_starts_nothing_and_exits_3(tmp_path: Path, small: Path) -> None:
    """Started outside `--window`, a run starts no copy, writes results and exits 3."""
    now = datetime.now(UTC)
    window = f"{now + timedelta(hours=2):%H:%M}-{now + timedelta(hours=3):%H:%M}"
    result = sandbox_run(tmp_path, small, "--window", window, "--timezone", "UTC")
    assert result.exit_code == 3, result.output
    assert [r["status"] for r in results_of(tmp_path / "spring.sandbox.results.csv")[1]] == [
        "pending"
    ] * 4
    assert "POST /v2/courses/{id}/copy" not in result.stdout
    assert "Stopped early: outside the window" in result.stdout
    assert "Run the same command again to continue" in result.stdout


def test_quota_reserve_stops_new_copies_and_exits_3(tmp_path: Path) -> None:
    """Below `--quota-reserve`, no new copy starts; the run writes results and exits 3."""
    manifest = write(
        tmp_path / "m.csv",
        "source_course_id,target_course_id\n"
        + "".join(f"BIO-101-FA26,BIO-101-{i:03d}-SP27\n" for i in range(1, 4)),
    )
    config = sandbox_config(tmp_path, "quota_limit = 50\n")
    result = invoke(
        "run",
        manifest,
        "--sandbox",
        "--sandbox-config",
        config,
        *FAST,
        "--quota-reserve",
        "100",
        "--concurrency",
        "1",
    )
    assert result.exit_code == 3, result.output
    assert "Stopped early: quota reserve reached" in result.stdout
    statuses = [r["status"] for r in results_of(tmp_path / "m.sandbox.results.csv")[1]]
    assert statuses.count("pending") >= 2
    assert set(statuses) <= {"pending", "done"}


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--window", "25:00-06:00", "out of range"),
        ("--window", "10pm-6am", "is not HH:MM-HH:MM"),
        ("--timezone", "Mars/Olympus", "is not a time zone this machine knows"),
        ("--poll-min", "120", "is larger than --poll-max"),
        ("--concurrency", "0", "Invalid value for '--concurrency'"),
    ],
)
def test_bad_run_option_is_usage_error(
    tmp_path: Path, small: Path, option: str, value: str, message: str
) -> None:
    """A bad option value exits 2 with a message and writes nothing."""
    result = invoke("run", small, "--sandbox", option, value)
    assert result.exit_code == 2
    assert message in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spring.csv"]


# --- real sites: URL and credentials -----------------------------------------------------------


def test_plain_http_to_remote_host_is_refused(tmp_path: Path, small: Path) -> None:
    """`--base-url http://` to a non-loopback host exits 2 saying http is for loopback only."""
    result = invoke(
        "run",
        small,
        "--base-url",
        "http://example.edu",
        env={"LEARN_KEY": "k", "LEARN_SECRET": "s"},
    )
    assert result.exit_code == 2
    assert "plain http" in result.stderr
    assert "http:// is accepted only for 127.0.0.1, ::1 and localhost" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spring.csv"]


def test_base_url_from_environment_is_checked(tmp_path: Path, small: Path) -> None:
    """LEARN_BASE_URL is used like `--base-url`, with the same loopback rule."""
    result = invoke(
        "run",
        small,
        env={"LEARN_BASE_URL": "http://learn.example.edu", "LEARN_KEY": "k", "LEARN_SECRET": "s"},
    )
    assert result.exit_code == 2
    assert "plain http" in result.stderr


def test_missing_credentials_name_the_variables(tmp_path: Path, small: Path) -> None:
    """Without LEARN_KEY/LEARN_SECRET a real-site run exits 2 naming both variables."""
    result = invoke("run", small, "--base-url", "https://learn.example.edu")
    assert result.exit_code == 2
    assert "LEARN_KEY" in result.stderr and "LEARN_SECRET" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spring.csv"]


def test_no_site_at_all_is_a_usage_error(tmp_path: Path, small: Path) -> None:
    """`run` with neither a base URL nor `--sandbox` exits 2 and suggests both."""
    result = invoke("run", small)
    assert result.exit_code == 2
    assert "--base-url" in result.stderr and "--sandbox" in result.stderr


def test_unreachable_learn_exits_3_pending_without_leaking_secrets(tmp_path: Path) -> None:
    """Learn not listening: exit 3, rows pending, and the key and secret appear nowhere."""
    manifest = write(
        tmp_path / "m.csv", "source_course_id,target_course_id\nBIO-101-FA26,BIO-101-001-SP27\n"
    )
    key, secret = "KEY-zq81-distinctive", "SECRET-zq82-distinctive"
    basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
    result = invoke(
        "--debug",
        "run",
        manifest,
        "--base-url",
        f"http://127.0.0.1:{free_port()}",
        "--concurrency",
        "1",
        *FAST,
        env={"LEARN_KEY": key, "LEARN_SECRET": secret},
    )
    assert result.exit_code == 3, result.output
    assert [r["status"] for r in results_of(tmp_path / "m.results.csv")[1]] == ["pending"]
    assert "Stopped early:" in result.stdout
    assert "Run the same command again to continue" in result.stdout
    for text in (result.stdout, result.stderr):
        assert key not in text and secret not in text and basic not in text


# --- status and report --------------------------------------------------------------------------


def test_status_json_shape(tmp_path: Path, finished: Path) -> None:
    """`status --json` gives counts for all four statuses, stages, needs_person, quota,
    merged sections and dates moved."""
    result = invoke("status", finished, "--sandbox", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    quota = data.pop("quota")
    assert quota["limit"] == 10000 and 0 < quota["remaining"] < 10000
    assert quota["seen_at"].endswith("Z") or "+00:00" in quota["seen_at"]
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


def test_failed_row_exits_1_and_is_listed(tmp_path: Path) -> None:
    """A PATCH Learn refuses (a term it does not have) fails its row: exit 1, and
    `status --json` lists it with its kind and what to do."""
    manifest = write(
        tmp_path / "m.csv",
        "source_course_id,target_course_id,term_id\n"
        "BIO-101-FA26,BIO-101-001-SP27,SP27\n"
        "BIO-101-FA26,BIO-101-002-SP27,_999_1\n",  # a primary id: not seeded, not in Learn
    )
    result = sandbox_run(tmp_path, manifest)
    assert result.exit_code == 1, result.output
    rows = results_of(tmp_path / "m.sandbox.results.csv")[1]
    assert [r["status"] for r in rows] == ["done", "failed"]
    assert "Learn refused the PATCH" in rows[1]["error"]
    data = json.loads(
        invoke("status", "--ledger", tmp_path / "m.sandbox.ledger.sqlite", "--json").stdout
    )
    assert data["counts"] == {"done": 1, "failed": 1, "needs_review": 0, "pending": 0}
    assert data["needs_person"] == [
        {
            "line": 3,
            "target_course_id": "BIO-101-002-SP27",
            "status": "failed",
            "error": rows[1]["error"],
            "error_kind": "patch_refused",
            "hint": "correct the row's name, dates, term or availability in the manifest and "
            "run again (or, if the row was right, run again with --retry-failed): the course is "
            "patched again, never copied again",
        }
    ]


def test_a_row_added_to_a_rehearsal_finds_its_source_and_shell(tmp_path: Path) -> None:
    """Rows added after a rehearsal began get their sources and shells in the simulated Learn,
    as the real one would have them, and say so; nothing fails with "Course not found"."""
    manifest = write(
        tmp_path / "m.csv",
        "source_course_id,target_course_id,copy_into_existing\n"
        "BIO-101-FA26,BIO-101-001-SP27,false\n",
    )
    assert sandbox_run(tmp_path, manifest).exit_code == 0
    with manifest.open("a", encoding="utf-8") as handle:
        handle.write("CHEM-110-FA26,CHEM-110-001-SP27,false\nBIO-101-FA26,BIO-SHELL-SP27,true\n")
    result = sandbox_run(tmp_path, manifest)
    assert result.exit_code == 0, result.output
    assert (
        "Sandbox: added what the manifest names since the rehearsal began: CHEM-110-FA26, "
        "BIO-SHELL-SP27"
    ) in result.stdout
    assert "3 rows: 3 done" in result.stdout


def test_status_text(tmp_path: Path, finished: Path) -> None:
    """`status` prints the counts line and the stages."""
    result = invoke("status", "--ledger", tmp_path / "spring.sandbox.ledger.sqlite")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "4 rows: 4 done, 0 failed, 0 needs_review, 0 pending",
        "Stages: 0 queued, 0 copying, 0 patching, 0 shifting, 4 done, 0 failed, 0 needs review",
    ]


def test_status_without_ledger_exits_2(tmp_path: Path, small: Path) -> None:
    """`status` before any run exits 2 saying there is no ledger and what to do."""
    result = invoke("status", small)
    assert result.exit_code == 2
    assert f"Error: no ledger at {tmp_path / 'spring.ledger.sqlite'}" in result.stderr
    assert "rollover run" in result.stderr


def test_status_needs_manifest_or_ledger() -> None:
    """`status` with neither MANIFEST nor --ledger exits 2."""
    result = invoke("status")
    assert result.exit_code == 2
    assert "--ledger" in result.stderr


def test_report_rewrites_results_identically(tmp_path: Path, finished: Path) -> None:
    """`report --results other.csv` writes the same CSV the run wrote, from the ledger."""
    other = tmp_path / "other.csv"
    result = invoke("report", finished, "--sandbox", "--results", other)
    assert result.exit_code == 0, result.output
    assert other.read_bytes() == (tmp_path / "spring.sandbox.results.csv").read_bytes()
    assert f"Results: {other}" in result.stdout


def test_report_by_ledger_defaults_beside_it(tmp_path: Path, finished: Path) -> None:
    """`report --ledger X.ledger.sqlite` rewrites X.results.csv beside the ledger."""
    results = tmp_path / "spring.sandbox.results.csv"
    expected = results.read_bytes()
    results.unlink()
    result = invoke("report", "--ledger", tmp_path / "spring.sandbox.ledger.sqlite")
    assert result.exit_code == 0, result.output
    assert results.read_bytes() == expected


@pytest.mark.parametrize(("option", "name"), [("--results", "r.csv"), ("--html", "r.html")])
def test_report_into_a_folder_that_does_not_exist_is_refused(
    tmp_path: Path, finished: Path, option: str, name: str
) -> None:
    """`report --results` or `--html` into a missing folder exits 2 naming the option and the
    path, as `run` does, and creates no folder and no file."""
    target = tmp_path / "missing" / name
    result = invoke("report", finished, "--sandbox", option, target)
    assert result.exit_code == 2, result.output
    assert f"Error: {option} {target} is in a folder that does not exist" in result.stderr
    assert f"Hint: pass {option} with a path in a folder that exists" in result.stderr
    assert not (tmp_path / "missing").exists()


def test_results_default_beside_the_manifest_even_with_the_ledger_elsewhere(
    tmp_path: Path, small: Path
) -> None:
    """With MANIFEST and `--ledger` in another folder, `run` and `report` write the results
    beside the manifest (<stem>.sandbox.results.csv), as the contract and --help say; the
    simulated site's state stays beside the ledger."""
    elsewhere = tmp_path / "ledgers"
    elsewhere.mkdir()
    ledger = elsewhere / "night.ledger.sqlite"
    results = tmp_path / "spring.sandbox.results.csv"
    run = sandbox_run(tmp_path, small, "--ledger", ledger)
    assert run.exit_code == 0, run.output
    assert f"Results: {results}" in run.stdout
    written = results.read_bytes()
    assert sorted(p.name for p in elsewhere.iterdir() if "results" in p.name) == []
    assert (elsewhere / "night.sandbox.json").exists()
    results.unlink()
    report = invoke("report", small, "--sandbox", "--ledger", ledger)
    assert report.exit_code == 0, report.output
    assert report.stdout.endswith(f"Results: {results}\n")
    assert results.read_bytes() == written


def test_second_run_on_a_ledger_in_use_is_refused(tmp_path: Path, small: Path) -> None:
    """While another run holds the ledger, `run` exits 2 with a clear message."""
    from rollover.cli import default_files
    from rollover.ledger import Ledger

    holder = Ledger(default_files(small, sandbox=True).ledger)
    holder.acquire_run_lock()
    try:
        result = sandbox_run(tmp_path, small)
    finally:
        holder.close()
    assert result.exit_code == 2, result.output
    assert "another rollover run is using" in result.stderr
