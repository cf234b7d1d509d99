"""Other ledgers beside a manifest that already hold some of its targets.

A manifest copied under a new name (`spring.csv` saved as `spring-final.csv`) gets a new default
ledger, which knows nothing of the copies the old one requested: its new-course rows would find
their own courses "taken" and its shells "not empty". Before such a ledger requests its first
copy, the ledgers beside the manifest are read (read-only) for the same targets.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from rollover.errors import LedgerError

from ._ledger import Ledger

# A ledger's file name ends so; a rehearsal's (`--sandbox`) has REHEARSAL before it.
LEDGER_SUFFIX = ".ledger.sqlite"
REHEARSAL = ".sandbox"


@dataclass(frozen=True)
class LedgerBeside:
    """Another ledger, bound to the same site, that holds some of the manifest's targets."""

    path: Path
    site: str
    targets: tuple[str, ...]  # the manifest's targets it holds, in the manifest's order


@dataclass(frozen=True)
class LedgersBeside:
    """What the search found: the ledgers holding targets, and the files it could not read."""

    holding: tuple[LedgerBeside, ...]
    unreadable: tuple[tuple[Path, str], ...]  # (path, why)


def ledgers_beside(
    folder: Path,
    targets: Collection[str],
    *,
    own: Path,
    rehearsal: bool,
    same_site: Callable[[str], bool],
) -> LedgersBeside:
    """The ledgers in `folder` (a rehearsal's `*.sandbox.ledger.sqlite` for a rehearsal, the
    others otherwise), other than `own`, bound to a site `same_site` accepts, that hold any of
    `targets`. Each is opened read-only; one not bound, of another site or holding none of the
    targets is left out, and one that cannot be read is listed in `unreadable`."""
    wanted = list(dict.fromkeys(targets))
    holding: list[LedgerBeside] = []
    unreadable: list[tuple[Path, str]] = []
    if not wanted or not folder.is_dir():
        return LedgersBeside((), ())
    for path in sorted(folder.glob("*" + LEDGER_SUFFIX)):
        if path.name.endswith(REHEARSAL + LEDGER_SUFFIX) is not rehearsal or _same_file(path, own):
            continue
        try:
            with Ledger(path, read_only=True) as ledger, ledger.snapshot():
                site = ledger.bound_site()
                if site is None or not same_site(site):
                    continue
                held = {row.target_course_id for row in ledger.rows(in_manifest_only=False)}
        except LedgerError as exc:
            unreadable.append((path, exc.message))
            continue
        except (sqlite3.Error, OSError) as exc:
            unreadable.append((path, str(exc)))
            continue
        found = tuple(target for target in wanted if target in held)
        if found:
            holding.append(LedgerBeside(path, site, found))
    return LedgersBeside(tuple(holding), tuple(unreadable))


def _same_file(path: Path, own: Path) -> bool:
    try:
        return own.exists() and path.samefile(own)
    except OSError:
        return False
