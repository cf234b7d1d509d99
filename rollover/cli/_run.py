"""`rollover run`: copy, poll, patch and report every course in a manifest."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
import structlog

from rollover import elsewhere, progress, runner
from rollover.config import CALLS, CONCURRENCY, SECONDS, SECONDS_OR_ZERO
from rollover.engine import RunOptions, Window, resumable
from rollover.errors import ExitCode, LearnCheckFailed, UsageError
from rollover.learn import Site
from rollover.ledger import Revision
from rollover.manifest import Enrolment
from rollover.plan import CallEstimate, DateShift, RowSpec, refuse_exact_copies
from rollover.times import utc_now

from . import _logs as log_setup
from . import _plan_text as plan_text
from . import _status_text as status_text
from ._advice import Invocation
from ._files import check_output_paths, default_files
from ._group import cli, examples, reports_errors, tell
from ._morning import after_run, morning
from ._options import (
    ca_bundle_option,
    calendar_reader,
    config_option,
    configured,
    current_config,
    from_config,
    group_by_option,
    html_option,
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
from ._signals import StopSignals
from ._validate import check_against_learn, warn_of_exact_copies


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
@shift_dates_option
@shift_calendar_options
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
    shift_dates: DateShift | None,
    shift_calendar: bool,
    learn_user: Enrolment | None,
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
    if sandbox and window and from_config("window"):
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
        calendar_reader=calendar_reader(shift_calendar, learn_user),
    )
    files = default_files(manifest, sandbox=sandbox, ledger=ledger, results=results)
    loaded = manifest_at(manifest, tz, zone_named=timezone is not None, shift_dates=shift_dates)
    if not allow_exact:
        refuse_exact_copies(loaded)
    warn_of_exact_copies(loaded, allowed=True)
    # Every file the run writes is checked before the first call: once Learn was changed, a
    # path that cannot be written must not turn the run into a "nothing was sent" exit 2.
    check_output_paths(
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

    def announce(plan: CallEstimate, starting: list[RowSpec]) -> None:
        tell(
            plan_text.run_plan_line(plan, len(loaded.rows), concurrency, tz),
            *plan_text.shift_lines(starting, plan),
            err=False,
        )

    def announce_revised(revised: list[Revision]) -> None:
        for line in plan_text.revision_lines(revised, tz):
            click.echo(line)

    def go(site: Site) -> runner.RunReport:
        if check_first:
            checked = check_against_learn(
                loaded,
                site,
                files.ledger,
                retry_failed=retry_failed,
                allow_nonempty_shell=allow_nonempty_shell,
                verify=verify,
                shift_dates=shift_dates,
                calendar_reader=options.calendar_reader,
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
                stop_signals=StopSignals,
                on_plan=announce,
                on_revised=announce_revised,
                retry_failed=retry_failed,
                progress=watcher,
                profiles=profiles,
                shift_dates=shift_dates,
            )
        )

    if sandbox:
        from ._rehearsal import sandbox_site

        with sandbox_site(
            loaded,
            files.sandbox_state,
            sandbox_config,
            shift_dates=shift_dates,
            learn_user=options.calendar_reader,
        ) as site:
            click.echo(
                f"Sandbox: simulated Learn at {site.base_url} (state in {files.sandbox_state})"
            )
            report = go(site)
    else:
        report = go(real_site(base_url, ca_bundle))
    invocation = Invocation.of(
        manifest,
        sandbox=sandbox,
        ledger=ledger,
        beside=elsewhere.ledgers_for_advice(manifest, files.ledger, report.needs_person),
    )
    tell(*status_text.run_summary_lines(report, invocation, tz), err=False)
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
    tell(*after.lines, err=False)
    code = report.exit_code
    if code == ExitCode.USAGE:  # credentials or host refused before anything changed Learn
        tell(f"Error: {report.stopped}")
    elif after.ledger_error is not None:
        code = resumable(code)
        tell(
            f"Error: after the run, the ledger could not be read: {after.ledger_error.message}",
            "Hint: the run itself was recorded; once the ledger can be read, "
            "`rollover report` writes the reports and a re-run resumes",
        )
    if report.hint:  # and for a resumable stop, what to fix before running again
        tell(f"Hint: {report.hint}")
    structlog.get_logger("rollover").info(
        "run.end", exit_code=int(code), reason=report.stopped or "no work left"
    )
    sys.exit(code)
