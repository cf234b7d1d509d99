"""What a plan costs: API calls and roughly how long the copies take."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rollover.manifest import ManifestRow

from ._bodies import patch_body
from ._profiles import DEFAULT_PROFILE, PROFILES, CopyOptions, VerifiedCounts, verified_counts

# Learn's default quota (LEARN_API.md): 10,000 calls per 24 h, shared with every integration.
DEFAULT_DAILY_QUOTA = 10_000
# What the estimate assumes when nothing better is known: a first poll that usually finds the
# copy done (the pacing aims at ~1.2 polls per copy), copies of a content-bearing course taking
# about half a minute, and Learn running four copies at once (its usual UI copy slots).
POLLS_PER_COPY = 1.2
ASSUMED_COPY_SECONDS = 30.0
ASSUMED_SLOTS = 4


@dataclass(frozen=True)
class CallEstimate:
    """How many API calls a run is expected to cost, and roughly how long it takes."""

    rows: int
    new_courses: int
    into_existing: int
    to_patch: int
    calls: int
    enrolments: int = 0  # of the calls, PUTs of instructors
    verifications: int = 0  # of the calls, content and column counts (--verify)

    @property
    def per_course(self) -> float:
        """Calls per manifest row."""
        return self.calls / self.rows if self.rows else 0.0

    def duration(self, concurrency: int) -> float:
        """Seconds the copies take at the assumed copy time, on Learn's assumed slots."""
        at_once = max(1, min(concurrency, ASSUMED_SLOTS))
        return math.ceil(self.rows / at_once) * ASSUMED_COPY_SECONDS

    def shortfall(self, quota_remaining: int | None, reserve: int = 0) -> int:
        """Calls missing to finish within the quota (the default daily one if not known)."""
        available = DEFAULT_DAILY_QUOTA if quota_remaining is None else quota_remaining
        return max(0, self.calls - max(0, available - reserve))


def estimate(
    rows: Sequence[ManifestRow],
    *,
    verify: bool = False,
    profiles: Mapping[str, CopyOptions | None] = PROFILES,
) -> CallEstimate:
    """Calls a run of these rows costs: token, shell look-ups and checks, POSTs, polls,
    PATCHes, one PUT per instructor, and with `verify` the counts each row's copy profile
    promises (content items, gradebook columns), per target and once per source."""
    into_existing = sum(1 for row in rows if row.copy_into_existing)
    to_patch = sum(1 for row in rows if patch_body(row))
    enrolments = sum(len(row.instructors) for row in rows)
    counted = {row.target_course_id: _counted(row, profiles) for row in rows}
    # Each shell is looked up, then its content counted (and its columns, to verify against).
    shells = sum(
        2 + (verify and counted[row.target_course_id].columns)
        for row in rows
        if row.copy_into_existing
    )
    verifications = 0
    if verify:
        sources: dict[str, VerifiedCounts] = {}
        for row in rows:
            wanted = counted[row.target_course_id]
            source = row.source_course_id
            sources[source] = sources.get(source, VerifiedCounts.NONE) | wanted
            verifications += wanted.reads
        verifications += sum(wanted.reads for wanted in sources.values())
    calls = (
        (1 if rows else 0)
        + shells
        + round(len(rows) * (1 + POLLS_PER_COPY))
        + to_patch
        + enrolments
        + verifications
    )
    return CallEstimate(
        len(rows),
        len(rows) - into_existing,
        into_existing,
        to_patch,
        calls,
        enrolments,
        verifications,
    )


def _counted(row: ManifestRow, profiles: Mapping[str, CopyOptions | None]) -> VerifiedCounts:
    """What --verify compares for a manifest row, from its profile's options."""
    return verified_counts(profiles.get(row.copy_profile or DEFAULT_PROFILE))
