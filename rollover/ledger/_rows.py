"""What the ledger knows of a row: its state, its error's kind, its HTTP answers, and the quota."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rollover.learn import DatedKind
from rollover.plan import RowSpec, shift_kinds


class State(StrEnum):
    """Where a row is in its journey from manifest line to finished course.

    The one vocabulary of the state machine: `status` is what the results CSV and the exit code
    say of a state, `stage` the word the progress line and `status` show people.
    """

    PENDING = "pending"
    INTENT = "intent"
    LOCATED = "located"
    COPIED = "copied"
    PATCHED = "patched"
    DONE = "done"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"

    @property
    def final(self) -> bool:
        """Whether the row is finished for the tool (a person may still act on it)."""
        return self in TERMINAL

    @property
    def status(self) -> RowStatus:
        """The results CSV's status: the final state's name, else `pending`."""
        return RowStatus(self.value) if self.final else RowStatus.PENDING

    @property
    def stage(self) -> str:
        """The stage people see: queued, copying, patching, or the final status."""
        return _STAGE.get(self, self.value)


class RowStatus(StrEnum):
    """A row's status in the results CSV, the exit code and every view, in the contract's
    order: `done` (copied and patched), `failed` (a permanent error), `needs_review` (the
    outcome is uncertain and the tool will not guess), `pending` (re-run to continue)."""

    DONE = "done"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"
    PENDING = "pending"


TERMINAL = frozenset({State.DONE, State.FAILED, State.NEEDS_REVIEW})
_STAGE = {
    State.PENDING: "queued",
    State.INTENT: "copying",
    State.LOCATED: "copying",
    State.COPIED: "patching",
    State.PATCHED: "patching",
}
# The stages people see, in order: `shifting` is a row's own (`LedgerRow.stage`): patched, its
# dated items not all moved yet.
STAGES = ("queued", "copying", "patching", "shifting", "done", "failed", "needs_review")
SHIFTING = "shifting"


class ErrorKind(StrEnum):
    """Why a row ended `failed` or `needs_review`, kept beside its error text.

    `status` chooses its advice from the kind, never from the words of the error.
    """

    COPY_REFUSED = "copy_refused"  # Learn refused the copy request
    SHELL_MISSING = "shell_missing"  # copy_into_existing, and Learn has no such course
    TARGET_TAKEN = "target_taken"  # the courseId belongs to a course created before the request
    PATCH_REFUSED = "patch_refused"  # copied, but Learn refused the PATCH
    REQUEST_REFUSED = "request_refused"  # another request about the row was refused
    COPY_MAYBE_APPLIED = "copy_maybe_applied"  # into an existing course, and the answer was lost
    COPY_UNCLEAN = "copy_unclean"  # Learn ended the copy CompleteWithErrors or Incomplete
    CREATED_UNKNOWN = "created_unknown"  # the course exists; Learn did not say when it was made
    COURSE_MISSING = "course_missing"  # the task was lost and no course was made
    SHELL_NOT_EMPTY = "shell_not_empty"  # the shell already holds content: not copied into
    SHELL_MERGED = "shell_merged"  # the shell is another course's merged section: not copied into
    ENROL_REFUSED = "enrol_refused"  # copied and patched, but Learn refused an instructor
    CHILD_REFUSED = "child_refused"  # copied and patched, but Learn refused to attach a child
    DATES_REFUSED = "dates_refused"  # copied and patched, but Learn refused to move a date
    VERIFY_SHORT = "verify_short"  # the target holds fewer items or columns than its source
    ADOPTION_UNPROVEN = "adoption_unproven"  # an adopted copy's course, read back, did not hold
    UNCERTAIN = "uncertain"  # any other outcome the tool cannot tell

    @property
    def words(self) -> str:
        """The kind in the words of a registrar or a dean's office; the code itself stays in
        the results CSV and the JSON, for scripts."""
        return KIND_WORDS[self]


KIND_WORDS: dict[ErrorKind, str] = {
    ErrorKind.COPY_REFUSED: "Learn refused to copy the course",
    ErrorKind.SHELL_MISSING: "the course to copy into does not exist in Learn",
    ErrorKind.TARGET_TAKEN: "the new course ID is already in use in Learn",
    ErrorKind.PATCH_REFUSED: "copied, but Learn refused the new name, dates or term",
    ErrorKind.REQUEST_REFUSED: "Learn refused a request for this course",
    ErrorKind.COPY_MAYBE_APPLIED: "the copy may or may not have been made",
    ErrorKind.COPY_UNCLEAN: "Learn reported problems with the copy",
    ErrorKind.CREATED_UNKNOWN: "a course with this ID exists; it may not be this copy",
    ErrorKind.COURSE_MISSING: "the copy's course cannot be found in Learn",
    ErrorKind.SHELL_NOT_EMPTY: "the course to copy into already has content",
    ErrorKind.SHELL_MERGED: "the course to copy into is a section merged into another course",
    ErrorKind.ENROL_REFUSED: "an instructor could not be enrolled",
    ErrorKind.CHILD_REFUSED: "Learn refused to attach a section",
    ErrorKind.DATES_REFUSED: "copied, but Learn refused to move some dates to the new term",
    ErrorKind.VERIFY_SHORT: "fewer items or grade columns arrived than the source has",
    ErrorKind.ADOPTION_UNPROVEN: "a copy found after a lost answer could not be confirmed",
    ErrorKind.UNCERTAIN: "the outcome is unclear",
}


class Resolution(StrEnum):
    """What a person found in Learn about a `needs_review` row (`rollover resolve`)."""

    COPIED = "copied"  # the copy is there: find the course by its courseId, patch, finish
    NOT_COPIED = "not copied"  # it is not: request the copy again (the only second copy)


class Proof(StrEnum):
    """How far the proof of an adopted copy has got: Learn never shows such a copy's end, so
    its course is read back, at a point where the copy can no longer be writing, before the row
    is `done`."""

    DUE = "due"  # adopted: no enrolment yet, the course's content is counted first
    COUNTED = "counted"  # the content reached the source's: enrolled; read back at settle_until
    PROVEN = "proven"  # read back a settle later, Learn still showed the row's values


@dataclass(frozen=True)
class LedgerRow:
    """One course as the ledger knows it: what the manifest asks (`spec`) and how far it got."""

    spec: RowSpec
    state: State
    target_pk: str | None
    task_location: str | None
    course_pk: str | None
    adopted: bool
    error: str | None
    error_kind: ErrorKind | None
    attempts: int
    intent_at: datetime | None
    requested_at: datetime | None
    copied_at: datetime | None
    completed_at: datetime | None
    resolution: Resolution | None = None  # a person's decision about a needs_review row
    resolved_at: datetime | None = None
    course_url: str | None = None  # the course's externalAccessUrl as Learn reported it
    shell_contents: int | None = None  # what the shell held before the copy (content items)
    shell_columns: int | None = None  # and its gradebook columns, when verified
    verification: str | None = None  # "contents 45/45; columns 12/12" (--verify)
    enrolled: int = 0  # the instructors enrolled, of `len(spec.instructors)`
    settle_until: datetime | None = None  # an adopted copy is patched (or read back) then
    # The existing course that holds this row's own copy: Learn accepted a copy into it, or a
    # person said the copy is there. What that shell holds is ours, never a reason to refuse.
    copied_into: str | None = None
    intent_site_at: datetime | None = None  # the intent's time on Learn's clock, when known
    proof: Proof | None = None  # None: the copy's end was seen (or a person said it is there)
    children_attached: int = 0  # the merged sections attached, of `len(spec.children)`
    # The shift of the row's dated items, in days, once the engine computed it (`term` resolved);
    # None: not computed yet (or cleared by a change of the row's shift, to be computed again).
    shift_days: int | None = None
    dates_listed: frozenset[str] = frozenset()  # the kinds of dated items listed and recorded
    # The span the course's calendar was read over (`--shift-calendar`); None: not read.
    calendar_span: tuple[datetime, datetime] | None = None
    dates_shifted: int = 0  # the dated items moved, of `dates_to_shift`
    dates_to_shift: int = 0  # the dated items recorded that still exist in Learn

    @property
    def dates_left(self) -> bool:
        """Whether the row's dated items still have to move: its shift's offset not computed, a
        kind of item not listed yet, or an item recorded and not shifted. A row whose shift was
        taken out of the manifest after its items were recorded moves them back (offset 0)."""
        if self.spec.shift is None:
            return self.dates_to_shift > 0 and (
                self.shift_days is None or self.dates_shifted < self.dates_to_shift
            )
        return (
            self.shift_days is None
            or not self.dates_listed >= set(shift_kinds(self.spec.shift))
            or self.dates_shifted < self.dates_to_shift
        )

    @property
    def stage(self) -> str:
        """The stage people see: the state's (`State.stage`), but `shifting` for a patched row
        whose dated items have not all moved (a copied row with nothing to patch counts as
        patched)."""
        patched = self.state is State.PATCHED or (
            self.state is State.COPIED and not self.spec.patch and self.course_pk is not None
        )
        if patched and self.dates_left:
            return SHIFTING
        return self.state.stage

    @property
    def settling(self) -> bool:
        """Whether the row waits out --adopt-settle (its copy's end cannot be seen)."""
        return self.state in (State.COPIED, State.PATCHED) and self.settle_until is not None

    @property
    def target_course_id(self) -> str:
        """The courseId the row produces (the ledger's key)."""
        return self.spec.target_course_id

    @property
    def source_course_id(self) -> str:
        """The course copied from."""
        return self.spec.source_course_id

    @property
    def line(self) -> int:
        """The row's line in the manifest it was last synced from."""
        return self.spec.line

    @property
    def copy_into_existing(self) -> bool:
        """Whether content is copied into an existing course."""
        return self.spec.copy_into_existing


class EnrolmentState(StrEnum):
    """Where one instructor's enrolment is; `sending` is committed before the PUT."""

    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class EnrolmentRecord:
    """One instructor of a row, as the ledger keeps their enrolment."""

    user_id: str
    role: str
    state: EnrolmentState
    error: str | None
    at: str


class AttachmentState(StrEnum):
    """Where one merged section's attachment to the row's target is; `sending` is committed
    (durably) before the PUT, so a lost answer is never mistaken for one not sent."""

    PENDING = "pending"
    SENDING = "sending"
    ATTACHED = "attached"
    FAILED = "failed"


@dataclass(frozen=True)
class AttachmentRecord:
    """One child of a row (a section merged into its target), as the ledger keeps it."""

    child_ref: str  # as the manifest gives it: a courseId, `externalId:X` or `_N_1`
    state: AttachmentState
    error: str | None
    child_pk: str | None  # the child's primary id, once Learn has told it
    updated_at: str


# The kinds of dated items the ledger records (learn.DatedKind's values: content items' release
# windows, gradebook columns' due dates, announcements' display windows, the calendar's events);
# which of them a row's shift lists is `plan.shift_kinds`.
DATED_KINDS = frozenset(DatedKind)


class DateState(StrEnum):
    """Where one dated item of a row is; `sending` is committed (durably) before its PATCH."""

    PENDING = "pending"
    SENDING = "sending"
    SHIFTED = "shifted"
    FAILED = "failed"
    GONE = "gone"  # the item no longer exists in Learn: nothing to move


@dataclass(frozen=True)
class DatedRecord:
    """One dated item of a row's course, as the ledger keeps it: each date field's original (the
    value the copy put there, recorded before any PATCH and never overwritten) and the new value
    sent for it (None until computed; None in `original` is an empty date, which stays empty).
    Dates are UTC, to the millisecond (as Learn gives them)."""

    kind: str  # learn.DatedKind: content, column or announcement
    item_id: str  # the item's primary id in the row's course
    state: DateState
    original: dict[str, datetime | None]  # field (dotted path, as `grading.due`) -> its date
    new: dict[str, datetime | None]  # field -> the value sent (or to send), when computed
    error: str | None
    updated_at: str
    title: str = ""  # the item's title (a column's name) as Learn listed it, for people
    # The offset, in days, of the dates Learn holds for it as far as the ledger knows: its
    # row's offset once shifted, kept when the shift changes (0: its originals).
    held_days: int = 0


@dataclass(frozen=True)
class Transition:
    """One step of a row's history: when, from which state to which, and why."""

    at: str
    from_state: str | None
    to_state: str
    detail: str | None


@dataclass(frozen=True)
class Answer:
    """One HTTP answer Learn gave about a row (no bodies): when, in which state, what."""

    at: str
    state: str
    endpoint: str
    status: int


@dataclass(frozen=True)
class QuotaSeen:
    """Learn's API quota as last reported (X-Rate-Limit-Remaining and -Limit), and when."""

    remaining: int
    limit: int | None
    at: datetime
