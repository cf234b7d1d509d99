"""Other ledgers beside a manifest that hold its targets: the search, the refusal of a run that
would start a second record of the same courses, and the advice for rows another ledger holds.

A manifest saved under a new name starts a new ledger, which would not know the copies the old
one requested; a run refuses to start that way (exit 2, nothing sent), preflight lists it as a
problem, and `status`, `report` and a run's summary point failed rows at the ledger that holds
them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import structlog

from rollover.errors import LedgerError
from rollover.learn import REHEARSAL_SITE, Site
from rollover.ledger import ErrorKind, Ledger, LedgerBeside, LedgerRow, State, ledgers_beside
from rollover.manifest import Manifest

log = structlog.get_logger("rollover")


def other_ledgers(manifest: Manifest, site: Site, ledger_path: Path) -> list[LedgerBeside]:
    """The other ledgers beside the manifest, bound to this site, that hold targets whose copy
    `ledger_path` has not requested yet (a manifest saved under a new name starts a new
    ledger, which would not know the copies the old one requested)."""
    requested: set[str] = set()
    if ledger_path.exists():
        with Ledger(ledger_path, read_only=True) as ledger, ledger.snapshot():
            requested = {
                row.target_course_id
                for row in ledger.rows(in_manifest_only=False)
                if row.attempts or row.state is not State.PENDING
            }
    return _beside(
        manifest.path.parent,
        [row.target_course_id for row in manifest.rows if row.target_course_id not in requested],
        own=ledger_path,
        site=site.identity,
    )


def ledgers_for_advice(
    manifest: Path | None, ledger_path: Path, rows: Sequence[LedgerRow] | None = None
) -> dict[str, Path]:
    """For each failed row (of `rows`, else of the ledger) whose course may hold an earlier
    run's copy (its target taken, its shell not empty), the other ledger beside the manifest
    (or the ledger) that holds it. Only advice depends on it: a ledger that cannot be read
    gives none (and changes no exit code: the command that reads it for itself says why)."""

    def doubtful(row: LedgerRow) -> bool:
        return row.state is State.FAILED and row.error_kind in (
            ErrorKind.TARGET_TAKEN,
            ErrorKind.SHELL_NOT_EMPTY,
        )

    if rows is not None and not any(doubtful(row) for row in rows):
        return {}  # the ledger is not opened again: nothing to advise on
    if not ledger_path.exists():
        return {}
    try:
        with Ledger(ledger_path, read_only=True) as ledger, ledger.snapshot():
            site = ledger.bound_site()
            targets = [row.target_course_id for row in rows or ledger.rows() if doubtful(row)]
    except (LedgerError, sqlite3.Error):
        return {}
    if site is None or not targets:
        return {}
    found: dict[str, Path] = {}
    for other in _beside((manifest or ledger_path).parent, targets, own=ledger_path, site=site):
        for target in other.targets:
            found.setdefault(target, other.path)
    return found


def _beside(folder: Path, targets: list[str], *, own: Path, site: str) -> list[LedgerBeside]:
    """The ledgers in `folder` bound to `site` that hold any of `targets`, `own` aside; for a
    rehearsal, the rehearsals' ledgers, each bound to its own simulated site standing for the
    same real one. One that cannot be read is left out, with a warning."""
    rehearsal = site.startswith(REHEARSAL_SITE)
    found = ledgers_beside(
        folder,
        targets,
        own=own,
        rehearsal=rehearsal,
        same_site=lambda bound: bound == site or (rehearsal and bound.startswith(REHEARSAL_SITE)),
    )
    for path, why in found.unreadable:
        log.warning("ledger.beside_unreadable", path=str(path), error=why)
    return list(found.holding)


def held_elsewhere(found: LedgerBeside, *, shown: int = 3) -> str:
    """What another ledger holds of this manifest, in words: how many targets, a few named."""
    count = len(found.targets)
    names = ", ".join(found.targets[:shown]) + (", ..." if count > shown else "")
    return (
        f"{found.path} already records {count} of this manifest's target"
        f"{'s' if count != 1 else ''} ({names}): that ledger may have requested their "
        "copies, and a new ledger would not know them"
    )


def continue_from(found: LedgerBeside) -> str:
    """How to go on from another ledger that holds this manifest's targets."""
    return (
        f"pass --ledger {found.path} to continue from it (nothing it copied is copied again); "
        "if these are other courses, give the rows other target_course_ids"
    )


def refuse_other_ledgers(manifest: Manifest, site: Site, ledger_path: Path) -> None:
    """Refuse (LedgerError, exit 2, nothing sent) a run whose ledger has not requested targets
    another ledger beside the manifest holds."""
    found = other_ledgers(manifest, site, ledger_path)
    if not found:
        return
    first = found[0]
    more = "".join(f"; also in {other.path}" for other in found[1:])
    raise LedgerError(
        f"{held_elsewhere(first)}{more}; nothing was sent to Learn",
        hint=continue_from(first),
    )


def manifest_line(manifest: Manifest, target: str) -> int:
    """The manifest line of the row producing `target`."""
    return next(row.line for row in manifest.rows if row.target_course_id == target)
