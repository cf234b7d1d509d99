"""The CSV manifest: a file's bytes in, frozen rows out, or every problem with its line.

`_table` turns bytes into cells pinned to their physical lines (the csv module reads the records,
pandas tidies the cells; pandas stays inside this package);
`_checks` checks every cell and hands back `Manifest` and `ManifestRow`; `_instructors` reads the
`instructors` cell into `Enrolment`s.
"""

from ._checks import (
    COLUMNS,
    REQUIRED_COLUMNS,
    Manifest,
    ManifestRow,
    load_manifest,
    yes_or_no,
)
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
