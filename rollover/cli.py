"""The command line: parse options, configure logs, call one core entry point, print a summary.

The only place where errors become `Error: ...` lines, hints and exit codes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from rollover import __version__, log_setup, plan_text, progress, runner, status_text
from rollover.cli_options import (
    chosen_ledger,
    config_option,
    configured,
    current_config,
    ledger_option,
    manifest_argument,
    manifest_at,
    time_zone,
    timezone_option,
)
from rollover.engine import RunOptions
from rollover.errors import LearnCheckFailed, ManifestInvalid, RolloverError, UsageError
from rollover.manifest import Manifest
from rollover.plan import CallEstimate, exact_copy_warning, refuse_exact_copies
from rollover.preflight import PreflightReport, summary_lines
from rollover.window import Window

F = TypeVar("F", bound=Callable[..., Any])


def _reports_errors(command: F) -> F:
    """Turn the core's errors into `Error:` lines and the contract's exit codes."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return command(*args, **kwargs)
        except RolloverError as exc:
            if debug:
                raise
            if isinstance(exc, ManifestInvalid):
                for problem in exc.problems:
                    click.echo(f"{exc.path}: {problem}", err=True)
            click.echo(f"Error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"Hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)
        except (OSError, ValueError) as exc:
            if debug:
                raise
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rollover")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug events (never secrets).")
def cli(debug: bool) -> None:
    """Term rollover for Blackboard Learn: copy courses, wait for each copy, rename and re-date
    them, and write a results CSV. Every step is kept in a ledger, so a re-run resumes."""


def _exact_copy_warning(manifest: Manifest, allowed: bool) -> None:
    warning = exact_copy_warning(manifest, allowed=allowed)
    if warning:
        click.echo(f"Warning: {warning}", err=True)


@cli.command()
@manifest_argument
@click.option("--base-url", envvar="LEARN_BASE_URL", metavar="URL",
              help="The Learn site, e.g. https://learn.example.edu (env LEARN_BASE_URL). "
                   "Credentials come from env LEARN_KEY and LEARN_SECRET.")
@click.option("--sandbox", is_flag=True,
              help="Rehearse against the embedded Learn simulator on loopback, seeded from the "
                   "manifest; no credentials needed. Its state is kept beside the ledger.")
@click.option("--sandbox-config", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="TOML file for the simulator (durations, slots, quota, faults) on its "
                   "first start.")
@click.option("--preflight", "check_first", is_flag=True,
              help="First check the manifest against Learn as `validate --check-learn` does; "
                   "on any problem stop with exit 2 before anything is copied.")
@click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path),
              help="The SQLite ledger (default: <manifest>.ledger.sqlite beside it).")
@click.option("--results", type=click.Path(dir_okay=False, path_type=Path),
              help="The results CSV (default: <manifest>.results.csv beside it).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Most copies in flight at once; within it the run adapts to how fast "
                   "Learn's copy queue drains.")
@click.option("--poll-min", type=click.FloatRange(0, min_open=True), default=1.0,
              show_default=True,
              help="Seconds from an accepted copy to its first poll, at least, and the "
                   "shortest gap between polls; later first polls follow the copy times seen.")
@click.option("--poll-max", type=click.FloatRange(0, min_open=True), default=60.0,
              show_default=True, help="Longest gap in seconds between two polls of one task.")
@click.option("--task-timeout", type=click.FloatRange(0, min_open=True), default=21600.0,
              show_default=True,
              help="Seconds after which this run stops polling a copy; a re-run resumes it.")
@click.option("--adopt-settle", type=click.FloatRange(0), default=900.0, show_default=True,
              help="When a copy's answer was lost and its new course turns out to exist, wait "
                   "this long after the request before patching it.")
@click.option("--window", metavar="HH:MM-HH:MM",
              help="Start new copies only inside this daily window (local time); copies in "
                   "flight still finish. Outside it the run writes results and exits 3.")
@click.option("--quota-reserve", type=click.IntRange(0), metavar="N",
              help="Start no new copy while Learn's X-Rate-Limit-Remaining is below N.")
@timezone_option
@click.option("--ca-bundle", type=click.Path(dir_okay=False, exists=True),
              help="CA certificates file for an institutional TLS CA.")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also append JSON log lines to this file.")
@click.option("--retry-failed", is_flag=True,
              help="Re-attempt the failed rows as they are: from the start, or only the PATCH "
                   "when their course exists (never a second copy). needs_review rows are "
                   "left to a person.")
@click.option("-q", "--quiet", is_flag=True,
              help="Only warnings and errors on stderr: no live progress on a terminal and no "
                   "minute `progress` events otherwise.")
@config_option
@click.option("--allow-exact", is_flag=True,
              help="Let rows with copy_profile exact make Learn's exact copy, which also copies "
                   "the source's enrolled users; without it such a manifest is refused.")
@_reports_errors
@configured
def run(manifest: Path, base_url: str | None, sandbox: bool, sandbox_config: Path | None,
        ledger: Path | None, results: Path | None, concurrency: int, poll_min: float,
        poll_max: float, task_timeout: float, adopt_settle: float, window: str | None,
        quota_reserve: int | None, timezone: str | None, ca_bundle: str | None,
        log_file: Path | None, retry_failed: bool, quiet: bool, allow_exact: bool,
        check_first: bool) -> None:
    """Copy, poll, patch and report every course in MANIFEST. Safe to re-run: it resumes from
    the ledger, and finished rows cost no API call."""
    debug = click.get_current_context().find_root().params.get("debug", False)
    live = progress.LiveDisplay(sys.stderr) if not quiet and sys.stderr.isatty() else None
    log_setup.configure(verbose=debug, quiet=quiet, log_file=log_file,
                        stream=live.log_stream if live else None)
    watcher = None if quiet else progress.Progress(live or progress.MinuteSummary())
    tz = time_zone(timezone)
    if poll_min > poll_max:
        raise UsageError(f"--poll-min {poll_min} is larger than --poll-max {poll_max}")
    options = RunOptions(
        concurrency=concurrency, poll_min=poll_min, poll_max=poll_max,
        task_timeout=task_timeout, adopt_settle=adopt_settle,
        window=Window.parse(window, tz) if window else None, quota_reserve=quota_reserve)
    default_ledger, default_results = runner.default_paths(manifest)
    ledger_path, results_path = ledger or default_ledger, results or default_results
    loaded = manifest_at(manifest, tz)
    if not allow_exact:
        refuse_exact_copies(loaded)
    _exact_copy_warning(loaded, allowed=True)

    def announce(plan: CallEstimate) -> None:
        click.echo(plan_text.run_plan_line(plan, len(loaded.rows), concurrency))

    def go(site: runner.Site) -> runner.RunReport:
        if check_first:
            checked = _check_learn(loaded, site, ledger_path, retry_failed=retry_failed)
            if checked.problems:
                raise LearnCheckFailed(len(checked.problems), copied_nothing=True)
        return asyncio.run(runner.run(loaded, site, ledger_path=ledger_path,
                                      results_path=results_path, options=options,
                                      handle_signals=True, on_plan=announce,
                                      retry_failed=retry_failed, progress=watcher))

    if sandbox:
        from rollover.rehearsal import sandbox_site, state_path_for

        with sandbox_site(loaded, state_path_for(ledger_path), sandbox_config) as site:
            click.echo(f"Sandbox: simulated Learn at {site.base_url} "
                       f"(state in {state_path_for(ledger_path)})")
            report = go(site)
    else:
        report = go(_real_site(base_url, ca_bundle))
    for line in status_text.run_summary_lines(report):
        click.echo(line)
    sys.exit(report.exit_code)


def _real_site(base_url: str | None, ca_bundle: str | None) -> runner.Site:
    if not base_url:
        raise UsageError("no Learn site given",
                         hint="pass --base-url https://learn.example.edu (or set "
                              "LEARN_BASE_URL), or --sandbox to rehearse")
    url = runner.checked_base_url(base_url)
    key, secret = os.environ.get("LEARN_KEY"), os.environ.get("LEARN_SECRET")
    if not key or not secret:
        raise UsageError("LEARN_KEY and LEARN_SECRET must be set in the environment",
                         hint="export the REST application's key and secret; they are never "
                              "accepted as options")
    return runner.Site(base_url=url, key=key, secret=secret, identity=url,
                       verify=ca_bundle or True)


@cli.command()
@manifest_argument
@timezone_option
@click.option("--check-learn", is_flag=True,
              help="Also check against Learn, changing nothing: sources, shells and terms "
                   "exist, new targets are free (or made by the ledger beside MANIFEST).")
@click.option("--base-url", envvar="LEARN_BASE_URL", metavar="URL",
              help="With --check-learn: the Learn site (env LEARN_BASE_URL); credentials come "
                   "from env LEARN_KEY and LEARN_SECRET.")
@click.option("--sandbox", is_flag=True,
              help="With --check-learn: check against the embedded Learn simulator (the "
                   "rehearsal's state beside the ledger, else one seeded from MANIFEST and not "
                   "kept). Without it, accepted for symmetry with `run`.")
@click.option("--sandbox-config", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="With --check-learn --sandbox: TOML file for a simulator not started yet.")
@click.option("--ca-bundle", type=click.Path(dir_okay=False, exists=True),
              help="CA certificates file for an institutional TLS CA.")
@config_option
@click.option("--allow-exact", is_flag=True,
              help="Rows with copy_profile exact pass either way, with a warning; this says "
                   "`run` will be given --allow-exact.")
@_reports_errors
@configured
def validate(manifest: Path, timezone: str | None, check_learn: bool, base_url: str | None,
             sandbox: bool, sandbox_config: Path | None, ca_bundle: str | None,
             allow_exact: bool) -> None:
    """Check MANIFEST offline and print the plan and its API-call estimate; with --check-learn
    also against Learn. Sends nothing that changes Learn."""
    loaded = manifest_at(manifest, time_zone(timezone))
    site = _real_site(base_url, ca_bundle) if check_learn and not sandbox else None
    _exact_copy_warning(loaded, allowed=allow_exact)
    plan = runner.validate(loaded)
    concurrency = current_config().concurrency or RunOptions().concurrency
    for line in plan_text.validate_lines(manifest, plan, concurrency):
        click.echo(line)
    if not check_learn:
        return
    log_setup.configure(verbose=click.get_current_context().find_root().params.get("debug",
                                                                                   False))
    ledger_path = runner.default_paths(manifest)[0]
    if site is None:
        from rollover.rehearsal import sandbox_site, state_path_for

        with sandbox_site(loaded, state_path_for(ledger_path), sandbox_config,
                          keep_new=False) as simulated:
            checked = _check_learn(loaded, simulated, ledger_path)
    else:
        checked = _check_learn(loaded, site, ledger_path)
    if checked.problems:
        raise LearnCheckFailed(len(checked.problems))


def _check_learn(loaded: Manifest, site: runner.Site, ledger_path: Path, *,
                 retry_failed: bool = False) -> PreflightReport:
    checked = asyncio.run(runner.preflight(loaded, site, ledger_path=ledger_path,
                                           retry_failed=retry_failed))
    for line in summary_lines(checked):
        click.echo(line)
    return checked


@cli.command()
@click.argument("manifest", required=False, type=click.Path(dir_okay=False, path_type=Path))
@ledger_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--row", "row_ref", metavar="LINE|TARGET",
              help="Show one row's audit trail instead: every transition, when, and why. Name "
                   "it by its manifest line or its target_course_id.")
@_reports_errors
def status(manifest: Path | None, ledger: Path | None, as_json: bool,
           row_ref: str | None) -> None:
    """Counts by status and stage from the ledger, the quota last seen, and the rows that need
    a person with what to do (also while a run is going)."""
    ledger_path = chosen_ledger(manifest, ledger)
    if row_ref is not None:
        trail = runner.row_trail(ledger_path, row_ref)
        if as_json:
            click.echo(json.dumps(status_text.trail_json(trail), indent=2))
        else:
            click.echo("\n".join(status_text.trail_lines(trail)))
        return
    state = runner.status(ledger_path)
    if as_json:
        click.echo(json.dumps(status_text.status_json(state), indent=2))
        return
    click.echo(status_text.counts_line(state.counts))
    click.echo("\n".join(status_text.status_lines(state)))


@cli.command()
@click.argument("manifest", required=False, type=click.Path(dir_okay=False, path_type=Path))
@ledger_option
@click.option("--results", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the results CSV (default: beside MANIFEST, or beside the "
                   "ledger).")
@_reports_errors
def report(manifest: Path | None, ledger: Path | None, results: Path | None) -> None:
    """Rewrite the results CSV from the ledger (also while a run is going)."""
    ledger_path = chosen_ledger(manifest, ledger)
    if results is None:
        results = (runner.default_paths(manifest)[1] if manifest else
                   ledger_path.with_name(ledger_path.name.removesuffix(".ledger.sqlite")
                                         + ".results.csv"))
    counts = runner.report(ledger_path, results)
    click.echo(f"{status_text.counts_line(counts)}\nResults: {results}")


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port on 127.0.0.1 to serve on (0: any free port, printed).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True,
                                                         path_type=Path),
              help="TOML file: seed courses and terms, durations, slots, quota, faults.")
@click.option("--state", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep the simulated site's state in this JSON file (resumes if it exists).")
@_reports_errors
def sandbox(port: int, config_path: Path | None, state: Path | None) -> None:
    """Serve the embedded Learn simulator on 127.0.0.1 until stopped."""
    from rollover.sandbox import LearnSandbox, SandboxConfig, create_app, serve_forever

    if state is not None and state.exists():
        simulated = LearnSandbox.load(state)
    else:
        simulated = LearnSandbox(SandboxConfig.from_toml(config_path) if config_path
                                 else SandboxConfig())

    def announce(base_url: str) -> None:
        click.echo(f"LEARN_BASE_URL={base_url}")
        click.echo(f"LEARN_KEY={simulated.config.key}")
        click.echo(f"LEARN_SECRET={simulated.config.secret}")
        click.echo("Serving the simulated Learn; Ctrl-C stops it.", err=True)
        sys.stdout.flush()

    serve_forever(create_app(simulated, state_path=state), port=port, on_ready=announce)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="rollover")
