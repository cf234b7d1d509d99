"""The morning after, wired to the commands: the HTML report and the notifications at the end of
a run. Everything a notification needs is checked before the first call to Learn; a report or a
notification that fails afterwards is said and logged, and never changes the exit code, unless
the ledger itself could not be read for it: then the run ends resumable (exit 3), never 2."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

import structlog

from rollover.engine import Window
from rollover.errors import LedgerError
from rollover.morning import (
    MailSettings,
    RunFacts,
    mail_settings,
    post_webhook,
    recipients,
    send_mail,
    summary,
    webhook_url,
    write_html_report,
)
from rollover.runner import RunReport
from rollover.times import utc_now

from ._advice import Invocation, next_step

log = structlog.get_logger("rollover")
GroupBy = Literal["prefix", "term"]


@dataclass(frozen=True)
class Morning:
    """What a run produces for the people who read it the next morning."""

    html: Path | None = None
    group_by: GroupBy = "prefix"
    webhook: str | None = None  # a secret: never printed or logged
    mail_to: tuple[str, ...] = ()
    mail: MailSettings | None = None

    def __repr__(self) -> str:  # never show the webhook URL
        return f"Morning(html={self.html!r}, mail_to={self.mail_to!r})"


def morning(
    *,
    html: Path | None,
    group_by: str,
    notify_webhook: bool,
    notify_mail: tuple[str, ...],
    notify_table: Mapping[str, Any],
    config_path: Path | None,
) -> Morning:
    """The run's morning-after settings, checked now (a UsageError before any call)."""
    mail_to = recipients(list(notify_mail)) if notify_mail else ()
    return Morning(
        html=html,
        group_by="term" if group_by == "term" else "prefix",
        webhook=webhook_url(os.environ) if notify_webhook else None,
        mail_to=mail_to,
        mail=mail_settings(
            os.environ, notify_table, config_path=str(config_path or "rollover.toml")
        )
        if mail_to
        else None,
    )


def report_html(
    ledger: Path,
    out: Path,
    *,
    title: str,
    group_by: str,
    invocation: Invocation,
    **facts: Any,
) -> Path:
    """Write the HTML report of a ledger (the `report --html` command and the run's end); its
    advice names the commands as `invocation` gave the rollover."""
    return write_html_report(
        ledger,
        out,
        title=title,
        group_by="term" if group_by == "term" else "prefix",
        advice=lambda row: next_step(row, invocation),
        **facts,
    )


@dataclass(frozen=True)
class AfterRun:
    """What the morning after did: the lines that say so, and the ledger's error if the ledger
    could not be read for it."""

    lines: list[str]
    ledger_error: LedgerError | None = None


def after_run(
    plan: Morning,
    report: RunReport,
    *,
    ledger: Path,
    title: str,
    started_at: datetime,
    window: Window | None,
    invocation: Invocation,
    zone: tzinfo | None = None,
) -> AfterRun:
    """Write the HTML report (its times in `zone`, the run's) and send the notifications;
    what happened."""
    lines: list[str] = []
    facts = RunFacts(
        started_at=started_at,
        ended_at=utc_now(),
        exit_code=report.exit_code,
        calls=dict(report.calls),
        quota_remaining=report.quota_remaining,
        stopped=report.stopped,
    )
    html = None
    if plan.html is not None:
        try:
            html = report_html(
                ledger,
                plan.html,
                title=title,
                group_by=plan.group_by,
                invocation=invocation,
                run=facts,
                window=window,
                zone=zone,
            )
            lines.append(f"Report: {html}")
        except OSError as exc:
            log.error("report.unwritable", path=str(plan.html), error=exc.strerror)
            lines.append(
                f"Report: not written ({exc.strerror or exc}): run `rollover report "
                "--html` once the problem is fixed"
            )
        except LedgerError as exc:
            return _ledger_unreadable(plan, lines, exc, report=True)
    if plan.webhook is None and not plan.mail_to:
        return AfterRun(lines)
    try:
        told = summary(ledger, title=title, run=facts, report_path=html)
    except LedgerError as exc:
        return _ledger_unreadable(plan, lines, exc, report=False)
    deliveries = []
    if plan.webhook is not None:
        deliveries.append(post_webhook(plan.webhook, told))
    if plan.mail is not None:
        deliveries.append(send_mail(plan.mail, plan.mail_to, told, attachment=html))
    for delivery in deliveries:
        (log.info if delivery.ok else log.warning)(
            "notify.sent" if delivery.ok else "notify.failed",
            channel=delivery.channel,
            detail=delivery.detail,
        )
        lines.append(f"Notified: {delivery}" if delivery.ok else f"Not notified: {delivery}")
    return AfterRun(lines)


def _ledger_unreadable(
    plan: Morning, lines: list[str], exc: LedgerError, *, report: bool
) -> AfterRun:
    """The morning after stops at a ledger it cannot read: what is left undone (the report, if
    it was being written, and the notifications) says so."""
    log.error("report.ledger_unreadable", error=exc.message)
    undone = ["Report: not written"] if report else []
    if plan.webhook is not None or plan.mail_to:
        undone.append("Not notified")
    said = [f"{what}: the ledger could not be read" for what in undone]
    return AfterRun([*lines, *said], ledger_error=exc)
