"""What a manifest change, `--retry-failed` or a person's decision does to a ledger row.

The one place this is decided: the run's sync, `--retry-failed`, `validate --check-learn` and
the plan all ask `planned_state`, so a row is never judged one way by the preflight and done
another way by the run. Likewise the run and the preflight both ask `shell_must_be_empty`
whether a shell's content stops a copy into it, and `calls_left` what a row still costs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rollover.learn import DatedKind, list_calls
from rollover.plan import CopyStep, DatedCounts, RowSpec, calls_for, patch_columns, shift_kinds

from ._rows import ErrorKind, LedgerRow, State

ADDED = "added"
MANIFEST_CHANGED = "manifest changed"
# Errors of a row's steps after its PATCH: such a row is taken up again at `patched`.
_AFTER_THE_PATCH = frozenset(
    {ErrorKind.ENROL_REFUSED, ErrorKind.CHILD_REFUSED, ErrorKind.DATES_REFUSED}
)


@dataclass(frozen=True)
class RowChange:
    """What syncing a manifest line does to its ledger row."""

    to: State  # the state after the sync (the same state when nothing moves)
    refusal: str | None = None  # why the line cannot be taken as it is: it would copy twice

    def moves(self, known: LedgerRow | None) -> bool:
        """Whether the row changes state."""
        return known is None or self.to is not known.state


def manifest_change(known: LedgerRow | None, spec: RowSpec) -> RowChange:
    """What the manifest line `spec` does to the ledger row `known` (None: a new line).

    A row whose copy may have been requested keeps its source: changing it is refused, since
    copying again would give the target two copies. A failed row whose line changed is tried
    again from where it stopped (patched again if its course exists, never copied twice); a
    finished row whose name, dates or term changed is patched again, one given new
    instructors or children has them enrolled and attached, and one whose shift of dates
    changed (`shift_changed`) has its dated items moved again from their recorded originals.
    """
    if known is None:
        return RowChange(State.PENDING)
    state, same_copy = known.state, spec.same_copy(known.spec)
    if not same_copy and state not in (State.PENDING, State.FAILED):
        return RowChange(
            state,
            refusal=(
                f"line {spec.line}: {spec.target_course_id} was already copied from "
                f"{known.source_course_id}; the manifest now says {spec.source_course_id}. Copying "
                "again would duplicate it: use a new target_course_id or restore the old source"
            ),
        )
    patch_changed = dict(spec.patch) != dict(known.spec.patch)
    if state is State.FAILED and not spec.same_request(known.spec):
        if known.course_pk:
            if not same_copy:
                return RowChange(state)
            # Only the instructors, the children or the dates failed (the PATCH went
            # through): only they are retried.
            stepping = known.error_kind in _AFTER_THE_PATCH and not patch_changed
            return RowChange(State.PATCHED if stepping else State.COPIED)
        if known.task_location is None:
            return RowChange(State.PENDING)
    if state in (State.DONE, State.PATCHED):
        if patch_changed:
            return RowChange(State.COPIED)  # corrected name or dates: patch again
        if spec.instructors != known.spec.instructors:
            return RowChange(State.PATCHED)  # new or changed instructors: enrol them
        if set(spec.children) - set(known.spec.children):
            # New children: attach them (a child only dropped stays attached in Learn, and
            # the row stays as it is).
            return RowChange(State.PATCHED)
        if shift_changed(known.spec, spec) or _calendar_asked(known.spec, spec):
            # Another shift: move the dates again, no new copy. The calendar asked for now:
            # list and move its events (dropped, its events moved stay where they are).
            return RowChange(State.PATCHED)
    return RowChange(state)


def shift_changed(before: RowSpec, after: RowSpec) -> bool:
    """Whether the offset of a row's dated items may have changed from `before` to `after`: its
    shift did, or it is `term` and the row's start_date (the term's offset runs to it) did. The
    ledger then clears the offset, to be computed again, and moves every item again. Asking for
    the calendar's events, or no longer, changes no offset."""
    if (before.shift and before.shift.offset) != (after.shift and after.shift.offset):
        return True
    return (
        after.shift is not None
        and after.shift.term
        and patch_columns(before.patch).get("start_date")
        != patch_columns(after.patch).get("start_date")
    )


def _calendar_asked(before: RowSpec, after: RowSpec) -> bool:
    """Whether `after` asks for the calendar's events to move and `before` did not."""
    return (
        after.shift is not None
        and after.shift.calendar
        and not (before.shift is not None and before.shift.calendar)
    )


@dataclass(frozen=True)
class Revision:
    """A done row the manifest changed: what it asked before and asks now, and where the run
    takes it up again (`copied`: patched again; `patched`: only its instructors enrolled, its
    children attached and its dates moved).
    Never copied again."""

    before: RowSpec
    after: RowSpec
    to: State


def revisions(known: Iterable[LedgerRow], specs: Sequence[RowSpec]) -> list[Revision]:
    """The done rows a run of `specs` takes up again, in manifest order (`manifest_change`
    decides, as the run's sync does)."""
    done = {row.target_course_id: row for row in known if row.state is State.DONE}
    found = []
    for spec in specs:
        row = done.get(spec.target_course_id)
        if row is None:
            continue
        change = manifest_change(row, spec)
        if change.refusal is None and change.moves(row):
            found.append(Revision(row.spec, spec, change.to))
    return found


def retried_state(row: LedgerRow) -> State:
    """Where `--retry-failed` re-opens a failed row: never to a second copy.

    A row whose course exists is patched again, one whose task is known is polled again, and
    the rest (Learn refused their copy or never got it) are requested again.
    """
    if row.course_pk:
        # A row whose PATCH went through and only an enrolment, an attachment or a date failed
        # is not patched again.
        return State.PATCHED if row.error_kind in _AFTER_THE_PATCH else State.COPIED
    if row.task_location:
        return State.LOCATED
    return State.PENDING


def planned_state(known: LedgerRow | None, spec: RowSpec, *, retry_failed: bool) -> State:
    """The state a run will start this row from: its manifest change, then `--retry-failed`."""
    change = manifest_change(known, spec)
    if known is None or change.refusal is not None:
        return change.to
    if retry_failed and change.to is State.FAILED:
        return retried_state(known)
    return change.to


def shell_must_be_empty(known: LedgerRow | None, shell: str) -> bool:
    """Whether a copy into the existing course `shell` must first find it empty (unless the
    run allows adding to content): always, except when the ledger records that this row's own
    copy went into that very course (`copied_into`), so what it holds is ours.

    Not an earlier attempt: a row that once asked for a new course (and found its courseId
    taken) has attempts but never copied into the shell the manifest now names.
    """
    return known is None or known.copied_into != shell


_STEPS = {
    State.PENDING: CopyStep.TO_REQUEST,
    State.INTENT: CopyStep.ANSWER_LOST,
    State.LOCATED: CopyStep.REQUESTED,
    State.COPIED: CopyStep.COPIED,
    State.PATCHED: CopyStep.PATCHED,
}


def calls_left(
    spec: RowSpec,
    known: LedgerRow | None,
    state: State,
    *,
    verify: bool,
    polls: float = 1,
) -> float:
    """The calls a row the ledger holds as `known` still needs from `state` (`calls_for`):
    none when it has ended; its shell found and looked at unless the ledger says otherwise,
    `polls` polls (one at the floor, `POLLS_PER_COPY` in a plan), its enrolments not yet made
    and its children not yet attached; with a shift, its dated items not yet shifted (once
    every kind was listed, as the ledger counts them) and the lists not yet read; with a shift
    taken out, the PATCHes that move its moved dates back."""
    step = _STEPS.get(state)
    if step is None:
        return 0
    shell = known.target_pk if known is not None else None
    asked = {str(kind) for kind in shift_kinds(spec.shift)}
    # calls_for asks only the total of the dated items: the ledger counts them, not by kind.
    dated = (
        DatedCounts(content=known.dates_to_shift)
        if known is not None and known.dates_listed >= asked
        else None
    )
    lists_read = (
        sum(list_calls(DatedKind(kind)) for kind in known.dates_listed & asked)
        if known is not None
        else 0
    )
    # A shift taken out of the manifest moves its row's moved dates back: one PATCH each.
    moving_back = (
        known.dates_to_shift - known.dates_shifted
        if known is not None and spec.shift is None and known.dates_left
        else 0
    )
    return (
        moving_back
        + calls_for(
            spec,
            verify=verify,
            polls=polls,
            step=step,
            shell_known=shell is not None,
            shell_ours=not shell_must_be_empty(known, shell or ""),
            enrolled=known.enrolled if known is not None else 0,
            attached=known.children_attached if known is not None else 0,
            dated=dated,
            shifted=known.dates_shifted if known is not None else 0,
        )
        - lists_read
    )
