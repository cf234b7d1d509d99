"""Every error `rollover` raises on purpose, in one tree.

Only the CLI turns these into ``Error: ...`` lines, a hint and an exit code::

    RolloverError                  exit 2 unless a subclass says otherwise
    ├── UsageError                 bad option or environment (missing key, non-loopback http://)
    ├── ConfigInvalid              rollover.toml has problems (unknown key, bad value, a secret)
    ├── ManifestInvalid            the manifest has problems; carries every Problem
    │   └── ExactCopyRefused       rows ask for Learn's exact copy (it carries enrolled users)
    │                              and `run` was not given --allow-exact
    ├── LedgerError                the ledger is in use, foreign, corrupt or newer than this tool
    │   ├── LedgerMissing          no ledger where one must already be
    │   └── LedgerUnwritable       exit 3: a write failed (disk full, read-only): resumable
    ├── LearnCheckFailed           the live preflight found rows Learn cannot carry out
    ├── LearnUnreachable           exit 3: transport failures outlasted the retries
    │   ├── SiteNotFound           exit 2: the host name does not resolve (a --base-url typo)
    │   │   └── WrongSiteAddress   exit 2: the address answers, but has no token endpoint (a
    │   │                          --base-url naming a /webapps/... page, not the site's root)
    │   └── LearnAnsweredPage      a web page (a sign-on gateway's, a proxy's) where Learn's JSON
    │                              should be, after retries: exit 2 before a change, else 3
    ├── CopyOutcomeUnknown         a copy request left but its answer was lost (reconcile)
    ├── RunStopped                 exit 3: the run's stop came while it waited to send (a signal):
    │   │                          nothing more is sent, never a row's failure; resumable
    │   └── LearnAsksToWait        exit 3: a 429's Retry-After is longer than a run waits
    ├── FailedAfterChange          exit 3: an unexpected error (a bug) ended a run that had
    │                              already changed Learn; the ledger is consistent
    └── LearnError                 Learn answered with an error status (row-level unless fatal)
        ├── LearnAuthError         the key/secret were refused (exit 2: fix the credentials,
        │                          the REST integration's registration or its user)
        ├── LearnNotFound          404
        ├── LearnConflict          409
        ├── LearnRateLimited       429, carries retry_after seconds
        ├── LearnServerError       5xx
        ├── LearnProtocolError     an answer Learn's API never gives (malformed JSON, 303 without
        │                          Location, a Location to another host)
        ├── CountRefused           exit 3: 403 on a count of content or gradebook columns: the
        │                          integration user lacks an entitlement (site-wide, not a row's)
        ├── AttachRefused          Learn refused to attach a child course to a row's target
        │                          (merged sections): another's child, a parent, or missing
        └── DatesRefused           Learn refused an item's new dates (400/409: a rule such as
                                   a release window ending after its due date; 403: a closed
                                   course or a missing entitlement)
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """The contract's exit codes, the one place their numbers live:

    0 ALL_DONE             every row is `done`
    1 ROWS_NEED_ATTENTION  the run ended; some rows are `failed` or `needs_review`
    2 USAGE                usage error or invalid manifest: nothing that changes Learn was sent
                           (read-only calls may have been); never used once a change was sent
    3 STOPPED              stopped early and resumable (window closed, quota reserve, Learn
                           unreachable or answering pages, a long Retry-After, a signal, the
                           ledger unwritable, an unexpected error after a change); rows pending
    """

    ALL_DONE = 0
    ROWS_NEED_ATTENTION = 1
    USAGE = 2
    STOPPED = 3


class RolloverError(Exception):
    """Base of every deliberate error; `hint` says what the user should do next."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(RolloverError):
    """A command-line option or environment variable is wrong or missing."""


MAX_SHOWN = 200


def closest(word: str, choices: Collection[str], *, cutoff: float = 0.75) -> str | None:
    """The choice closest to `word` (ignoring case), or None when none is close enough."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[close[0]] if close else None


def did_you_mean(word: str, choices: Collection[str]) -> str:
    """' (did you mean 'X'?)' when one of `choices` is close to `word`, ignoring case; else ''."""
    found = closest(word, choices)
    return f" (did you mean {found!r}?)" if found else ""


def printable(text: str) -> str:
    """`text` on one line with every character that is not printable (line breaks, tabs,
    escape sequences, other control and format characters) shown escaped (`\\n`, `\\x1b`), so
    a terminal, a mail header, a monitoring line or a chat never acts on them and a person
    still sees they were there. The one cleaner of text the tool shows."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the manifest: where it is, what it holds and how to fix it."""

    line: int | None
    column: str | None
    value: str | None
    message: str
    hint: str | None = None  # the one next step, when this problem alone decides it

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column:
            where.append(f"column {printable(self.column)}")
        prefix = ", ".join(where)
        value = self.value
        if value is not None and len(value) > MAX_SHOWN:  # a 10 MB cell is named, not echoed
            value = f"{value[:MAX_SHOWN]}... ({len(value)} characters)"
        shown = f" (value {value!r})" if value is not None else ""
        message = printable(self.message)  # messages quote header cells, for one
        return f"{prefix}: {message}{shown}" if prefix else f"{message}{shown}"


class ManifestInvalid(RolloverError):
    """The manifest cannot be used; `problems` lists every one found."""

    def __init__(
        self,
        path: str,
        problems: list[Problem],
        *,
        warnings: Sequence[Problem] = (),
        hint: str | None = None,
    ) -> None:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"{path}: {count} {noun}; nothing was sent to Learn",
            hint=hint or "fix the lines listed above and run the same command again",
        )
        self.path = path
        self.problems = problems
        self.warnings = tuple(warnings)


class ExactCopyRefused(ManifestInvalid):
    """Rows ask for an exact copy, which carries last term's enrolled users, unasked for."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        super().__init__(path, problems)
        count = len(problems)
        rows = "1 row asks" if count == 1 else f"{count} rows ask"
        self.message = (
            f"{path}: {rows} for copy_profile exact, Learn's exact copy, which "
            "also copies enrolled users; nothing was sent to Learn"
        )
        self.hint = (
            "give those lines another copy_profile (default copies all content and no "
            "users), or if the users must come along, run again with --allow-exact"
        )


class ConfigInvalid(RolloverError):
    """The configuration file cannot be used; `problems` lists every one found."""

    def __init__(self, path: str, problems: list[str]) -> None:
        message = (
            f"{path}: {problems[0]}"
            if len(problems) == 1
            else f"{path}: {len(problems)} problems:\n  " + "\n  ".join(problems)
        )
        super().__init__(
            message, hint=f"fix {path} and run the same command again; nothing was sent to Learn"
        )
        self.path = path
        self.problems = problems


class LedgerError(RolloverError):
    """The ledger cannot be used as it is."""


class LedgerMissing(LedgerError):
    """No ledger where one must already be (status, report, resolve read what a run wrote)."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"no ledger at {path}", hint="pass --ledger, or run `rollover run MANIFEST` first"
        )
        self.path = path


class LedgerUnwritable(LedgerError):
    """A ledger write failed (disk full, file made read-only): the run stops, resumable."""

    exit_code = ExitCode.STOPPED

    def __init__(self, path: object, cause: BaseException) -> None:
        reason = str(cause) or type(cause).__name__
        full = "full" in reason.lower() or getattr(cause, "errno", None) == 28  # ENOSPC
        what = "the disk holding it is full" if full else f"it cannot be written ({reason})"
        super().__init__(
            f"the ledger {path} could not record the last step: {what}",
            hint="free space on that disk (or make the file writable), then run the same "
            "command again: the ledger resumes where it stopped, and no copy is repeated",
        )


class LearnCheckFailed(RolloverError):
    """`--check-learn` or `--preflight` found problems (listed before it); nothing was changed."""

    def __init__(self, count: int, *, copied_nothing: bool = False) -> None:
        noun = "problem" if count == 1 else "problems"
        done = "nothing was copied" if copied_nothing else "nothing in Learn was changed"
        super().__init__(
            f"Learn check: {count} {noun} listed above; {done}",
            hint="fix those lines (or create in Learn what is missing), then "
            "run the same command again",
        )
        self.count = count


class LearnUnreachable(RolloverError):
    """Learn could not be reached (connection or timeout) after the allowed retries."""

    exit_code = ExitCode.STOPPED


class SiteNotFound(LearnUnreachable):
    """The site's host name does not resolve: a typo in --base-url, not a network outage."""

    exit_code = ExitCode.USAGE


class WrongSiteAddress(SiteNotFound):
    """The address answers, but Learn's token endpoint is not there (404, 405, a redirect, an
    answer in another shape than OAuth's): --base-url names something other than the site's
    root, such as a /webapps/... page. Exit 2 while nothing that changes Learn was sent."""

    def __init__(self, base_url: str, root: str, answered: str) -> None:
        named_page = root != base_url
        super().__init__(
            f"{base_url} is not the address of a Learn site's REST API: {answered} where "
            "Learn's token endpoint (POST /learn/api/public/v1/oauth2/token) should be",
            hint="check --base-url (or LEARN_BASE_URL): it must be the site's root, "
            + (
                f"{root}, not a page under it"
                if named_page
                else "e.g. https://learn.example.edu, not a /webapps/... page"
            )
            + "; then run the same command again (no ledger is bound to an address that "
            "never granted a token)",
        )
        self.base_url = base_url


class LearnAnsweredPage(LearnUnreachable):
    """The site answered a web page (a sign-on gateway's, a proxy's) where Learn's REST API
    should answer JSON: about the site, never a row. Exit 2 while nothing that changes Learn
    was sent (the run turns it into 3 once a change was sent)."""

    exit_code = ExitCode.USAGE

    def __init__(self, base_url: str, *, content_type: str | None, title: str | None) -> None:
        shown = [content_type or "no content type"]
        if title:
            shown.append(f'titled "{printable(title)}"')
        super().__init__(
            f"{base_url} answered a web page ({', '.join(shown)}) where Learn's REST API should be",
            hint="a sign-on page or proxy stands in front of /learn/api; check --base-url (or "
            "LEARN_BASE_URL): it must be the site's root as Learn's REST API answers it (e.g. "
            "https://learn.example.edu, not a /webapps/... page), or ask the site's admins to "
            "exempt /learn/api from single sign-on; then run the same command again (the ledger "
            "resumes where it stopped)",
        )
        self.base_url = base_url
        self.content_type = content_type
        self.title = title


class CopyOutcomeUnknown(RolloverError):
    """A copy request was sent but no answer came back: Learn may or may not have applied it."""

    exit_code = ExitCode.STOPPED


class RunStopped(RolloverError):
    """The run was asked to stop (SIGINT, SIGTERM, SIGHUP, or a worker's fatal error) before a
    call it waited to send was sent: nothing more goes to Learn, and no row fails for it."""

    exit_code = ExitCode.STOPPED


class LearnAsksToWait(RunStopped):
    """Learn answered 429 with a Retry-After longer than a run waits: the run stops instead of
    sleeping through it; `until` (UTC) is when Learn takes calls again."""

    def __init__(self, seconds: float, until: datetime) -> None:
        super().__init__(
            f"Learn asks to wait {seconds:.0f} s (until {until:%Y-%m-%d %H:%M} UTC)",
            hint="run the same command again after that: the ledger resumes",
        )
        self.seconds = seconds
        self.until = until


class FailedAfterChange(RolloverError):
    """An error that is not one of the tool's own (a bug) ended a run after it had sent Learn
    a change: the run stopped, resumable; exit 2 ("nothing sent") or 1 would both mislead."""

    exit_code = ExitCode.STOPPED

    def __init__(self, cause: BaseException) -> None:
        super().__init__(
            f"unexpected {type(cause).__name__}: {cause}; the run stopped after changing Learn, "
            "and the ledger is consistent",
            hint="run the same command again to continue. This is a bug in rollover: run "
            "`rollover --debug ...` for the traceback and report it",
        )


class LearnError(RolloverError):
    """Learn answered with an error status; `message` is Learn's own message."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        endpoint: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(
            f"Learn answered {status} on {endpoint}: {message}"
            if endpoint
            else f"Learn answered {status}: {message}",
            hint=hint,
        )
        self.status = status
        self.learn_message = message
        self.code = code
        self.endpoint = endpoint


class LearnAuthError(LearnError):
    """The REST application's key or secret was refused."""


class LearnNotFound(LearnError):
    """404: the course, term or task does not exist (any more)."""


class LearnConflict(LearnError):
    """409: a course with that courseId or externalId already exists."""


class LearnRateLimited(LearnError):
    """429: the site's API quota is exhausted for now."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        endpoint: str = "",
    ) -> None:
        super().__init__(status, message, code=code, endpoint=endpoint)
        self.retry_after = retry_after


class LearnServerError(LearnError):
    """5xx: Learn (or a proxy in front of it) failed."""


class LearnProtocolError(LearnError):
    """Learn's answer does not follow its API (bad JSON, missing or foreign Location)."""


class EntitlementMissing(LearnError):
    """403 where the REST integration's Learn user lacks an `entitlement` that holds for every
    course alike: it stops the run (resumable) rather than failing row after row, and says once
    what to grant. `hint` is the next step."""

    exit_code = ExitCode.STOPPED
    entitlement: str


class CountRefused(EntitlementMissing):
    """403 on a list the tool counts (content items, gradebook columns)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        counted: str,
        course: str,
        entitlement: str,
        verify_only: bool,
        code: str | None = None,
        endpoint: str = "",
    ) -> None:
        super().__init__(status, message, code=code, endpoint=endpoint)
        self.counted = counted
        self.course = course
        self.entitlement = entitlement
        self.message = (
            f"Learn refused to list the {counted} of {course} ({status}: {message}): the Learn "
            f"user of the REST integration lacks the entitlement {entitlement}"
        )
        # Only --verify counts columns; content is also counted to guard shells.
        self.hint = "grant it to that user and run the same command again" + (
            " (or run it without --verify)" if verify_only else ""
        )


class MergeForbidden(EntitlementMissing):
    """403 to attaching a child course (merged sections): the integration user may not merge
    courses, for any course."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        parent: str,
        child: str,
        entitlement: str,
        code: str | None = None,
        endpoint: str = "",
    ) -> None:
        super().__init__(status, message, code=code, endpoint=endpoint)
        self.parent = parent
        self.child = child
        self.entitlement = entitlement
        self.message = (
            f"Learn refused to attach {child} to {parent} as a merged section ({status}: "
            f"{message}): the Learn user of the REST integration lacks the entitlement "
            f"{entitlement}"
        )
        self.hint = (
            "grant it to that user and run the same command again: the sections left are "
            "attached then"
        )
        self.args = (self.message,)


class AttachRefused(LearnError):
    """Learn refused to attach a child course to a parent (merged sections): the child is
    another course's child, is itself a parent, or is missing (`missing`: "child" or "parent"),
    or Learn refused for a reason of its own (`learn_message`). The row fails; `child` is the
    child as the manifest names it, `hint` the next step."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        parent: str,
        child: str,
        reason: str,
        hint: str,
        missing: str | None = None,
        code: str | None = None,
        endpoint: str = "",
    ) -> None:
        super().__init__(status, message, code=code, endpoint=endpoint, hint=hint)
        self.parent = parent
        self.child = child
        self.reason = reason
        self.missing = missing
        self.message = (
            f"Learn refused to attach {child} to {parent} as a merged section: {reason} "
            f"({status}: {message})"
        )
        self.args = (self.message,)  # str() says the same as the CLI's `Error:` line


class DatesRefused(LearnError):
    """Learn refused the new dates of one dated item (a content item, a gradebook column, an
    announcement) of a course: 400 or 409 for a rule of its own (a content item's release window
    may not end after its column's due date), 403 for a closed course or an integration user
    without `entitlement` (named; None for 400/409). `learn_message` is Learn's own words,
    `kind` the item's kind, `item` its id, `hint` the next step."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        course: str,
        kind: str,
        item: str,
        reason: str,
        hint: str,
        entitlement: str | None = None,
        code: str | None = None,
        endpoint: str = "",
    ) -> None:
        super().__init__(status, message, code=code, endpoint=endpoint, hint=hint)
        self.course = course
        self.kind = kind
        self.item = item
        self.reason = reason
        self.entitlement = entitlement
        self.message = (
            f"Learn refused the new dates of {kind} {item} in {course}: {reason} "
            f"({status}: {message})"
        )
        self.args = (self.message,)  # str() says the same as the CLI's `Error:` line
