"""What a person should do about a row the tool handed over: one short hint per kind of trouble.

The kinds are told apart by the engine's own error texts (rollover/engine.py and
rollover/reconcile.py), so a new error there falls back to the general hint of its state until
it is given one here.
"""

from __future__ import annotations

from rollover.ledger import LedgerRow, State

RETRY = "then run again with --retry-failed"
REMOVE = "then remove the row from the manifest (re-runs leave rows not in it alone)"


def next_step(row: LedgerRow) -> str | None:
    """What to do about a `failed` or `needs_review` row, or None for any other state."""
    if row.state is State.NEEDS_REVIEW:
        return _review_step(row)
    if row.state is State.FAILED:
        return _failed_step(row)
    return None


def _review_step(row: LedgerRow) -> str:
    target, source, error = row.target_course_id, row.source_course_id, row.error or ""
    if "may or may not have been applied" in error:
        return (f"open {target} in Learn and check that {source}'s content is there exactly "
                f"once (copy it by hand if missing, delete the extra if twice); {REMOVE}. The "
                "tool will not copy into it again")
    if "CompleteWithErrors" in error or "Incomplete" in error:
        return (f"open {target} in Learn and compare its content with {source}: Learn "
                f"reported problems with the copy. Fix what is missing by hand; {REMOVE}")
    if "did not say when it was created" in error:
        return (f"check whether {target} in Learn is this rollover's copy of {source}: if it "
                f"is, {REMOVE.removeprefix('then ')}; if not, choose another "
                "target_course_id and run again")
    if "no course" in error and "exists" in error:
        return (f"look in Learn for the copy of {source} (task {row.task_location}); if none "
                "was made, choose another target_course_id and run again")
    return (f"check {target} in Learn: the tool cannot tell how this row ended and will not "
            f"guess. Finish it by hand; {REMOVE}")


def _failed_step(row: LedgerRow) -> str:
    target, source, error = row.target_course_id, row.source_course_id, row.error or ""
    if "already belongs to a course created" in error:
        return "choose another target_course_id and run again"
    if row.copy_into_existing and "Learn has no course" in error:
        return (f"create {target} in Learn (or set copy_into_existing to false in the "
                f"manifest), {RETRY}")
    if "refused the PATCH" in error:
        return ("correct the row's name, dates, term or availability in the manifest and run "
                "again (or, if the row was right, run again with --retry-failed): the course "
                "is patched again, never copied again")
    if "refused the copy" in error:
        return (f"check that {source} exists in Learn and that the REST application may copy "
                f"it, {RETRY}")
    return f"fix what the error names (in Learn or in the manifest), {RETRY}"
