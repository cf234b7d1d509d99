"""`rollover validate`: the manifest checked offline, and with --check-learn against Learn (the
check `run --preflight` makes first)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from rollover import runner
from rollover.engine import RunOptions
from rollover.errors import LearnCheckFailed
from rollover.learn import Site
from rollover.manifest import Enrolment, Manifest
from rollover.plan import DateShift, exact_copy_warning, row_spec
from rollover.preflight import PreflightReport

from . import _logs as log_setup
from . import _plan_text as plan_text
from ._files import default_files
from ._group import cli, examples, reports_errors
from ._options import (
    ca_bundle_option,
    calendar_reader,
    config_option,
    configured,
    current_config,
    ledger_option,
    manifest_argument,
    manifest_at,
    nonempty_shell_option,
    real_site,
    shift_calendar_options,
    shift_dates_option,
    time_zone,
    timezone_option,
    verify_option,
)
from ._preflight_text import preflight_summary_lines


def warn_of_exact_copies(manifest: Manifest, allowed: bool) -> None:
    """Warn on stderr when MANIFEST asks for exact copies (and whether they are allowed)."""
    warning = exact_copy_warning(manifest, allowed=allowed)
    if warning:
        click.echo(f"Warning: {warning}", err=True)


@cli.command(
    epilog=examples(
        "rollover validate spring2027.csv",
        "rollover validate spring2027.csv --check-learn --base-url https://learn.example.edu",
        "rollover validate spring2027.csv --shift-dates +17w   # due dates move 17 weeks",
    )
)
@manifest_argument
@timezone_option
@click.option(
    "--check-learn",
    is_flag=True,
    help="Also check against Learn, changing nothing: sources, shells and terms "
    "exist, new targets are free (or made by the ledger beside MANIFEST).",
)
@click.option(
    "--base-url",
    envvar="LEARN_BASE_URL",
    metavar="URL",
    help="With --check-learn: the Learn site (env LEARN_BASE_URL); credentials come "
    "from env LEARN_KEY and LEARN_SECRET.",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="With --check-learn: check against the embedded Learn simulator (the "
    "rehearsal's state beside the ledger, else one seeded from MANIFEST and not "
    "kept). Without it, accepted for symmetry with `run`.",
)
@click.option(
    "--sandbox-config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="With --check-learn --sandbox: TOML file for a simulator not started yet.",
)
@ca_bundle_option
@config_option
@click.option(
    "--allow-exact",
    is_flag=True,
    help="Rows with copy_profile exact pass either way, with a warning; this says "
    "`run` will be given --allow-exact.",
)
@ledger_option
@nonempty_shell_option
@verify_option
@shift_dates_option
@shift_calendar_options
@reports_errors
@configured
def validate(
    manifest: Path,
    timezone: str | None,
    check_learn: bool,
    base_url: str | None,
    sandbox: bool,
    sandbox_config: Path | None,
    ca_bundle: str | None,
    allow_exact: bool,
    ledger: Path | None,
    verify: bool,
    allow_nonempty_shell: bool,
    shift_dates: DateShift | None,
    shift_calendar: bool,
    learn_user: Enrolment | None,
) -> None:
    """Check MANIFEST offline and print the plan and its API-call estimate; with --check-learn
    also against Learn. Sends nothing that changes Learn."""
    zone = time_zone(timezone)
    reader = calendar_reader(shift_calendar, learn_user)
    profiles = current_config().all_profiles()
    loaded = manifest_at(manifest, zone, zone_named=timezone is not None, shift_dates=shift_dates)
    site = real_site(base_url, ca_bundle) if check_learn and not sandbox else None
    warn_of_exact_copies(loaded, allowed=allow_exact)
    plan = runner.validate(
        loaded,
        verify=verify,
        profiles=profiles,
        shift_dates=shift_dates,
        calendar_reader=reader,
    )
    concurrency = current_config().concurrency or RunOptions().concurrency
    for line in plan_text.validate_lines(manifest, plan, concurrency, zone):
        click.echo(line)
    shifting = [  # only rows that shift have lines of their own
        row_spec(row, profiles, shift_dates=shift_dates, calendar_reader=reader)
        for row in loaded.rows
        if row.shift is not None or shift_dates is not None
    ]
    for line in plan_text.shift_lines(shifting, plan):
        click.echo(line)
    if not check_learn:
        return
    log_setup.configure(debug=click.get_current_context().find_root().params.get("debug", False))
    files = default_files(manifest, sandbox=sandbox, ledger=ledger)
    if site is None:
        from ._rehearsal import sandbox_site

        with sandbox_site(
            loaded,
            files.sandbox_state,
            sandbox_config,
            keep_new=False,
            shift_dates=shift_dates,
            learn_user=reader,
        ) as simulated:
            checked = check_against_learn(
                loaded,
                simulated,
                files.ledger,
                allow_nonempty_shell=allow_nonempty_shell,
                verify=verify,
                shift_dates=shift_dates,
                calendar_reader=reader,
            )
    else:
        checked = check_against_learn(
            loaded,
            site,
            files.ledger,
            allow_nonempty_shell=allow_nonempty_shell,
            verify=verify,
            shift_dates=shift_dates,
            calendar_reader=reader,
        )
    if checked.problems:
        raise LearnCheckFailed(len(checked.problems))


def check_against_learn(
    loaded: Manifest,
    site: Site,
    ledger_path: Path,
    *,
    retry_failed: bool = False,
    allow_nonempty_shell: bool = False,
    verify: bool = False,
    shift_dates: DateShift | None = None,
    calendar_reader: Enrolment | None = None,
) -> PreflightReport:
    """Check MANIFEST against Learn, changing nothing, and print what the check found."""
    checked = asyncio.run(
        runner.preflight(
            loaded,
            site,
            ledger_path=ledger_path,
            retry_failed=retry_failed,
            profiles=current_config().all_profiles(),
            allow_nonempty_shell=allow_nonempty_shell,
            verify=verify,
            shift_dates=shift_dates,
            calendar_reader=calendar_reader,
        )
    )
    for line in preflight_summary_lines(checked, loaded.zone):
        click.echo(line)
    return checked
