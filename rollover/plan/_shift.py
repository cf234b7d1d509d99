"""How a row's dated items move with the term (issue 22)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DateShift:
    """How a row's dated items move: `days` whole days, or from the source's start (`term`)."""

    days: int | None = None
    term: bool = False
