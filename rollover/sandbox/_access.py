"""Who may call and how often: the one OAuth token per application and the call-quota bucket."""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class AccessToken:
    """The application's single bearer token and when it stops being accepted."""

    value: str
    expires_at: float

    def valid_at(self, now: float) -> bool:
        """Whether Learn still accepts this token at `now`."""
        return now < self.expires_at

    def expires_in(self, now: float) -> int:
        """Whole seconds of life left, as Learn reports it when the token is asked for again."""
        return max(0, int(self.expires_at - now))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


@dataclass
class QuotaBucket:
    """Learn's per-developer-group call quota: a token bucket refilled continuously."""

    capacity: int
    refill_per_second: float
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, capacity: int, refill_per_second: float, now: float) -> QuotaBucket:
        """A bucket with every call of the quota available."""
        return cls(capacity, refill_per_second, float(capacity), now)

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last call, up to capacity."""
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(float(self.capacity), self.tokens + elapsed * self.refill_per_second)
        self.updated_at = max(self.updated_at, now)

    def take(self, now: float) -> bool:
        """Spend one call if one is left; False means Learn answers 429."""
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    @property
    def remaining(self) -> int:
        """Calls left, as the X-Rate-Limit-Remaining header shows them."""
        return math.floor(self.tokens)

    def retry_after(self) -> int:
        """Whole seconds until one call is available again."""
        if self.refill_per_second <= 0:
            return 86400
        return max(1, math.ceil((1.0 - self.tokens) / self.refill_per_second))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """The (key, secret) of an HTTP Basic Authorization header, or None if it is not one."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        key, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (key, secret) if sep else None
