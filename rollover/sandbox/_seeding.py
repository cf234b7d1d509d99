"""What a simulated site holds before any call: its seed terms, courses and users."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from ._config import (
    SandboxConfigInvalid,
    SeedCourse,
    SeedTerm,
    SeedUser,
)
from ._crosslist import STUDENT, replicate_members
from ._dates import FIRST_SEEDED_DAY, date_plan, seeded_dated_counts
from ._holdings import Membership
from ._member_calls import membership_data
from ._replies import iso_time
from ._site import SiteCore
from ._teaching import (
    seeded_counts,
    user_uuid,
)

# A source seeded with `dates_from` runs from that day, midnight in the Americas' Central time
# (06:00 UTC), for a 16-week term: Learn's DateRange, the start a `term` shift reads.
TERM_STARTS_AT = time(6, 0)
TERM_LENGTH = timedelta(weeks=16)


class Seeding(SiteCore):
    """Seed data onto the site, at its start and when a rehearsal's manifest grows."""

    def _seed(self, now: float) -> None:
        for seed_term in self.config.terms:
            self.catalog.add_term(seed_term.external_id, seed_term.name)
        for seed in self.config.courses:
            self._add_seed_course(seed, now)
        for user in self.config.users:
            self._add_seed_user(user, now)
        # The user the REST integration acts as exists, a plain user unless [[users]] says more.
        if not self.teaching.has_user(self.config.integration_user):
            self._add_seed_user(SeedUser(self.config.integration_user), now)
        self._seed_enrolments_and_merges(self.config.courses, now)

    def _add_seed_user(self, seed: SeedUser, now: float) -> None:
        self.teaching.add_user(seed, user_uuid(self.config.seed, seed.user_name), iso_time(now))

    def _add_seed_course(self, seed: SeedCourse, now: float) -> None:
        term = self.catalog.find_term(f"externalId:{seed.term_id}") if seed.term_id else None
        if seed.term_id and term is None:
            raise SandboxConfigInvalid(
                f'[[courses]] "{seed.course_id}" term_id = "{seed.term_id}": expected the '
                "external_id of a [[terms]] entry"
            )
        course = self.catalog.add_course(
            course_id=seed.course_id,
            name=seed.name,
            description=seed.description,
            external_id=seed.effective_external_id,
            term_primary_id=term["id"] if term else None,
            uuid=self._hex(),
            now_iso=self.site_time(now),
        )
        # A source gets content, columns and dated items; a shell is empty unless the config
        # says otherwise.
        contents, columns = seeded_counts(seed.course_id)
        dated = seeded_dated_counts(seed.course_id)
        if seed.shell and seed.course_id not in self.config.shells_with_content:
            contents = columns = 0
            dated = (0, 0, 0, 0)
        contents = seed.contents if seed.contents is not None else contents
        columns = seed.columns if seed.columns is not None else columns
        dated_contents, dated_columns, announcements, calendar_items = (
            given if given is not None else drawn
            for given, drawn in zip(
                (seed.dated_contents, seed.dated_columns, seed.announcements, seed.calendar_items),
                dated,
                strict=True,
            )
        )
        first_day = date.fromisoformat(seed.dates_from) if seed.dates_from else FIRST_SEEDED_DAY
        if seed.dates_from and not seed.shell:
            # A term named by its first day: the course runs from it (a `term` shift's start).
            start = datetime.combine(first_day, TERM_STARTS_AT, tzinfo=UTC)
            course.data["availability"]["duration"] = {
                "type": "DateRange",
                "start": iso_time(start.timestamp()),
                "end": iso_time((start + TERM_LENGTH).timestamp()),
            }
        dates = date_plan(first_day, dated_contents, dated_columns, announcements, calendar_items)
        if contents or columns or announcements or calendar_items:
            self.teaching.seed_course(course.primary_id, seed.course_id, contents, columns, dates)

    def seed(
        self,
        courses: Sequence[SeedCourse],
        terms: Sequence[SeedTerm],
        users: Sequence[SeedUser] = (),
    ) -> list[str]:
        """Add the terms, courses and users the site does not have yet (a rehearsal's manifest
        grew after it began); the ids (userNames for users) of those added."""
        now = self.clock()
        added: list[str] = []
        for seed_term in terms:
            if self.catalog.find_term(f"externalId:{seed_term.external_id}") is None:
                self.catalog.add_term(seed_term.external_id, seed_term.name)
                added.append(seed_term.external_id)
        for seed in courses:
            if self.catalog.find_course(f"courseId:{seed.course_id}") is None:
                self._add_seed_course(seed, now)
                added.append(seed.course_id)
        for user in users:
            if not self.teaching.has_user(user.user_name):
                self._add_seed_user(user, now)
                added.append(user.user_name)
        self._seed_enrolments_and_merges([c for c in courses if c.course_id in added], now)
        return added

    def _seed_enrolments_and_merges(self, seeds: Sequence[SeedCourse], now: float) -> None:
        """Enrol the seeds' students, then attach each seeded child to its parent, the parent
        keeping its own membership of a student both hold (as `ignoreEnrollmentErrors`)."""
        for seed in seeds:
            course = self._known(f"courseId:{seed.course_id}")
            for student in seed.students:
                user = self.teaching.find_user(f"userName:{student}")
                if user is None:
                    raise _seed_invalid(seed, "students", student, "a userName the site has")
                self.teaching.holdings(course.primary_id).members[user["id"]] = Membership(
                    membership_data(user["id"], course.primary_id, STUDENT, iso_time(now))
                )
        for seed in seeds:
            if seed.parent is None:
                continue
            child = self._known(f"courseId:{seed.course_id}")
            parent = self.catalog.find_course(f"courseId:{seed.parent}")
            if parent is None or parent is child or self.crosslist.parent_of(parent.primary_id):
                raise _seed_invalid(
                    seed, "parent", seed.parent, "the courseId of a course that is no child"
                )
            self.crosslist.link(parent, child, self.site_time(now))
            replicate_members(self.teaching, parent, child, now)


def _seed_invalid(seed: SeedCourse, key: str, value: str, expected: str) -> SandboxConfigInvalid:
    return SandboxConfigInvalid(
        f'[[courses]] "{seed.course_id}" {key} = "{value}": expected {expected}'
    )
