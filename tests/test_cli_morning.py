"""The morning after from the command line: `run --html`, the notifications at the end of a
run, `report --html` and `status --check`."""

from __future__ import annotations

import json
from pathlib import Path

import html5lib
from cli_runs import invoke, sandbox_run, write
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
