"""What the simulated Learn saw and did, kept so tests can assert exactly-once behaviour."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CopyEvent:
    """One copy request Learn applied (whether or not its answer reached the client)."""

    source_course_id: str
    target_course_id: str
    target_primary_id: str
    into_existing: bool
    task_id: str
    at: float
    options: dict[str, Any] | None = None  # the body's `copy` object; None means an exact copy


@dataclass(frozen=True)
class PatchEvent:
    """One PATCH Learn applied, and whether the course's copy had finished by then."""

    primary_id: str
    course_id: str
    body: dict[str, Any]
    at: float
    copy_complete: bool


@dataclass(frozen=True)
class EnrolmentEvent:
    """One enrolment Learn created (a PUT answered 201), and whether the copy into its course
    will drop it: one made while that copy was below 15% is gone once the copy passes 15%."""

    course_primary_id: str
    course_id: str
    user_primary_id: str
    role: str
    at: float
    percent: int | None  # the lowest percentComplete of the copies into the course then running
    lost: bool


@dataclass(frozen=True)
class AttachEvent:
    """One child course Learn attached to a parent (a PUT answered 201, or whose answer was
    lost), when, and whether the copy into the parent had finished by then."""

    parent_primary_id: str
    parent_course_id: str
    child_primary_id: str
    child_course_id: str
    at: float
    copy_complete: bool  # no copy ever went into the parent, or its last one was applied
    ignore_enrollment_errors: bool
    answer_lost: bool = False  # the client saw a gateway timeout instead of the 201


@dataclass(frozen=True)
class DateChange:
    """One date of one item that a PATCH changed (a date sent unchanged is no change): the
    item's kind (`content`, `column`, `announcement`, `calendar`), course and item ids, the
    dotted field, its old value (None: it had none) and new one, when, and which date PATCH
    (counted from 1 on the whole site, in the order Learn applied them) made it."""

    kind: str
    course_primary_id: str
    item_id: str
    field: str
    old: str | None
    new: str
    at: float
    patch: int


@dataclass
class SandboxRecord:
    """Applied copies, patches, enrolments, attachments and date changes, the query of every
    calendar items list, calls per endpoint template, faults by kind."""

    copies: list[CopyEvent] = field(default_factory=list)
    patches: list[PatchEvent] = field(default_factory=list)
    enrolments: list[EnrolmentEvent] = field(default_factory=list)
    attachments: list[AttachEvent] = field(default_factory=list)
    date_changes: list[DateChange] = field(default_factory=list)
    date_patches: int = 0  # date PATCHes applied (answers lost included), changing or not
    # The query parameters of every GET /v1/calendars/items Learn served, in order.
    calendar_lists: list[dict[str, str]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    def copies_per_target(self) -> dict[str, int]:
        """How many applied copy requests each target courseId received."""
        return dict(Counter(event.target_course_id for event in self.copies))

    def summary(self) -> dict[str, Any]:
        """Counts without the events: small enough to fetch after a 10,000-course run."""
        return {
            "calls": dict(self.calls),
            "faults": dict(self.faults),
            "copies": len(self.copies),
            "patches": len(self.patches),
            "patches_before_copy_complete": sum(not p.copy_complete for p in self.patches),
            "max_copies_per_target": max(self.copies_per_target().values(), default=0),
            "enrolments": len(self.enrolments),
            "enrolments_lost": sum(e.lost for e in self.enrolments),
            "attachments": len(self.attachments),
            "attachments_before_copy_complete": sum(not a.copy_complete for a in self.attachments),
            "date_patches": self.date_patches,
            "date_changes": len(self.date_changes),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; `from_dict` reads it back."""
        return {
            "copies": [asdict(event) for event in self.copies],
            "patches": [asdict(event) for event in self.patches],
            "enrolments": [asdict(event) for event in self.enrolments],
            "attachments": [asdict(event) for event in self.attachments],
            "date_changes": [asdict(event) for event in self.date_changes],
            "date_patches": self.date_patches,
            "calendar_lists": self.calendar_lists,
            "calls": dict(self.calls),
            "faults": dict(self.faults),
            "copies_per_target": self.copies_per_target(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxRecord:
        """The record `to_dict` described."""
        return cls(
            copies=[CopyEvent(**event) for event in data["copies"]],
            patches=[PatchEvent(**event) for event in data["patches"]],
            enrolments=[EnrolmentEvent(**event) for event in data.get("enrolments", [])],
            attachments=[AttachEvent(**event) for event in data.get("attachments", [])],
            date_changes=[DateChange(**event) for event in data.get("date_changes", [])],
            date_patches=data.get("date_patches", 0),
            calendar_lists=[dict(query) for query in data.get("calendar_lists", [])],
            calls=Counter(data["calls"]),
            faults=Counter(data["faults"]),
        )
