"""Learn's remaining quota, kept in the ledger while a run goes on."""

from __future__ import annotations

import time
from collections.abc import Callable

from rollover.ledger import Ledger


class QuotaKeeper:
    """Keeps Learn's remaining quota in the ledger during a run: when first seen, then at most
    once a minute (a commit per call would cost more than the call), and at the end, so
    `status` shows it while the run goes on."""

    EVERY = 60.0

    def __init__(self, ledger: Ledger, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ledger = ledger
        self._monotonic = monotonic
        self._saved_at: float | None = None
        self._last: tuple[int, int | None] | None = None

    def seen(self, remaining: int, limit: int | None) -> None:
        """Learn reported its quota; save it if none was saved yet or a minute has passed."""
        self._last = (remaining, limit)
        now = self._monotonic()
        if self._saved_at is None or now - self._saved_at >= self.EVERY:
            self.save()

    def save(self) -> None:
        """Save the quota last seen, if any."""
        if self._last is not None:
            self._saved_at = self._monotonic()
            self._ledger.record_quota(*self._last)
