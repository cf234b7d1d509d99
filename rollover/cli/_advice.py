"""What a person should do about a row the tool handed over: one hint per kind of error.

The hint is chosen from the row's `ErrorKind`, which the engine stores with the error; never from
the error's words. A `needs_review` row ends with a person's decision, told to the tool with
`rollover resolve`: `--copied` (the next run patches the course and finishes the row) or
`--not-copied` (the next run requests the copy again).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rollover.ledger import ErrorKind, LedgerRow, State

RETRY = "then run again with --retry-failed"


@dataclass(frozen=True)
class Invocation:
    """How the person named this rollover on the command line, so that advice prints a command
    they can paste: the manifest as they gave it, the `--ledger` they gave (if any), and
    whether it is a rehearsal's (`--sandbox`); and the other ledgers beside the manifest that
    hold a target whose course may be an earlier run's (`beside`: target -> ledger)."""

    manifest: str | None  # None when only --ledger named the rollover
    sandbox: bool = False
    ledger: str | None = None
    beside: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        manifest: Path | None,
        *,
        sandbox: bool,
        ledger: Path | None = None,
        beside: Mapping[str, Path] | None = None,
    ) -> Invocation:
        """The invocation of a command given MANIFEST, --sandbox and --ledger."""
        return cls(
            None if manifest is None else str(manifest),
            sandbox,
            None if ledger is None else str(ledger),
            {target: str(path) for target, path in (beside or {}).items()},
        )


def next_step(row: LedgerRow, invocation: Invocation) -> str | None:
    """What to do about a `failed` or `needs_review` row, or None for any other state."""
    if row.state is State.NEEDS_REVIEW:
        return _review_step(row, invocation)
    if row.state is State.FAILED:
        return _failed_step(row, invocation)
    return None


def resolve_command(row: LedgerRow, invocation: Invocation, *, copied: bool) -> str:
    """The `rollover resolve` command that records a person's finding about `row`, as the
    person can paste it: their manifest, their --ledger, --sandbox for a rehearsal."""
    words = [
        "rollover",
        "resolve",
        shlex.quote(invocation.manifest) if invocation.manifest else "MANIFEST",
        str(row.line),
        "--copied" if copied else "--not-copied",
    ]
    if invocation.ledger is not None:
        words += ["--ledger", shlex.quote(invocation.ledger)]
    if invocation.sandbox:
        words.append("--sandbox")
    return f"`{' '.join(words)}`"


def _review_step(row: LedgerRow, invocation: Invocation) -> str:
    target, source, kind = row.target_course_id, row.source_course_id, row.error_kind
    copied = resolve_command(row, invocation, copied=True)
    not_copied = resolve_command(row, invocation, copied=False)
    if kind is ErrorKind.COPY_MAYBE_APPLIED:
        return (
            f"open {target} in Learn and check whether {source}'s content is there (delete "
            f"the extra if it is there twice): if it is, run {copied}; if not, run "
            f"{not_copied} to have it copied. The tool will not copy into it again on its "
            "own"
        )
    if kind is ErrorKind.COPY_UNCLEAN:
        return (
            f"open {target} in Learn and compare its content with {source}: Learn "
            f"reported problems with the copy. Fix what is missing by hand, then run "
            f"{copied}"
        )
    if kind is ErrorKind.CREATED_UNKNOWN:
        return (
            f"check whether {target} in Learn is this rollover's copy of {source}: if it "
            f"is, run {copied}; if it is someone else's course, choose another "
            "target_course_id and run again"
        )
    if kind is ErrorKind.VERIFY_SHORT:
        return (
            f"open {target} in Learn and compare it with {source}: fewer content items or "
            "gradebook columns arrived than the source holds. Copy what is missing by hand, "
            f"then run {copied} to finish the row without counting again"
        )
    if kind is ErrorKind.ADOPTION_UNPROVEN:
        return (
            f"open {target} in Learn once its copy of {source} has finished (all of "
            f"{source}'s content is there): the tool adopted it without seeing the copy end "
            "and could not confirm it (the error says what it found). If it is the copy, run "
            f"{copied}: the next run patches it, enrols its instructors and finishes the row"
        )
    if kind is ErrorKind.COURSE_MISSING:
        return (
            f"look in Learn for {target}, the copy of {source} (task "
            f"{row.task_location}): if it is there now, run {copied}; if none was made, "
            f"run {not_copied} to have it copied again"
        )
    return (
        f"check {target} in Learn: the tool cannot tell how this row ended and will not "
        f"guess. If {source}'s copy is there, run {copied}; if not, run {not_copied}"
    )


def _failed_step(row: LedgerRow, invocation: Invocation) -> str:
    target, source, kind = row.target_course_id, row.source_course_id, row.error_kind
    other = invocation.beside.get(target)
    if kind in (ErrorKind.TARGET_TAKEN, ErrorKind.SHELL_NOT_EMPTY) and other is not None:
        # Never a flag that could copy a second time into a course an earlier run filled.
        held = "Learn's course" if kind is ErrorKind.TARGET_TAKEN else "what the shell holds"
        return (
            f"{other} beside the manifest also records {target}: {held} is most likely the "
            f"copy of {source} an earlier run made with that ledger (a manifest saved under "
            f"a new name starts a new ledger). Do not copy again: run again with --ledger "
            f"{shlex.quote(other)} to continue from it"
        )
    if kind is ErrorKind.TARGET_TAKEN:
        return (
            f"Learn made {target} before this ledger asked for it (the error says when): it "
            f"may be the copy of {source} an earlier run made with another ledger (a manifest "
            "saved under a new name, a ledger moved or deleted): if so, run again with "
            "--ledger and that ledger, or take the row out of the manifest. If it is "
            "someone else's course, choose another target_course_id and run again"
        )
    if kind is ErrorKind.SHELL_MISSING:
        return (
            f"create {target} in Learn (or set copy_into_existing to false in the "
            f"manifest), {RETRY}"
        )
    if kind is ErrorKind.PATCH_REFUSED:
        return (
            "correct the row's name, dates, term or availability in the manifest and run "
            "again (or, if the row was right, run again with --retry-failed): the course "
            "is patched again, never copied again"
        )
    if kind is ErrorKind.COPY_REFUSED:
        return (
            f"check that {source} exists in Learn and that the REST application may copy "
            f"it, {RETRY}"
        )
    if kind is ErrorKind.SHELL_MERGED:
        return (
            f"{target} is a section merged into the course the error names, whose content "
            "Learn manages from that parent: copy into the parent instead (make it the row's "
            f"target_course_id), or separate {target} from it in Learn, then run again with "
            "--retry-failed"
        )
    if kind is ErrorKind.SHELL_NOT_EMPTY:
        return (
            f"first look at what {target} holds in Learn. This ledger never copied into it, "
            "but an earlier run with another ledger (a manifest saved under a new name) or a "
            f"person may have: if it already holds {source}'s content, do not copy again "
            "(run again with --ledger and that run's ledger, or take the row out of the "
            f"manifest). If what it holds is not a copy and can go, empty it, {RETRY}; only "
            "if it must stay and the copy be added to it, run again with --retry-failed "
            "--allow-nonempty-shell"
        )
    if kind is ErrorKind.ENROL_REFUSED:
        return (
            "check the users named in the error (an unknown userName or externalId, a role "
            "Learn does not have, or a system administrator, whom only an administrator may "
            "enrol); fix the instructors cell and run again: only the enrolments are retried"
        )
    if kind is ErrorKind.CHILD_REFUSED:
        return (
            f"{target} is copied and patched, but Learn refused to attach the section the "
            "error names. Either fix the child_course_ids cell (correct the section's id, or "
            "take out a section that belongs to another parent course or is itself a parent) "
            "and run again, or set the section right in Learn (separate it from its other "
            f"parent, or its own sections from it), {RETRY}: only the attachments are retried, "
            "never the copy"
        )
    if kind is ErrorKind.DATES_REFUSED:
        return (
            f"{target} is copied and patched, but its dates could not all move; the error "
            "says why (Learn refused an item's new dates, or a term shift found no start "
            "date). Either change the row's shift_dates and run again, or set it right in "
            "Learn (the item's dates, a course closed to changes, the entitlement named, or a "
            f"start date for {source} or its term), {RETRY}: only the dates are retried, "
            "never the copy, and items already moved are not moved again"
        )
    return f"fix what the error names (in Learn or in the manifest), {RETRY}"
