"""How a notification went: sent or not, and why, in words that can be logged."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class Delivery:
    """The outcome of one notification; `detail` never holds a secret (URL, password)."""

    ok: bool
    channel: str  # "webhook" or "mail"
    detail: str

    def __str__(self) -> str:
        return f"{self.channel}: {self.detail}"


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
