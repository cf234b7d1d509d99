"""The PATCH: the row's values written over the copied course, and the course a person
resolved as copied found first."""

from __future__ import annotations

from typing import Any

from rollover.errors import LearnAuthError, LearnError, LearnUnreachable
from rollover.learn import Call, LearnClient, Meaning, error_meaning, found, id_form
from rollover.ledger import ErrorKind, Ledger, LedgerRow


class Patching:
    """Sends a row's PATCH and finds the course it goes to."""

    def __init__(self, ledger: Ledger, client: LearnClient) -> None:
        self._ledger = ledger
        self._client = client

    async def send(self, row: LedgerRow) -> dict[str, Any] | None:
        """PATCH the row's course with its body: the course Learn answered, or None when Learn
        refused it (the row failed)."""
        try:
            return await self._client.patch_course(row.course_pk or "", dict(row.spec.patch))
        except (LearnAuthError, LearnUnreachable):
            raise
        except LearnError as exc:
            if error_meaning(Call.CHANGE, exc) is not Meaning.ROW_FAILED:
                raise
            self._ledger.record_failed(
                row.target_course_id,
                ErrorKind.PATCH_REFUSED,
                f"copied as {row.course_pk} but Learn refused the PATCH: {exc.learn_message}",
            )
            return None

    async def find_resolved_course(self, row: LedgerRow) -> LedgerRow | None:
        """The row with the primary id of the course a person resolved as copied, or None
        (and the row back with a person) when Learn has no such course."""
        target = row.target_course_id
        course_pk = row.target_pk if row.copy_into_existing else None
        if course_pk is None:
            course = await found(self._client.get_course(id_form(target), "id"))
            if course is None:
                self._ledger.record_needs_review(
                    target,
                    ErrorKind.COURSE_MISSING,
                    f"resolved as copied, but Learn has no course {target}: check the courseId "
                    "in Learn; if the copy is not there, resolve the row --not-copied",
                )
                return None
            course_pk = str(course["id"])
        self._ledger.record_course_found(target, course_pk)
        return self._ledger.row(target)
