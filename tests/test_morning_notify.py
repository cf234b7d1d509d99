"""Notifications: the summary, the webhook (a real local receiver) and the mail (a real local
SMTP server); neither ever raises, and neither ever shows a secret."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from test_morning_ledgers import NIGHT_START, SCRIPT_ERROR, build_night, build_rows

from rollover.errors import ConfigInvalid, ExitCode, UsageError
from rollover.morning import (
    MailSettings,
    RunFacts,
    Summary,
    mail_settings,
    post_webhook,
    recipients,
    send_mail,
    summary,
    webhook_url,
    write_html_report,
)

SECRET_PATH = "/services/T0001/B0002/s3cr3tT0k3n"


@pytest.fixture
def night_summary(tmp_path: Path) -> tuple[Summary, Path]:
    """The night's summary, pointing to its HTML report."""
    ledger = tmp_path / "spring2027.ledger.sqlite"
    build_night(ledger)
    report = write_html_report(ledger, tmp_path / "spring2027.html", title="Spring 2027")
    run = RunFacts(NIGHT_START, NIGHT_START + timedelta(hours=3, minutes=30), ExitCode.STOPPED)
    return summary(ledger, title="Spring 2027", run=run, report_path=report), report


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_summary_counts_and_names_the_first_rows_for_a_person(
    night_summary: tuple[Summary, Path],
) -> None:
    """Counts by status, exit code, duration, the rows that need a person (line, target,
    status, error) and the report's path; the text says it in a few lines."""
    found, report = night_summary
    fields = found.fields()
    assert fields["counts"] == {"done": 19, "failed": 2, "needs_review": 1, "pending": 3}
    assert (fields["total"], fields["exit_code"], fields["duration_seconds"]) == (25, 3, 12600.0)
    assert [(p["line"], p["status"]) for p in fields["needs_person"]] == [
        (21, "failed"),
        (22, "failed"),
        (23, "needs_review"),
    ]
    assert fields["needs_person"][0]["error"] == SCRIPT_ERROR
    assert fields["report_path"] == str(report)
    assert found.text.splitlines() == [
        "Spring 2027: 19 done, 2 failed, 1 needs_review, 3 pending of 25.",
        "The run took 3.5 h (exit 3, stopped, resumable: run the same command again).",
        "Needs a person (3):",
        f"- line 21 CHEM-119-001-SP27 failed: {SCRIPT_ERROR}",
        "- line 22 BIO-120-001-SP27 failed: Invalid termId: SP27",
        "- line 23 HIST-121-001-SU27 needs_review: the copy request's answer was lost",
        f"Report: {report}",
    ]
    assert found.subject == "Spring 2027: 19 done, 2 failed, 1 needs_review, 3 pending of 25"


def test_the_summary_lists_at_most_ten_rows(tmp_path: Path) -> None:
    """Of 12 failed rows the summary lists the first 10 and counts all 12; the text names 3."""
    ledger = tmp_path / "l.sqlite"
    build_rows(ledger, done=1, failed=12)
    found = summary(ledger, title="Big")
    assert len(found.needs_person) == 10 and found.needs_person_total == 12
    assert [p.line for p in found.needs_person] == list(range(3, 13))
    assert found.exit_code is None and found.duration_seconds is None
    assert found.text.splitlines()[-1] == "- and 9 more"


class _Receiver(BaseHTTPRequestHandler):
    """Answers what the test tells it to, and keeps what it was sent."""

    received: list[tuple[str, dict[str, str], bytes]]
    answer: tuple[int, bytes]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, dict(self.headers), body))
        status, text = self.answer
        self.send_response(status)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    """A webhook receiver on 127.0.0.1 (its own handler class, so tests do not share state)."""
    handler = type("Receiver", (_Receiver,), {"received": [], "answer": (200, b"ok")})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_webhook_posts_text_and_the_structured_summary(
    night_summary: tuple[Summary, Path], receiver: tuple[str, type[_Receiver]]
) -> None:
    """One JSON POST: `text` (with <, > and & escaped as Slack asks) and every field."""
    found, _ = night_summary
    base, handler = receiver
    outcome = post_webhook(base + SECRET_PATH, found)
    assert outcome.ok, outcome.detail
    assert outcome.detail == "posted (the webhook answered 200)"
    [(path, headers, body)] = handler.received
    assert path == SECRET_PATH
    assert headers["Content-Type"] == "application/json"
    posted = json.loads(body)
    assert posted["text"].startswith("Spring 2027: 19 done, 2 failed")
    assert (
        "&lt;script&gt;alert('pwned')&lt;/script&gt; Learn refused the copy &amp; said so"
        in (posted["text"])
    )
    assert {key: posted[key] for key in found.fields()} == found.fields()
    assert posted["needs_person"][0]["error"] == SCRIPT_ERROR  # the fields are not escaped


def test_a_refusing_webhook_is_a_failure_without_the_url(
    night_summary: tuple[Summary, Path], receiver: tuple[str, type[_Receiver]]
) -> None:
    """A 403 is a failed delivery naming the status; the URL it echoes back is cut out."""
    found, _ = night_summary
    base, handler = receiver
    handler.answer = (403, f"invalid token for {SECRET_PATH}".encode())
    outcome = post_webhook(base + SECRET_PATH, found)
    assert not outcome.ok
    assert outcome.detail == "refused: the webhook answered 403: invalid token for [webhook URL]"
    assert "s3cr3t" not in str(outcome)


def test_an_unreachable_webhook_returns_a_failure_without_raising_or_the_url(
    night_summary: tuple[Summary, Path],
) -> None:
    """Connection refused: a failed outcome that says so, never an exception, never the URL."""
    found, _ = night_summary
    url = f"http://127.0.0.1:{_free_port()}{SECRET_PATH}"
    outcome = post_webhook(url, found, timeout=5)
    assert not outcome.ok
    assert outcome.detail == "not sent: could not connect to the webhook's host"
    assert "s3cr3t" not in repr(outcome) and "127.0.0.1" not in str(outcome)


def test_plain_http_to_another_machine_is_not_sent(night_summary: tuple[Summary, Path]) -> None:
    """The URL is a secret: http:// only to this machine, else nothing is sent."""
    found, _ = night_summary
    outcome = post_webhook(f"http://hooks.example.com{SECRET_PATH}", found)
    assert not outcome.ok and "s3cr3t" not in str(outcome)
    assert "unencrypted" in outcome.detail


def test_the_webhook_url_comes_from_the_environment_and_is_never_echoed() -> None:
    """ROLLOVER_WEBHOOK_URL is read and checked; a missing or unusable one is a usage error
    that does not repeat it."""
    good = f"https://hooks.example.com{SECRET_PATH}"
    assert webhook_url({"ROLLOVER_WEBHOOK_URL": good}) == good
    with pytest.raises(UsageError, match="needs the webhook's URL in ROLLOVER_WEBHOOK_URL"):
        webhook_url({})
    with pytest.raises(UsageError) as refused:
        webhook_url({"ROLLOVER_WEBHOOK_URL": f"ftp://hooks.example.com{SECRET_PATH}"})
    assert "s3cr3t" not in refused.value.message + str(refused.value.hint)


class _Mailbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Mailbox]]:
    """A real SMTP server on 127.0.0.1 (no TLS), as a local relay is."""
    mailbox = _Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


def test_the_mail_carries_the_summary_and_the_report(
    night_summary: tuple[Summary, Path], smtp_server: tuple[int, _Mailbox]
) -> None:
    """One mail to each address: the subject and body from the summary, the HTML attached."""
    found, report = night_summary
    port, mailbox = smtp_server
    settings = MailSettings("127.0.0.1", "rollover@example.edu", port=port, starttls=False)
    outcome = send_mail(settings, "registrar@example.edu, it@example.edu", found, attachment=report)
    assert outcome.ok, outcome.detail
    assert outcome.detail == (f"sent to registrar@example.edu, it@example.edu via 127.0.0.1:{port}")
    [envelope] = mailbox.envelopes
    assert envelope.mail_from == "rollover@example.edu"
    assert envelope.rcpt_tos == ["registrar@example.edu", "it@example.edu"]
    assert isinstance(envelope.content, bytes)
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == found.subject
    body = message.get_body(("plain",))
    assert body is not None and found.text in body.get_content().replace("\r\n", "\n")
    [attached] = list(message.iter_attachments())
    assert attached.get_content_type() == "text/html"
    assert attached.get_filename() == "spring2027.html"
    assert attached.get_payload(decode=True) == report.read_bytes()


def test_an_unreachable_smtp_server_returns_a_failure_without_raising(
    night_summary: tuple[Summary, Path],
) -> None:
    """Connection refused: a failed outcome naming the server, never an exception or the
    password."""
    found, report = night_summary
    port = _free_port()
    settings = MailSettings(
        "127.0.0.1", "rollover@example.edu", port=port, starttls=False, user="u", password="pw!"
    )
    outcome = send_mail(settings, "registrar@example.edu", found, attachment=report, timeout=5)
    assert not outcome.ok
    assert outcome.detail.startswith(f"not sent: could not reach 127.0.0.1:{port}")
    assert "pw!" not in str(outcome) and "pw!" not in repr(settings)


def test_a_bad_address_is_not_sent(night_summary: tuple[Summary, Path]) -> None:
    """An address with a line break (a header injection) is refused before connecting."""
    found, _ = night_summary
    settings = MailSettings("127.0.0.1", "rollover@example.edu", port=_free_port())
    outcome = send_mail(settings, "a@example.edu\r\nBcc: x@example.com", found)
    assert not outcome.ok and "is not a mail address" in outcome.detail
    with pytest.raises(UsageError, match="'nobody' is not a mail address"):
        recipients(["a@example.edu", "nobody"])


def test_mail_settings_come_from_the_environment_over_the_config_table() -> None:
    """The environment wins over [notify]; port 587 and STARTTLS on by default."""
    table: dict[str, object] = {
        "smtp_host": "relay.example.edu",
        "mail_from": "config@example.edu",
        "smtp_port": 25,
    }
    env = {"ROLLOVER_MAIL_FROM": "env@example.edu", "ROLLOVER_SMTP_STARTTLS": "false"}
    settings = mail_settings(env, table)
    assert settings == MailSettings("relay.example.edu", "env@example.edu", 25, False)
    assert mail_settings({"ROLLOVER_SMTP_HOST": "h", "ROLLOVER_MAIL_FROM": "a@b.c"}) == (
        MailSettings("h", "a@b.c", 587, True)
    )
    with_login = mail_settings({"ROLLOVER_SMTP_USER": "svc", "ROLLOVER_SMTP_PASSWORD": "pw"}, table)
    assert (with_login.user, with_login.password, with_login.starttls) == ("svc", "pw", True)


def test_a_password_or_an_unknown_key_in_the_config_is_refused() -> None:
    """[notify] never holds a password (env only) and only knows its own keys."""
    with pytest.raises(ConfigInvalid) as refused:
        mail_settings({}, {"smtp_host": "h", "smtp_password": "pw", "smtp_hots": "x"})
    assert refused.value.problems == [
        "[notify] smtp_password: a password is never read from the file; set "
        "ROLLOVER_SMTP_PASSWORD in the environment",
        "[notify] smtp_hots is not a setting (did you mean 'smtp_host'?); the settings are "
        "smtp_host, smtp_port, smtp_starttls, smtp_user, mail_from",
    ]
    assert "pw" not in refused.value.message.replace("password", "")


def test_mail_settings_refuse_what_cannot_work() -> None:
    """No host or sender, a bad port or switch, or a login that would travel unencrypted."""
    with pytest.raises(UsageError, match="needs ROLLOVER_SMTP_HOST"):
        mail_settings({"ROLLOVER_MAIL_FROM": "a@b.c"})
    base = {"ROLLOVER_SMTP_HOST": "relay.example.edu", "ROLLOVER_MAIL_FROM": "a@b.c"}
    with pytest.raises(UsageError, match="ROLLOVER_SMTP_PORT 'abc' is not a port"):
        mail_settings({**base, "ROLLOVER_SMTP_PORT": "abc"})
    with pytest.raises(UsageError, match="ROLLOVER_SMTP_STARTTLS 'maybe' is not true or false"):
        mail_settings({**base, "ROLLOVER_SMTP_STARTTLS": "maybe"})
    with pytest.raises(UsageError, match="would send the password unencrypted"):
        mail_settings(
            {
                **base,
                "ROLLOVER_SMTP_STARTTLS": "false",
                "ROLLOVER_SMTP_USER": "u",
                "ROLLOVER_SMTP_PASSWORD": "p",
            }
        )
