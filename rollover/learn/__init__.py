"""Learn's REST API as the tool uses it: the one package that speaks HTTP.

`LearnClient` sends every request (redirects off, one token, tenacity retries for idempotent
calls only, every wait cut short by the run's `Stop`); `meaning` says what each status means
for each kind of call; `Site` says where Learn is. Learn's id forms and timestamps (`id_form`,
`learn_time`) live here too, and the dated items of a course (`DatedItem`, `DatedKind`,
`DATE_FIELDS`) whose dates move with the term, the calendar's read in windows
(`calendar_windows`).
"""

from ._answers import learn_error
from ._calendar import CALENDAR_WINDOW, calendar_windows
from ._client import LearnClient
from ._copy import UNFINISHED_TASK, TaskPoll
from ._dates import COURSE_KINDS, DATE_FIELDS, DatedItem, DatedKind, list_calls, nested_body
from ._ids import (
    API,
    course_path,
    id_form,
    is_primary_id,
    learn_datetime,
    learn_time,
    term_reference,
)
from ._merges import CourseFamily
from ._retry import RetryPolicy, Sleep
from ._site import REHEARSAL_SITE, Site, checked_base_url, is_loopback
from ._statuses import TRANSIENT, Call, Meaning, error_meaning, found, is_transient, meaning
from ._stop import Stop

__all__ = [
    "API",
    "CALENDAR_WINDOW",
    "COURSE_KINDS",
    "DATE_FIELDS",
    "REHEARSAL_SITE",
    "TRANSIENT",
    "UNFINISHED_TASK",
    "Call",
    "CourseFamily",
    "DatedItem",
    "DatedKind",
    "LearnClient",
    "Meaning",
    "RetryPolicy",
    "Site",
    "Sleep",
    "Stop",
    "TaskPoll",
    "calendar_windows",
    "checked_base_url",
    "course_path",
    "error_meaning",
    "found",
    "id_form",
    "is_loopback",
    "is_primary_id",
    "is_transient",
    "learn_datetime",
    "learn_error",
    "learn_time",
    "list_calls",
    "meaning",
    "nested_body",
    "term_reference",
]
