"""A Learn site: where it is, how to sign in, and what a ledger is bound to."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from rollover.errors import UsageError

# The identity of a simulated site (`--sandbox`) starts so; a real site's is its address.
REHEARSAL_SITE = "sandbox:"


@dataclass(frozen=True)
class Site:
    """Where Learn is and how to sign in; `identity` is what the ledger is bound to."""

    base_url: str
    key: str
    secret: str
    identity: str
    transport: httpx.AsyncBaseTransport | None = None
    verify: bool | str = True

    def __repr__(self) -> str:  # never show the secret, even in a debugger or a traceback
        return f"Site(base_url={self.base_url!r}, identity={self.identity!r})"


def checked_base_url(url: str) -> str:
    """The base URL if it is https, or http on a loopback host; else a UsageError. A URL that
    carries a user name or password is refused, and never echoed with them."""
    parts = urlsplit(url.strip())
    shown = shown_url(url.strip())
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"--base-url {shown!r} was given with a user name or password before the host "
            "(user:password@host)",
            hint="give the site's address alone, e.g. https://learn.example.edu; the REST "
            "application's key and secret come from LEARN_KEY and LEARN_SECRET in the "
            "environment (or an EnvironmentFile), never from the URL",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--base-url {shown!r} is not an http(s) URL",
            hint="pass the site's address, e.g. https://learn.example.edu",
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"--base-url {shown!r} uses plain http to a host that is not this machine",
            hint="use https:// (http:// is accepted only for 127.0.0.1, ::1 and localhost)",
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def shown_url(url: str) -> str:
    """`url` without any user name or password, fit to show in a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<an unreadable URL>"
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def site_root(url: str) -> str:
    """The site's root (scheme and host, no path), fit to show: where Learn's REST API is."""
    parts = urlsplit(shown_url(url))
    return f"{parts.scheme}://{parts.netloc}"


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine: localhost (any case), 127.0.0.0/8 or ::1 (bracketed
    or not), where plain http never leaves the machine. The one rule, for Learn's address and
    for the webhook's and the mail server's."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
