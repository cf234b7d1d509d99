"""The `instructors` cell: `;`-separated Learn user ids, each with an optional `=ROLE`.

`userName:jdoe;externalId:E123=TeachingAssistant;_12_1=Grader;` is three enrolments. Each user id
is kept exactly as Learn's `/courses/{courseId}/users/{userId}` path takes it; a built-in course
role is written in Learn's spelling, whatever its case. Everything wrong in a cell is reported at
once, one message per mistake, each naming its fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rollover.errors import closest
from rollover.learn import is_primary_id

from ._entries import parse_entries
from ._invalid import Invalid

DEFAULT_ROLE = "Instructor"
BUILT_IN_ROLES = ("Instructor", "TeachingAssistant", "CourseBuilder", "Grader", "BbFacilitator")
USER_ID_KINDS = ("userName", "externalId", "uuid")

_ROLE_BY_LOWER = {role.lower(): role for role in BUILT_IN_ROLES}
_KIND_BY_LOWER = {kind.lower(): kind for kind in USER_ID_KINDS}
# Kinds whose ids never hold a space: a space there is two users run together.
_SPACELESS_KINDS = frozenset({"userName", "uuid"})
_GAP = re.compile(r"[\s,]+")
_LINE_BREAK_OR_TAB = re.compile(r"[\r\n\t]")
_SPACE = re.compile(r"\s")
_ID_FORMS = (
    "a Learn user id is written userName:ID, externalId:ID or uuid:ID, "
    "or is a primary id like _12_1"
)


@dataclass(frozen=True)
class Enrolment:
    """One user to enrol in the produced course: the user id exactly as Learn's path takes it
    (`userName:jdoe`, `externalId:E123`, `uuid:...` or `_12_1`) and the course role id."""

    user_id: str
    role: str

    def names(self, user_id: str) -> bool:
        """Whether `user_id` is this enrolment's user: user ids are compared ignoring case."""
        return self.user_id.lower() == user_id.lower()


def parse_instructors(value: str) -> tuple[Enrolment, ...]:
    """The enrolments a non-blank `instructors` cell lists, in its order; Invalid with one
    message per mistake. A single trailing `;` (as people type lists) is allowed."""
    return parse_entries(
        value,
        noun="user",
        example="userName:jdoe",
        parse=_parse_entry,
        key=lambda enrolment: enrolment.user_id.lower(),  # as `Enrolment.names` compares them
        twice=_listed_twice,
    )


def parse_learn_user(value: str) -> Enrolment:
    """The one Learn user `--learn-user` names, written as an `instructors` entry
    (`userName:rest-app=TeachingAssistant`); Invalid saying what is wrong."""
    if ";" in value.strip().rstrip(";"):
        raise Invalid(
            "names more than one user: give the one Learn user the REST integration acts as, "
            "like userName:rest-app=TeachingAssistant"
        )
    found = parse_instructors(value)
    if not found:
        raise Invalid("names no user: give one like userName:rest-app=TeachingAssistant")
    return found[0]


def _listed_twice(earlier: Enrolment, again: Enrolment) -> str:
    """The message for a user the cell lists a second time."""
    same = (
        ""
        if earlier.user_id == again.user_id
        else f" (also as {earlier.user_id}: user ids are compared ignoring case)"
    )
    return (
        f"{again.user_id} is listed twice{same}: list each user once, with the one role they "
        "should have"
    )


def _parse_entry(entry: str) -> Enrolment:
    """One `USER` or `USER=ROLE` entry; Invalid naming every mistake in it."""
    if entry.count("=") > 1:
        raise Invalid(
            f"{entry} has more than one '=': give one user and one role, like "
            "userName:jdoe=Grader, and separate users with ';'"
        )
    user, equals, role = (part.strip() for part in entry.partition("="))
    messages: list[str] = []
    user_id: str | None = None
    if not user:
        messages.append(
            f"{entry} names no user before '=': write the user id first, like userName:jdoe{entry}"
        )
    else:
        try:
            user_id = _user_id(user)
        except Invalid as exc:
            messages.extend(exc.messages)
    if equals and not role:
        messages.append(
            f"{entry} has no role after '=': write a course role id after it (like "
            f"{user_id or 'userName:jdoe'}=TeachingAssistant), or drop the '=' to enrol as "
            f"{DEFAULT_ROLE}"
        )
    elif equals:
        try:
            role = _role(role)
        except Invalid as exc:
            messages.extend(exc.messages)
    if messages or user_id is None:
        raise Invalid(*messages)
    return Enrolment(user_id, role or DEFAULT_ROLE)


def _user_id(user: str) -> str:
    """A user id as Learn's path takes it, its kind in Learn's spelling."""
    pieces = [piece for piece in _GAP.split(user) if piece]
    spaceless = (
        is_primary_id(pieces[0])
        or _KIND_BY_LOWER.get(pieces[0].partition(":")[0].lower()) in _SPACELESS_KINDS
    )  # an externalId may hold a space: `externalId:Dr Grader` is one id
    if spaceless and len(pieces) == 2 and pieces[1].lower() in _ROLE_BY_LOWER:
        role = _ROLE_BY_LOWER[pieces[1].lower()]
        raise Invalid(
            f"{user} has a space where the role's '=' belongs: write {pieces[0]}={role} "
            f"(a user, '=' and the course role)"
        )
    if _LINE_BREAK_OR_TAB.search(user) or any(
        _looks_like_user_id(piece) for piece in _GAP.split(user)[1:]
    ):
        raise Invalid(_several_users(user))
    if is_primary_id(user):
        return user
    kind, colon, rest = (part.strip() for part in user.partition(":"))
    if not colon:
        raise Invalid(
            f"{user} does not say which kind of user id it is: write "
            f"{_one_user_per_entry(user)} ({_ID_FORMS})"
        )
    known = _KIND_BY_LOWER.get(kind.lower())
    if known is None:
        raise Invalid(_unknown_kind(user, kind, rest))
    if not rest:
        raise Invalid(f"{user} names no user: write the user's {known} after the ':'")
    user_id = f"{known}:{rest}"
    if known in _SPACELESS_KINDS and _SPACE.search(rest):
        raise Invalid(
            f"{user} has a space, which no Learn {known} has: separate users with ';' "
            f"({_one_user_per_entry(user_id)})"
        )
    return user_id


def _looks_like_user_id(text: str) -> bool:
    """Whether `text` is written like a user id (`_12_1`, or a known kind, ':' and an id)."""
    kind, colon, rest = text.partition(":")
    return bool(is_primary_id(text) or (colon and rest and kind.lower() in _KIND_BY_LOWER))


def _one_user_per_entry(user: str) -> str:
    """`user` split where spaces, commas or line breaks run ids together, one id per entry; a
    piece without a kind takes the first piece's kind (userName when it has none)."""
    pieces = [piece for piece in _GAP.split(user) if piece]
    kind, colon, _ = pieces[0].partition(":")
    prefix = f"{_KIND_BY_LOWER.get(kind.lower(), 'userName')}:" if colon else "userName:"
    return ";".join(
        piece if _looks_like_user_id(piece) else prefix + piece.lstrip(":") for piece in pieces
    )


def _several_users(user: str) -> str:
    """The message for several user ids run together in one entry."""
    return (
        f"{user} holds more than one user id: separate users with ';' ({_one_user_per_entry(user)})"
    )


def _unknown_kind(user: str, kind: str, rest: str) -> str:
    """The message for `kind:rest` whose kind Learn does not know, naming the likely one."""
    if not kind:
        return f"nothing before ':' in {user}: write userName:{rest} ({_ID_FORMS})"
    lower = kind.lower()
    near = next(
        (known for known in USER_ID_KINDS if known.lower().startswith(lower)), None
    ) or closest(kind, USER_ID_KINDS)
    if near is None:
        return (
            f"unknown kind of user id in {user}: write userName:{rest}, externalId:{rest} or "
            f"uuid:{rest}, whichever it is (or the user's primary id, like _12_1)"
        )
    return f"unknown kind of user id in {user}: write {near}:{rest} ({_ID_FORMS})"


def _role(role: str) -> str:
    """A course role id: a built-in one in Learn's spelling, or an institution's own as written."""
    built_in = _ROLE_BY_LOWER.get(role.lower())
    if built_in is not None:
        return built_in
    near = closest(role, BUILT_IN_ROLES)
    if near is not None:
        raise Invalid(
            f"unknown course role {role}, close to the built-in {near}: write {near} (an "
            "institution's own role id is accepted as written only when it is not a near miss "
            "of a built-in one)"
        )
    if _SPACE.search(role):
        raise Invalid(
            f"course role {role} has a space, which no role id has: write the role's id as "
            "Learn shows it (like TeachingAssistant), not its name, and separate users with ';'"
        )
    return role
