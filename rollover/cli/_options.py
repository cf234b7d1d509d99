"""The options the commands share, and how their values reach a command.

MANIFEST with its `--delimiter` and `--encoding`, `--timezone`, `--config` and `--ledger`; the
config file filling options the command line left at their defaults; the Learn site `--base-url`
names, with its credentials from the environment.
"""

from __future__ import annotations

import codecs
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click
from click.core import ParameterSource

from rollover import runner
from rollover.config import CONFIG_NAME, LEARN_USER, SHIFT, Config, config_for
from rollover.errors import UsageError
from rollover.learn import Site, checked_base_url
from rollover.manifest import Enrolment, Manifest
from rollover.plan import DateShift
from rollover.times import chosen_zone, is_utc

from ._files import default_files

F = TypeVar("F", bound=Callable[..., Any])

# Options people reach for to pass credentials; the contract keeps secrets off the command line.
CREDENTIAL_OPTIONS = frozenset(
    {
        "--key",
        "--secret",
        "--learn-key",
        "--learn-secret",
        "--password",
        "--token",
        "--client-secret",
    }
)


class CommandRefusingCredentials(click.Command):
    """A command whose unknown credential options say where credentials come from, rather
    than click's nearest match (`--secret`: "Did you mean --verify?")."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse as click does; an unknown credential option names the environment instead."""
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            if exc.option_name not in CREDENTIAL_OPTIONS:
                raise
            raise click.UsageError(
                f"{exc.option_name} is not an option: the REST application's key and secret "
                "are never command-line values (they would stay in shell history and show in "
                "`ps`). Set LEARN_KEY and LEARN_SECRET in the environment (for cron or systemd, "
                "in an EnvironmentFile readable only by the account that runs rollover)",
                ctx=ctx,
            ) from None


class CommandGroup(click.Group):
    """The `rollover` group: every command refuses credential options with the way to pass them."""

    command_class = CommandRefusingCredentials


def manifest_argument(command: Callable[..., Any]) -> Callable[..., Any]:
    """The MANIFEST argument and how to read it (kept in the context, read by `manifest_at`)."""
    command = click.option(
        "--encoding",
        default="utf-8",
        show_default=True,
        expose_value=False,
        callback=_manifest_encoding,
        help="The manifest's text encoding, e.g. cp1252 for a plain 'CSV' saved by Windows Excel.",
    )(command)
    command = click.option(
        "--delimiter",
        default=",",
        show_default=True,
        expose_value=False,
        callback=_manifest_delimiter,
        help="The manifest's cell separator: ',' or ';' (European Excel) or 'tab'.",
    )(command)
    return click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))(command)


def _manifest_encoding(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise click.BadParameter(
            f"{value!r} is not a text encoding Python knows; try utf-8, cp1252 or latin-1"
        ) from None
    ctx.meta["manifest.encoding"] = value
    return value


def _manifest_delimiter(ctx: click.Context, param: click.Parameter, value: str) -> str:
    delimiter = "\t" if value.lower() in ("tab", "\\t", "\t") else value
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise click.BadParameter(
            f"{value!r} must be a single character such as ',' or ';', or 'tab'"
        )
    ctx.meta["manifest.delimiter"] = delimiter
    return delimiter


def manifest_at(
    path: Path, tz: ZoneInfo, *, zone_named: bool, shift_dates: DateShift | None = None
) -> Manifest:
    """Read MANIFEST as its options say, with the config's profiles and the run's
    `--shift-dates` (a `term` for rows without start_date is the manifest's problem); warn
    about what it found.

    Dates without a UTC offset on a machine set to UTC are refused until the zone is named
    (`zone_named`: by --timezone or the config file): a server's zone is usually UTC while a
    registrar's dates are local, and a course would start hours off without a word."""
    meta = click.get_current_context().meta
    manifest = runner.read_manifest(
        path,
        tz,
        delimiter=meta.get("manifest.delimiter", ","),
        encoding=meta.get("manifest.encoding", "utf-8"),
        profiles=current_config().all_profiles(),
        shift_dates=shift_dates,
    )
    for warning in manifest.warnings:
        click.echo(f"Warning: {path}: {warning}", err=True)
    if manifest.local_date is not None and not zone_named and is_utc(tz):
        line, column, value = manifest.local_date
        raise UsageError(
            f"{path.name} line {line}, {column} {value!r} has no UTC offset, and this machine's "
            f"time zone is {tz.key}: servers usually run in UTC while a registrar's dates are "
            "local, so every such date could be hours off",
            hint="name the zone the manifest's dates are in: --timezone America/Chicago (or "
            'timezone = "America/Chicago" in rollover.toml); --timezone UTC if they are UTC',
        )
    return manifest


timezone_option = click.option(
    "--timezone",
    metavar="ZONE",
    help="IANA time zone of dates without a UTC offset and of --window (default: this "
    "machine's zone by name, from TZ or /etc/localtime).",
)


def time_zone(name: str | None) -> ZoneInfo:
    """The zone `--timezone` names, or this machine's (by name) when it names none."""
    return chosen_zone(name)


ca_bundle_option = click.option(
    "--ca-bundle",
    type=click.Path(dir_okay=False, exists=True),
    help="CA certificates file for an institutional TLS CA.",
)


def shown_zone(timezone: str | None, place: Path | None, config_path: Path | None) -> ZoneInfo:
    """The zone `status` and `report` show times in, found as `run` finds its zone: --timezone,
    else the config file's `timezone` (--config, or rollover.toml beside `place`: MANIFEST or
    the ledger), else this machine's by name (UTC when it has none)."""
    if not timezone and (place is not None or config_path is not None):
        timezone = config_for(place or Path(), config_path).timezone
    if timezone:
        return time_zone(timezone)
    try:
        return time_zone(None)
    except UsageError:
        return ZoneInfo("UTC")


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help=f"Settings and copy profiles (TOML; default: {CONFIG_NAME} beside MANIFEST, if there "
    "is one). Options given on the command line win over the file.",
)


def configured(command: F) -> F:
    """Read the config file, and let it fill each option the command line left at its default.

    The file's place depends on MANIFEST, so click's default_map (which must be set before the
    command's options are parsed) cannot carry it; the command reads it first thing instead,
    inside the CLI's `reports_errors`, with the same precedence: command line, environment,
    file, default.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        config = config_for(kwargs["manifest"], kwargs.pop("config_path"))
        filled = set()
        for name, value in config.option_defaults().items():
            if name in kwargs and ctx.get_parameter_source(name) is ParameterSource.DEFAULT:
                kwargs[name] = value
                filled.add(name)
        ctx.meta["rollover.from_config"] = frozenset(filled)
        ctx.meta["rollover.config"] = config
        if config.path is not None:
            click.echo(f"Config: {config.path}")
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def current_config() -> Config:
    """The config `configured` read for this command, or the defaults."""
    config: Config = click.get_current_context().meta.get("rollover.config", Config())
    return config


ledger_option = click.option(
    "--ledger",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The ledger (default: the one beside MANIFEST).",
)


def chosen_ledger(manifest: Path | None, ledger: Path | None, *, sandbox: bool = False) -> Path:
    """`--ledger` if given, else the ledger beside MANIFEST (the rehearsal's with --sandbox)."""
    return default_files(manifest, sandbox=sandbox, ledger=ledger).ledger


sandbox_files_option = click.option(
    "--sandbox",
    is_flag=True,
    help="Read the rehearsal's files (MANIFEST's .sandbox ledger), not the real run's.",
)


shift_dates_option = click.option(
    "--shift-dates",
    type=SHIFT,
    metavar="SHIFT",
    help="Move the due, release and display dates of every row whose shift_dates cell is "
    "blank, as that column does: +119d, -7d, +17w, or term (from the source's start to the "
    "row's start_date, in whole weeks).",
)


def shift_calendar_options(command: F) -> F:
    """`--shift-calendar` and the `--learn-user` it needs (run and validate)."""
    command = click.option(
        "--learn-user",
        type=LEARN_USER,
        metavar="USER[=ROLE]",
        help="The Learn user the REST integration acts as (Learn's REST API Integrations page), "
        "written as in instructors, e.g. userName:rest-app=TeachingAssistant: --shift-calendar "
        "enrols it in each shifted course with that role, since Learn shows a course's "
        "calendar only to its members.",
    )(command)
    return click.option(
        "--shift-calendar",
        is_flag=True,
        help="Also move the course calendar's own events of every row that shifts dates (read "
        "in 16-week windows around the course's other dates). Needs --learn-user.",
    )(command)


def from_config(name: str) -> bool:
    """Whether option `name` took its value from the config file."""
    ctx = click.get_current_context()
    return bool(ctx.meta.get("rollover.from_config", frozenset()) & {name})


def calendar_reader(shift_calendar: bool, learn_user: Enrolment | None) -> Enrolment | None:
    """Who reads the calendars `--shift-calendar` moves: `--learn-user` (None: calendars are
    left alone, said when --learn-user was given on the command line); UsageError when the
    calendar is asked for without it."""
    if not shift_calendar:
        if learn_user is not None and not from_config("learn_user"):
            click.echo(
                "Note: --learn-user is used only with --shift-calendar; without it the courses' "
                "calendars are left alone and the user is not enrolled"
            )
        return None
    if learn_user is None:
        raise UsageError(
            "--shift-calendar needs --learn-user: the Learn user the REST integration acts as "
            "(see Learn's REST API Integrations page), which the run enrols in each shifted "
            "course to read its calendar, e.g. --learn-user userName:rest-app=TeachingAssistant "
            "(or learn_user in rollover.toml)"
        )
    return learn_user


verify_option = click.option(
    "--verify",
    is_flag=True,
    help="After each copy, count content items (all levels) and gradebook columns in the "
    "target and its source; a target with fewer is needs_review (and the plan counts the calls).",
)


nonempty_shell_option = click.option(
    "--allow-nonempty-shell",
    is_flag=True,
    help="Copy into shells (copy_into_existing) that already hold content; Learn adds the copy "
    "to what they hold. Without it such a row fails, naming how many items the shell holds.",
)


html_option = click.option(
    "--html",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a self-contained HTML report of the run (the night at a glance, a "
    "timeline, a table per department, every row that needs a person) to this file.",
)
group_by_option = click.option(
    "--group-by",
    type=click.Choice(["prefix", "term"]),
    default="prefix",
    show_default=True,
    help="The HTML report's tables: by the target's prefix before the first '-' (department), "
    "or by term_id.",
)


def real_site(base_url: str | None, ca_bundle: str | None) -> Site:
    """The Learn site `--base-url` names, signed in with LEARN_KEY and LEARN_SECRET."""
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
