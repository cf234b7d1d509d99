"""`LearnSandbox`: the simulated Learn site's state and rules, with no HTTP in it.

Every public method is one Learn endpoint. It reads the injected clock once, applies the copies
that have finished by then, charges the quota, checks the bearer token and injected faults, and
returns a `Reply`. Nothing awaits, so concurrent requests cannot interleave a check and its write.

`LearnSandbox` is the one class the app calls; its endpoints live by family in sibling modules,
each a base it is built from: `_site` (serving a call: gateway, quota, token, faults, the 404
lookups), `_seeding`, `_copy_calls`, `_course_calls`, `_member_calls`, `_content_calls`,
`_merge_calls` (merged courses), `_date_calls` (dated items) and `_persistence`
(to_state/from_state).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from ._access import AccessToken, QuotaBucket
from ._catalog import Catalog, Course
from ._config import SandboxConfig
from ._content_calls import ContentCalls
from ._copy_calls import CopyCalls
from ._copying import CopyQueue, CopyTask
from ._course_calls import CourseCalls
from ._crosslist import CrossListing
from ._date_calls import DateCalls
from ._journal import replay_journal, write_snapshot
from ._member_calls import MemberCalls
from ._merge_calls import MergeCalls
from ._persistence import Persistence
from ._record import SandboxRecord
from ._replies import json_copy
from ._site import Clock
from ._teaching import Teaching


class LearnSandbox(
    Persistence, CopyCalls, CourseCalls, MemberCalls, ContentCalls, MergeCalls, DateCalls
):
    """An in-memory Learn site: courses, terms, users, enrolments, content, copy tasks, one
    OAuth token and a call quota."""

    def __init__(self, config: SandboxConfig | None = None, clock: Clock = time.time) -> None:
        self.config = config or SandboxConfig()
        self.clock = clock
        now = clock()
        self.catalog = Catalog()
        self.teaching = Teaching()
        self.queue = CopyQueue.with_slots(self.config.slots)
        self.token: AccessToken | None = None
        self.bucket = QuotaBucket.full(
            self.config.quota_limit, self.config.quota_refill_per_second, now
        )
        self.record = SandboxRecord()
        self.crosslist = CrossListing()
        # Separate streams, so turning one fault on does not shift another's draws.
        self.fault_rng = random.Random(f"{self.config.seed}:faults")
        self.duration_rng = random.Random(f"{self.config.seed}:durations")
        self.id_rng = random.Random(f"{self.config.seed}:ids")
        self._seed(now)

    def course(self, ref: str) -> Course | None:
        """The course named by `ref` in any id form, hidden state included."""
        return self.catalog.find_course(ref)

    def task(self, task_id: str) -> CopyTask | None:
        """The copy task with this id, if one was ever posted."""
        return self.queue.tasks.get(task_id)

    def membership(self, course_ref: str, user_ref: str) -> dict[str, Any] | None:
        """The user's membership of the course as of now (refs in any id form), or None."""
        now = self._caught_up()
        course, user = self.catalog.find_course(course_ref), self.teaching.find_user(user_ref)
        if course is None or user is None:
            return None
        found = self.teaching.view(course.primary_id).member_at(user["id"], now)
        return json_copy(found.data) if found is not None else None

    @classmethod
    def load_or_create(
        cls, path: Path, config: SandboxConfig | None = None, clock: Clock = time.time
    ) -> LearnSandbox:
        """Resume the site saved at `path`, or start a fresh one from `config` if none is."""
        if Path(path).exists():
            return cls.load(path, clock)
        return cls(config, clock)

    def save(self, path: Path) -> None:
        """Write a snapshot atomically; a journal beside `path` from before it no longer counts."""
        write_snapshot(self, Path(path))

    @classmethod
    def load(cls, path: Path, clock: Clock = time.time) -> LearnSandbox:
        """Read the snapshot at `path`, then replay the calls journaled beside it since."""
        with Path(path).open(encoding="utf-8") as handle:
            state = json.load(handle)
        sandbox = cls.from_state(state, clock)
        replay_journal(sandbox, Path(path), state.get("journal_id"))
        return sandbox
