"""The mail notification: the summary as the body, the HTML report attached, over SMTP.

Settings come from the environment (ROLLOVER_SMTP_HOST, ...) and from `[notify]` in
rollover.toml (the same keys, lower case, without the prefix); the environment wins. The
password comes only from the environment. STARTTLS is on unless the settings say false (a local
relay); port 465 speaks TLS from the first byte. A password is never sent over a connection
that is not encrypted, except to this machine.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

from rollover.errors import ConfigInvalid, UsageError, did_you_mean
from rollover.learn import is_loopback
from rollover.manifest import yes_or_no

from ._delivery import Delivery
from ._summary import Summary

ENV_PREFIX = "ROLLOVER_"
SETTINGS_KEYS = ("smtp_host", "smtp_port", "smtp_starttls", "smtp_user", "mail_from")
SECRET_KEYS = ("smtp_password",)
DEFAULT_PORT = 587
IMPLICIT_TLS_PORT = 465
MAIL_TIMEOUT = 30.0  # seconds for each SMTP exchange


@dataclass(frozen=True)
class MailSettings:
    """How to reach the SMTP server, and who the mail is from."""

    host: str
    mail_from: str
    port: int = DEFAULT_PORT
    starttls: bool = True
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # never shown

    @property
    def implicit_tls(self) -> bool:
        """Whether the connection is TLS from the first byte (SMTPS, port 465)."""
        return self.port == IMPLICIT_TLS_PORT

    @property
    def encrypted(self) -> bool:
        """Whether the session is encrypted before anything is sent."""
        return self.implicit_tls or self.starttls


def _env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


def _port(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        port = int(str(value).strip())
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


def mail_settings(
    environ: Mapping[str, str] | None = None,
    table: Mapping[str, object] | None = None,
    *,
    config_path: str = "rollover.toml",
) -> MailSettings:
    """The SMTP settings from the environment over `[notify]` of rollover.toml (`table`).

    ConfigInvalid (naming `config_path`) for an unknown key, a bad value or a password in the
    table; UsageError for a bad or missing environment value, or for a password that would
    travel unencrypted.
    """
    env = os.environ if environ is None else environ
    table = table or {}
    problems: list[str] = []
    for key, value in table.items():
        if key in SECRET_KEYS or "password" in key.lower() or "secret" in key.lower():
            problems.append(
                f"[notify] {key}: a password is never read from the file; set "
                f"{_env_name('smtp_password')} in the environment"
            )
        elif key not in SETTINGS_KEYS:
            problems.append(
                f"[notify] {key} is not a setting{did_you_mean(key, SETTINGS_KEYS)}; the "
                f"settings are {', '.join(SETTINGS_KEYS)}"
            )
        elif key == "smtp_port" and _port(value) is None:
            problems.append(f"[notify] smtp_port {value!r} is not a port (1-65535)")
        elif key == "smtp_starttls" and yes_or_no(value) is None:
            problems.append(f"[notify] smtp_starttls {value!r} is not true or false")
        elif key in ("smtp_host", "smtp_user", "mail_from") and not isinstance(value, str):
            problems.append(f"[notify] {key} {value!r} is not text")
    if problems:
        raise ConfigInvalid(config_path, problems)

    def setting(key: str) -> tuple[object | None, str]:
        name = _env_name(key)
        given = env.get(name, "").strip()
        if given:
            return given, name
        value = table.get(key)
        if isinstance(value, str):
            value = value.strip() or None
        return value, f"[notify] {key} in {config_path}"

    host, _ = setting("smtp_host")
    mail_from, _ = setting("mail_from")
    missing = [
        f"{_env_name(key)} (or [notify] {key})"
        for key, value in (("smtp_host", host), ("mail_from", mail_from))
        if not value
    ]
    if missing:
        raise UsageError(
            f"--notify-mail needs {' and '.join(missing)}",
            hint=f"set them in the environment, or in [notify] of {config_path}",
        )
    port_value, port_source = setting("smtp_port")
    port = DEFAULT_PORT if port_value is None else _port(port_value)
    if port is None:
        raise UsageError(f"{port_source} {port_value!r} is not a port (1-65535)")
    tls_value, tls_source = setting("smtp_starttls")
    starttls = True if tls_value is None else yes_or_no(tls_value)
    if starttls is None:
        raise UsageError(f"{tls_source} {tls_value!r} is not true or false")
    if not _address(str(mail_from)):
        raise UsageError(f"the sender {mail_from!r} is not a mail address")
    user, _ = setting("smtp_user")
    password = env.get(_env_name("smtp_password")) or None
    if password and not user:
        raise UsageError(
            f"{_env_name('smtp_password')} is set but {_env_name('smtp_user')} is not",
            hint="set the user the password belongs to, or unset the password",
        )
    settings = MailSettings(
        host=str(host),
        mail_from=str(mail_from),
        port=port,
        starttls=starttls,
        user=str(user) if user else None,
        password=password,
    )
    if settings.user and not settings.encrypted and not is_loopback(settings.host):
        raise UsageError(
            f"SMTP login to {settings.host} without STARTTLS would send the password unencrypted",
            hint=f"leave {_env_name('smtp_starttls')} true, or use port {IMPLICIT_TLS_PORT}",
        )
    return settings


def _address(text: str) -> bool:
    """Whether `text` is one plain mail address (no display name, no line break)."""
    _, parsed = parseaddr(text)
    local, at, domain = parsed.partition("@")
    return (
        parsed == text.strip()
        and bool(local and at and domain)
        and not any(c.isspace() or not c.isprintable() for c in parsed)
    )


def recipients(to: str | Sequence[str]) -> tuple[str, ...]:
    """The addresses of `--notify-mail` (comma-separated, or given several times); a UsageError
    naming the first that is not a mail address."""
    given = [to] if isinstance(to, str) else list(to)
    found = tuple(part.strip() for item in given for part in item.split(",") if part.strip())
    if not found:
        raise UsageError(
            "--notify-mail needs a mail address", hint="e.g. --notify-mail it@example.edu"
        )
    for address in found:
        if not _address(address):
            raise UsageError(
                f"--notify-mail {address!r} is not a mail address",
                hint="give plain addresses, separated by commas: a@example.edu,b@example.edu",
            )
    return found


def mail_message(
    settings: MailSettings,
    to: Sequence[str],
    summary: Summary,
    *,
    attachment: Path | None = None,
) -> tuple[EmailMessage, str | None]:
    """The mail, and why the report is not attached (None when it is, or none was asked)."""
    message = EmailMessage()
    message["Subject"] = summary.subject
    message["From"] = settings.mail_from
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.partition("@")[2] or None)
    body = summary.text
    missing: str | None = None
    if attachment is not None:
        try:
            report = attachment.read_bytes()
        except OSError as exc:
            missing = f"the report {attachment} could not be read ({exc.strerror or exc})"
            body += f"\n\n(The HTML report is not attached: {missing}.)"
        else:
            message.set_content(body + "\n")
            message.add_attachment(
                report, maintype="text", subtype="html", filename=attachment.name
            )
            return message, None
    message.set_content(body + "\n")
    return message, missing


def _connect(settings: MailSettings, timeout: float) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if settings.implicit_tls:
        return smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
    server = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
    try:
        if settings.starttls:
            server.starttls(context=context)
    except BaseException:
        server.close()
        raise
    return server


def send_mail(
    settings: MailSettings,
    to: str | Sequence[str],
    summary: Summary,
    *,
    attachment: Path | None = None,
    timeout: float = MAIL_TIMEOUT,
) -> Delivery:
    """Mail the summary, the HTML report at `attachment` attached; never raises: the outcome
    says how it went (for the caller to log), and never holds the password."""
    where = f"{settings.host}:{settings.port}"
    try:
        addresses = recipients(to)
    except UsageError as exc:
        return Delivery(False, "mail", f"not sent: {exc.message}")
    try:
        message, missing = mail_message(settings, addresses, summary, attachment=attachment)
    except (ValueError, TypeError) as exc:
        return Delivery(False, "mail", f"not sent: the message could not be built ({exc})")
    try:
        with _connect(settings, timeout) as server:
            if settings.user:
                server.login(settings.user, settings.password or "")
            refused = server.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        return Delivery(False, "mail", f"not sent: {where} refused the login ({exc.smtp_code})")
    except smtplib.SMTPRecipientsRefused as exc:
        return Delivery(
            False, "mail", f"not sent: {where} refused {', '.join(sorted(exc.recipients))}"
        )
    except smtplib.SMTPResponseException as exc:
        said = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        return Delivery(False, "mail", f"not sent: {where} answered {exc.smtp_code} {said}".strip())
    except smtplib.SMTPNotSupportedError:
        return Delivery(
            False,
            "mail",
            f"not sent: {where} does not offer STARTTLS (set ROLLOVER_SMTP_STARTTLS=false "
            "only for a relay on this machine or a trusted network)",
        )
    except (smtplib.SMTPException, ssl.SSLError) as exc:
        return Delivery(False, "mail", f"not sent: {type(exc).__name__} talking to {where}")
    except TimeoutError:
        return Delivery(False, "mail", f"not sent: {where} did not answer within {timeout:g} s")
    except OSError as exc:
        return Delivery(False, "mail", f"not sent: could not reach {where} ({exc.strerror or exc})")
    sent_to = [address for address in addresses if address not in refused]
    detail = f"sent to {', '.join(sent_to)} via {where}"
    if refused:
        detail += f"; refused: {', '.join(sorted(refused))}"
    if missing:
        detail += f"; without the report: {missing}"
    return Delivery(True, "mail", detail)
