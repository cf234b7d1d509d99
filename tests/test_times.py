"""Time, the one way: named zones resolved from the machine, and whole days that always exist."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError

import pytest

from rollover.errors import UsageError
from rollover.times import (
    LocalTimeError,
    chosen_zone,
    day_end,
    day_start,
    local_moment,
    machine_zone,
    zone_named,
)

CHICAGO = ZoneInfo("America/Chicago")


def utc(text: str) -> datetime:
    """An aware UTC datetime from '2026-05-09T04:59:59' (written out by hand, not computed)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- the machine's zone, by name -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "key"),
    [
        ("America/Chicago", "America/Chicago"),
        (":Europe/Berlin", "Europe/Berlin"),
        ("/usr/share/zoneinfo/Australia/Sydney", "Australia/Sydney"),
        (":/usr/share/zoneinfo/America/Chicago", "America/Chicago"),
        ("  Europe/Berlin  ", "Europe/Berlin"),
    ],
)
def test_tz_names_the_machine_zone(monkeypatch: pytest.MonkeyPatch, tz: str, key: str) -> None:
    """TZ as a name, ':name' or a zoneinfo file path resolves to the named zone, with its rules."""
    monkeypatch.setenv("TZ", tz)
    zone = machine_zone()
    assert isinstance(zone, ZoneInfo)
    assert zone.key == key


@pytest.mark.parametrize("form", [":", ""])
def test_tz_naming_a_link_to_a_zone_file_resolves_the_zone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, form: str
) -> None:
    """TZ=:/etc/localtime (glibc's form) or a path to any link to a zone file: the zone the link
    names, with its rules, as the C library reads it."""
    files = [Path(folder, "America", "Chicago") for folder in TZPATH]
    chicago = next((file for file in files if file.is_file()), None)
    if chicago is None:
        pytest.skip("no system zoneinfo folder with America/Chicago")
    localtime = tmp_path / "etc" / "localtime"
    localtime.parent.mkdir()
    localtime.symlink_to(chicago)
    monkeypatch.setenv("TZ", form + str(localtime))
    zone = machine_zone()
    assert zone.key == "America/Chicago"
    assert datetime(2027, 1, 11, tzinfo=zone).utcoffset() == timedelta(hours=-6)
    assert datetime(2027, 7, 1, tzinfo=zone).utcoffset() == timedelta(hours=-5)


def test_tz_colon_etc_localtime_is_this_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """TZ=:/etc/localtime, as systemd units and containers set it, is accepted and names the zone
    whose file /etc/localtime is."""
    etc = Path("/etc/localtime")
    if not etc.is_symlink():
        pytest.skip("/etc/localtime is not a link to a named zone here")
    monkeypatch.setenv("TZ", ":/etc/localtime")
    zone = machine_zone()
    assert etc.resolve().parts[-len(zone.key.split("/")) :] == tuple(zone.key.split("/"))


def test_tz_zone_keeps_daylight_saving_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The zone from TZ=America/Chicago is UTC-6 in January and UTC-5 in July, not one offset."""
    monkeypatch.setenv("TZ", "America/Chicago")
    zone = machine_zone()
    assert datetime(2027, 1, 11, tzinfo=zone).utcoffset() == timedelta(hours=-6)
    assert datetime(2027, 7, 1, tzinfo=zone).utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize("tz", ["Bogus/Zone", "/etc/nowhere/Bogus", "EST5EDT,M3.2.0,M11.1.0"])
def test_tz_that_names_no_zone_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, tz: str) -> None:
    """A TZ this machine cannot name is refused as a usage error naming TZ, not taken for UTC."""
    monkeypatch.setenv("TZ", tz)
    with pytest.raises(UsageError) as caught:
        machine_zone()
    assert caught.value.message == (
        f"the environment's TZ {tz!r} is not a time zone this machine knows"
    )
    assert caught.value.hint is not None and "--timezone America/Chicago" in caught.value.hint


def test_without_tz_the_configured_name_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no TZ, the name the system configuration gives (/etc/localtime's link) is the zone."""
    monkeypatch.delenv("TZ", raising=False)
    assert machine_zone(configured=lambda: "Australia/Sydney").key == "Australia/Sydney"


def test_a_copied_localtime_without_a_name_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """/etc/localtime present but nameless (copied, not linked) is a usage error, never UTC."""
    monkeypatch.delenv("TZ", raising=False)
    localtime = tmp_path / "localtime"
    localtime.write_bytes(b"TZif")
    with pytest.raises(UsageError) as caught:
        machine_zone(configured=lambda: None, localtime=localtime)
    assert caught.value.message == "this machine's time zone has no IANA name"
    assert caught.value.hint == "pass --timezone, e.g. --timezone America/Chicago"


def test_conflicting_system_configuration_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """tzlocal's 'conflicting configurations' error becomes a usage error asking for --timezone."""
    monkeypatch.delenv("TZ", raising=False)

    def conflicting() -> str | None:
        raise ZoneInfoNotFoundError("Multiple conflicting time zone configurations found")

    with pytest.raises(UsageError, match="has no IANA name"):
        machine_zone(configured=conflicting)


def test_a_machine_with_no_zone_configured_runs_in_utc(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No TZ, no configured name and no /etc/localtime: UTC, as the C library itself assumes."""
    monkeypatch.delenv("TZ", raising=False)
    zone = machine_zone(configured=lambda: None, localtime=tmp_path / "absent")
    assert zone.key == "UTC"


def test_timezone_option_wins_over_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    """--timezone names the zone; only without it does TZ decide."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert chosen_zone("Australia/Sydney").key == "Australia/Sydney"
    assert chosen_zone(None).key == "Europe/Berlin"


def test_an_unknown_timezone_option_is_a_usage_error() -> None:
    """--timezone Mars/Olympus is refused naming the option and an example of a real name."""
    with pytest.raises(UsageError) as caught:
        zone_named("Mars/Olympus")
    assert caught.value.message == (
        "--timezone 'Mars/Olympus' is not a time zone this machine knows"
    )


# -- whole days and local times --------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone_name", "day", "first", "last"),
    [
        ("America/Chicago", date(2026, 5, 8), "2026-05-08T05:00:00", "2026-05-09T04:59:59"),
        ("America/Chicago", date(2027, 1, 11), "2027-01-11T06:00:00", "2027-01-12T05:59:59"),
        ("America/Chicago", date(2026, 11, 1), "2026-11-01T05:00:00", "2026-11-02T05:59:59"),
        ("America/Chicago", date(2027, 3, 14), "2027-03-14T06:00:00", "2027-03-15T04:59:59"),
        ("Europe/Berlin", date(2026, 10, 25), "2026-10-24T22:00:00", "2026-10-25T22:59:59"),
        ("Europe/Berlin", date(2027, 3, 28), "2027-03-27T23:00:00", "2027-03-28T21:59:59"),
        ("Australia/Sydney", date(2026, 10, 4), "2026-10-03T14:00:00", "2026-10-04T12:59:59"),
        ("Australia/Sydney", date(2027, 4, 4), "2027-04-03T13:00:00", "2027-04-04T13:59:59"),
        # Clocks that change at midnight: the day still has a first and a last second.
        ("America/Santiago", date(2026, 9, 6), "2026-09-06T04:00:00", "2026-09-07T02:59:59"),
        ("America/Santiago", date(2026, 4, 4), "2026-04-04T03:00:00", "2026-04-05T03:59:59"),
        ("America/Havana", date(2026, 11, 1), "2026-11-01T04:00:00", "2026-11-02T04:59:59"),
        ("Asia/Beirut", date(2026, 10, 24), "2026-10-23T21:00:00", "2026-10-24T21:59:59"),
    ],
)
def test_day_start_and_end_are_the_first_and_last_second_of_that_local_day(
    zone_name: str, day: date, first: str, last: str
) -> None:
    """day_start and day_end are that date's own first and last second, in its zone."""
    zone = ZoneInfo(zone_name)
    start, end = day_start(day, zone), day_end(day, zone)
    assert (start.astimezone(UTC), end.astimezone(UTC)) == (utc(first), utc(last))
    assert start.tzinfo is zone and end.tzinfo is zone
    assert (start.date(), end.date()) == (day, day)  # both read as that day on a local clock


def test_local_moment_refuses_a_skipped_time() -> None:
    """2027-03-14 02:30 in Chicago never happens: LocalTimeError says so and what to do."""
    with pytest.raises(LocalTimeError) as caught:
        local_moment(datetime(2027, 3, 14, 2, 30), CHICAGO)
    assert str(caught.value) == (
        "2027-03-14 02:30 does not exist in America/Chicago (the "
        "clocks jump forward then): pick another time or give a UTC "
        "offset"
    )


def test_local_moment_refuses_a_repeated_time() -> None:
    """2026-11-01 01:30 in Chicago happens twice: LocalTimeError says so and what to do."""
    with pytest.raises(LocalTimeError) as caught:
        local_moment(datetime(2026, 11, 1, 1, 30), CHICAGO)
    assert str(caught.value) == (
        "2026-11-01 01:30 happens twice in America/Chicago (the "
        "clocks fall back then): pick another time or give a UTC "
        "offset"
    )


def test_local_moment_takes_each_dates_own_offset() -> None:
    """08:00 in Chicago is 14:00 UTC in January and 13:00 UTC in May."""
    assert local_moment(datetime(2027, 1, 11, 8), CHICAGO).astimezone(UTC) == utc(
        "2027-01-11T14:00:00"
    )
    assert local_moment(datetime(2027, 5, 7, 8), CHICAGO).astimezone(UTC) == utc(
        "2027-05-07T13:00:00"
    )
