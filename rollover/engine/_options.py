"""The knobs of one run, as `rollover run` takes them."""

from __future__ import annotations

from dataclasses import dataclass

from rollover.manifest import Enrolment

from ._window import Window


@dataclass(frozen=True)
class RunOptions:
    """The knobs of one run (see `rollover run --help`)."""

    concurrency: int = 8  # Learn runs 4 copies at once: as many again waiting keeps it busy
    poll_min: float = 1.0
    poll_max: float = 60.0
    task_timeout: float = 6 * 3600.0
    adopt_settle: float = 900.0
    window: Window | None = None
    quota_reserve: int | None = None
    verify: bool = False  # count what arrived against the source after each copy
    allow_nonempty_shell: bool = False  # copy into shells that already hold content
    # With `--shift-calendar`, the Learn user the REST integration acts as (`--learn-user`) and
    # its course role: shifted rows move their course calendar's events too, read only once
    # this user is enrolled in the course (None: calendars are left alone).
    calendar_reader: Enrolment | None = None
