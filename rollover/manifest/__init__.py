"""The CSV manifest: a file's bytes in, frozen rows out, or every problem with its line.

`_table` turns bytes into cells pinned to their physical lines (the csv module reads the records,
pandas tidies the cells; pandas stays inside this package); `_header` maps the header to the
contract's `COLUMNS`; `_columns` holds each column's rule for one cell (`_instructors` reads the
`instructors` cell into `Enrolment`s); `_across` checks across cells and rows (required cells,
targets, dates); `_checks` runs them all and hands back `Manifest` and `ManifestRow`.
"""

from ._checks import Manifest, ManifestRow, load_manifest
from ._columns import yes_or_no
from ._header import COLUMNS, REQUIRED_COLUMNS
from ._instructors import BUILT_IN_ROLES, DEFAULT_ROLE, Enrolment

__all__ = [
    "BUILT_IN_ROLES",
    "COLUMNS",
    "DEFAULT_ROLE",
    "REQUIRED_COLUMNS",
    "Enrolment",
    "Manifest",
    "ManifestRow",
    "load_manifest",
    "yes_or_no",
]
