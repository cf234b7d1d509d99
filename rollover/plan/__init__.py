"""The plan: what each manifest row asks of Learn, and what a run of them costs.

`RowSpec` is a row as the ledger keeps it (the copy, the PATCH after it, the instructors to enrol
and the merged sections to attach); `row_spec` builds it from a manifest row and the copy
profiles; `calls_for` is the one rule for the API calls a row needs (with `source_calls`, its
sources' counts), and `estimate` counts a run's by it. A row's dates move by `DateShift`:
`shift_moment` is the one rule of where a moved date lands, `term_offset` how far a `term`
shift goes, `learn.DatedKind` what moves and `DatedCounts` how many of each a course holds. Copy
profiles (Learn's `copy` options by name, built-in or from rollover.toml) live here too, with
`verified_counts`, the one rule for what `--verify` compares after a copy with a profile.
"""

from ._bodies import (
    PATCH_COLUMNS,
    RowSpec,
    exact_copies,
    exact_copy_warning,
    patch_body,
    patch_columns,
    refuse_exact_copies,
    row_spec,
)
from ._estimate import (
    ASSUMED_COPY_SECONDS,
    ASSUMED_SLOTS,
    DEFAULT_DAILY_QUOTA,
    POLLS_PER_COPY,
    CallEstimate,
    CopyStep,
    calls_for,
    estimate,
    source_calls,
)
from ._profiles import (
    CONTENT_AREAS,
    DEFAULT_PROFILE,
    DISCUSSIONS,
    EXACT_PROFILE,
    OPTIONS,
    PROFILES,
    SETTINGS,
    CopyOptions,
    VerifiedCounts,
    configured_profile,
    copy_options,
    shown,
    verified_counts,
)
from ._shift import (
    DatedCounts,
    DateShift,
    calendar_span,
    shift_kinds,
    shift_lists,
    shift_moment,
    term_offset,
    term_without_start,
)

__all__ = [
    "ASSUMED_COPY_SECONDS",
    "ASSUMED_SLOTS",
    "CONTENT_AREAS",
    "DEFAULT_DAILY_QUOTA",
    "DEFAULT_PROFILE",
    "DISCUSSIONS",
    "EXACT_PROFILE",
    "OPTIONS",
    "PATCH_COLUMNS",
    "POLLS_PER_COPY",
    "PROFILES",
    "SETTINGS",
    "CallEstimate",
    "CopyOptions",
    "CopyStep",
    "DateShift",
    "DatedCounts",
    "RowSpec",
    "VerifiedCounts",
    "calendar_span",
    "calls_for",
    "configured_profile",
    "copy_options",
    "estimate",
    "exact_copies",
    "exact_copy_warning",
    "patch_body",
    "patch_columns",
    "refuse_exact_copies",
    "row_spec",
    "shift_kinds",
    "shift_lists",
    "shift_moment",
    "shown",
    "source_calls",
    "term_offset",
    "term_without_start",
    "verified_counts",
]
