"""The SQLite ledger: the record of truth of a rollover, and the state machine of its rows.

`Ledger` opens (and migrates) the file and moves rows through `State`; `manifest_change` and
`planned_state` are the one rule for what a manifest edit or `--retry-failed` does to a row,
`shell_must_be_empty` the one rule for whether a shell's content stops a copy into it,
`calls_left` for the calls a row still needs; `ledgers_beside` finds the other ledgers beside a
manifest that hold its targets;
`ErrorKind` says why a row ended `failed` or `needs_review`. A row's steps after its PATCH are
kept one by one: its instructors' enrolments (`EnrolmentRecord`), its merged sections'
attachments (`AttachmentRecord`) and the dated items its shift moves (`DatedRecord`, each date's
original recorded before its PATCH; a patched row whose dates are not all moved is in the stage
`shifting`, `LedgerRow.stage`). All SQL is in this package.
"""

from ._beside import LEDGER_SUFFIX, REHEARSAL, LedgerBeside, LedgersBeside, ledgers_beside
from ._changes import (
    Revision,
    RowChange,
    calls_left,
    manifest_change,
    planned_state,
    retried_state,
    revisions,
    shell_must_be_empty,
    shift_changed,
)
from ._core import Observer
from ._ledger import Ledger
from ._rows import (
    SHIFTING,
    STAGES,
    TERMINAL,
    Answer,
    AttachmentRecord,
    AttachmentState,
    DatedRecord,
    DateState,
    EnrolmentRecord,
    EnrolmentState,
    ErrorKind,
    LedgerRow,
    Proof,
    QuotaSeen,
    Resolution,
    RowStatus,
    State,
    Transition,
)
from ._schema import SCHEMA_VERSION

__all__ = [
    "LEDGER_SUFFIX",
    "REHEARSAL",
    "SCHEMA_VERSION",
    "SHIFTING",
    "STAGES",
    "TERMINAL",
    "Answer",
    "AttachmentRecord",
    "AttachmentState",
    "DateState",
    "DatedRecord",
    "EnrolmentRecord",
    "EnrolmentState",
    "ErrorKind",
    "Ledger",
    "LedgerBeside",
    "LedgerRow",
    "LedgersBeside",
    "Observer",
    "Proof",
    "QuotaSeen",
    "Resolution",
    "Revision",
    "RowChange",
    "RowStatus",
    "State",
    "Transition",
    "calls_left",
    "ledgers_beside",
    "manifest_change",
    "planned_state",
    "retried_state",
    "revisions",
    "shell_must_be_empty",
    "shift_changed",
]
