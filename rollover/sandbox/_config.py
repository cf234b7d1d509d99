"""What the simulated Learn site holds and how it misbehaves: `SandboxConfig` and its seed data."""

from __future__ import annotations

import difflib
import json
import tomllib
import types
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

# Where people read the seed file's keys, their meaning and their defaults.
SEED_FORMAT_DOC = 'docs/operations.md, "The simulator\'s seed file"'


class SandboxConfigInvalid(ValueError):
    """A mistake in the simulator's seed file (or the data it came from): the key, the value
    found and the form expected; `path` once the file is known."""

    def __init__(self, problem: str, *, path: Path | None = None) -> None:
        super().__init__(f"{path}: {problem}" if path is not None else problem)
        self.problem = problem
        self.path = path

    def in_file(self, path: Path) -> SandboxConfigInvalid:
        """The same mistake, said of the file `path`."""
        return SandboxConfigInvalid(self.problem, path=path)


def _shown(value: Any) -> str:
    """A value as it would be written in TOML (near enough: JSON's forms)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _invalid(key: str, value: Any, expected: str) -> SandboxConfigInvalid:
    return SandboxConfigInvalid(f"{key} = {_shown(value)}: expected {expected}")


@dataclass(frozen=True)
class SeedCourse:
    """A course that exists on the simulated site before anything is copied."""

    course_id: str
    name: str
    description: str = ""
    external_id: str | None = None
    term_id: str | None = None  # the term's externalId
    contents: int | None = None  # content items at all levels; None: derived from the courseId
    columns: int | None = None  # gradebook columns; None: derived from the courseId
    shell: bool = False  # an SIS shell: empty unless listed in `shells_with_content`
    # userNames of [[users]] (or the `integration_user`) enrolled as Student (a merged child's
    # students reach its parent)
    students: list[str] = field(default_factory=list)
    parent: str | None = None  # the course_id of the [[courses]] entry this is a merged child of
    # Dated items (None: a number derived from the courseId; a shell gets none): content items
    # (folders aside) with an adaptive-release window, columns with a due date, announcements,
    # course calendar items (each with a start and an end).
    dated_contents: int | None = None
    dated_columns: int | None = None
    announcements: int | None = None
    calendar_items: int | None = None
    dates_from: str | None = None  # YYYY-MM-DD, the Monday the weekly dates start; None: 2026-01-12

    def __post_init__(self) -> None:
        if self.dates_from is not None:
            try:
                date.fromisoformat(self.dates_from)
            except ValueError:
                raise _invalid(
                    f'[[courses]] "{self.course_id}" dates_from',
                    self.dates_from,
                    'a date as YYYY-MM-DD, e.g. "2026-01-12"',
                ) from None
        for name in (
            "contents",
            "columns",
            "dated_contents",
            "dated_columns",
            "announcements",
            "calendar_items",
        ):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 0):
                raise _invalid(
                    f'[[courses]] "{self.course_id}" {name}', value, "a whole number, at least 0"
                )

    @property
    def effective_external_id(self) -> str:
        """The externalId Learn shows: the given one, or the courseId as Learn defaults it."""
        return self.external_id if self.external_id is not None else self.course_id


@dataclass(frozen=True)
class SeedTerm:
    """A term that exists on the simulated site, named by its externalId."""

    external_id: str
    name: str


@dataclass(frozen=True)
class SeedUser:
    """A user account that exists on the simulated site; a system administrator cannot be
    enrolled by an application."""

    user_name: str
    external_id: str | None = None  # None: the userName, as Learn defaults it
    system_admin: bool = False

    @property
    def effective_external_id(self) -> str:
        """The externalId Learn shows: the given one, or the userName."""
        return self.external_id if self.external_id is not None else self.user_name


_Seed = TypeVar("_Seed", SeedCourse, SeedTerm, SeedUser)

# Entitlements the simulated integration user may be denied (`missing_entitlements`), and what
# each denial does: listing a course's gradebook columns answers 403 (the official spec:
# 'The entitlement "course.gradebook.MODIFY" is needed').
# Merging courses answers 403 without the cross-list entitlement (the spec of PUT
# .../children/{childCourseId}).
GRADEBOOK_ENTITLEMENT = "course.gradebook.MODIFY"
CROSS_LIST_ENTITLEMENT = "system.course.cross-list.VIEW"
DENIABLE_ENTITLEMENTS = (GRADEBOOK_ENTITLEMENT, CROSS_LIST_ENTITLEMENT)


def _default_courses() -> list[SeedCourse]:
    return [
        SeedCourse("BIO101-SP26", "Biology 101 (Spring 2026)", "Cells and life", term_id="SP26"),
        SeedCourse("CHEM110-SP26", "Chemistry 110 (Spring 2026)", term_id="SP26"),
        SeedCourse("HIST200-SP26", "History 200 (Spring 2026)", term_id="SP26"),
    ]


def _default_terms() -> list[SeedTerm]:
    return [SeedTerm("SP26", "Spring 2026"), SeedTerm("FA26", "Fall 2026")]


@dataclass
class SandboxConfig:
    """Everything that shapes one simulated Learn site; `seed` makes its randomness repeatable."""

    key: str = "rollover-sandbox-key"
    secret: str = "rollover-sandbox-secret"
    courses: list[SeedCourse] = field(default_factory=_default_courses)
    terms: list[SeedTerm] = field(default_factory=_default_terms)
    copy_seconds: float = 0.5
    copy_sigma: float = 0.0
    copy_max_seconds: float = 600.0
    slots: int = 4
    quota_limit: int = 10000
    quota_refill_per_second: float = 10000 / 86400
    token_lifetime: float = 3600.0
    error_rate: float = 0.0
    drop_copy_response_rate: float = 0.0
    # The attachments of a child course (counted from 1 in the order Learn makes them) whose
    # answer is lost: the child is attached, the client gets a gateway's 504 timeout page.
    drop_attach_responses: list[int] = field(default_factory=list)
    # The date PATCHes (of content, columns, announcements and calendar items, counted from 1 in
    # the order Learn applies them) whose answer is lost: the dates change, the client gets a
    # 504 timeout page.
    drop_date_responses: list[int] = field(default_factory=list)
    latency: float = 0.0
    forget_tasks_after: float | None = None
    complete_with_errors_rate: float = 0.0
    partial_copy_rate: float = 0.0
    # Seconds the site's clock is ahead of the true time (negative: behind). Learn's own
    # timestamps (`created`, `modified`) and its `Date` header show it; durations do not.
    clock_skew: float = 0.0
    # A single sign-on gateway in front of Learn: from the Nth call to the site on (1: the
    # first), every call, whatever its path, gets the gateway's sign-in page (200, text/html)
    # and never reaches Learn; for `sign_in_page_calls` calls only, then it lets calls through
    # again (None: for good).
    sign_in_page_from: int | None = None
    sign_in_page_calls: int | None = None

    # A gateway in front of Learn that refuses calls whatever Learn's quota shows: the calls
    # numbered `gateway_from` to `gateway_from + gateway_calls - 1` (every call the site gets,
    # counted from 1; 0: none) are answered `gateway_status` before Learn sees them, a 429 with
    # `Retry-After: gateway_retry_after`, each with the quota headers of a bucket not spent.
    gateway_from: int = 0
    gateway_calls: int = 1
    gateway_status: int = 429
    gateway_retry_after: int = 600
    users: list[SeedUser] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)  # institution course roles besides Learn's
    shells_with_content: list[str] = field(default_factory=list)  # courseIds of shells
    # Entitlements the REST integration's Learn user lacks (see DENIABLE_ENTITLEMENTS).
    missing_entitlements: list[str] = field(default_factory=list)
    # The userName of the Learn user the REST integration acts as: seeded as a plain user,
    # enrolled in no course unless something enrols it. Learn lists a course's calendar items
    # only to a user enrolled in it.
    integration_user: str = "rollover-integration"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise _invalid("slots", self.slots, "a whole number, at least 1")
        if self.gateway_status not in (429, 500, 502, 503, 504):
            raise _invalid("gateway_status", self.gateway_status, "429, 500, 502, 503 or 504")
        for name in (
            "error_rate",
            "drop_copy_response_rate",
            "complete_with_errors_rate",
            "partial_copy_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise _invalid(name, value, "a number from 0 to 1 (a share of calls), e.g. 0.05")
        for name in ("sign_in_page_from", "sign_in_page_calls"):
            count = getattr(self, name)
            if count is not None and (isinstance(count, bool) or count < 1):
                raise _invalid(name, count, "a whole number of calls, at least 1")
        for name, counted in (
            ("drop_attach_responses", "attachment"),
            ("drop_date_responses", "date PATCH"),
        ):
            for number in getattr(self, name):
                if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                    raise _invalid(name, number, f"{counted} numbers counted from 1, e.g. [1, 3]")
        if not self.integration_user.strip():
            raise _invalid(
                "integration_user", self.integration_user, 'a userName, e.g. "rollover-integration"'
            )
        _check_merged_seeds(self.courses, [*self.users, SeedUser(self.integration_user)])
        for entitlement in self.missing_entitlements:
            if entitlement not in DENIABLE_ENTITLEMENTS:
                raise _invalid(
                    "missing_entitlements",
                    entitlement,
                    f"entitlements the sandbox can deny: {', '.join(DENIABLE_ENTITLEMENTS)}",
                )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxConfig:
        """Build a config from plain data (TOML or JSON shaped); an unknown key, or a value
        of the wrong form, is a SandboxConfigInvalid naming the key and the value."""
        _check_keys(cls, data, "")
        values = dict(data)
        if "courses" in values:
            values["courses"] = _seeds(SeedCourse, values["courses"], "courses")
        if "terms" in values:
            values["terms"] = _seeds(SeedTerm, values["terms"], "terms")
        if "users" in values:
            values["users"] = _seeds(SeedUser, values["users"], "users")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data that `from_dict` turns back into an equal config."""
        return asdict(self)

    @classmethod
    def from_toml(cls, path: Path) -> SandboxConfig:
        """Read a TOML file whose top-level keys are field names, `[[courses]]`, `[[terms]]` and
        `[[users]]`; any mistake in it is a SandboxConfigInvalid naming the file (OSError when
        it cannot be read)."""
        with path.open("rb") as handle:
            raw = handle.read()
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise SandboxConfigInvalid(
                f"is not UTF-8 text (byte {exc.start}): expected a TOML file saved as UTF-8",
                path=path,
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise SandboxConfigInvalid(
                f"is not valid TOML ({exc}): expected `key = value` lines and [[courses]], "
                f"[[terms]] and [[users]] tables, as {SEED_FORMAT_DOC} shows",
                path=path,
            ) from None
        try:
            return cls.from_dict(data)
        except SandboxConfigInvalid as exc:
            raise exc.in_file(path) from None


def _check_merged_seeds(courses: list[SeedCourse], users: list[SeedUser]) -> None:
    """Refuse seeded students who are no [[users]] entry, and parents Learn could not merge:
    an unknown course, the course itself, or a second level (a child's parent is a child, or
    a parent is itself a child)."""
    user_names = {user.user_name for user in users}
    by_id = {course.course_id: course for course in courses}
    for course in courses:
        where = f'[[courses]] "{course.course_id}"'
        for student in course.students:
            if student not in user_names:
                raise _invalid(f"{where} students", student, "the user_name of a [[users]] entry")
        if course.parent is None:
            continue
        parent = by_id.get(course.parent)
        if parent is None or parent is course:
            raise _invalid(
                f"{where} parent", course.parent, "the course_id of another [[courses]] entry"
            )
        if parent.parent is not None:
            raise _invalid(
                f"{where} parent",
                course.parent,
                f"a course that is no child itself (it is a child of {parent.parent!r}): "
                "Learn merges one level only",
            )


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_wholes(value: Any) -> bool:
    return isinstance(value, list) and all(_is_whole(item) for item in value)


Form = tuple[Callable[[Any], bool], str]  # whether a value has the form, and the form in words
_FORMS: dict[Any, Form] = {
    bool: (lambda value: isinstance(value, bool), "true or false"),
    int: (_is_whole, "a whole number, e.g. 4"),
    float: (_is_number, "a number, e.g. 0.5"),
    str: (lambda value: isinstance(value, str), "text in quotes"),
    list[str]: (_is_texts, 'a list of texts in quotes, e.g. ["Mentor"]'),
    list[int]: (_is_wholes, "a list of whole numbers, e.g. [1, 3]"),
}
_TABLES: Form = (lambda value: isinstance(value, list), "[[{key}]] tables, one per entry")


def _forms(kind: type) -> dict[str, Form]:
    """The form of each field of a config dataclass."""
    return {name: _form(hint) for name, hint in get_type_hints(kind).items()}


def _form(hint: Any) -> Form:
    if get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint):
        # None comes from JSON (a saved state), never from TOML.
        (inner,) = (arg for arg in get_args(hint) if arg is not type(None))
        accepts, words = _FORMS.get(inner, _TABLES)
        return (lambda value: value is None or accepts(value)), words
    return _FORMS.get(hint, _TABLES)


def _check_keys(kind: type, data: dict[str, Any], where: str) -> None:
    """Refuse a key `kind` does not have, and a value not of its field's form."""
    forms = _forms(kind)
    for key, value in data.items():
        if key not in forms:
            close = difflib.get_close_matches(key, list(forms), n=1, cutoff=0.75)
            expected = (
                f"a key the simulator knows (did you mean {close[0]!r}?)"
                if close
                else f"one of the keys {', '.join(sorted(forms))} (see {SEED_FORMAT_DOC})"
            )
            raise SandboxConfigInvalid(
                f"{where}{key} = {_shown(value)}: unknown key; expected {expected}"
            )
        accepts, words = forms[key]
        if not accepts(value):
            raise _invalid(f"{where}{key}", value, words.replace("{key}", key))


def _seeds(kind: type[_Seed], entries: list[Any], table: str) -> list[_Seed]:
    return [_seed(kind, entry, table, number) for number, entry in enumerate(entries, start=1)]


def _seed(kind: type[_Seed], data: Any, table: str, number: int) -> _Seed:
    if isinstance(data, kind):
        return data
    where = f"[[{table}]] #{number} "
    if not isinstance(data, dict):
        raise _invalid(f"[[{table}]] #{number}", data, "a table of `key = value` lines")
    _check_keys(kind, data, where)
    for declared in fields(kind):
        if (
            declared.name not in data
            and declared.default is MISSING
            and declared.default_factory is MISSING
        ):
            words = _forms(kind)[declared.name][1]
            raise SandboxConfigInvalid(
                f"{where}has no {declared.name}: expected a line `{declared.name} = ...` ({words})"
            )
    return kind(**data)
