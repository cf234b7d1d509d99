"""The webhook notification: one JSON POST that Slack's and Microsoft Teams' incoming webhooks
read (they show `text`; the structured fields ride along for a bot or a script).

A webhook URL carries its own credential (whoever holds it may post to the channel), so it is
treated as a secret: it comes only from the environment, goes only over TLS (plain http only
to this machine), and is never put in a message, an outcome or a log event.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx

from rollover.errors import UsageError, printable
from rollover.learn import is_loopback

from ._delivery import Delivery
from ._summary import Summary

WEBHOOK_ENV = "ROLLOVER_WEBHOOK_URL"
WEBHOOK_TIMEOUT = 10.0  # seconds; a chat service that does not answer by then is let go
_ANSWER_SHOWN = 100  # characters of a refusal's body kept in the outcome


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook's address, in words that do not repeat it; None if it can."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError):
        return "it is not a valid URL"
    if parsed.scheme == "https" and parsed.host:
        return None
    if parsed.scheme == "http" and parsed.host:
        if is_loopback(parsed.host):
            return None
        return "it is plain http:// to another machine (it would travel unencrypted): use https://"
    return "it is not an https:// URL"


def webhook_url(environ: Mapping[str, str] | None = None) -> str:
    """The webhook's URL from ROLLOVER_WEBHOOK_URL, checked before the run starts; a UsageError
    (that never repeats the URL) when it is missing or unusable."""
    env = os.environ if environ is None else environ
    url = env.get(WEBHOOK_ENV, "").strip()
    if not url:
        raise UsageError(
            f"--notify-webhook needs the webhook's URL in {WEBHOOK_ENV}",
            hint=f"export {WEBHOOK_ENV}=https://... (it is a secret: never put it on the "
            "command line or in rollover.toml)",
        )
    problem = url_problem(url)
    if problem is not None:
        raise UsageError(
            f"{WEBHOOK_ENV} cannot be used: {problem}",
            hint="set it to the https:// address your chat service gave for the webhook",
        )
    return url


def slack_text(text: str) -> str:
    """`text` with &, < and > escaped as Slack asks, so an error text that holds `<!channel>`
    or `<https://...|...>` is shown, never acted on (Teams shows the entities as characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_payload(summary: Summary) -> dict[str, Any]:
    """The JSON body: `text` for people, then the summary's structured fields."""
    return {"text": slack_text(summary.text), **summary.fields()}


def _failure(reason: str) -> Delivery:
    return Delivery(False, "webhook", reason)


def _scrubbed(text: str, url: str) -> str:
    """A remote answer, shortened to one line, with the URL (or its path) cut out of it."""
    parsed = httpx.URL(url)
    for secret in {url, url.strip(), str(parsed), parsed.path, parsed.query.decode()}:
        if len(secret) > 1:
            text = text.replace(secret, "[webhook URL]")
    line = printable(text.strip())
    return line if len(line) <= _ANSWER_SHOWN else line[: _ANSWER_SHOWN - 1] + "\u2026"


def post_webhook(
    url: str,
    summary: Summary,
    *,
    timeout: float = WEBHOOK_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> Delivery:
    """POST the summary to the webhook; never raises: the outcome says how it went (for the
    caller to log), and never holds the URL."""
    problem = url_problem(url)
    if problem is not None:
        return _failure(f"not sent: the webhook URL cannot be used ({problem})")
    try:
        with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client:
            response = client.post(url.strip(), json=webhook_payload(summary))
    except httpx.TimeoutException:
        return _failure(f"not sent: the webhook did not answer within {timeout:g} s")
    except httpx.ConnectError:
        return _failure("not sent: could not connect to the webhook's host")
    except httpx.HTTPError as exc:
        return _failure(f"not sent: {type(exc).__name__} talking to the webhook")
    except (httpx.InvalidURL, ValueError, OSError) as exc:
        return _failure(f"not sent: {type(exc).__name__}")
    if response.is_success:
        return Delivery(True, "webhook", f"posted (the webhook answered {response.status_code})")
    answer = _scrubbed(response.text, url) if response.content else ""
    said = f": {answer}" if answer else ""
    return _failure(f"refused: the webhook answered {response.status_code}{said}")
