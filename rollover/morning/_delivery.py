"""How a notification went: sent or not, and why, in words that can be logged."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Delivery:
    """The outcome of one notification; `detail` never holds a secret (URL, password)."""

    ok: bool
    channel: str  # "webhook" or "mail"
    detail: str

    def __str__(self) -> str:
        return f"{self.channel}: {self.detail}"
