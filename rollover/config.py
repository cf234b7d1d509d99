"""rollover.toml: a run's settings and copy profiles, read once and checked before anything runs.

The file is `--config PATH`, or else rollover.toml beside the manifest, if there is one. Each
setting stands in for the `run` option of the same name (`poll_min` for `--poll-min`): the command
line wins, then the environment (LEARN_BASE_URL), then the file, then the built-in default. Each
`[profiles.NAME]` table is a copy profile the manifest's copy_profile column may name: the default
profile's options, changed by the ones the table sets. `shift_dates` (as the manifest's column:
`+119d`, `-7d`, `+17w` or `term`) moves the dates of every row whose own cell is blank. Secrets
never live here: LEARN_KEY and LEARN_SECRET stay in the environment, so a key, secret or token
in the file is refused.

A configured profile's options are kept in the ledger row of each course that names it, as this
run's file says them (`rollover.plan.row_spec`). Editing a profile between runs therefore changes
the copies not yet requested; a copy already requested is never repeated (at most one copy per
row), and a failed row whose profile changed is tried again, as after any other change to a
failed row.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from rollover.engine import Window
from rollover.errors import ConfigInvalid, UsageError, did_you_mean
from rollover.learn import checked_base_url
from rollover.manifest import Enrolment, parse_learn_user, parse_shift
from rollover.morning import SETTINGS_KEYS as NOTIFY_KEYS
from rollover.plan import PROFILES, CopyOptions, DateShift, configured_profile, shown
from rollover.times import zone_named

CONFIG_NAME = "rollover.toml"

# The part of a key's name that marks a credential; only keys holding a value are checked, so a
# profile named `keyboarding` is fine.
_SECRET = re.compile(r"key|secret|token|passw|credential", re.IGNORECASE)
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

_Check = Callable[[Any], str | None]  # what a value must be, or None when it is fine
_T = TypeVar("_T")

# The ranges of the numeric settings, shared with the `run` options of the same names: one
# definition, used by click for the command line and here for the file.
CONCURRENCY = click.IntRange(1, 64)
SECONDS = click.FloatRange(0, min_open=True)
SECONDS_OR_ZERO = click.FloatRange(0)
CALLS = click.IntRange(0)


def _number(kind: click.IntRange | click.FloatRange) -> _Check:
    """A check that a TOML value is a number (never a string or a boolean) in `kind`'s range."""
    whole = isinstance(kind, click.IntRange)

    def check(value: Any) -> str | None:
        allowed = (int,) if whole else (int, float)
        if isinstance(value, allowed) and not isinstance(value, bool) and math.isfinite(value):
            try:
                kind.convert(value, None, None)  # type: ignore[arg-type]
                return None
            except click.BadParameter:
                pass
        return f"must be {_range_words(kind)}"

    return check


def _range_words(kind: click.IntRange | click.FloatRange) -> str:
    """`kind`'s range as the file's messages say it."""
    noun = "a whole number" if isinstance(kind, click.IntRange) else "a number of seconds"
    if kind.max is not None:
        return f"{noun} from {kind.min} to {kind.max}"
    return f"{noun} greater than {kind.min}" if kind.min_open else f"{noun}, {kind.min} or more"


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _base_url(value: Any) -> str | None:
    try:
        checked_base_url(value if isinstance(value, str) else "")
    except UsageError:
        return (
            'must be the Learn site\'s address, e.g. "https://learn.example.edu" '
            "(plain http:// is accepted only for 127.0.0.1, ::1 and localhost)"
        )
    return None


def _window(value: Any) -> str | None:
    try:
        Window.parse(value if isinstance(value, str) else "", ZoneInfo("UTC"))
    except UsageError:
        return 'must be a daily span of local time, HH:MM-HH:MM, e.g. "22:00-06:00"'
    return None


class _Parsed(click.ParamType[_T, Any]):
    """An option's value read by the rule that reads the same value elsewhere (a manifest
    cell's), its message made click's."""

    def __init__(self, name: str, kind: type[_T], parse: Callable[[str], _T]) -> None:
        self.name, self._kind, self._parse = name, kind, parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> _T:
        if isinstance(value, self._kind):
            return value
        try:
            return self._parse(str(value))
        except ValueError as exc:
            self.fail(f"{value!r}: {exc}", param, ctx)


# `--shift-dates` and the file's `shift_dates`: one rule, the manifest column's.
SHIFT = _Parsed("shift", DateShift, parse_shift)
# `--learn-user` and the file's `learn_user`: one rule, an `instructors` entry's.
LEARN_USER = _Parsed("learn_user", Enrolment, parse_learn_user)


def _parsed(parse: Callable[[str], object], example: str) -> _Check:
    """The check of a file's value read by `parse`: a string it reads, else what it must be."""

    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be {example}"
        try:
            parse(value)
        except ValueError as exc:
            return str(exc)
        return None

    return check


def _timezone(value: Any) -> str | None:
    try:
        zone_named(value if isinstance(value, str) else "")
    except UsageError:
        return 'must be an IANA time zone name, e.g. "America/Chicago"'
    return None


SETTINGS: Mapping[str, _Check] = MappingProxyType(
    {
        "base_url": _base_url,
        "concurrency": _number(CONCURRENCY),
        "poll_min": _number(SECONDS),
        "poll_max": _number(SECONDS),
        "task_timeout": _number(SECONDS),
        "adopt_settle": _number(SECONDS_OR_ZERO),
        "window": _window,
        "timezone": _timezone,
        "quota_reserve": _number(CALLS),
        "verify": _flag,
        "allow_nonempty_shell": _flag,
        "shift_dates": _parsed(
            parse_shift, 'a date shift in quotes, e.g. "+119d", "-7d", "+17w" or "term"'
        ),
        "shift_calendar": _flag,
        "learn_user": _parsed(
            parse_learn_user,
            'a Learn user in quotes, e.g. "userName:rest-app=TeachingAssistant"',
        ),
    }
)
KNOWN_KEYS = tuple(sorted([*SETTINGS, "profiles", "notify"]))
_SECONDS = frozenset({"poll_min", "poll_max", "task_timeout", "adopt_settle"})


@dataclass(frozen=True)
class Config:
    """A checked rollover.toml (or none: every field None); settings are named as run's options."""

    path: Path | None = None
    base_url: str | None = None
    concurrency: int | None = None
    poll_min: float | None = None
    poll_max: float | None = None
    task_timeout: float | None = None
    adopt_settle: float | None = None
    window: str | None = None
    timezone: str | None = None
    quota_reserve: int | None = None
    verify: bool | None = None
    allow_nonempty_shell: bool | None = None
    # How every row whose shift_dates cell is blank moves its dates (None: not at all): the
    # default of `--shift-dates`, which is passed to `row_spec`.
    shift_dates: DateShift | None = None
    shift_calendar: bool | None = None
    # The Learn user the REST integration acts as, with the course role it is enrolled with to
    # read a course's calendar (`--learn-user`).
    learn_user: Enrolment | None = None
    profiles: Mapping[str, CopyOptions] = field(default_factory=lambda: MappingProxyType({}))
    notify: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def option_defaults(self) -> dict[str, Any]:
        """The settings the file gives, by the name of the command-line option each stands for."""
        return {name: getattr(self, name) for name in SETTINGS if getattr(self, name) is not None}

    def all_profiles(self) -> Mapping[str, CopyOptions | None]:
        """The built-in profiles and the file's, by name."""
        return MappingProxyType({**PROFILES, **self.profiles})


def config_for(manifest: Path, given: Path | None) -> Config:
    """The configuration of a run of `manifest`: `given`, else rollover.toml beside it, if any."""
    if given is not None:
        return load_config(given)
    beside = manifest.parent / CONFIG_NAME
    return load_config(beside) if beside.is_file() else Config()


def load_config(path: Path) -> Config:
    """Read and check a rollover.toml; raise ConfigInvalid listing every problem in it."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigInvalid(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigInvalid(str(path), ["the file is not UTF-8 text: save it as UTF-8"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(str(path), [f"not valid TOML: {exc}"]) from None
    secrets: list[tuple[tuple[str, ...], str]] = []
    _secrets(data, (), secrets)
    found: list[tuple[tuple[str, ...], str]] = []
    settings: dict[str, Any] = {}
    profiles: dict[str, CopyOptions] = {}
    notify: dict[str, Any] = {}
    for key, value in data.items():
        if key in SETTINGS:
            wrong = SETTINGS[key](value)
            if wrong:
                found.append(((key,), f"{key} = {shown(value)}: {wrong}"))
            else:
                settings[key] = (
                    float(value)
                    if key in _SECONDS
                    else SHIFT.convert(value, None, None)
                    if key == "shift_dates"
                    else LEARN_USER.convert(value, None, None)
                    if key == "learn_user"
                    else value
                )
        elif key == "profiles":
            profiles = _profiles(value, found)
        elif key == "notify":
            notify = _notify(value, found)
        else:
            found.append(
                (
                    (key,),
                    f"unknown key {key!r}{did_you_mean(key, KNOWN_KEYS)}; the "
                    f"known keys are: {', '.join(KNOWN_KEYS)}",
                )
            )
    if settings.get("poll_min", 0) > settings.get("poll_max", math.inf):
        found.append(
            (
                ("poll_min",),
                f"poll_min = {shown(data['poll_min'])} is larger than "
                f"poll_max = {shown(data['poll_max'])}",
            )
        )
    # A secret's key is reported once, as a secret, not again as unknown.
    secret_paths = {where for where, _ in secrets}
    found = secrets + [
        (where, message)
        for where, message in found
        if not any(where[:depth] in secret_paths for depth in range(1, len(where) + 1))
    ]
    if found:
        located = sorted(
            ((_line_of(text, where), message) for where, message in found),
            key=lambda item: item[0] or 0,
        )
        raise ConfigInvalid(
            str(path), [f"line {line}: {message}" if line else message for line, message in located]
        )
    return Config(
        path=path,
        profiles=MappingProxyType(profiles),
        notify=MappingProxyType(notify),
        **settings,
    )


def _notify(value: Any, found: list[tuple[tuple[str, ...], str]]) -> dict[str, Any]:
    """The [notify] table: mail settings (secrets stay in the environment)."""
    if not isinstance(value, Mapping):
        found.append((("notify",), "notify must be a table, e.g. [notify] with smtp_host = ..."))
        return {}
    for key in value:
        if key not in NOTIFY_KEYS:
            found.append(
                (
                    ("notify", key),
                    f"[notify] unknown key {key!r}{did_you_mean(key, NOTIFY_KEYS)}; the known "
                    f"keys are: {', '.join(NOTIFY_KEYS)}",
                )
            )
    return dict(value)


def _secrets(
    table: Mapping[str, Any], where: tuple[str, ...], found: list[tuple[tuple[str, ...], str]]
) -> None:
    """A problem for each key anywhere in the file that looks like it holds a credential."""
    for key, value in table.items():
        path = (*where, key)
        if isinstance(value, Mapping):
            _secrets(value, path, found)
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for entry in value:  # an array of tables, [[name]]
                _secrets(entry, path, found)
        elif _SECRET.search(key):
            # The value is not shown: it may be the secret itself.
            found.append(
                (
                    path,
                    f"{'.'.join(path)}: credentials are never read from a file; "
                    "set LEARN_KEY and LEARN_SECRET in the environment and delete "
                    "this line",
                )
            )


def _profiles(value: Any, found: list[tuple[tuple[str, ...], str]]) -> dict[str, CopyOptions]:
    """The configured profiles by name; a problem for each bad name, table or option."""
    if not isinstance(value, Mapping):
        found.append(
            (
                ("profiles",),
                "profiles must be tables of copy options, e.g. "
                "[profiles.light] with announcements = false",
            )
        )
        return {}
    built_in = {name.lower(): name for name in PROFILES}
    seen: dict[str, str] = {}
    profiles: dict[str, CopyOptions] = {}
    for name, table in value.items():
        where = ("profiles", name)
        header = f"[profiles.{name}]"
        if name.lower() in built_in:
            found.append(
                (
                    where,
                    f"{header} {built_in[name.lower()]!r} is a built-in profile "
                    f"({', '.join(sorted(PROFILES))}): give yours another name",
                )
            )
        elif not _PROFILE_NAME.fullmatch(name):
            found.append(
                (
                    where,
                    f"{header} a profile name may contain only letters, digits, '-', '_' and '.'",
                )
            )
        elif name.lower() in seen:
            found.append(
                (
                    where,
                    f"{header} differs from [profiles.{seen[name.lower()]}] only "
                    "in case, and the manifest matches names ignoring case: keep "
                    "one",
                )
            )
        seen.setdefault(name.lower(), name)
        if not isinstance(table, Mapping):
            found.append(
                (where, f"{header} must be a table of copy options, e.g. announcements = false")
            )
            continue
        options, problems = configured_profile(table)
        found += [((*where, *key.split(".")), f"{header} {message}") for key, message in problems]
        profiles[name] = options
    return profiles


_HEADER = re.compile(r"\s*\[\[?([^\[\]]+)\]\]?\s*(?:#.*)?$")
_KEY = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_ASSIGNMENT = re.compile(rf"\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*=")
_PART = re.compile(r"""[A-Za-z0-9_-]+|"([^"]*)"|'([^']*)'""")


def _key_path(text: str) -> tuple[str, ...]:
    """`a."b.c".d` as ('a', 'b.c', 'd')."""
    return tuple(
        next((group for group in found.groups() if group is not None), found.group())
        for found in _PART.finditer(text)
    )


def _line_of(text: str, path: tuple[str, ...]) -> int | None:
    """The line that sets `path`, else the nearest line holding it (tomllib gives no positions)."""
    nearest: tuple[int, int] | None = None  # (depth of the path it holds, line)
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        assignment = None if header else _ASSIGNMENT.match(line)
        if header:
            table = _key_path(header.group(1))
            held = table
        elif assignment:
            held = (*table, *_key_path(assignment.group(1)))
            rest = line[assignment.end() :]
            if len(held) + 1 == len(path) and re.search(
                rf"""[{{,]\s*["']?{re.escape(path[-1])}["']?\s*=""", rest
            ):
                held = path  # set inside an inline table: settings = {guestAccess = 1}
        else:
            continue
        if held == path:
            return number
        if held == path[: len(held)] and (nearest is None or len(held) > nearest[0]):
            nearest = (len(held), number)
    return nearest[1] if nearest else None
