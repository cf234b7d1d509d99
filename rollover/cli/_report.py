"""`rollover report`: the results CSV (and the HTML report) rewritten from the ledger."""

from __future__ import annotations

from pathlib import Path

import click

from rollover import elsewhere, runner

from . import _status_text as status_text
from ._advice import Invocation
from ._files import check_output_paths, default_files
from ._group import cli, examples, reports_errors
from ._morning import report_html
from ._options import (
    config_option,
    group_by_option,
    html_option,
    ledger_option,
    sandbox_files_option,
    shown_zone,
    timezone_option,
)


@cli.command(
    epilog=examples(
        "rollover report spring2027.csv",
        "rollover report --ledger spring2027.ledger.sqlite --results today.csv",
    )
)
@click.argument("manifest", required=False, type=click.Path(dir_okay=False, path_type=Path))
@ledger_option
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the results CSV (default: <manifest>.results.csv beside MANIFEST, "
    "wherever --ledger is; without MANIFEST, beside the ledger).",
)
@sandbox_files_option
@html_option
@group_by_option
@timezone_option
@config_option
@reports_errors
def report(
    manifest: Path | None,
    ledger: Path | None,
    results: Path | None,
    sandbox: bool,
    html: Path | None,
    group_by: str,
    timezone: str | None,
    config_path: Path | None,
) -> None:
    """Rewrite the results CSV from the ledger (also while a run is going), and with --html
    the HTML report."""
    files = default_files(manifest, sandbox=sandbox, ledger=ledger, results=results)
    results = files.results
    check_output_paths({"--results": results, "--html": html})
    counts = runner.report(files.ledger, results)
    click.echo(f"{status_text.counts_line(counts)}\nResults: {results}")
    if html is not None:
        name = manifest.name if manifest else files.ledger.name
        written = report_html(
            files.ledger,
            html,
            title=f"Rollover of {name}",
            group_by=group_by,
            invocation=Invocation.of(
                manifest,
                sandbox=sandbox,
                ledger=ledger,
                beside=elsewhere.ledgers_for_advice(manifest, files.ledger),
            ),
            zone=shown_zone(timezone, manifest or ledger, config_path),
        )
        click.echo(f"Report: {written}")
