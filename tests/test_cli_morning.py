"""The morning after from the command line: `run --html`, the notifications at the end of a
run, `report --html` and `status --check`."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import html5lib
from cli_runs import invoke, sandbox_run, write
from processes import rows_past_pending
from test_morning_notify import (  # noqa: F401 - pytest fixtures
    _Mailbox,
    _Receiver,
    receiver,
    smtp_server,
)

MANIFEST = (
    "source_course_id,target_course_id,name\n"
    "BIO-101-FA26,BIO-101-001-SP27,Biology\n"
    "BIO-101-FA26,BIO-101-002-SP27,Biology 2\n"
)
HOOK_PATH = "/services/T000/B000/s3cr3t-hook"


def test_run_writes_the_html_report_and_posts_the_webhook(
    tmp_path: Path,
    receiver: tuple[str, type[_Receiver]],  # noqa: F811
) -> None:
    """`run --html --notify-webhook`: the report is written and named, one JSON message with
    `text` and the counts reaches the webhook, and its URL (a secret) is printed nowhere."""
    manifest = write(tmp_path / "spring.csv", MANIFEST)
    base, handler = receiver
    report = tmp_path / "night.html"
    result = invoke(
        "run",
        manifest,
        "--sandbox",
        "--html",
        report,
        "--notify-webhook",
        env={"ROLLOVER_WEBHOOK_URL": base + HOOK_PATH},
    )
    assert result.exit_code == 0, result.output
    assert f"Report: {report}" in result.stdout
    html5lib.HTMLParser(strict=True).parse(report.read_text(encoding="utf-8"))
    [(path, _, body)] = handler.received
    sent = json.loads(body)
    assert path == HOOK_PATH and "text" in sent and sent["exit_code"] == 0
    assert "s3cr3t" not in result.output


def test_a_missing_webhook_url_is_refused_before_any_call(tmp_path: Path) -> None:
    """--notify-webhook without ROLLOVER_WEBHOOK_URL exits 2 before the simulated Learn starts."""
    manifest = write(tmp_path / "spring.csv", MANIFEST)
    result = invoke("run", manifest, "--sandbox", "--notify-webhook")
    assert result.exit_code == 2, result.output
    assert "ROLLOVER_WEBHOOK_URL" in result.stderr
    assert not (tmp_path / "spring.sandbox.json").exists()


def test_a_failed_notification_changes_neither_the_exit_code_nor_the_ledger(
    tmp_path: Path,
    smtp_server: tuple[int, _Mailbox],  # noqa: F811
) -> None:
    """A webhook that refuses and a mail that goes out: exit 0 still, each outcome said."""
    manifest = write(tmp_path / "spring.csv", MANIFEST)
    port, mailbox = smtp_server
    result = invoke(
        "run",
        manifest,
        "--sandbox",
        "--notify-webhook",
        "--notify-mail",
        "dean@example.edu",
        env={
            "ROLLOVER_WEBHOOK_URL": "http://127.0.0.1:9/nothing-listens",
            "ROLLOVER_SMTP_HOST": "127.0.0.1",
            "ROLLOVER_SMTP_PORT": str(port),
            "ROLLOVER_SMTP_STARTTLS": "false",
            "ROLLOVER_MAIL_FROM": "rollover@example.edu",
        },
    )
    assert result.exit_code == 0, result.output
    assert "Not notified: webhook:" in result.stdout
    assert "Notified: mail: sent to dean@example.edu" in result.stdout
    assert len(mailbox.envelopes) == 1
    assert "2 rows: 2 done" in invoke("status", manifest, "--sandbox").stdout


def test_report_html_and_status_check(tmp_path: Path) -> None:
    """`report --html` rewrites the page from the ledger; `status --check` prints one Nagios
    line and exits 0 when every row is done."""
    manifest = write(tmp_path / "spring.csv", MANIFEST)
    assert sandbox_run(tmp_path, manifest).exit_code == 0
    page = tmp_path / "again.html"
    again = invoke("report", manifest, "--sandbox", "--html", page, "--group-by", "term")
    assert again.exit_code == 0 and f"Report: {page}" in again.stdout
    checked = invoke("status", manifest, "--sandbox", "--check")
    assert checked.exit_code == 0
    assert checked.stdout.startswith("ROLLOVER OK - ") and "| done=2" in checked.stdout


def test_a_ledger_unreadable_for_the_report_after_a_change_exits_3_never_2(
    tmp_path: Path,
    receiver: tuple[str, type[_Receiver]],  # noqa: F811
) -> None:
    """Copies were requested, then the ledger could not be read for the HTML report (its
    --ledger is a link, re-pointed mid-run at a file that is not a ledger; the run wrote on in the
    file it had open): the run prints its summary, says report and webhook were left undone
    because the ledger could not be read, and exits 3, never the "nothing was sent" 2."""
    manifest = write(tmp_path / "spring.csv", MANIFEST)
    night = tmp_path / "night.html"
    ledger = tmp_path / "current.ledger.sqlite"
    ledger.symlink_to("night1.ledger.sqlite")
    write(tmp_path / "notes.txt", "not a ledger\n" * 1000)
    repointed = threading.Event()

    def repoint_once_a_copy_is_requested() -> None:
        deadline = time.monotonic() + 60
        while rows_past_pending(ledger) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        ledger.unlink()
        ledger.symlink_to("notes.txt")
        repointed.set()

    repointer = threading.Thread(target=repoint_once_a_copy_is_requested)
    repointer.start()
    try:
        result = sandbox_run(
            tmp_path,
            manifest,
            *("--ledger", ledger, "--html", night, "--notify-webhook"),
            copy_seconds=1.0,
            env={"ROLLOVER_WEBHOOK_URL": receiver[0] + HOOK_PATH},
        )
    finally:
        repointer.join(timeout=60)
    assert repointed.is_set()
    assert result.exit_code == 3, result.output
    assert "2 rows: 2 done" in result.stdout
    assert "Report: not written: the ledger could not be read" in result.stdout
    assert "Not notified: the ledger could not be read" in result.stdout
    assert receiver[1].received == []
    assert (
        f"Error: after the run, the ledger could not be read: {ledger} is not a rollover "
        "ledger or is damaged"
    ) in result.stderr
    assert "`rollover report` writes the reports" in result.stderr
    assert not night.exists()
