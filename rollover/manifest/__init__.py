"""The CSV manifest: a file's bytes in, frozen rows out, or every problem with its line.

`_table` turns bytes into cells pinned to their physical lines (the csv module reads the records,
pandas tidies the cells; pandas stays inside this package); `_header` maps the header to the
contract's `COLUMNS`; `_columns` holds each column's rule for one cell (`_instructors` reads the
`instructors` cell into `Enrolment`s, `_shift` the `shift_dates` cell into a `DateShift`);
`_across` checks across cells and rows (required cells, targets, dates, a `term` shift's start
date); `_checks` runs them all and hands back `Manifest` and `ManifestRow`.
"""

from ._checks import Manifest, ManifestRow, load_manifest
from ._columns import yes_or_no
from ._header import COLUMNS, REQUIRED_COLUMNS
from ._instructors import BUILT_IN_ROLES, DEFAULT_ROLE, Enrolment, parse_learn_user
from ._shift import MAX_SHIFT_DAYS, DateShift, parse_shift

__all__ = [
    "BUILT_IN_ROLES",
    "COLUMNS",
    "DEFAULT_ROLE",
    "MAX_SHIFT_DAYS",
    "REQUIRED_COLUMNS",
    "DateShift",
    "Enrolment",
    "Manifest",
    "ManifestRow",
    "load_manifest",
    "parse_learn_user",
    "parse_shift",
    "yes_or_no",
]
