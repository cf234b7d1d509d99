"""Time, the one way: aware datetimes, named zones, and local times that exist exactly once.

A local time comes from a named zone (`ZoneInfo`), never from a fixed offset such as
`datetime.now().astimezone().tzinfo`: that offset is right for today and an hour wrong for half
the dates a registrar types. The machine's own zone is resolved to its name (`TZ`, else
`/etc/localtime`), and each date then gets its own offset, daylight saving included.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
        raise UsageError(f"{source} {name!r} is not a time zone this machine knows",
                         hint="use an IANA name such as America/Chicago, e.g. "
                              "--timezone America/Chicago") from None


def machine_zone() -> ZoneInfo:
    """This machine's zone by name: `TZ` if set, else what /etc/localtime (or kin) names."""
    given = os.environ.get("TZ", "").strip()
    if given:
        name = given.removeprefix(":")
        marker = "zoneinfo/"
        if name.startswith("/") and marker in name:  # TZ=/usr/share/zoneinfo/Europe/Berlin
            name = name.split(marker, 1)[1]
        return zone_named(name, source="the environment's TZ")
    try:
        return ZoneInfo(tzlocal.get_localzone_name() or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError, LookupError):
        raise UsageError("this machine's time zone has no IANA name",
                         hint="pass --timezone, e.g. --timezone America/Chicago") from None


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
            raise LocalTimeError(f"{moment:%Y-%m-%d %H:%M} does not exist in {zone.key} (the "
                                 "clocks jump forward then): pick another time or give a UTC "
                                 "offset")
        raise LocalTimeError(f"{moment:%Y-%m-%d %H:%M} happens twice in {zone.key} (the clocks "
                             "fall back then): pick another time or give a UTC offset")
    return first


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The first second of `day` in `zone`."""
    return local_moment(datetime.combine(day, time()), zone)


def day_end(day: date, zone: ZoneInfo) -> datetime:
    """The last whole second of `day` in `zone` (a course runs through its end date)."""
    return local_moment(datetime.combine(day, END_OF_DAY), zone)


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
    "local_moment",
    "machine_zone",
    "seconds_between",
    "utc_now",
    "zone_named",
]
