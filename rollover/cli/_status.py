"""`rollover status`: what the ledger says, also while a run is going."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import click

from rollover import elsewhere, runner
from rollover.morning import check

from . import _status_text as status_text
from ._advice import Invocation
from ._group import cli, examples, reports_errors
from ._options import (
    chosen_ledger,
    config_option,
    ledger_option,
    sandbox_files_option,
    shown_zone,
    timezone_option,
)


@cli.command(
    epilog=examples(
        "rollover status spring2027.csv",
        "rollover status spring2027.csv --row 7        # one row's audit trail",
        "rollover status spring2027.csv --sandbox --json",
    )
)
@click.argument("manifest", required=False, type=click.Path(dir_okay=False, path_type=Path))
@ledger_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option(
    "--row",
    "row_ref",
    metavar="LINE|TARGET",
    help="Show one row's audit trail instead: every transition, when, and why. Name "
    "it by its manifest line or its target_course_id.",
)
@sandbox_files_option
@timezone_option
@config_option
@click.option(
    "--check",
    "as_check",
    is_flag=True,
    help="One Nagios/Icinga line (ROLLOVER OK, WARNING or CRITICAL, with perfdata) and exit "
    "0, 1 or 2: critical on failed rows, warning on needs_review or pending rows.",
)
@click.option(
    "--pending-warning-after",
    type=click.IntRange(1),
    metavar="MINUTES",
    help="With --check: pending rows warn only once the ledger has not moved for this long.",
)
@reports_errors
def status(
    manifest: Path | None,
    ledger: Path | None,
    as_json: bool,
    row_ref: str | None,
    sandbox: bool,
    timezone: str | None,
    config_path: Path | None,
    as_check: bool,
    pending_warning_after: int | None,
) -> None:
    """Counts by status and stage from the ledger, the quota last seen, and the rows that need
    a person with what to do (also while a run is going)."""
    ledger_path = chosen_ledger(manifest, ledger, sandbox=sandbox)
    if as_check:
        result = check(
            ledger_path,
            pending_warning_after=timedelta(minutes=pending_warning_after)
            if pending_warning_after
            else None,
        )
        click.echo(result.line)
        sys.exit(result.exit_code)
    invocation = Invocation.of(
        manifest,
        sandbox=sandbox,
        ledger=ledger,
        beside=elsewhere.ledgers_for_advice(manifest, ledger_path),
    )
    zone = shown_zone(timezone, manifest or ledger, config_path)
    if row_ref is not None:
        trail = runner.row_trail(ledger_path, row_ref)
        if as_json:
            click.echo(json.dumps(status_text.trail_json(trail, invocation), indent=2))
        else:
            click.echo("\n".join(status_text.trail_lines(trail, invocation, zone)))
        return
    state = runner.status(ledger_path)
    if as_json:
        click.echo(json.dumps(status_text.status_json(state, invocation), indent=2))
        return
    click.echo(status_text.counts_line(state.counts))
    click.echo("\n".join(status_text.status_lines(state, invocation, zone)))
