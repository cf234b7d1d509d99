"""From manifest rows to what will be asked of Learn: request bodies and the call estimate."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rollover.errors import ExactCopyRefused, Problem
from rollover.ledger import RowSpec
from rollover.manifest import Manifest, ManifestRow
from rollover.profiles import DEFAULT_PROFILE, EXACT_PROFILE, PROFILES, CopyOptions, copy_options

_PRIMARY_ID = re.compile(r"^_\d+_\d+$")


def learn_time(moment: datetime) -> str:
    """A datetime as Learn writes them: UTC, milliseconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.astimezone(UTC).microsecond // 1000:03d}Z"


def id_form(value: str) -> str:
    """An id as Learn's paths take it: primary ids as they are, anything else as `courseId:`."""
    return value if _PRIMARY_ID.match(value) or ":" in value else f"courseId:{value}"


def term_reference(term_id: str) -> str:
    """A manifest term_id as PATCH's termId takes it: `_N_1`, else `externalId:<id>`."""
    return term_id if _PRIMARY_ID.match(term_id) or ":" in term_id else f"externalId:{term_id}"


def patch_body(row: ManifestRow) -> dict[str, Any]:
    """The PATCH body for a row; empty when the row asks for no change."""
    body: dict[str, Any] = {}
    if row.external_id is not None:
        body["externalId"] = row.external_id
    if row.name is not None:
        body["name"] = row.name
    if row.description is not None:
        body["description"] = row.description
    if row.term_id is not None:
        body["termId"] = term_reference(row.term_id)
    availability: dict[str, Any] = {}
    if row.available is not None:
        availability["available"] = row.available
    if row.start_date is not None and row.end_date is not None:
        availability["duration"] = {
            "type": "DateRange", "start": learn_time(row.start_date),
            "end": learn_time(row.end_date),
        }
    if availability:
        body["availability"] = availability
    return body


def copy_body(row_spec: dict[str, Any], target_course_id: str, target_pk: str | None) -> dict[
        str, Any]:
    """The copy POST body: a new course by courseId, or an existing course by primary id."""
    target = {"id": target_pk} if target_pk else {"courseId": target_course_id}
    options = row_spec["copy"] if "copy" in row_spec else copy_options(row_spec.get("profile"))
    if options is None:  # `exact`: no `copy` object, so Learn copies the enrolled users too
        return {"targetCourse": target}
    return {"targetCourse": target, "copy": options}


def row_spec(row: ManifestRow, profiles: Mapping[str, CopyOptions | None] = PROFILES) -> RowSpec:
    """What the ledger keeps of a manifest row."""
    profile = row.copy_profile or DEFAULT_PROFILE
    spec: dict[str, Any] = {"patch": patch_body(row), "profile": profile}
    if profile not in PROFILES:
        # A profile from rollover.toml is kept with its options, as they are in this run's file:
        # the copy asks for what the file says when the copy is requested. Built-in profiles stay
        # names only, so ledgers written before configured profiles existed see no change.
        spec["copy"] = profiles[profile]
    return RowSpec(
        target_course_id=row.target_course_id,
        line=row.line,
        source_course_id=row.source_course_id,
        copy_into_existing=row.copy_into_existing,
        spec=spec,
    )


def exact_copies(manifest: Manifest) -> list[Problem]:
    """One Problem per row asking for Learn's exact copy, which carries its enrolled users."""
    return [Problem(row.line, "copy_profile", row.copy_profile,
                    "an exact copy also copies the source course's enrolled users (last term's "
                    "students and instructors) into the target")
            for row in manifest.rows if row.copy_profile == EXACT_PROFILE]


def exact_copy_warning(manifest: Manifest, *, allowed: bool) -> str | None:
    """One line naming the rows that ask for an exact copy, or None when none does."""
    lines = [str(problem.line) for problem in exact_copies(manifest)]
    if not lines:
        return None
    which = f"line {lines[0]} asks" if len(lines) == 1 else f"lines {', '.join(lines)} ask"
    return (f"{manifest.path}: {which} for copy_profile exact, Learn's exact copy, which also "
            "copies the source courses' enrolled users"
            + (" (allowed by --allow-exact)" if allowed
               else "; `rollover run` refuses it unless given --allow-exact"))


def refuse_exact_copies(manifest: Manifest) -> None:
    """Raise ExactCopyRefused naming every row that asks for an exact copy, if any does."""
    problems = exact_copies(manifest)
    if problems:
        raise ExactCopyRefused(str(manifest.path), problems)


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


def estimate(rows: Sequence[ManifestRow]) -> CallEstimate:
    """Calls a run of these rows costs: token, target look-ups, POSTs, polls, PATCHes."""
    into_existing = sum(1 for row in rows if row.copy_into_existing)
    to_patch = sum(1 for row in rows if patch_body(row))
    calls = (1 if rows else 0) + into_existing + round(len(rows) * (1 + POLLS_PER_COPY)) \
        + to_patch
    return CallEstimate(len(rows), len(rows) - into_existing, into_existing, to_patch, calls)
