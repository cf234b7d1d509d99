"""The morning after a night of rollover: the HTML report, the notifications and the check.

Everything here reads the ledger (never writes it) and sits below the CLI, which wires it in:

- `write_html_report` (`run --html`, `report --html`): one self-contained HTML file, written
  atomically: the night at a glance, a timeline chart (inline SVG), a table per department
  or term, every row that needs a person with its advice and audit trail, and the courses
  with merged sections, each section's state in plain words. The advice
  comes in as a callable (the CLI's `next_step`), the run's own facts as `RunFacts`.
- `summary`, then `post_webhook` (`--notify-webhook`, URL from `webhook_url()`) and
  `send_mail` (`--notify-mail`, settings from `mail_settings()`): each returns a `Delivery`
  for the caller to log and never raises; a failed notification changes nothing else.
- `check` (`status --check`): one Nagios/Icinga line and exit code 0, 1 or 2.
"""

from ._check import CRITICAL, OK, WARNING, CheckResult, check
from ._delivery import Delivery
from ._html import EXIT_MEANINGS, write_html_report
from ._mail import (
    DEFAULT_PORT,
    SECRET_KEYS,
    SETTINGS_KEYS,
    MailSettings,
    mail_settings,
    recipients,
    send_mail,
)
from ._night import DailyWindow, GroupBy, Pause, RunFacts, group_key
from ._summary import PersonNeeded, Summary, summary
from ._webhook import WEBHOOK_ENV, post_webhook, webhook_payload, webhook_url

__all__ = [
    "CRITICAL",
    "DEFAULT_PORT",
    "EXIT_MEANINGS",
    "OK",
    "SECRET_KEYS",
    "SETTINGS_KEYS",
    "WARNING",
    "WEBHOOK_ENV",
    "CheckResult",
    "DailyWindow",
    "Delivery",
    "GroupBy",
    "MailSettings",
    "Pause",
    "PersonNeeded",
    "RunFacts",
    "Summary",
    "check",
    "group_key",
    "mail_settings",
    "post_webhook",
    "recipients",
    "send_mail",
    "summary",
    "webhook_payload",
    "webhook_url",
    "write_html_report",
]
