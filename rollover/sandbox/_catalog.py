"""The simulated site's courses and terms: ids in every form Learn accepts, and the PATCH rules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._replies import LearnRefusal, iso_time, json_copy, parse_iso
from ._spec import validate_request_body

COURSE_PATCH_PATH = "/learn/api/public/v3/courses/{courseId}"

# Learn refuses these in a PATCH body; they are set by Learn itself or fixed at creation.
READ_ONLY_COURSE_FIELDS = (
    "id",
    "uuid",
    "courseId",
    "organization",
    "ultraStatus",
    "created",
    "modified",
    "hasChildren",
    "parentId",
    "externalAccessUrl",
    "guestAccessUrl",
)

# What a finished copy carries over from its source onto a new course, over anything set before.
COPIED_COURSE_FIELDS = ("name", "description", "termId", "availability")

# The course fields a `{courseId}` path value may name a course by, besides the primary id.
# `Catalog` indexes them, so only `add_course` and `patch_course` may change them.
INDEXED_COURSE_FIELDS = ("courseId", "externalId", "uuid")


@dataclass
class Course:
    """A course as Learn shows it (`data`), plus what Learn hides: copied content and copy task."""

    data: dict[str, Any]
    content: list[str] = field(default_factory=list)
    copy_task: str | None = None

    @property
    def primary_id(self) -> str:
        """The `_N_1` primary id."""
        return str(self.data["id"])

    @property
    def course_id(self) -> str:
        """The human courseId, e.g. BIO101-FA26."""
        return str(self.data["courseId"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, hidden parts included."""
        return {"data": self.data, "content": self.content, "copy_task": self.copy_task}


@dataclass
class Catalog:
    """Every course and term of the site, keyed by primary id, in creation order."""

    courses: dict[str, Course] = field(default_factory=dict)
    terms: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1
    # value -> courses holding it, in creation order. Lists, not single courses, because Learn
    # lets externalIds repeat (a new course takes its courseId as externalId unchecked), and a
    # lookup then finds the oldest holder, as a scan in creation order would.
    _by_field: dict[str, dict[str, list[Course]]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _terms_by_external_id: dict[str, dict[str, Any]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self._by_field = {name: {} for name in INDEXED_COURSE_FIELDS}
        for course in self.courses.values():
            self._index_course(course)
        for term in self.terms.values():
            self._terms_by_external_id.setdefault(term["externalId"], term)

    def new_primary_id(self) -> str:
        """A fresh `_N_1` primary id."""
        primary_id = f"_{self.next_id}_1"
        self.next_id += 1
        return primary_id

    def add_term(self, external_id: str, name: str) -> dict[str, Any]:
        """Create a term, always available and continuous."""
        term: dict[str, Any] = {
            "id": self.new_primary_id(),
            "externalId": external_id,
            "dataSourceId": "_2_1",
            "name": name,
            "availability": {"available": "Yes", "duration": {"type": "Continuous"}},
        }
        self.terms[term["id"]] = term
        self._terms_by_external_id.setdefault(external_id, term)
        return term

    def add_course(
        self,
        *,
        course_id: str,
        name: str,
        description: str,
        external_id: str,
        term_primary_id: str | None,
        uuid: str,
        now_iso: str,
    ) -> Course:
        """Create a course with Learn's defaults for everything not given."""
        primary_id = self.new_primary_id()
        data: dict[str, Any] = {
            "id": primary_id,
            "uuid": uuid,
            "externalId": external_id,
            "dataSourceId": "_2_1",
            "courseId": course_id,
            "name": name,
            "description": description,
            "created": now_iso,
            "modified": now_iso,
            "organization": False,
            "ultraStatus": "Classic",
            "allowGuests": True,
            "allowObservers": False,
            "closedComplete": False,
            "availability": {"available": "Yes", "duration": {"type": "Continuous"}},
            "enrollment": {"type": "InstructorLed"},
            "locale": {"force": False},
            "hasChildren": False,
            "externalAccessUrl": f"/webapps/blackboard/execute/courseMain?course_id={primary_id}",
        }
        if term_primary_id is not None:
            data["termId"] = term_primary_id
        course = Course(data)
        self.courses[primary_id] = course
        self._index_course(course)
        return course

    def remove_course(self, course: Course) -> None:
        """Forget `course`, as when a person deletes it in Learn (the sandbox serves no
        DELETE): tests use it to model a course gone from under a run."""
        self._unindex_course(course, INDEXED_COURSE_FIELDS)
        del self.courses[course.primary_id]

    def find_course(self, ref: str) -> Course | None:
        """The course named by `ref`: `_N_1`, `courseId:X`, `externalId:X` or `uuid:X`."""
        key, value = _split_ref(ref)
        if key == "id":
            return self.courses.get(value)
        holders = self._holders(key, value)
        return holders[0] if holders else None

    def find_term(self, ref: str) -> dict[str, Any] | None:
        """The term named by `ref`: `_N_1` or `externalId:X`."""
        key, value = _split_ref(ref)
        if key == "id":
            return self.terms.get(value)
        if key == "externalId":
            return self._terms_by_external_id.get(value)
        return None

    def finish_copy(
        self, source_primary_id: str, target_primary_id: str, *, into_existing: bool, end_iso: str
    ) -> None:
        """Apply a finished copy: content is added; a new course also takes the source's fields."""
        source = self.courses[source_primary_id]
        target = self.courses[target_primary_id]
        if not into_existing:
            # Learn's trap: the copy overwrites whatever was patched while it ran.
            for name in COPIED_COURSE_FIELDS:
                if name in source.data:
                    target.data[name] = json_copy(source.data[name])
                else:
                    target.data.pop(name, None)
        target.content.append(source.course_id)
        target.data["modified"] = end_iso

    def course_id_taken(self, course_id: str) -> bool:
        """Whether any course (one still being copied included) already has this courseId."""
        return bool(self._holders("courseId", course_id))

    def search(self, query: dict[str, str]) -> list[dict[str, Any]]:
        """Courses whose courseId/externalId/name contain the filter, as Learn's list matches."""
        found = []
        for course in self.courses.values():
            if all(
                needle.lower() in str(course.data.get(name, "")).lower()
                for name, needle in query.items()
                if name in ("courseId", "externalId", "name")
            ):
                found.append(course.data)
        return found

    def patch_course(self, course: Course, body: Any, now_iso: str) -> None:
        """Apply a PATCH body to `course` with Learn's checks, or raise the refusal Learn gives."""
        if not isinstance(body, dict):
            raise LearnRefusal(400, "The request body must be a JSON object")
        for name in READ_ONLY_COURSE_FIELDS:
            if name in body:
                raise LearnRefusal(400, f"Field '{name}' is read-only and cannot be updated")
        problems = validate_request_body("patch", COURSE_PATCH_PATH, body)
        if problems:
            raise LearnRefusal(400, "Invalid request body: " + "; ".join(problems))
        changes = json_copy(body)
        if "termId" in changes:
            term = self.find_term(changes["termId"])
            if term is None:
                raise LearnRefusal(400, f"Invalid termId: {changes['termId']}")
            changes["termId"] = term["id"]
        external_id = changes.get("externalId")
        if external_id is not None and any(
            c is not course for c in self._holders("externalId", external_id)
        ):
            raise LearnRefusal(
                409,
                f"A course with the provided externalId already exists: {external_id}",
                status_as_string=True,
            )
        merged = _merge(course.data, changes)
        _check_availability(merged, changes)
        merged["modified"] = now_iso
        moved = [
            name for name in INDEXED_COURSE_FIELDS if merged.get(name) != course.data.get(name)
        ]
        self._unindex_course(course, moved)
        course.data = merged
        self._index_course(course, moved)

    def _holders(self, name: str, value: str) -> list[Course]:
        return self._by_field.get(name, {}).get(value, [])

    def _index_course(self, course: Course, names: Iterable[str] = INDEXED_COURSE_FIELDS) -> None:
        # Appending keeps each list in creation order: courses are indexed as they are created,
        # and a PATCH only moves a course to an externalId no other course holds (the 409 rule).
        for name in names:
            value = course.data.get(name)
            if isinstance(value, str):
                self._by_field[name].setdefault(value, []).append(course)

    def _unindex_course(self, course: Course, names: Iterable[str]) -> None:
        for name in names:
            value = course.data.get(name)
            if isinstance(value, str):
                holders = self._by_field[name][value]
                holders.remove(course)
                if not holders:
                    del self._by_field[name][value]


def _split_ref(ref: str) -> tuple[str, str]:
    # Learn reads an unprefixed path value as a primary id, so "BIO101" is simply not found.
    for prefix in ("courseId", "externalId", "uuid", "primaryId"):
        if ref.startswith(prefix + ":"):
            key = "id" if prefix == "primaryId" else prefix
            return key, ref[len(prefix) + 1 :]
    return "id", ref


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = json_copy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = json_copy(value)
    return merged


def _check_availability(merged: dict[str, Any], changes: dict[str, Any]) -> None:
    availability = merged.get("availability", {})
    duration = availability.get("duration", {})
    kind = duration.get("type", "Continuous")
    asked = changes.get("availability", {}).get("duration", {})
    if kind == "DateRange":
        if "start" not in duration or "end" not in duration:
            raise _bad("availability.duration of type DateRange needs both start and end")
        if parse_iso(duration["start"]) >= parse_iso(duration["end"]):
            raise _bad("availability.duration.start must be before its end")
        for edge in ("start", "end"):
            duration[edge] = iso_time(parse_iso(duration[edge]).timestamp())
    elif "start" in asked or "end" in asked:
        raise _bad("availability.duration start/end may only be set for type DateRange")
    else:
        duration.pop("start", None)
        duration.pop("end", None)
    if kind == "FixedNumDays":
        if "daysOfUse" not in duration or duration["daysOfUse"] < 1:
            raise _bad("availability.duration of type FixedNumDays needs daysOfUse >= 1")
    elif "daysOfUse" in asked:
        raise _bad("availability.duration.daysOfUse may only be set for type FixedNumDays")
    else:
        duration.pop("daysOfUse", None)
    needs_term = availability.get("available") == "Term" or kind == "Term"
    if needs_term and not merged.get("termId"):
        raise _bad("availability 'Term' requires the course to have a termId")


def _bad(message: str) -> LearnRefusal:
    return LearnRefusal(400, message)
