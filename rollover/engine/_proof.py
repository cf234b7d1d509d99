"""The proof of an adopted copy: its course read back from Learn and compared with the row.

A copy adopted without its task (its answer was lost, or its task vanished) is never seen to
end, and while it runs a copy overwrites what a PATCH wrote and drops enrolments made before its
membership step. So such a row is `done` only once Learn has been read back at a point where the
copy can no longer be writing: its course holds all of its source's content, and a settle
later it still shows the PATCHed values and the instructors' roles (see `AdoptionProof.prove`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollover.learn import LearnClient, learn_datetime
from rollover.ledger import EnrolmentRecord, EnrolmentState, LedgerRow

# Fields whose values are instants: Learn may write them back in another form than was sent.
_INSTANTS = ("start", "end")


@dataclass(frozen=True)
class ReadBack:
    """What Learn showed of an adopted copy's course that differs from what the row asks."""

    fields: tuple[str, ...] = ()  # PATCHed values Learn no longer shows, in words
    members: tuple[str, ...] = ()  # user ids of instructors not enrolled as asked
    member_words: tuple[str, ...] = ()  # the same, in words

    def __bool__(self) -> bool:
        return bool(self.fields or self.members)

    def __str__(self) -> str:
        return "; ".join((*self.fields, *self.member_words))


class CourseReader:
    """Reads an adopted copy's course back: one GET of the course (and of each term named,
    once per run) and one GET of each instructor's membership."""

    def __init__(self, client: LearnClient) -> None:
        self.client = client
        self._terms: dict[str, str] = {}  # termId as the PATCH names it -> its primary id

    async def read_back(self, row: LedgerRow, enrolments: Sequence[EnrolmentRecord]) -> ReadBack:
        """How the course differs from the row's PATCH body and its enrolments done."""
        course_pk = row.course_pk or ""
        sent = dict(row.spec.patch)
        fields: list[str] = []
        if sent:
            shown = await self.client.get_course(course_pk, ",".join(sorted(sent)))
            term = sent.get("termId")
            term_pk = await self._term_pk(term) if isinstance(term, str) else None
            fields = course_differences(sent, shown, term_pk)
        members: list[str] = []
        words: list[str] = []
        for enrolment in enrolments:
            if enrolment.state is not EnrolmentState.DONE:
                continue
            role = await self.client.membership_role(course_pk, enrolment.user_id)
            if role != enrolment.role:
                members.append(enrolment.user_id)
                words.append(
                    f"{enrolment.user_id} not enrolled"
                    if role is None
                    else f"{enrolment.user_id} enrolled as {role}, not {enrolment.role}"
                )
        return ReadBack(tuple(fields), tuple(members), tuple(words))

    async def _term_pk(self, term: str) -> str:
        if term not in self._terms:
            found = await self.client.get_term(term, "id")
            self._terms[term] = str(found.get("id"))
        return self._terms[term]


def course_differences(
    sent: Mapping[str, Any], shown: Mapping[str, Any], term_pk: str | None
) -> list[str]:
    """Each value of a PATCH body `sent` that the course `shown` does not hold, in words.

    The termId is compared as the term's primary id (Learn shows that, whatever form was sent);
    dates as instants.
    """
    wrong: list[str] = []
    for path, want in _leaves(sent):
        if path == ("termId",) and term_pk is not None:
            want = term_pk
        found = _at(shown, path)
        if not _same(path, want, found):
            wrong.append(f"{'.'.join(path)} {found!r} instead of {want!r}")
    return wrong


def _leaves(
    body: Mapping[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, value in body.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, (*path, name))
        else:
            yield (*path, name), value


def _at(shown: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    found: Any = shown
    for name in path:
        if not isinstance(found, Mapping):
            return None
        found = found.get(name)
    return found


def _same(path: tuple[str, ...], want: Any, found: Any) -> bool:
    if want == found:
        return True
    if path[-1] in _INSTANTS:
        moment = learn_datetime(want)
        return moment is not None and moment == learn_datetime(found)
    return False
