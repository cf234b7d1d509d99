"""From manifest rows to what will be asked of Learn: the row's spec and its request bodies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rollover.errors import ExactCopyRefused, Problem
from rollover.learn import learn_time, term_reference
from rollover.manifest import Enrolment, Manifest, ManifestRow

from ._profiles import (
    DEFAULT_PROFILE,
    EXACT_PROFILE,
    PROFILES,
    CopyOptions,
    VerifiedCounts,
    copy_options,
    verified_counts,
)
from ._shift import DateShift


@dataclass(frozen=True)
class RowSpec:
    """What the manifest asks for one target course: the copy, and the PATCH after it.

    `copy` holds a configured profile's options as this run's rollover.toml gave them (None for
    a built-in profile, whose options are looked up by name when the copy is requested).
    """

    target_course_id: str
    line: int
    source_course_id: str
    copy_into_existing: bool
    patch: Mapping[str, Any] = field(default_factory=dict)
    profile: str = DEFAULT_PROFILE
    copy: CopyOptions | None = None
    instructors: tuple[Enrolment, ...] = ()  # enrolled from 15% of the copy, never before
    children: tuple[str, ...] = ()  # merged sections attached once the copy completed and patched
    shift: DateShift | None = None  # how the copy's dated items move (None: not at all)

    def same_copy(self, other: RowSpec) -> bool:
        """Whether `other` asks for the same copy: same source, into the same kind of target."""
        return (
            self.source_course_id == other.source_course_id
            and self.copy_into_existing == other.copy_into_existing
        )

    def same_request(self, other: RowSpec) -> bool:
        """Whether `other` asks for exactly what this asks (its line aside)."""
        return (
            self.same_copy(other)
            and dict(self.patch) == dict(other.patch)
            and self.profile == other.profile
            and self.copy == other.copy
            and self.instructors == other.instructors
            and self.children == other.children
            and self.shift == other.shift
        )

    @property
    def options(self) -> CopyOptions | None:
        """The `copy` object of the request (None: Learn's exact copy)."""
        return self.copy if self.copy is not None else copy_options(self.profile)

    @property
    def verified(self) -> VerifiedCounts:
        """What `--verify` compares for this row: what its copy profile copies."""
        return verified_counts(self.options)

    def copy_request(self, target_pk: str | None) -> dict[str, Any]:
        """The copy POST body: a new course by courseId, or an existing course by primary id."""
        target = {"id": target_pk} if target_pk else {"courseId": self.target_course_id}
        options = self.options
        if options is None:  # `exact`: no `copy` object, so Learn copies the enrolled users too
            return {"targetCourse": target}
        return {"targetCourse": target, "copy": options}


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
            "type": "DateRange",
            "start": learn_time(row.start_date),
            "end": learn_time(row.end_date),
        }
    if availability:
        body["availability"] = availability
    return body


# Each manifest column a PATCH carries, and where its value sits in the PATCH body.
PATCH_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("name", ("name",)),
    ("description", ("description",)),
    ("external_id", ("externalId",)),
    ("term_id", ("termId",)),
    ("available", ("availability", "available")),
    ("start_date", ("availability", "duration", "start")),
    ("end_date", ("availability", "duration", "end")),
)


def patch_columns(patch: Mapping[str, Any]) -> dict[str, str]:
    """A PATCH body read back as the manifest columns that asked for it (a column the row left
    blank is absent): the term as the manifest named it, dates as Learn takes them (UTC)."""
    found: dict[str, str] = {}
    for column, path in PATCH_COLUMNS:
        value: Any = patch
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is None:
            continue
        text = str(value)
        found[column] = text.removeprefix("externalId:") if column == "term_id" else text
    return found


def row_spec(
    row: ManifestRow,
    profiles: Mapping[str, CopyOptions | None] = PROFILES,
    *,
    shift_dates: DateShift | None = None,
    calendar_reader: Enrolment | None = None,
) -> RowSpec:
    """What the ledger keeps of a manifest row. `shift_dates` (rollover.toml's key, or the
    command line's) moves the dates of every row whose own shift_dates cell is blank;
    `calendar_reader` (`--shift-calendar` with `--learn-user`) moves the course calendar's
    events of every shifted row too, and is enrolled in the row's course to read them (Learn
    shows a course's calendar only to its members), unless its instructors cell names that user.
    """
    shift = row.shift if row.shift is not None else shift_dates
    instructors = row.instructors
    if shift is not None and calendar_reader is not None:
        shift = replace(shift, calendar=True)
        if not any(calendar_reader.names(e.user_id) for e in instructors):
            instructors = (*instructors, calendar_reader)
    profile = row.copy_profile or DEFAULT_PROFILE
    # A profile from rollover.toml is kept with its options, as they are in this run's file:
    # the copy asks for what the file says when the copy is requested. Built-in profiles stay
    # names only, so ledgers written before configured profiles existed see no change.
    configured = profiles[profile] if profile not in PROFILES else None
    return RowSpec(
        target_course_id=row.target_course_id,
        line=row.line,
        source_course_id=row.source_course_id,
        copy_into_existing=row.copy_into_existing,
        patch=patch_body(row),
        profile=profile,
        copy=configured,
        instructors=instructors,
        children=row.children,
        shift=shift,
    )


def exact_copies(manifest: Manifest) -> list[Problem]:
    """One Problem per row asking for Learn's exact copy, which carries its enrolled users."""
    return [
        Problem(
            row.line,
            "copy_profile",
            row.copy_profile,
            "an exact copy also copies the source course's enrolled users (last term's "
            "students and instructors) into the target",
        )
        for row in manifest.rows
        if row.copy_profile == EXACT_PROFILE
    ]


def exact_copy_warning(manifest: Manifest, *, allowed: bool) -> str | None:
    """One line naming the rows that ask for an exact copy, or None when none does."""
    lines = [str(problem.line) for problem in exact_copies(manifest)]
    if not lines:
        return None
    which = f"line {lines[0]} asks" if len(lines) == 1 else f"lines {', '.join(lines)} ask"
    return (
        f"{manifest.path}: {which} for copy_profile exact, Learn's exact copy, which also "
        "copies the source courses' enrolled users"
        + (
            " (allowed by --allow-exact)"
            if allowed
            else "; `rollover run` refuses it unless given --allow-exact"
        )
    )


def refuse_exact_copies(manifest: Manifest) -> None:
    """Raise ExactCopyRefused naming every row that asks for an exact copy, if any does."""
    problems = exact_copies(manifest)
    if problems:
        raise ExactCopyRefused(str(manifest.path), problems)
