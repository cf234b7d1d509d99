"""Live preflight: check a manifest against Learn before anything is copied, changing nothing.

Per row that still has work: its source exists, its new target's courseId is free (or this
ledger made that course), its shell exists (`copy_into_existing`) and its term exists, and
each merged section it attaches exists, is no other course's section and no parent itself (one
holding content is a warning, in `PreflightReport.warnings`). Each course (sections included)
and term is asked about once, by id (`GET /v3/courses/courseId:X`, with `parentId` and
`hasChildren`) or, when many courseIds share a part, by one list filtered on it
(`GET /v3/courses?courseId=part`):
`group_by_shared_part` chooses the lists. Learn's filter matches substrings, so membership is
decided here on exact courseIds. Only GETs are sent. `check_learn` returns a
`PreflightReport`; `stage_of` says what a run would do with one row.
"""

from ._asker import PAGE_SIZE
from ._check import PreflightProblem, PreflightReport, Stage, check_learn, stage_of
from ._lists import CourseList, ListGroup, group_by_shared_part

__all__ = [
    "PAGE_SIZE",
    "CourseList",
    "ListGroup",
    "PreflightProblem",
    "PreflightReport",
    "Stage",
    "check_learn",
    "group_by_shared_part",
    "stage_of",
]
