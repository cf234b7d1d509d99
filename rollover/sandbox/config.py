"""What the simulated Learn site holds and how it misbehaves: `SandboxConfig` and its seed data."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar


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

    def __post_init__(self) -> None:
        for name in ("contents", "columns"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 0):
                raise ValueError(f"course {self.course_id}: {name} must be at least 0, got {value}")

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
GRADEBOOK_ENTITLEMENT = "course.gradebook.MODIFY"
DENIABLE_ENTITLEMENTS = (GRADEBOOK_ENTITLEMENT,)


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
    seed: int = 0

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError(f"slots must be at least 1, got {self.slots}")
        if self.gateway_status not in (429, 500, 502, 503, 504):
            raise ValueError(
                f"gateway_status must be 429, 500, 502, 503 or 504, got {self.gateway_status}"
            )
        for name in (
            "error_rate",
            "drop_copy_response_rate",
            "complete_with_errors_rate",
            "partial_copy_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in ("sign_in_page_from", "sign_in_page_calls"):
            count = getattr(self, name)
            if count is not None and (isinstance(count, bool) or count < 1):
                raise ValueError(f"{name} must be a whole number of calls, at least 1; got {count}")
        for entitlement in self.missing_entitlements:
            if entitlement not in DENIABLE_ENTITLEMENTS:
                raise ValueError(
                    f"missing_entitlements: {entitlement!r} is not simulated; the sandbox can "
                    f"deny {', '.join(DENIABLE_ENTITLEMENTS)}"
                )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxConfig:
        """Build a config from plain data (TOML or JSON shaped); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown sandbox config key(s): {', '.join(unknown)}; "
                f"known keys are: {', '.join(sorted(known))}"
            )
        values = dict(data)
        if "courses" in values:
            values["courses"] = [_seed(SeedCourse, c, "courses") for c in values["courses"]]
        if "terms" in values:
            values["terms"] = [_seed(SeedTerm, t, "terms") for t in values["terms"]]
        if "users" in values:
            values["users"] = [_seed(SeedUser, u, "users") for u in values["users"]]
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data that `from_dict` turns back into an equal config."""
        return asdict(self)

    @classmethod
    def from_toml(cls, path: Path) -> SandboxConfig:
        """Read a TOML file whose top-level keys are field names, `[[courses]]`, `[[terms]]` and
        `[[users]]`."""
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from exc


def _seed(kind: type[_Seed], data: Any, table: str) -> _Seed:
    if isinstance(data, kind):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"each [[{table}]] entry must be a table, got {data!r}")
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(
            f"unknown key(s) in [[{table}]]: {', '.join(unknown)}; "
            f"known keys are: {', '.join(sorted(known))}"
        )
    try:
        return kind(**data)
    except TypeError as exc:
        raise ValueError(f"[[{table}]] entry {data!r}: {exc}") from exc
