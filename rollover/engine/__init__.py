"""The engine: drives every ledger row to a final state (submit, poll, patch).

`Rollover` runs the rows; `CopyPace` decides when to poll and how many copies to keep in
Learn's hands; reconciliation settles rows whose copy answer was lost; `Window` says when new
copies may start; `exit_code` turns a run's end into the contract's code, and `resumable` that
of a run that could not write what it owes.
"""

from ._engine import Rollover
from ._options import RunOptions
from ._outcome import RunOutcome, exit_code, resumable
from ._pacing import FIRST_POLL_QUANTILE, CopyPace, Sighting
from ._quota import QuotaKeeper
from ._window import Window

__all__ = [
    "FIRST_POLL_QUANTILE",
    "CopyPace",
    "QuotaKeeper",
    "Rollover",
    "RunOptions",
    "RunOutcome",
    "Sighting",
    "Window",
    "exit_code",
    "resumable",
]
