"""Keeping the sandbox on disk at a constant cost a call: a snapshot plus a journal of calls since.

The state file is a snapshot (`LearnSandbox.to_state`, written atomically) tagged with a fresh
random `journal_id`. Beside it, `<state>.journal` holds JSON lines: a header naming the snapshot
it continues, then one line per endpoint call since, with its arguments (less any credentials
but the site's own) and the clock reading it used. The model is deterministic given its state, a
call's arguments and `now`, so replaying the lines through the same methods rebuilds the site
exactly: ids, RNG draws, quota and record.

A call's line is written, in one `write`, before the call runs, so no reply leaves the process
ahead of the disk. SIGKILL keeps every finished write (the OS holds it); a power cut may lose the
journal's tail, as it may lose the ledger's non-intent commits. Compaction writes a snapshot with
a new id and only then resets the journal: a crash between the two leaves a journal whose header
names the old snapshot, which replay ignores, as it ignores a stale journal beside a state file
that was deleted and created afresh.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._access import basic_credentials
from ._replies import InvalidJson, Reply
from ._state import write_json_atomically

if TYPE_CHECKING:
    from ._model import LearnSandbox

# The public `LearnSandbox` methods that answer a Learn endpoint; GETs too, since every call
# charges the quota and counts in the record.
ENDPOINTS = frozenset(
    {
        "request_token",
        "copy_course",
        "get_task",
        "get_course",
        "list_courses",
        "patch_course",
        "get_term",
        "list_terms",
        "get_user",
        "put_membership",
        "patch_membership",
        "get_membership",
        "list_memberships",
        "list_contents",
        "list_content_children",
        "list_columns",
        "attach_child",
        "list_children",
        "get_child",
        "get_cross_list_set",
        "separate_child",
        "list_announcements",
        "patch_item",
        "list_calendars",
        "list_calendar_items",
        "patch_calendar_item",
        "unknown_endpoint",
    }
)

# Compact once the journal outgrows the snapshot (never below this): the snapshot's O(size)
# write is then paid once per as many bytes of journal, so its cost a call stays constant, and
# a load replays at most about a snapshot's worth of calls.
MIN_COMPACT_BYTES = 1 << 20


@dataclass(frozen=True)
class EndpointCall:
    """One call of a `LearnSandbox` endpoint method: its name and the arguments the app passed."""

    method: str
    args: tuple[Any, ...]

    def __post_init__(self) -> None:
        if self.method not in ENDPOINTS:
            raise ValueError(f"{self.method!r} is not a sandbox endpoint method")

    def apply(self, sandbox: LearnSandbox) -> Reply:
        """Answer the call on `sandbox`, which reads its own clock."""
        reply: Reply = getattr(sandbox, self.method)(*self.args)
        return reply

    def to_line(self, now: float) -> bytes:
        """The call and the clock reading it uses as one JSON line."""
        # A body that was not JSON has no JSON form; its position is noted instead.
        invalid = [n for n, arg in enumerate(self.args) if isinstance(arg, InvalidJson)]
        entry: dict[str, Any] = {
            "now": now,
            "call": self.method,
            "args": [None if n in invalid else arg for n, arg in enumerate(self.args)],
        }
        if invalid:
            entry["invalid_json"] = invalid
        return json.dumps(entry, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> tuple[EndpointCall, float]:
        """The call and clock reading a line written by `to_line` holds."""
        listed, now = entry["args"], entry["now"]
        if not isinstance(listed, list) or not isinstance(now, int | float):
            raise TypeError("args must be a list and now a number")
        invalid = set(entry.get("invalid_json", ()))
        args = tuple(InvalidJson() if n in invalid else arg for n, arg in enumerate(listed))
        return cls(entry["call"], args), now


def answer_at(sandbox: LearnSandbox, call: EndpointCall, now: float) -> Reply:
    """Answer `call` as if the clock read `now`: a live call and its replay run the same."""
    live_clock = sandbox.clock
    sandbox.clock = lambda: now
    try:
        return call.apply(sandbox)
    finally:
        sandbox.clock = live_clock


def journal_path(state_path: Path) -> Path:
    """Where the calls since the snapshot at `state_path` are journaled."""
    return state_path.with_name(state_path.name + ".journal")


def write_snapshot(sandbox: LearnSandbox, state_path: Path) -> tuple[str, int]:
    """Write the whole state atomically under a fresh journal id; the id and the bytes written."""
    journal_id = secrets.token_hex(8)
    write_json_atomically(state_path, {**sandbox.to_state(), "journal_id": journal_id})
    return journal_id, state_path.stat().st_size


def replay_journal(sandbox: LearnSandbox, state_path: Path, journal_id: str | None) -> int:
    """Apply the calls journaled since the snapshot `journal_id` names; how many there were."""
    path = journal_path(state_path)
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return 0
    # The last piece never ended with a newline: a torn write, or empty. Only whole lines count.
    entries = _decoded_prefix(lines[:-1])
    if not entries or journal_id is None or entries[0] != {"snapshot": journal_id}:
        return 0
    signatures: dict[str, inspect.Signature] = {}
    for number, entry in enumerate(entries[1:], start=2):
        try:
            call, now = EndpointCall.from_entry(entry)
            if call.method not in signatures:
                signatures[call.method] = inspect.signature(getattr(sandbox, call.method))
            # Checked here, because an exception from the call itself is suppressed below.
            signatures[call.method].bind(*call.args)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}, line {number}: not a journaled call: {exc}") from exc
        # A call that raised was answered 500 by the live app after the same partial changes;
        # replaying it leaves the same state, so its exception is not news.
        with contextlib.suppress(Exception):
            answer_at(sandbox, call, now)
    return len(entries) - 1


def _decoded_prefix(lines: list[bytes]) -> list[Any]:
    # A line that does not decode is where a power cut cut the journal short; later lines depend
    # on it, so they cannot be replayed either.
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            break
    return entries


class SiteJournal:
    """A sandbox kept current at `state_path`: each call journaled before it is answered."""

    def __init__(
        self, sandbox: LearnSandbox, state_path: Path, *, min_compact_bytes: int = MIN_COMPACT_BYTES
    ) -> None:
        self.sandbox = sandbox
        self.state_path = Path(state_path)
        self.path = journal_path(self.state_path)
        self._min_compact_bytes = min_compact_bytes
        self._journal_bytes = 0
        self._compact_at = 0
        self.compact()

    def answer(self, call: EndpointCall) -> Reply:
        """Journal `call` with the clock's reading, then answer it at that reading."""
        now = self.sandbox.clock()
        call = _without_foreign_credentials(call, self.sandbox)
        line = call.to_line(now)
        _append(self.path, line)
        self._journal_bytes += len(line)
        reply = answer_at(self.sandbox, call, now)
        # After the call, never before: the snapshot must hold the call the reset drops.
        if self._journal_bytes > self._compact_at:
            self.compact()
        return reply

    def compact(self) -> None:
        """Write a fresh snapshot, then restart the journal empty after it."""
        journal_id, snapshot_bytes = write_snapshot(self.sandbox, self.state_path)
        # Private like the snapshot (mkstemp's 0600): both hold the site's key and secret.
        handle = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(handle, json.dumps({"snapshot": journal_id}).encode() + b"\n")
        finally:
            os.close(handle)
        self._journal_bytes = 0
        self._compact_at = max(self._min_compact_bytes, snapshot_bytes)


def _without_foreign_credentials(call: EndpointCall, sandbox: LearnSandbox) -> EndpointCall:
    # Someone may point a real Learn key and secret at the sandbox by mistake; they must not land
    # on disk. A token request only asks whether the credentials are the site's own (already in
    # the snapshot's config) and reads only grant_type, so dropping the rest answers the same,
    # live and in replay alike.
    if call.method != "request_token":
        return call
    authorization, form = call.args
    if basic_credentials(authorization) != (sandbox.config.key, sandbox.config.secret):
        authorization = None
    return EndpointCall(
        call.method,
        (authorization, {name: value for name, value in form.items() if name == "grant_type"}),
    )


def _append(path: Path, line: bytes) -> None:
    # Opened per call and without O_CREAT: a journal deleted mid-run fails loudly instead of
    # collecting lines no snapshot names.
    handle = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        start = os.fstat(handle).st_size
        written = 0
        try:
            while written < len(line):
                written += os.write(handle, line[written:])
        except OSError:
            # A fragment (disk full) would fuse with the next line into one that does not decode.
            os.ftruncate(handle, start)
            raise
    finally:
        os.close(handle)
