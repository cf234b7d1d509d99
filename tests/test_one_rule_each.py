"""Rules that used to live twice and drifted apart now live once: loopback hosts, yes/no words,
atomic writes, Learn's primary ids, the printable-text cleaner and the unclean-copy warning.
Each test pins the behaviour where the copies used to disagree, through every path that asks.
"""

from __future__ import annotations

import stat
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from harness import engine_run, make_learn, sections
from test_morning_ledgers import build_night

from rollover.engine import RunOptions
from rollover.errors import UsageError, printable
from rollover.learn import checked_base_url, id_form, is_loopback, is_primary_id
from rollover.ledger import State
from rollover.manifest import load_manifest, yes_or_no
from rollover.morning import check, mail_settings, summary, webhook_url, write_html_report
from rollover.plan import PROFILES
from rollover.report import write_results

YES = ("true", "TRUE", "yes", "Yes", "y", "Y", "on", "ON", "1")
NO = ("false", "False", "no", "NO", "n", "N", "off", "Off", "0")


def test_one_loopback_rule_for_learn_the_webhook_and_the_mail_server() -> None:
    """localhost in any case, 127/8 and ::1 bracketed or not are this machine, everywhere."""
    for host in ("localhost", "LocalHost", "127.0.0.1", "127.0.0.2", "::1", "[::1]"):
        assert is_loopback(host), host
    for host in ("localhost.example.edu", "10.0.0.1", "[::2]", "learn.example.edu", ""):
        assert not is_loopback(host), host
    assert checked_base_url("http://LOCALHOST:8080/") == "http://LOCALHOST:8080"
    assert checked_base_url("http://[::1]:8080") == "http://[::1]:8080"
    hook = "http://[::1]:9000/hook"
    assert webhook_url({"ROLLOVER_WEBHOOK_URL": hook}) == hook
    with pytest.raises(UsageError):
        webhook_url({"ROLLOVER_WEBHOOK_URL": "http://hooks.example.com/x"})
    env = {
        "ROLLOVER_SMTP_USER": "svc",
        "ROLLOVER_SMTP_PASSWORD": "pw",
        "ROLLOVER_SMTP_STARTTLS": "false",
        "ROLLOVER_MAIL_FROM": "a@example.edu",
    }
    for host in ("LocalHost", "[::1]", "127.0.0.1"):
        assert mail_settings({**env, "ROLLOVER_SMTP_HOST": host}).host == host
    with pytest.raises(UsageError, match="would send the password unencrypted"):
        mail_settings({**env, "ROLLOVER_SMTP_HOST": "mail.example.edu"})


def test_one_set_of_yes_no_words_for_the_manifest_the_config_and_the_environment(
    tmp_path: Path,
) -> None:
    """y/n and on/off (any case) mean the same in a manifest cell, [notify] and the environment."""
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "source_course_id,target_course_id,copy_into_existing\n"
        + "".join(f"S,T{n},{word}\n" for n, word in enumerate(YES + NO)),
        encoding="utf-8",
    )
    rows = load_manifest(manifest, timezone=ZoneInfo("America/Chicago"), profiles=PROFILES).rows
    assert [row.copy_into_existing for row in rows] == [True] * len(YES) + [False] * len(NO)
    base = {"ROLLOVER_SMTP_HOST": "relay.example.edu", "ROLLOVER_MAIL_FROM": "a@example.edu"}
    for word, meant in [(w, True) for w in YES] + [(w, False) for w in NO]:
        assert yes_or_no(word) is meant, word
        assert mail_settings({**base, "ROLLOVER_SMTP_STARTTLS": word}).starttls is meant, word
        assert mail_settings(base, {"smtp_starttls": word}).starttls is meant, word
    assert yes_or_no("maybe") is None and yes_or_no("") is None
    with pytest.raises(UsageError, match="'maybe' is not true or false"):
        mail_settings({**base, "ROLLOVER_SMTP_STARTTLS": "maybe"})


def _plain_mode(folder: Path) -> int:
    """The permissions a plain write in `folder` gives a new file (this process's umask)."""
    probe = folder / "probe"
    probe.write_text("x")
    mode = stat.S_IMODE(probe.stat().st_mode)
    probe.unlink()
    return mode


def test_the_results_and_the_report_are_written_by_one_atomic_writer(tmp_path: Path) -> None:
    """Both files: the permissions of a plain write (not a temp file's 0600), nothing left
    beside them, and a missing folder refused (OSError), never created."""
    ledger = tmp_path / "night.sqlite"
    build_night(ledger)
    out = tmp_path / "out"
    out.mkdir()
    write_results([], out / "results.csv")
    write_html_report(ledger, out / "report.html", title="Spring 2027")
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "results.csv"]
    plain = _plain_mode(out)
    for name in ("results.csv", "report.html"):
        assert stat.S_IMODE((out / name).stat().st_mode) == plain, name
    with pytest.raises(OSError):
        write_results([], tmp_path / "missing" / "results.csv")
    with pytest.raises(OSError):
        write_html_report(ledger, tmp_path / "missing" / "report.html", title="x")
    assert not (tmp_path / "missing").exists()


def test_a_primary_id_is_the_whole_value_in_ascii_digits() -> None:
    """`_12_1` is a primary id; with a final line break or other scripts' digits it is not."""
    assert is_primary_id("_12_1") and is_primary_id("_123456_1")
    for text in ("_12_1\n", "_\u0661\u0662_1", "x_12_1", "_12_1x", "_12", "12_1"):
        assert not is_primary_id(text), text
    assert id_form("_12_1") == "_12_1"
    assert id_form("_12_1\n") == "courseId:_12_1\n"


def test_one_cleaner_for_every_text_the_tool_shows(tmp_path: Path) -> None:
    """Line breaks and escape sequences are shown escaped alike in errors, the Nagios line and
    a mail's subject (never turned into spaces in some places and escaped in others)."""
    assert printable("a\nb\x1b[2J\tc") == "a\\nb\\x1b[2J\\tc"
    ledger = tmp_path / "night.sqlite"
    build_night(ledger)
    subject = summary(ledger, title="Spring\n2027\x1b[31m").subject
    assert subject.startswith("Spring\\n2027\\x1b[31m: "), subject
    line = check(tmp_path / "no\nsuch.sqlite").line
    assert "\n" not in line and "no\\nsuch.sqlite" in line, line


class _TaskGoneSaysIncomplete(httpx.AsyncBaseTransport):
    """Learn's 404 for a forgotten task, its message holding the word `Incomplete`."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Pass the request on; a task's 404 comes back with other words."""
        response = await self.inner.handle_async_request(request)
        if response.status_code == 404 and "/tasks/" in request.url.path:
            await response.aread()
            message = "Task not found: Incomplete or expired"
            return httpx.Response(404, json={"status": 404, "message": message})
        return response


def test_an_unclean_copy_is_told_by_the_tasks_status_never_by_a_messages_words(
    tmp_path: Path,
) -> None:
    """A lost task whose 404 message says `Incomplete` is reconciled as a clean copy: only a
    task status of CompleteWithErrors or Incomplete hands the row to a person."""
    learn = make_learn(forget_tasks_after=0.0, copy_seconds=5.0)
    learn.transport = _TaskGoneSaysIncomplete(learn.transport)  # type: ignore[assignment]
    options = RunOptions(poll_min=10, poll_max=20, adopt_settle=30)
    _, final = engine_run(learn, sections(1, name="Renamed"), tmp_path / "l.sqlite", options)
    assert final[0].state is State.DONE, final[0]
    assert final[0].error_kind is None and not final[0].error, final[0]
