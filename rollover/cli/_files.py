"""The contract's file names: where a run keeps its ledger, its results and (for a rehearsal)
the simulated site's state, and the check that each can be written before Learn is called.

`named_files` is the one place a file name is made; everything else asks it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rollover.errors import UsageError
from rollover.ledger import LEDGER_SUFFIX, REHEARSAL


@dataclass(frozen=True)
class RunFiles:
    """Where a run keeps its ledger, its results and (for a rehearsal) the simulated site."""

    ledger: Path
    results: Path
    sandbox_state: Path


def named_files(stem: Path, *, rehearsal: bool) -> RunFiles:
    """Every file named after `stem` (a manifest without `.csv`, a ledger without its suffix):
    a rehearsal's have `.sandbox` in their names, so a real run never meets them; the simulated
    site's state is always a rehearsal's (`.sandbox` added unless the stem ends with it)."""
    named = stem.with_name(stem.name + REHEARSAL) if rehearsal else stem
    acted = stem if stem.name.endswith(REHEARSAL) else stem.with_name(stem.name + REHEARSAL)
    return RunFiles(
        ledger=named.with_name(named.name + LEDGER_SUFFIX),
        results=named.with_name(named.name + ".results.csv"),
        sandbox_state=acted.with_name(acted.name + ".json"),
    )


def default_files(
    manifest: Path | None,
    *,
    sandbox: bool = False,
    ledger: Path | None = None,
    results: Path | None = None,
) -> RunFiles:
    """The contract's files: the ledger and the results beside the manifest (a rehearsal's with
    `.sandbox` in their names, so a real run never meets them); the simulated site's state
    beside the ledger. Explicit paths win; without a manifest, the results go beside
    `--ledger`."""
    beside_manifest = None
    if manifest is not None:
        stem = manifest.with_suffix("") if manifest.suffix.lower() == ".csv" else manifest
        beside_manifest = named_files(stem, rehearsal=sandbox)
    if ledger is None:
        if beside_manifest is None:
            raise UsageError("which ledger?", hint="pass MANIFEST or --ledger PATH")
        ledger = beside_manifest.ledger
    beside_ledger = named_files(_ledger_stem(ledger), rehearsal=False)
    return RunFiles(
        ledger=ledger,
        results=results or (beside_manifest or beside_ledger).results,
        sandbox_state=beside_ledger.sandbox_state,
    )


def rehearsal_ledger_hint(ledger: Path) -> str | None:
    """For a ledger that does not exist, a hint naming the rehearsal's ledger beside it, if
    there is one (`status` without `--sandbox` after a rehearsal)."""
    if not ledger.name.endswith(LEDGER_SUFFIX):
        return None
    rehearsal = named_files(_ledger_stem(ledger), rehearsal=True).ledger
    if not rehearsal.exists():
        return None
    return f"{rehearsal.name} beside it is a rehearsal's: pass --sandbox to read it"


def _ledger_stem(ledger: Path) -> Path:
    """The ledger's path without its suffix, the stem its other files are named after."""
    return ledger.with_name(ledger.name.removesuffix(LEDGER_SUFFIX))


def check_output_paths(paths: Mapping[str, Path | None]) -> None:
    """Refuse, before any call to Learn, a file the run could not write (UsageError, exit 2).

    `paths` maps the option that names each file to its path. No folder is created: a folder
    that does not exist is more likely a typo than a wish.
    """
    for option, path in paths.items():
        if path is None:
            continue
        folder = path.parent
        problem = None
        if path.is_dir():
            problem = "is a folder, not a file"
        elif not folder.exists():
            problem = "is in a folder that does not exist"
        elif not folder.is_dir():
            problem = f"is under {folder}, which is not a folder"
        elif not os.access(folder, os.W_OK | os.X_OK) or (
            path.exists() and not os.access(path, os.W_OK)
        ):
            problem = "cannot be written (permissions)"
        if problem is not None:
            raise UsageError(
                f"{option} {path} {problem}; nothing was sent to Learn",
                hint=f"pass {option} with a path in a folder that exists and that you may write to"
                if option.startswith("--")
                else "check the folder of the ledger and its permissions",
            )
