"""What a plan costs: API calls and roughly how long the copies take."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from rollover.manifest import Enrolment, ManifestRow

from ._bodies import RowSpec, row_spec
from ._profiles import PROFILES, CopyOptions, VerifiedCounts
from ._shift import DatedCounts, DateShift, shift_lists

# Learn's default quota (LEARN_API.md): 10,000 calls per 24 h, shared with every integration.
DEFAULT_DAILY_QUOTA = 10_000
# What the estimate assumes when nothing better is known: a first poll that usually finds the
# copy done (the pacing aims at ~1.2 polls per copy), copies of a content-bearing course taking
# about half a minute, and Learn running four copies at once (its usual UI copy slots).
POLLS_PER_COPY = 1.2
ASSUMED_COPY_SECONDS = 30.0
ASSUMED_SLOTS = 4


@dataclass(frozen=True)
class CallEstimate:
    """How many API calls a run is expected to cost, and roughly how long it takes."""

    rows: int
    new_courses: int
    into_existing: int
    to_patch: int
    calls: int
    enrolments: int = 0  # of the calls, PUTs of instructors
    verifications: int = 0  # of the calls, content and column counts (--verify)
    attachments: int = 0  # of the calls, PUTs attaching merged sections (children) to targets
    # Of the calls, the lists of dated items a shift reads: one per kind, per shifted target and
    # once per source (to count what it holds).
    date_lists: int = 0
    # Of the calls, one PATCH per dated item to move; None: unknown (the sources' dated items
    # are not counted yet), and then not in `calls` either.
    date_patches: int | None = 0

    @property
    def per_course(self) -> float:
        """Calls per manifest row."""
        return self.calls / self.rows if self.rows else 0.0

    def duration(self, concurrency: int) -> float:
        """Seconds the copies take at the assumed copy time, on Learn's assumed slots."""
        at_once = max(1, min(concurrency, ASSUMED_SLOTS))
        return math.ceil(self.rows / at_once) * ASSUMED_COPY_SECONDS

    def shortfall(self, quota_remaining: int | None, reserve: int = 0) -> int:
        """Calls missing to finish within the quota (the default daily one if not known)."""
        available = DEFAULT_DAILY_QUOTA if quota_remaining is None else quota_remaining
        return max(0, self.calls - max(0, available - reserve))


class CopyStep(Enum):
    """How far a row's copy has come, as far as the calls it still needs go."""

    TO_REQUEST = "to request"  # nothing sent: the shell's look, then the copy POST
    ANSWER_LOST = "answer lost"  # the POST may have left: Learn's courses are looked at once
    REQUESTED = "requested"  # Learn has the copy: its task is polled
    COPIED = "copied"  # the copy is complete: the PATCH is next
    PATCHED = "patched"  # only enrolments, attachments and --verify's counts are left


def calls_for(
    spec: RowSpec,
    *,
    verify: bool,
    polls: float = POLLS_PER_COPY,
    step: CopyStep = CopyStep.TO_REQUEST,
    shell_known: bool = False,
    shell_ours: bool = False,
    enrolled: int = 0,
    attached: int = 0,
    dated: DatedCounts | None = None,
    shifted: int = 0,
) -> float:
    """The API calls one row still needs from `step`: the one rule every count of calls uses.

    A copy into an existing course first finds the shell by its courseId (unless its primary id
    is `shell_known`) and counts its content (unless it holds this row's own copy,
    `shell_ours`), with --verify also its gradebook columns when the row's profile counts them;
    then the copy POST, `polls` polls of its task, the PATCH when the row changes anything, one
    PUT per instructor not yet `enrolled`, one PUT per child not yet `attached` and, with
    `verify`, the target's counts its profile promises. The source's counts are `source_calls`,
    once per source; the token is the run's. A child's PUT is its floor: reading the child's
    course when the PUT answers 409 (to tell this parent's child from another's) is not counted.
    A row with a `shift` then reads the target's dated items, one list per kind (its floor:
    further pages are not counted; the calendar's, when asked, two windows), and PATCHes each
    of the `dated` items (its source's counts, which never include calendar items: those are
    counted when read) not yet `shifted`; with `dated` unknown (None), only the lists are
    counted.
    """
    counted = spec.verified if verify else VerifiedCounts.NONE
    calls: float = (
        max(0, len(spec.instructors) - enrolled)
        + max(0, len(spec.children) - attached)
        + counted.reads
    )
    if step is CopyStep.TO_REQUEST:
        if spec.copy_into_existing:
            calls += (not shell_known) + (0 if shell_ours else 1 + counted.columns)
        calls += 1
    if step is CopyStep.ANSWER_LOST:
        calls += 1
    if step in (CopyStep.TO_REQUEST, CopyStep.ANSWER_LOST, CopyStep.REQUESTED):
        calls += polls
    if step is not CopyStep.PATCHED and spec.patch:
        calls += 1
    if spec.shift is not None:
        calls += shift_lists(spec.shift) + (0 if dated is None else max(0, dated.total - shifted))
    return calls


def source_calls(
    specs: Iterable[RowSpec],
    *,
    verify: bool,
    known: Callable[[str], tuple[int | None, int | None] | None] = lambda source: None,
) -> int:
    """The counts of the rows' sources --verify reads: each source once, for what any of its
    rows' profiles promises, less the counts already `known` (as the ledger keeps them)."""
    if not verify:
        return 0
    sources: dict[str, VerifiedCounts] = {}
    for spec in specs:
        source = spec.source_course_id
        sources[source] = sources.get(source, VerifiedCounts.NONE) | spec.verified
    calls = 0
    for source, wanted in sources.items():
        contents, columns = known(source) or (None, None)
        calls += (wanted.contents and contents is None) + (wanted.columns and columns is None)
    return calls


def estimate(
    rows: Sequence[ManifestRow],
    *,
    verify: bool = False,
    profiles: Mapping[str, CopyOptions | None] = PROFILES,
    shift_dates: DateShift | None = None,
    calendar_reader: Enrolment | None = None,
    dated: Mapping[str, DatedCounts] | None = None,
) -> CallEstimate:
    """Calls a run of these rows costs (`calls_for` each, their sources' counts and the
    token): shell look-ups and checks, POSTs, polls, PATCHes, one PUT per instructor and per
    child, and with `verify` the counts each row's copy profile promises, per target and once
    per source. Rows with a shift (their cell's, else `shift_dates`) add their lists and one
    PATCH per item `dated` counts by source; a source it lacks makes `date_patches` unknown
    (None). A run never reads the sources' dated items: only `validate --check-learn` (and
    `run --preflight`) count them, as calls of their own."""
    specs = [_spec(row, profiles, shift_dates, calendar_reader) for row in rows]
    sources = source_calls(specs, verify=verify)
    targets = sum(spec.verified.reads for spec in specs) if verify else 0
    counts = dated or {}
    shifting = [spec for spec in specs if spec.shift is not None]
    date_lists = sum(shift_lists(spec.shift) for spec in shifting)
    patches = [counts.get(spec.source_course_id) for spec in shifting]
    date_patches = (
        sum(count.total for count in patches if count is not None)
        if all(count is not None for count in patches)
        else None
    )
    calls = (
        (1 if rows else 0)
        + sources
        + sum(
            calls_for(spec, verify=verify, dated=counts.get(spec.source_course_id))
            for spec in specs
        )
    )
    return CallEstimate(
        len(rows),
        sum(1 for spec in specs if not spec.copy_into_existing),
        sum(1 for spec in specs if spec.copy_into_existing),
        sum(1 for spec in specs if spec.patch),
        round(calls),
        enrolments=sum(len(spec.instructors) for spec in specs),
        verifications=targets + sources,
        attachments=sum(len(spec.children) for spec in specs),
        date_lists=date_lists,
        date_patches=date_patches,
    )


def _spec(
    row: ManifestRow,
    profiles: Mapping[str, CopyOptions | None],
    shift_dates: DateShift | None = None,
    calendar_reader: Enrolment | None = None,
) -> RowSpec:
    """The row as the ledger would keep it; a profile not in `profiles` (not yet checked) is
    counted as the default counts it."""
    known = row.copy_profile is None or row.copy_profile in profiles
    return row_spec(
        row if known else replace(row, copy_profile=None),
        profiles,
        shift_dates=shift_dates,
        calendar_reader=calendar_reader,
    )
