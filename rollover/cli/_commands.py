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
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
import structlog

from rollover import __version__, progress, runner
from rollover.config import CALLS, CONCURRENCY, SECONDS, SECONDS_OR_ZERO
from rollover.engine import RunOptions, Window
from rollover.errors import (
    LearnCheckFailed,
    ManifestInvalid,
    RolloverError,
    UsageError,
)
from rollover.learn import Site, checked_base_url
from rollover.ledger import Resolution, Revision
from rollover.manifest import Manifest
from rollover.morning import check
from rollover.plan import CallEstimate, exact_copy_warning, refuse_exact_copies
from rollover.preflight import PreflightReport, summary_lines
from rollover.times import utc_now

from . import _logs as log_setup
from . import _plan_text as plan_text
from . import _status_text as status_text
from ._advice import Invocation, resolve_command
from ._morning import after_run, morning, report_html
from ._options import (
    CommandGroup,
    ca_bundle_option,
    chosen_ledger,
    config_option,
    configured,
    current_config,
    group_by_option,
    html_option,
    ledger_option,
    manifest_argument,
    manifest_at,
    nonempty_shell_option,
    sandbox_files_option,
    shown_zone,
    time_zone,
    timezone_option,
    verify_option,
)

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
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
                for warning in exc.warnings:
                    _tell(f"Warning: {exc.path}: {warning}")
                for problem in exc.problems:
                    _tell(f"{exc.path}: {problem}")
            _tell(f"Error: {exc.message}")
            if exc.hint:
                _tell(f"Hint: {exc.hint}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            # Ctrl-C outside the run's own handlers (a check, the plan, the summary): every
            # ledger write is one transaction, so the ledger is consistent and a re-run resumes.
            if debug:
                raise
            _tell("Error: interrupted; the ledger is consistent")
            _tell("Hint: run the same command again to continue")
            sys.exit(3)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            # Not one of the tool's own errors: a bug. It never passes for a usage error (exit 2
            # says nothing was sent, which may be false by now); the ledger's last transaction
            # stands, so a re-run resumes.
            if debug:
                raise
            _tell(f"Error: unexpected {type(exc).__name__}: {exc}")
            _tell(
                "Hint: this is a bug in rollover. Run the same command again with "
                "`rollover --debug ...` for the traceback and report it; the ledger is "
                "consistent and a re-run resumes"
            )
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _tell(*lines: str, err: bool = True) -> None:
    """Print lines (to stderr unless `err` is false). A terminal that is gone (closed: EIO, a
    pipe nobody reads: EPIPE) is let go: fds 1 and 2 then lead to /dev/null, so neither these
    lines nor the interpreter's last flush turn a run that ended as it should into a traceback."""
    try:
        for line in lines:
            click.echo(line, err=err)
    except OSError:
        null = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(null, fd)
        os.close(null)


def examples(*commands: str, title: str = "Examples:") -> str:
    """A --help epilog of example commands, kept as written (click's \\b: no rewrapping)."""
    return "\b\n" + "\n".join([title, *(f"  {command}" for command in commands)])


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rollover")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug events (never secrets).")
def cli(debug: bool) -> None:
    """Term rollover for Blackboard Learn: copy courses, wait for each copy, rename and re-date
    them, and write a results CSV. Every step is kept in a ledger, so a re-run resumes."""


def _exact_copy_warning(manifest: Manifest, allowed: bool) -> None:
    warning = exact_copy_warning(manifest, allowed=allowed)
    if warning:
        click.echo(f"Warning: {warning}", err=True)


@cli.command(
    epilog=examples(
        "rollover run spring2027.csv --sandbox          # rehearse the night",
        "rollover run spring2027.csv --base-url https://learn.example.edu --preflight",
        "rollover run spring2027.csv --window 22:00-06:00 --quota-reserve 2000 -q",
    )
)
@manifest_argument
@click.option(
    "--base-url",
    envvar="LEARN_BASE_URL",
    metavar="URL",
    help="The Learn site, e.g. https://learn.example.edu (env LEARN_BASE_URL). "
    "Credentials come from env LEARN_KEY and LEARN_SECRET.",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Rehearse against the embedded Learn simulator on loopback, seeded from the "
    "manifest; no credentials needed. Its state is kept beside the ledger.",
)
@click.option(
    "--sandbox-config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TOML file for the simulator (durations, slots, quota, faults) on its first start.",
)
@click.option(
    "--preflight",
    "check_first",
    is_flag=True,
    help="First check the manifest against Learn as `validate --check-learn` does; "
    "on any problem stop with exit 2 before anything is copied.",
)
@click.option(
    "--ledger",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The SQLite ledger (default: <manifest>.ledger.sqlite beside it).",
)
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The results CSV (default: <manifest>.results.csv beside it, wherever --ledger is).",
)
@click.option(
    "--concurrency",
    type=CONCURRENCY,
    default=RunOptions.concurrency,
    show_default=True,
    help="Most copies in flight at once; within it the run adapts to how fast "
    "Learn's copy queue drains.",
)
@click.option(
    "--poll-min",
    type=SECONDS,
    default=RunOptions.poll_min,
    show_default=True,
    help="Seconds from an accepted copy to its first poll, at least, and the "
    "shortest gap between polls; later first polls follow the copy times seen.",
)
@click.option(
    "--poll-max",
    type=SECONDS,
    default=RunOptions.poll_max,
    show_default=True,
    help="Longest gap in seconds between two polls of one task.",
)
@click.option(
    "--task-timeout",
    type=SECONDS,
    default=RunOptions.task_timeout,
    show_default=True,
    help="Seconds after which this run stops polling a copy; a re-run resumes it.",
)
@click.option(
    "--adopt-settle",
    type=SECONDS_OR_ZERO,
    default=RunOptions.adopt_settle,
    show_default=True,
    help="When a copy's answer was lost and its new course turns out to exist, wait "
    "this long after the request before patching it, and again after its content is "
    "complete before reading it back to prove it.",
)
@click.option(
    "--window",
    metavar="HH:MM-HH:MM",
    help="Start new copies only inside this daily window (local time); copies in "
    "flight still finish. Outside it the run writes results and exits 3.",
)
@click.option(
    "--quota-reserve",
    type=CALLS,
    metavar="N",
    help="Start no new copy while Learn's X-Rate-Limit-Remaining is below N.",
)
@timezone_option
@ca_bundle_option
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also append JSON log lines to this file.",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Re-attempt the failed rows as they are: from the start, or only the PATCH "
    "when their course exists (never a second copy). needs_review rows are "
    "left to a person.",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Only warnings and errors on stderr: no live progress on a terminal and no "
    "minute `progress` events otherwise.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="On a terminal, also print every row's events above the progress line (they always "
    "go to --log-file, and to stderr as JSON lines when it is not a terminal).",
)
@config_option
@click.option(
    "--allow-exact",
    is_flag=True,
    help="Let rows with copy_profile exact make Learn's exact copy, which also copies "
    "the source's enrolled users; without it such a manifest is refused.",
)
@verify_option
@nonempty_shell_option
@html_option
@group_by_option
@click.option(
    "--notify-webhook",
    is_flag=True,
    help="When the run ends, POST a JSON summary (with a `text` field, for Slack or Teams) to "
    "the URL in env ROLLOVER_WEBHOOK_URL (a secret: never an option's value).",
)
@click.option(
    "--notify-mail",
    metavar="ADDRESS",
    multiple=True,
    help="When the run ends, mail the summary, the HTML report attached, over SMTP (env "
    "ROLLOVER_SMTP_HOST, _PORT, _STARTTLS, _USER, _PASSWORD, ROLLOVER_MAIL_FROM, or [notify] in "
    "rollover.toml). May be given more than once.",
)
@reports_errors
@configured
def run(
    manifest: Path,
    base_url: str | None,
    sandbox: bool,
    sandbox_config: Path | None,
    ledger: Path | None,
    results: Path | None,
    concurrency: int,
    poll_min: float,
    poll_max: float,
    task_timeout: float,
    adopt_settle: float,
    window: str | None,
    quota_reserve: int | None,
    timezone: str | None,
    ca_bundle: str | None,
    log_file: Path | None,
    retry_failed: bool,
    quiet: bool,
    verbose: bool,
    allow_exact: bool,
    check_first: bool,
    verify: bool,
    allow_nonempty_shell: bool,
    html: Path | None,
    group_by: str,
    notify_webhook: bool,
    notify_mail: tuple[str, ...],
) -> None:
    """Copy, poll, patch and report every course in MANIFEST. Safe to re-run: it resumes from
    the ledger, and finished rows cost no API call."""
    debug = click.get_current_context().find_root().params.get("debug", False)
    tz = time_zone(timezone)
    if poll_min > poll_max:
        raise UsageError(f"--poll-min {poll_min} is larger than --poll-max {poll_max}")
    if sandbox and window and _from_config("window"):
        click.echo(
            "Note: a rehearsal ignores the window in the config file; pass --window to "
            "rehearse one."
        )
        window = None
    options = RunOptions(
        concurrency=concurrency,
        poll_min=poll_min,
        poll_max=poll_max,
        task_timeout=task_timeout,
        adopt_settle=adopt_settle,
        window=Window.parse(window, tz) if window else None,
        quota_reserve=quota_reserve,
        verify=verify,
        allow_nonempty_shell=allow_nonempty_shell,
    )
    files = runner.default_files(manifest, sandbox=sandbox, ledger=ledger, results=results)
    loaded = manifest_at(manifest, tz, zone_named=timezone is not None)
    if not allow_exact:
        refuse_exact_copies(loaded)
    _exact_copy_warning(loaded, allowed=True)
    # Every file the run writes is checked before the first call: once Learn was changed, a
    # path that cannot be written must not turn the run into a "nothing was sent" exit 2.
    runner.check_output_paths(
        {
            "--ledger": files.ledger,
            "--results": files.results,
            "--log-file": log_file,
            "--html": html,
            "the sandbox state": files.sandbox_state if sandbox else None,
        }
    )
    config = current_config()
    night = morning(
        html=html,
        group_by=group_by,
        notify_webhook=notify_webhook,
        notify_mail=notify_mail,
        notify_table=config.notify,
        config_path=config.path,
    )
    started_at = utc_now()
    live = progress.LiveDisplay(sys.stderr) if not quiet and sys.stderr.isatty() else None
    log_setup.configure(
        debug=debug,
        verbose=verbose,
        quiet=quiet,
        log_file=log_file,
        stream=live.log_stream if live else None,
    )
    watcher = None if quiet else progress.Progress(live or progress.MinuteSummary())
    profiles = current_config().all_profiles()

    def announce(plan: CallEstimate) -> None:
        _tell(plan_text.run_plan_line(plan, len(loaded.rows), concurrency, tz), err=False)

    def announce_revised(revised: list[Revision]) -> None:
        for line in plan_text.revision_lines(revised, tz):
            click.echo(line)

    def go(site: Site) -> runner.RunReport:
        if check_first:
            checked = _check_learn(
                loaded,
                site,
                files.ledger,
                retry_failed=retry_failed,
                allow_nonempty_shell=allow_nonempty_shell,
                verify=verify,
            )
            if checked.problems:
                raise LearnCheckFailed(len(checked.problems), copied_nothing=True)
        return asyncio.run(
            runner.run(
                loaded,
                site,
                ledger_path=files.ledger,
                results_path=files.results,
                options=options,
                handle_signals=True,
                on_plan=announce,
                on_revised=announce_revised,
                retry_failed=retry_failed,
                progress=watcher,
                profiles=profiles,
            )
        )

    if sandbox:
        from ._rehearsal import sandbox_site

        with sandbox_site(loaded, files.sandbox_state, sandbox_config) as site:
            click.echo(
                f"Sandbox: simulated Learn at {site.base_url} (state in {files.sandbox_state})"
            )
            report = go(site)
    else:
        report = go(_real_site(base_url, ca_bundle))
    invocation = Invocation.of(
        manifest,
        sandbox=sandbox,
        ledger=ledger,
        beside=runner.ledgers_for_advice(manifest, files.ledger, report.needs_person),
    )
    _tell(*status_text.run_summary_lines(report, invocation, tz), err=False)
    after = after_run(
        night,
        report,
        ledger=files.ledger,
        title=f"Rollover of {manifest.name}",
        started_at=started_at,
        window=options.window,
        invocation=invocation,
        zone=tz,
    )
    _tell(*after.lines, err=False)
    code = report.exit_code
    if code == 2:  # credentials or host refused before anything changed Learn
        _tell(f"Error: {report.stopped}")
    elif after.ledger_error is not None:
        code = runner.resumable(code)
        _tell(
            f"Error: after the run, the ledger could not be read: {after.ledger_error.message}",
            "Hint: the run itself was recorded; once the ledger can be read, "
            "`rollover report` writes the reports and a re-run resumes",
        )
    if report.hint:  # and for a resumable stop, what to fix before running again
        _tell(f"Hint: {report.hint}")
    structlog.get_logger("rollover").info(
        "run.end", exit_code=code, reason=report.stopped or "no work left"
    )
    sys.exit(code)


def _from_config(name: str) -> bool:
    """Whether option `name` took its value from the config file."""
    ctx = click.get_current_context()
    return bool(ctx.meta.get("rollover.from_config", frozenset()) & {name})


def _real_site(base_url: str | None, ca_bundle: str | None) -> Site:
    if not base_url:
        raise UsageError(
            "no Learn site given",
            hint="pass --base-url https://learn.example.edu (or set "
            "LEARN_BASE_URL), or --sandbox to rehearse",
        )
    url = checked_base_url(base_url)
    key, secret = os.environ.get("LEARN_KEY"), os.environ.get("LEARN_SECRET")
    if not key or not secret:
        raise UsageError(
            "LEARN_KEY and LEARN_SECRET must be set in the environment",
            hint="export the REST application's key and secret; they are never accepted as options",
        )
    return Site(base_url=url, key=key, secret=secret, identity=url, verify=ca_bundle or True)


@cli.command(
    epilog=examples(
        "rollover validate spring2027.csv",
        "rollover validate spring2027.csv --check-learn --base-url https://learn.example.edu",
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
) -> None:
    """Check MANIFEST offline and print the plan and its API-call estimate; with --check-learn
    also against Learn. Sends nothing that changes Learn."""
    zone = time_zone(timezone)
    loaded = manifest_at(manifest, zone, zone_named=timezone is not None)
    site = _real_site(base_url, ca_bundle) if check_learn and not sandbox else None
    _exact_copy_warning(loaded, allowed=allow_exact)
    plan = runner.validate(loaded, verify=verify, profiles=current_config().all_profiles())
    concurrency = current_config().concurrency or RunOptions().concurrency
    for line in plan_text.validate_lines(manifest, plan, concurrency, zone):
        click.echo(line)
    if not check_learn:
        return
    log_setup.configure(debug=click.get_current_context().find_root().params.get("debug", False))
    files = runner.default_files(manifest, sandbox=sandbox, ledger=ledger)
    if site is None:
        from ._rehearsal import sandbox_site

        with sandbox_site(loaded, files.sandbox_state, sandbox_config, keep_new=False) as simulated:
            checked = _check_learn(
                loaded,
                simulated,
                files.ledger,
                allow_nonempty_shell=allow_nonempty_shell,
                verify=verify,
            )
    else:
        checked = _check_learn(
            loaded, site, files.ledger, allow_nonempty_shell=allow_nonempty_shell, verify=verify
        )
    if checked.problems:
        raise LearnCheckFailed(len(checked.problems))


def _check_learn(
    loaded: Manifest,
    site: Site,
    ledger_path: Path,
    *,
    retry_failed: bool = False,
    allow_nonempty_shell: bool = False,
    verify: bool = False,
) -> PreflightReport:
    checked = asyncio.run(
        runner.preflight(
            loaded,
            site,
            ledger_path=ledger_path,
            retry_failed=retry_failed,
            profiles=current_config().all_profiles(),
            allow_nonempty_shell=allow_nonempty_shell,
            verify=verify,
        )
    )
    for line in summary_lines(checked):
        click.echo(line)
    return checked


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
        beside=runner.ledgers_for_advice(manifest, ledger_path),
    )
    if row_ref is not None:
        trail = runner.row_trail(ledger_path, row_ref)
        if as_json:
            click.echo(json.dumps(status_text.trail_json(trail, invocation), indent=2))
        else:
            click.echo("\n".join(status_text.trail_lines(trail, invocation)))
        return
    state = runner.status(ledger_path)
    if as_json:
        click.echo(json.dumps(status_text.status_json(state, invocation), indent=2))
        return
    zone = shown_zone(timezone, manifest or ledger, config_path)
    click.echo(status_text.counts_line(state.counts))
    click.echo("\n".join(status_text.status_lines(state, invocation, zone)))


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
    files = runner.default_files(manifest, sandbox=sandbox, ledger=ledger, results=results)
    results = files.results
    runner.check_output_paths({"--results": results, "--html": html})
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
                beside=runner.ledgers_for_advice(manifest, files.ledger),
            ),
            zone=shown_zone(timezone, manifest or ledger, config_path),
        )
        click.echo(f"Report: {written}")


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
    files = runner.default_files(manifest, sandbox=sandbox, ledger=ledger)
    asked = None
    if not copied:
        asked = _not_copied_checked(
            files, row_ref, sandbox=sandbox, base_url=base_url, ca_bundle=ca_bundle
        )
        if isinstance(asked, runner.CourseHeld):
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
    files: runner.RunFiles,
    row_ref: str,
    *,
    sandbox: bool,
    base_url: str | None,
    ca_bundle: str | None,
) -> runner.CourseHeld | bool | None:
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
    site = _real_site(base_url, ca_bundle)
    return asyncio.run(runner.course_held(files.ledger, row_ref, site)) or False


@cli.command(
    epilog=examples(
        "rollover sandbox --port 8000     # then export what it prints and run against it",
    )
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port on 127.0.0.1 to serve on (0: any free port, printed).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TOML file: seed courses and terms, durations, slots, quota, faults.",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the simulated site's state in this JSON file (resumes if it exists).",
)
@reports_errors
def sandbox(port: int, config_path: Path | None, state: Path | None) -> None:
    """Serve the embedded Learn simulator on 127.0.0.1 until stopped."""
    from rollover.sandbox import LearnSandbox, SandboxConfig, create_app, serve_forever

    from ._rehearsal import seed_file

    if state is not None and state.exists():
        simulated = LearnSandbox.load(state)
    else:
        with seed_file("--config", config_path):
            simulated = LearnSandbox(
                SandboxConfig.from_toml(config_path) if config_path else SandboxConfig()
            )

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
