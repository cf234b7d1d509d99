"""Output paths, sites and rehearsals: the traps of a registrar's first night, each refused
before anything reaches Learn, with the path or host named and the fix."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import pytest
from cli_runs import FAST, invoke, sandbox_run, write
from click.testing import CliRunner

from rollover.cli import default_files, reports_errors
from rollover.sandbox import LearnSandbox

MANIFEST = (
    "source_course_id,target_course_id,name\n"
    "BIO-101-FA26,BIO-101-001-SP27,Biology\n"
    "BIO-101-FA26,BIO-101-002-SP27,Biology 2\n"
)
CREDENTIALS = {"LEARN_KEY": "k", "LEARN_SECRET": "s"}


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return write(tmp_path / "spring.csv", MANIFEST)


@pytest.mark.parametrize(
    ("option", "path", "says"),
    [
        ("--results", "/dev/null/r.csv", "is under /dev/null, which is not a folder"),
        ("--results", "missing/r.csv", "is in a folder that does not exist"),
        ("--ledger", "missing/x.ledger.sqlite", "is in a folder that does not exist"),
        ("--log-file", "missing/run.log", "is in a folder that does not exist"),
    ],
)
def test_an_unwritable_output_path_is_refused_before_any_call(
    tmp_path: Path, manifest: Path, option: str, path: str, says: str
) -> None:
    """A results, ledger or log path that cannot be written exits 2 before the first call,
    naming the option and the path; nothing is copied and no folder is created."""
    target = path if path.startswith("/") else str(tmp_path / path)
    result = sandbox_run(tmp_path, manifest, option, target)
    assert result.exit_code == 2, result.output
    assert f"Error: {option} {target} {says}; nothing was sent to Learn" in result.stderr
    assert "Hint: pass " + option in result.stderr
    assert not (tmp_path / "missing").exists()
    assert not (tmp_path / "spring.sandbox.json").exists()  # the simulator never started


def test_a_rehearsal_keeps_its_own_files_and_never_blocks_the_real_run(
    tmp_path: Path, manifest: Path
) -> None:
    """`run --sandbox` writes spring.sandbox.*; `status --sandbox` reads them; the real run's
    default ledger is untouched, so a real run afterwards is not refused."""
    assert sandbox_run(tmp_path, manifest).exit_code == 0
    assert sorted(p.name for p in tmp_path.glob("spring.sandbox.*")) == [
        "spring.sandbox.json",
        "spring.sandbox.json.journal",
        "spring.sandbox.ledger.sqlite",
        "spring.sandbox.ledger.sqlite.lock",
        "spring.sandbox.results.csv",
    ]
    assert not (tmp_path / "spring.ledger.sqlite").exists()
    rehearsed = invoke("status", manifest, "--sandbox")
    assert rehearsed.exit_code == 0 and "2 rows: 2 done" in rehearsed.stdout
    real = invoke("status", manifest)
    assert real.exit_code == 2
    assert f"Error: no ledger at {tmp_path / 'spring.ledger.sqlite'}" in real.stderr
    assert (
        "Hint: spring.sandbox.ledger.sqlite beside it is a rehearsal's: pass --sandbox to read it"
    ) in real.stderr


@pytest.mark.parametrize(
    ("manifest_name", "sandbox", "ledger", "named"),
    [
        ("spring.csv", False, None, ("spring.ledger.sqlite", "spring.results.csv")),
        ("spring.CSV", True, None, ("spring.sandbox.ledger.sqlite", "spring.sandbox.results.csv")),
        ("spring", False, None, ("spring.ledger.sqlite", "spring.results.csv")),
        (
            "spring.csv",
            True,
            "night.ledger.sqlite",
            ("night.ledger.sqlite", "spring.sandbox.results.csv"),
        ),
        (
            None,
            False,
            "night.sandbox.ledger.sqlite",
            ("night.sandbox.ledger.sqlite", "night.sandbox.results.csv"),
        ),
        (None, False, "night.db", ("night.db", "night.db.results.csv")),
    ],
)
def test_default_files_name_every_file_the_contract_names(
    tmp_path: Path,
    manifest_name: str | None,
    sandbox: bool,
    ledger: str | None,
    named: tuple[str, str],
) -> None:
    """The ledger and results beside the manifest (a rehearsal's with `.sandbox`), `--ledger`
    winning for the ledger, the results beside it without a manifest, the simulated site's
    state beside the ledger with `.sandbox` once."""
    files = default_files(
        tmp_path / manifest_name if manifest_name else None,
        sandbox=sandbox,
        ledger=tmp_path / ledger if ledger else None,
    )
    assert (files.ledger, files.results) == (tmp_path / named[0], tmp_path / named[1])
    stem = files.ledger.name.removesuffix(".ledger.sqlite").removesuffix(".sandbox")
    assert files.sandbox_state == tmp_path / f"{stem}.sandbox.json"


def test_a_host_that_does_not_resolve_is_a_usage_error_and_binds_nothing(
    tmp_path: Path, manifest: Path
) -> None:
    """A typo in --base-url exits 2 naming the host and --base-url, and leaves the ledger free
    for the right site (bound to the site that first answers, not the first one named)."""
    typo = invoke(
        "run", manifest, "--base-url", "https://learn.example.invalid", *FAST, env=CREDENTIALS
    )
    assert typo.exit_code == 2, typo.output
    assert (
        "Error: the host name 'learn.example.invalid' of https://learn.example.invalid does "
        "not resolve"
    ) in typo.stderr
    assert "Hint: check --base-url (or LEARN_BASE_URL) for a typo" in typo.stderr
    with sqlite3.connect(tmp_path / "spring.ledger.sqlite") as db:
        assert db.execute("SELECT value FROM meta WHERE key='site'").fetchall() == []
        assert {state for (state,) in db.execute("SELECT state FROM rows")} == {"pending"}


def test_a_ledger_of_another_site_is_not_trusted_by_check_learn(
    tmp_path: Path, manifest: Path
) -> None:
    """`validate --check-learn --ledger` ignores (and says so) a ledger bound to another site,
    and checks every row as new."""
    assert sandbox_run(tmp_path, manifest).exit_code == 0
    ledger = tmp_path / "spring.sandbox.ledger.sqlite"
    with sqlite3.connect(ledger) as db:
        db.execute("UPDATE meta SET value = 'https://other.example.edu' WHERE key = 'site'")
    result = invoke("validate", manifest, "--check-learn", "--sandbox", "--ledger", ledger)
    assert (
        f"Ledger: {ledger} records a rollover against https://other.example.edu, not this "
        "site: not used"
    ) in result.stdout
    assert "to copy:" in result.stdout and "already done per the ledger: 0" in result.stdout
    state = LearnSandbox.load(tmp_path / "spring.sandbox.json")
    assert len(state.record.copies) == 2  # the check itself copied nothing


def test_an_unexpected_error_is_a_bug_exit_1_with_the_traceback_under_debug() -> None:
    """An exception that is not one of the tool's own is reported as a bug, exit 1 (never the
    "nothing was sent" exit 2), and `--debug` shows its traceback: the one place where every
    command's errors become messages, wrapped around a command that fails as a bug would."""

    @click.group()
    @click.option("--debug", is_flag=True)
    def tool(debug: bool) -> None:
        """A command group like rollover's."""

    @tool.command()
    @reports_errors
    def broken() -> None:
        """Fails with an error rollover does not know."""
        raise ValueError("boom")

    result = CliRunner().invoke(tool, ["broken"])
    assert result.exit_code == 1, result.output
    assert "Error: unexpected ValueError: boom" in result.stderr
    assert "Hint: this is a bug in rollover" in result.stderr
    debug = CliRunner().invoke(tool, ["--debug", "broken"])
    assert isinstance(debug.exception, ValueError)


def test_the_log_ends_with_run_end_carrying_the_exit_code(tmp_path: Path, manifest: Path) -> None:
    """The JSON log's last event says the run ended, why, and with which exit code."""
    log_file = tmp_path / "night.log"
    assert sandbox_run(tmp_path, manifest, "--log-file", log_file).exit_code == 0
    last = json.loads(log_file.read_text(encoding="utf-8").splitlines()[-1])
    assert (last["event"], last["exit_code"], last["reason"]) == ("run.end", 0, "no work left")


def test_a_rehearsal_ignores_the_config_files_window_and_says_so(
    tmp_path: Path, manifest: Path
) -> None:
    """A `window` in rollover.toml would block a daytime rehearsal: it is ignored (with a
    note) unless --window is given on the command line."""
    later = datetime.now(ZoneInfo("UTC")) + timedelta(hours=2)  # a window that is not now
    window = f"{later:%H}:00-{later:%H}:01"
    write(tmp_path / "rollover.toml", f'window = "{window}"\n')
    result = sandbox_run(tmp_path, manifest)
    assert result.exit_code == 0, result.output
    assert (
        "Note: a rehearsal ignores the window in the config file; pass --window to rehearse one."
    ) in result.stdout
    # Another rollover (its own folder: the first one's ledger holds these targets).
    (tmp_path / "again").mkdir()
    given = sandbox_run(
        tmp_path,
        write(tmp_path / "again" / "spring.csv", MANIFEST),
        "--window",
        window,
        "--timezone",
        "UTC",
        "--ledger",
        tmp_path / "other.ledger.sqlite",
    )
    assert given.exit_code == 3, given.output
    assert f"outside the window {window}" in given.stdout
