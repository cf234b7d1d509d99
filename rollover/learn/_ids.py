"""How Learn names things in paths and bodies: its id forms and its timestamps."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

API = "/learn/api/public"
# ASCII digits only, the whole value: `\d` would take other scripts' digits and `$` a final
# line break, and Learn's primary ids have neither.
_PRIMARY_ID = re.compile(r"_[0-9]+_[0-9]+")


def is_primary_id(value: str) -> bool:
    """Whether `value` is one of Learn's primary ids (`_123_1`), the whole of it: the one rule,
    for the tool's paths and the manifest's cells alike."""
    return _PRIMARY_ID.fullmatch(value) is not None


def id_form(value: str) -> str:
    """An id as Learn's paths take it: primary ids as they are, anything else as `courseId:`."""
    return value if is_primary_id(value) or ":" in value else f"courseId:{value}"


def term_reference(term_id: str) -> str:
    """A manifest term_id as PATCH's termId takes it: `_N_1`, else `externalId:<id>`."""
    return term_id if is_primary_id(term_id) or ":" in term_id else f"externalId:{term_id}"


def course_path(course_id: str, version: str = "v3") -> str:
    """The path of a course given any of Learn's id forms (`_1_1`, `courseId:X`, ...)."""
    return f"{API}/{version}/courses/{path_id(course_id)}"


def path_id(course_id: str) -> str:
    """A course id (any of Learn's forms) as one segment of a path, URL-quoted."""
    return quote(course_id, safe=":_-.~")


def learn_time(moment: datetime) -> str:
    """A datetime as Learn writes them: UTC, milliseconds, Z."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def learn_datetime(value: object) -> datetime | None:
    """A timestamp as Learn writes it (ISO 8601, UTC when no zone is given), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
