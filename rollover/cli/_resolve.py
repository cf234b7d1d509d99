"""`rollover resolve`: a person's decision about a needs_review row."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from rollover import one_row, runner
from rollover.errors import UsageError
from rollover.ledger import Resolution

from . import _logs as log_setup
from . import _status_text as status_text
from ._advice import Invocation, resolve_command
from ._files import RunFiles, default_files
from ._group import cli, examples, reports_errors
from ._options import ca_bundle_option, ledger_option, real_site


@cli.command(
    epilog=examples(
        "rollover resolve spring2027.csv 7 --copied",
        "rollover resolve spring2027.csv HIST-210-001-SP27 --not-copied",
        title="Examples (after checking the course in Learn; then run again):",
    )
)
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("row_ref", metavar="ROW")
@click.option(
    "--copied/--not-copied",
    "copied",
    default=None,
    help="What you found in Learn: --copied, the copy is there (the next run finds the course "
    "by its courseId, patches it and finishes the row); --not-copied, it is not (the next run "
    "requests the copy again: the only way a row is ever copied a second time).",
)
@ledger_option
@click.option(
    "--sandbox",
    is_flag=True,
    help="Read the rehearsal's files (MANIFEST's .sandbox ledger), not the real run's; "
    "--not-copied asks the rehearsal's simulated Learn.",
)
@click.option(
    "--base-url",
    envvar="LEARN_BASE_URL",
    metavar="URL",
    help="With --not-copied: the Learn site to ask whether the row's new course exists (env "
    "LEARN_BASE_URL; credentials from env LEARN_KEY and LEARN_SECRET). Refused if it does.",
)
@ca_bundle_option
@reports_errors
def resolve(
    manifest: Path,
    row_ref: str,
    copied: bool | None,
    ledger: Path | None,
    sandbox: bool,
    base_url: str | None,
    ca_bundle: str | None,
) -> None:
    """Record a person's decision about a needs_review ROW (its manifest line or its
    target_course_id, in any case), kept in the row's audit trail."""
    if copied is None:
        raise UsageError(
            "say what you found in Learn: --copied or --not-copied",
            hint=f"for example rollover resolve {manifest} {row_ref} --copied",
        )
    files = default_files(manifest, sandbox=sandbox, ledger=ledger)
    asked = None
    if not copied:
        asked = _not_copied_checked(
            files, row_ref, sandbox=sandbox, base_url=base_url, ca_bundle=ca_bundle
        )
        if isinstance(asked, one_row.CourseHeld):
            invocation = Invocation.of(manifest, sandbox=sandbox, ledger=ledger)
            copied_command = resolve_command(asked.row, invocation, copied=True)
            raise UsageError(
                status_text.course_held_line(asked),
                hint=f"if it is this row's copy, run {copied_command}"
                "; if it is not, delete it in Learn (or give the row another target_course_id) "
                "before resolving --not-copied",
            )
    resolution = Resolution.COPIED if copied else Resolution.NOT_COPIED
    row = runner.resolve(files.ledger, row_ref, resolution)
    click.echo(status_text.resolved_line(row))
    if asked is None and not copied and not row.copy_into_existing:
        click.echo(
            f"Note: Learn was not asked whether it holds {row.target_course_id} (no site: "
            "--base-url with LEARN_KEY and LEARN_SECRET, or --sandbox). If it does, made by "
            "this row's earlier copy, the next run adopts it as that copy: never a second copy"
        )


def _not_copied_checked(
    files: RunFiles,
    row_ref: str,
    *,
    sandbox: bool,
    base_url: str | None,
    ca_bundle: str | None,
) -> one_row.CourseHeld | bool | None:
    """Ask Learn, when a site is given, whether it holds the row's new course: the course if
    it does, False if it does not, None when no site could be asked (no credentials)."""
    log_setup.configure(debug=click.get_current_context().find_root().params.get("debug", False))
    if sandbox:
        from ._rehearsal import kept_sandbox_site

        with kept_sandbox_site(files.sandbox_state) as simulated:
            if simulated is None:
                return None
            return asyncio.run(runner.course_held(files.ledger, row_ref, simulated)) or False
    if not base_url or not os.environ.get("LEARN_KEY") or not os.environ.get("LEARN_SECRET"):
        return None
    site = real_site(base_url, ca_bundle)
    return asyncio.run(runner.course_held(files.ledger, row_ref, site)) or False
