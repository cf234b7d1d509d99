"""Time, the one way: aware datetimes, named zones, and local times that exist exactly once.

A local time comes from a named zone (`ZoneInfo`), never from a fixed offset such as
`datetime.now().astimezone().tzinfo`: that offset is right for today and an hour wrong for half
the dates a registrar types. The machine's own zone is resolved to its name (`TZ`, else
`/etc/localtime`), and each date then gets its own offset, daylight saving included.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import tzlocal

from rollover.errors import UsageError

END_OF_DAY = time(23, 59, 59)


def utc_now() -> datetime:
    """The current moment, aware, in UTC: the default wall clock everywhere it is injected."""
    return datetime.now(UTC)


def zone_named(name: str, *, source: str = "--timezone") -> ZoneInfo:
    """The IANA zone `name`; a UsageError that names `source` when this machine has no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(
            f"{source} {name!r} is not a time zone this machine knows",
            hint="use an IANA name such as America/Chicago, e.g. --timezone America/Chicago",
        ) from None


def machine_zone(
    *,
    configured: Callable[[], str | None] = tzlocal.get_localzone_name,
    localtime: Path = Path("/etc/localtime"),
) -> ZoneInfo:
    """This machine's zone by name: `TZ` if set, else what /etc/localtime (or kin) names."""
    given = os.environ.get("TZ", "").strip()
    if given:
        name = given.removeprefix(":")  # glibc's form for a file: TZ=:/etc/localtime
        if name.startswith("/"):  # TZ=/usr/share/zoneinfo/Europe/Berlin
            name = _zone_name_of_file(Path(name)) or name
        return zone_named(name, source="the environment's TZ")
    try:
        configured_name = configured()
        if configured_name is not None:
            return ZoneInfo(configured_name)
    except (ZoneInfoNotFoundError, ValueError, OSError, LookupError):
        raise _nameless_zone() from None
    if localtime.exists():
        # A zone with no name (/etc/localtime copied rather than linked) is refused, not taken
        # for UTC: that would put every date hours off, silently.
        raise _nameless_zone()
    return ZoneInfo("UTC")  # nothing configured at all: the C library runs in UTC too


def _zone_name_of_file(path: Path) -> str | None:
    """The IANA name of the zone file at `path`, links followed as the C library follows them
    (/etc/localtime -> /usr/share/zoneinfo/Europe/Berlin), or None for a file with no name."""
    parts = path.resolve().parts
    known = available_timezones()
    return next(
        (name for start in range(1, len(parts)) if (name := "/".join(parts[start:])) in known),
        None,
    )


def _nameless_zone() -> UsageError:
    """The error for a machine whose zone cannot be named."""
    return UsageError(
        "this machine's time zone has no IANA name",
        hint="pass --timezone, e.g. --timezone America/Chicago",
    )


# The IANA names of UTC itself (not zones that merely sit at offset 0 part of the year).
_UTC_NAMES = frozenset(
    {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"}
    | {"GMT", "Etc/GMT", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "GMT0", "GMT+0", "GMT-0"}
    | {"Etc/Greenwich", "Greenwich"}
)


def is_utc(zone: ZoneInfo) -> bool:
    """Whether `zone` is UTC itself, as servers are usually set."""
    return zone.key in _UTC_NAMES


def chosen_zone(name: str | None) -> ZoneInfo:
    """The zone `--timezone` names, or this machine's when it names none."""
    return zone_named(name) if name else machine_zone()


class LocalTimeError(ValueError):
    """A local time that a clock change skips or repeats; the message says which and what to do."""


def local_moment(moment: datetime, zone: ZoneInfo) -> datetime:
    """A naive local time in `zone` as an aware datetime, refusing times that do not exist (the
    clocks jump over them) or exist twice (the clocks fall back through them)."""
    first, second = moment.replace(tzinfo=zone, fold=0), moment.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        back_to_naive = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if back_to_naive != moment:
            raise LocalTimeError(
                f"{moment:%Y-%m-%d %H:%M} does not exist in {zone.key} (the "
                "clocks jump forward then): pick another time or give a UTC "
                "offset"
            )
        raise LocalTimeError(
            f"{moment:%Y-%m-%d %H:%M} happens twice in {zone.key} (the clocks "
            "fall back then): pick another time or give a UTC offset"
        )
    return first


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The first second of `day` in `zone`: its midnight, or the earlier one when the clocks fall
    back through midnight, or the moment they jump to when they skip it (America/Santiago)."""
    # A date alone names a whole day, which always has a first second: never a LocalTimeError.
    # fold=0 takes the offset in force before a change: for a skipped midnight that is exactly
    # the instant of the jump.
    return _normalized(datetime.combine(day, time(), tzinfo=zone), zone)


def day_end(day: date, zone: ZoneInfo) -> datetime:
    """The last whole second of `day` in `zone` (a course runs through its end date): 23:59:59,
    the later one when the clocks fall back through midnight (Asia/Beirut)."""
    # fold=1 takes the offset in force after a change: the later of a repeated 23:59:59, and
    # for one the clocks skip, the second before the jump.
    return _normalized(datetime.combine(day, END_OF_DAY, tzinfo=zone).replace(fold=1), zone)


def _normalized(moment: datetime, zone: ZoneInfo) -> datetime:
    """The same instant, written as the local time `zone` shows then."""
    return moment.astimezone(UTC).astimezone(zone)


def seconds_between(since: datetime, until: datetime) -> float:
    """Seconds from `since` to `until` (negative if `until` is earlier)."""
    return (until - since).total_seconds()


def humanized(seconds: float) -> str:
    """A duration as people read it: 45 s, 12 min, 3.5 h, 2.1 days."""
    if seconds < 90:
        return f"{max(0, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


__all__ = [
    "END_OF_DAY",
    "LocalTimeError",
    "chosen_zone",
    "day_end",
    "day_start",
    "humanized",
    "is_utc",
    "local_moment",
    "machine_zone",
    "seconds_between",
    "utc_now",
    "zone_named",
]
