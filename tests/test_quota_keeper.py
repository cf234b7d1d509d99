"""`QuotaKeeper`: Learn's remaining quota kept in the ledger during a run, on an injected clock."""

from __future__ import annotations

from pathlib import Path

from rollover.engine import QuotaKeeper
from rollover.ledger import Ledger


def test_quota_is_saved_when_first_seen_then_at_most_once_a_minute_and_at_the_end(
    tmp_path: Path,
) -> None:
    """The first quota Learn reports is saved at once; later ones only a minute after the last
    save; `save` at the end keeps the last one seen."""
    now = [0.0]
    with Ledger(tmp_path / "m.ledger.sqlite") as ledger:
        keeper = QuotaKeeper(ledger, monotonic=lambda: now[0])
        keeper.save()  # nothing seen yet: nothing saved
        assert ledger.last_quota() is None
        keeper.seen(900, 1000)
        saved = ledger.last_quota()
        assert saved is not None and (saved.remaining, saved.limit) == (900, 1000)
        now[0] = 59.0
        keeper.seen(850, 1000)
        saved = ledger.last_quota()
        assert saved is not None and saved.remaining == 900
        now[0] = 60.0
        keeper.seen(800, 1000)
        saved = ledger.last_quota()
        assert saved is not None and saved.remaining == 800
        now[0] = 61.0
        keeper.seen(790, None)
        keeper.save()
        saved = ledger.last_quota()
        assert saved is not None and (saved.remaining, saved.limit) == (790, None)
