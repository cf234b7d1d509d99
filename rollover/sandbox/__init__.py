"""The embedded Blackboard Learn simulator: `LearnSandbox` (state and rules), `create_app` (HTTP).

`LearnSandbox` is an in-memory Learn site (courses and terms, copy tasks, users, enrolments,
content and columns, merged (cross-listed) courses, one OAuth token and a call quota) on its
own clock, shaped by a `SandboxConfig`: its seeds (`SeedCourse`, `SeedTerm`, `SeedUser`), pace
and faults. Its `SandboxRecord` keeps what it saw (copies, PATCHes, enrolments, attachments of
child courses, calls, faults) for tests to check; `LearnSandbox.parent_of`, `children_of` and
`attach_log` read the merged sets. Courses hold dated items (content items with an
adaptive-release window, columns with a due date, announcements with a display window, course
calendar items with a start and an end) that the PATCH endpoints move under Learn's order rules;
`LearnSandbox.dated_items` reads them and `date_changes` lists every date moved (`DateChange`:
old and new value), for tests to prove each item moved exactly once. Calendar items are listed
only in courses the integration user (`SandboxConfig.integration_user`) is enrolled in;
`calendar_log` holds the query of every calendar list. `create_app` serves it as Learn's REST
API, journaling each call (`SiteJournal`) when its state lives on disk; `SandboxServer` and
`serve_forever` serve that app on loopback. Request bodies are checked against Learn's
published OpenAPI definition (`load_spec`, `validate_request_body`). The smaller parts
(`Catalog`, `CopyQueue`, `content_plan`, ...) are public for the tests that pin them.

Used by `--sandbox` wiring and by tests; the tool itself never imports it otherwise.
"""

from ._app import create_app
from ._catalog import Catalog, Course
from ._config import SandboxConfig, SandboxConfigInvalid, SeedCourse, SeedTerm, SeedUser
from ._copying import CopyQueue, CopyTask, draw_duration
from ._dates import (
    CALENDAR,
    DATE_FIELDS,
    FIRST_SEEDED_DAY,
    DatedItem,
    DatePlan,
    date_plan,
    seeded_dated_counts,
)
from ._journal import EndpointCall, SiteJournal, journal_path
from ._model import LearnSandbox
from ._record import (
    AttachEvent,
    CopyEvent,
    DateChange,
    EnrolmentEvent,
    PatchEvent,
    SandboxRecord,
)
from ._replies import InvalidJson, Reply
from ._server import SandboxServer, listen, serve_forever
from ._spec import (
    MEMBERSHIP_PATH,
    load_spec,
    request_body_schema,
    unknown_fields,
    validate_request_body,
)
from ._teaching import BUILTIN_ROLES, FOLDER, content_plan, seeded_counts

__all__ = [
    "BUILTIN_ROLES",
    "CALENDAR",
    "DATE_FIELDS",
    "FIRST_SEEDED_DAY",
    "FOLDER",
    "MEMBERSHIP_PATH",
    "AttachEvent",
    "Catalog",
    "CopyEvent",
    "CopyQueue",
    "CopyTask",
    "Course",
    "DateChange",
    "DatePlan",
    "DatedItem",
    "EndpointCall",
    "EnrolmentEvent",
    "InvalidJson",
    "LearnSandbox",
    "PatchEvent",
    "Reply",
    "SandboxConfig",
    "SandboxConfigInvalid",
    "SandboxRecord",
    "SandboxServer",
    "SeedCourse",
    "SeedTerm",
    "SeedUser",
    "SiteJournal",
    "content_plan",
    "create_app",
    "date_plan",
    "draw_duration",
    "journal_path",
    "listen",
    "load_spec",
    "request_body_schema",
    "seeded_counts",
    "seeded_dated_counts",
    "serve_forever",
    "unknown_fields",
    "validate_request_body",
]
