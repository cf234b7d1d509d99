"""Crash at every ledger transition, every enrolment, every attachment of a merged section and
every verification step, before and after it, then resume: each copy exactly once, every
instructor enrolled, never before 15%, each section attached once, after its parent's copy.

A crash is simulated in-process by raising where a `kill -9` would stop the tool: from the
ledger's transition seam, from its enrolment and source-count writes (wrapped on the instance),
or from the HTTP transport before Learn sees a request or after it applied one (its answer lost
with the process). That unwinds the engine mid-flight, its HTTP calls cancelled; the next run
reopens the same ledger against the same simulated Learn. The soak test does the same with real
processes and SIGKILL.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from harness import TEACHERS, Learn, early_or_lost, engine_run, instructors, make_learn, row
from test_adoption import adopted_rows, assert_proven_or_reviewed, one_slot_site

from rollover.engine import Rollover, RunOptions
from rollover.ledger import EnrolmentState, Ledger, LedgerRow, Proof, State
from rollover.manifest import DateShift, Enrolment, ManifestRow
from rollover.plan import row_spec, shift_moment
from rollover.sandbox import SeedCourse

OPTIONS = RunOptions(poll_min=2.0, poll_max=10.0, adopt_settle=60.0, verify=True)
NEW, SHELL, PLAIN = "BIO-101-001-SP27", "HIST-210-SP27", "CHEM-110-001-SP27"
BIO, CHEM = "BIO-101-FA26", "CHEM-110-FA26"
JANE, BOB = "userName:jane.doe", "userName:bob"
ROWS = [
    row(
        2,
        BIO,
        NEW,
        name="Biology 101 (Spring 2027)",
        term_id="SP27",
        instructors=instructors(JANE, f"{BOB}=TeachingAssistant"),
    ),
    row(3, CHEM, PLAIN, name="Chemistry 110 (Spring 2027)"),
    row(
        4,
        CHEM,
        SHELL,
        copy_into_existing=True,
        name="History 210 (Spring 2027)",
        instructors=instructors(BOB),
    ),
]
CRASH_STATES = (State.INTENT, State.LOCATED, State.COPIED, State.PATCHED, State.DONE)
ROLES = {(r.target_course_id, e.user_id): e.role for r in ROWS for e in r.instructors}
# Every call about teaching the run makes, as `teaching_call` names them: the look into the
# shell, each instructor's PUT, and each count of --verify (the shell's second time: after).
TEACHING_CALLS = (
    f"GET contents {SHELL}",
    f"GET columns {SHELL}",
    f"PUT {NEW} {JANE}",
    f"PUT {NEW} {BOB}",
    f"PUT {SHELL} {BOB}",
    f"GET contents {BIO}",
    f"GET columns {BIO}",
    f"GET contents {CHEM}",
    f"GET columns {CHEM}",
    f"GET contents {NEW}",
    f"GET columns {NEW}",
    f"GET contents {PLAIN}",
    f"GET columns {PLAIN}",
    f"GET contents {SHELL} #2",
    f"GET columns {SHELL} #2",
)
ENROLMENT_WRITES = tuple(
    f"enrolment {target} {user} {state.value}"
    for target, user in ROLES
    for state in (EnrolmentState.SENDING, EnrolmentState.DONE)
)
SOURCE_COUNT_WRITES = (f"source counts {BIO}", f"source counts {CHEM}")


class SimulatedCrash(BaseException):
    """Raised at the chosen point: not an Exception, so no handler in the tool swallows it."""


def site() -> Learn:
    """The simulated Learn every crash test runs against: copies long enough to poll."""
    return make_learn(copy_seconds=15.0, slots=2, users=TEACHERS)


@dataclass
class Teaching:
    """Names each call about teaching as TEACHING_CALLS does, counting repeats."""

    learn: Learn
    seen: Counter[str]

    def name(self, request: httpx.Request) -> str | None:
        """`PUT <course> <user>` or `GET contents|columns <course>`, `#n` from the second."""
        parts = request.url.path.split("/")
        if request.method == "PUT" and parts[-2] == "users":
            name = f"PUT {self.course(parts[-3])} {parts[-1]}"
        elif request.method == "GET" and parts[-1] in ("contents", "columns"):
            course = parts[-3] if parts[-1] == "columns" else parts[-2]
            name = f"GET {parts[-1]} {self.course(course)}"
        else:
            return None
        self.seen[name] += 1
        return name if self.seen[name] == 1 else f"{name} #{self.seen[name]}"

    def course(self, ref: str) -> str:
        """The courseId of a course named in a path."""
        found = self.learn.sandbox.course(ref)
        assert found is not None, ref
        return found.course_id


def crash_run(
    learn: Learn,
    ledger_path: Path,
    crash_at: Callable[[str], bool],
    *,
    rows: list[ManifestRow] = ROWS,
    options: RunOptions = OPTIONS,
    calls: Callable[[httpx.Request], str | None] | None = None,
) -> list[str]:
    """Run `rows` until `crash_at` says yes to a point (`before|after <what>`), where the tool
    dies; the points passed, that one last. `calls` names the calls that are points (by
    default, the teaching calls)."""
    passed: list[str] = []
    name_call = calls or Teaching(learn, Counter()).name
    named: dict[int, str | None] = {}
    dead = False

    def point(what: str) -> None:
        nonlocal dead
        if dead:  # the process is gone: no other worker sends or writes anything either
            raise SimulatedCrash
        passed.append(what)
        if crash_at(what):
            dead = True
            raise SimulatedCrash

    def before_request(request: httpx.Request) -> None:
        named[id(request)] = name_call(request)
        if named[id(request)] is not None:
            point(f"before {named[id(request)]}")

    def after_request(request: httpx.Request, _: httpx.Response) -> None:
        if named.get(id(request)) is not None:
            point(f"after {named[id(request)]}")

    def before(target: str, to: State) -> None:
        point(f"before {target} {to.value}")

    def after(ledger_row: LedgerRow, *_: object) -> None:
        point(f"after {ledger_row.target_course_id} {ledger_row.state.value}")

    def around(what: Callable[..., str], write: Callable[..., None]) -> Callable[..., None]:
        def wrapped(*args: Any, **kwargs: Any) -> None:
            point(f"before {what(*args)}")
            write(*args, **kwargs)
            point(f"after {what(*args)}")

        return wrapped

    async def scenario() -> None:
        with Ledger(ledger_path, clock=learn.clock.datetime) as ledger:
            ledger.sync_manifest(
                [row_spec(r, calendar_reader=options.calendar_reader) for r in rows]
            )
            ledger.before_transition, ledger.observer = before, after
            ledger.record_enrolment = around(  # type: ignore[method-assign]
                lambda target, user, state, *_: f"enrolment {target} {user} {state.value}",
                ledger.record_enrolment,
            )
            ledger.record_source_counts = around(  # type: ignore[method-assign]
                lambda source, *_: f"source counts {source}", ledger.record_source_counts
            )
            ledger.record_attachment = around(  # type: ignore[method-assign]
                lambda target, child, state, *_: f"attachment {target} {child} {state.value}",
                ledger.record_attachment,
            )
            ledger.record_date = around(  # type: ignore[method-assign]
                lambda target, kind, item, state, *_, **__: f"date {item} {state.value}",
                ledger.record_date,
            )
            learn.transport.before, learn.transport.after = before_request, after_request
            try:
                async with learn.client() as client:
                    await Rollover(
                        ledger,
                        client,
                        options,
                        clock=learn.clock.datetime,
                        sleep=learn.clock.sleep,
                        monotonic=learn.clock.time,
                    ).run()
            finally:
                learn.transport.before = learn.transport.after = None

    try:
        asyncio.run(scenario())
    except (SimulatedCrash, BaseExceptionGroup) as exc:
        if isinstance(exc, BaseExceptionGroup):
            assert exc.subgroup(SimulatedCrash) is not None, exc
    return passed


def crash_then_resume(tmp_path: Path, point: str) -> tuple[Learn, list[LedgerRow]]:
    """Crash at `point`, then run to the end: the site and the final rows."""
    learn = site()
    ledger_path = tmp_path / "l.sqlite"
    passed = crash_run(learn, ledger_path, lambda what: what == point)
    assert passed[-1] == point, f"the crash point {point!r} was not reached"
    _, final = engine_run(learn, ROWS, ledger_path, OPTIONS)
    return learn, final


def assert_ready_to_teach(learn: Learn, final: list[LedgerRow], *, shell_lost: bool) -> None:
    """Each row done (the shell needs a person if its copy's answer was lost), copied once,
    patched after its copy, verified, and every instructor enrolled from 15%, none lost."""
    record = learn.sandbox.record
    copies = record.copies_per_target()
    assert all(patch.copy_complete for patch in record.patches)
    assert early_or_lost(learn) == [], record.enrolments
    for r in final:
        if r.target_course_id == SHELL and shell_lost:
            # The answer to an additive copy was lost to the crash: a person decides.
            assert r.state is State.NEEDS_REVIEW, r
            assert copies.get(SHELL, 0) <= 1
            continue
        assert r.state is State.DONE, r
        assert copies[r.target_course_id] == 1
        assert r.course_pk and r.verification, r
        assert r.enrolled == len(r.spec.instructors), r
        for enrolment in r.spec.instructors:
            found = learn.sandbox.membership(r.course_pk, enrolment.user_id)
            assert found is not None and found["courseRoleId"] == enrolment.role, (r, enrolment)
    patched = {p.course_id for p in record.patches}
    assert {r.target_course_id for r in final if r.state is State.DONE} <= patched


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("state", CRASH_STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("target", [NEW, SHELL])
def test_crash_then_resume_copies_exactly_once(
    tmp_path: Path, target: str, state: State, when: str
) -> None:
    """Whatever transition the crash hits, the re-run ends every row final, each copied once."""
    learn, final = crash_then_resume(tmp_path, f"{when} {target} {state.value}")
    shell_lost = target == SHELL and (when, state) in (
        ("after", State.INTENT),
        ("before", State.LOCATED),
    )
    assert_ready_to_teach(learn, final, shell_lost=shell_lost)
    copies = learn.sandbox.record.copies_per_target()
    if shell_lost:
        assert copies.get(SHELL, 0) == (1 if when == "before" else 0)
    assert {r.target_course_id: r.state for r in final}[NEW] is State.DONE


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("what", TEACHING_CALLS + ENROLMENT_WRITES + SOURCE_COUNT_WRITES)
def test_crash_around_enrolments_and_counts_then_resume(
    tmp_path: Path, what: str, when: str
) -> None:
    """After a crash around a PUT, count or their writes, every row ends done and ready to teach."""
    learn, final = crash_then_resume(tmp_path, f"{when} {what}")
    assert_ready_to_teach(learn, final, shell_lost=False)


def test_the_crash_points_are_every_teaching_call_of_a_run(tmp_path: Path) -> None:
    """The points crashed at above are all the teaching calls and writes a run makes."""
    learn = site()
    passed = crash_run(learn, tmp_path / "l.sqlite", lambda _: False)
    teaching = [p.removeprefix("before ") for p in passed if p.startswith("before ")]
    teaching = [p for p in teaching if p.split(" ")[0] in ("GET", "PUT", "enrolment", "source")]
    assert sorted(teaching) == sorted(TEACHING_CALLS + ENROLMENT_WRITES + SOURCE_COUNT_WRITES)
    assert early_or_lost(learn) == []


# Adopted copies (every copy answer lost, one slot, copies longer than the settle) are proven:
# counted, patched, enrolled, read back, proven, done. The calls of a proof are crash points.
ADOPTED = adopted_rows(2)
ADOPTED_OPTIONS = RunOptions(poll_min=5.0, poll_max=60.0, adopt_settle=30.0)
PROOF_CALLS = (
    ("GET", "/contents"),
    ("PATCH", "/v3/courses/_"),
    ("PUT", "/users/"),
    ("GET", "/v3/courses/_"),
    ("GET", "/users/"),
)
ADOPTED_POINTS = 102  # every transition, enrolment and count write and proof call, around it


def adoption_site() -> Learn:
    """One slot, copies of two minutes, every copy answer lost."""
    return one_slot_site(6, copy_seconds=120.0, copy_sigma=0.0)


def proof_call(request: httpx.Request) -> str | None:
    """`METHOD path` of a call a proof makes (counts, PATCH, PUTs, read-backs), else None."""
    for method, part in PROOF_CALLS:
        if request.method == method and part in request.url.path:
            return f"{method} {request.url.path}"
    return None


def crash_adopted_at(learn: Learn, ledger_path: Path, point: int | None) -> list[str]:
    """Run ADOPTED until the `point`-th crash point (None: to the end); the points passed."""
    seen = itertools.count(1)
    return crash_run(
        learn,
        ledger_path,
        lambda _: next(seen) == point,
        rows=ADOPTED,
        options=ADOPTED_OPTIONS,
        calls=proof_call,
    )


def test_the_adopted_crash_points_are_every_step_of_a_proof(tmp_path: Path) -> None:
    """The points crashed at below are counted, patched, enrolled, read back, proven, done,
    and each call of those, for each adopted row."""
    points = crash_adopted_at(adoption_site(), tmp_path / "l.sqlite", None)
    assert len(points) == ADOPTED_POINTS
    for target in (r.target_course_id for r in ADOPTED):
        for step in ("copied", "patched", "done"):
            assert f"after {target} {step}" in points
    pks = {p.split("/")[-2] for p in points if p.endswith("/contents")}
    assert len(pks) == 3  # the source and both targets are counted
    assert sum(p.startswith("before GET") and "/users/" in p for p in points) == 4
    assert sum(p.startswith("after enrolment") for p in points) == 8


@pytest.mark.parametrize("point", range(1, ADOPTED_POINTS + 1))
def test_a_crash_anywhere_in_a_proof_then_a_re_run_ends_each_adopted_row_proven(
    tmp_path: Path, point: int
) -> None:
    """Crash at any point of adopted rows' proofs, then run again: each target copied once,
    each row done and proven, Learn holding its values and its instructors."""
    learn = adoption_site()
    ledger_path = tmp_path / "l.sqlite"
    assert len(crash_adopted_at(learn, ledger_path, point)) == point
    outcome, final = engine_run(learn, ADOPTED, ledger_path, ADOPTED_OPTIONS)
    assert outcome.fatal is None and outcome.parked == []
    assert_proven_or_reviewed(learn, final)
    assert [r.state for r in final] == [State.DONE] * 2, [r.error for r in final]
    assert all(r.proof is Proof.PROVEN for r in final)


# Merged sections: a parent row with two sections and two instructors. Every attachment's
# ledger writes (sending, attached) and PUT (before it left; after Learn applied it, its answer
# lost with the process) are crash points, with the enrolments after them.
SEC1, SEC2 = "BIO-101-001-SP27", "BIO-101-002-SP27"
MERGED = [
    row(
        2,
        BIO,
        "BIO-101-SP27",
        name="Biology 101 (Spring 2027)",
        instructors=instructors(JANE, BOB),
        children=(SEC1, SEC2),
    )
]
MERGED_POINTS = tuple(
    f"{when} {what}"
    for child in (SEC1, SEC2)
    for what in (
        f"attachment BIO-101-SP27 {child} sending",
        f"PUT child {child}",
        f"attachment BIO-101-SP27 {child} attached",
    )
    for when in ("before", "after")
) + tuple(
    f"{when} enrolment BIO-101-SP27 {user} {state}"
    for user in (JANE, BOB)
    for state in ("sending", "done")
    for when in ("before", "after")
)


def merged_site(**config: Any) -> Learn:
    """The crash site with two sections to merge; copies long enough to pass 15%."""
    config.setdefault("copy_seconds", 40.0)
    return make_learn(
        slots=2,
        users=TEACHERS,
        courses=[
            SeedCourse(SEC1, "Biology 101 section 001", shell=True),
            SeedCourse(SEC2, "Biology 101 section 002", shell=True),
        ],
        **config,
    )


def attach_call(request: httpx.Request) -> str | None:
    """`PUT child <courseId>` for an attachment's PUT, else None."""
    parts = request.url.path.split("/")
    if request.method == "PUT" and parts[-2] == "children":
        return f"PUT child {parts[-1].removeprefix('courseId:')}"
    return None


def assert_merged_once(learn: Learn, final: list[LedgerRow]) -> None:
    """The parent copied once and done, each section attached to it once after its copy
    completed, its instructors enrolled after, never while it was copied."""
    (parent,) = final
    assert parent.state is State.DONE, parent.error
    assert learn.sandbox.record.copies_per_target() == {"BIO-101-SP27": 1}
    log = learn.sandbox.attach_log()
    assert sorted(a.child_course_id for a in log) == [SEC1, SEC2]
    assert all(a.copy_complete and a.parent_primary_id == parent.course_pk for a in log)
    assert parent.children_attached == 2 and parent.enrolled == 2
    assert early_or_lost(learn) == []
    enrolled = [e for e in learn.sandbox.record.enrolments if e.course_id == "BIO-101-SP27"]
    assert all(e.percent is None for e in enrolled)
    for user in (JANE, BOB):
        assert learn.sandbox.membership(parent.course_pk or "", user) is not None


def test_the_merged_crash_points_are_every_attachment_and_enrolment(tmp_path: Path) -> None:
    """The points crashed at below are every attachment's writes and PUT, then the enrolments."""
    learn = merged_site()
    passed = crash_run(
        learn, tmp_path / "l.sqlite", lambda _: False, rows=MERGED, calls=attach_call
    )
    steps = [p for p in passed if p.split(" ")[1] in ("attachment", "PUT", "enrolment")]
    assert steps == list(MERGED_POINTS)


@pytest.mark.parametrize("point", MERGED_POINTS)
def test_a_crash_around_an_attachment_then_a_re_run_attaches_each_section_once(
    tmp_path: Path, point: str
) -> None:
    """Crash before or after any attachment's write or PUT, then run again: each section is
    attached once, after the parent's copy, and the instructors are enrolled after."""
    learn = merged_site()
    ledger_path = tmp_path / "l.sqlite"
    passed = crash_run(
        learn, ledger_path, lambda what: what == point, rows=MERGED, calls=attach_call
    )
    assert passed[-1] == point
    _, final = engine_run(learn, MERGED, ledger_path, OPTIONS)
    assert_merged_once(learn, final)


def test_a_lost_attach_answer_in_a_long_copy_with_instructors_attaches_once(
    tmp_path: Path,
) -> None:
    """Learn loses the answer to the first attachment of a parent whose copy is long and that
    has instructors and two sections: one run ends with each section attached once, after the
    copy, and the instructors enrolled after the attachments."""
    learn = merged_site(drop_attach_responses=[1], copy_seconds=600.0)
    _, final = engine_run(learn, MERGED, tmp_path / "l.sqlite", OPTIONS)
    assert learn.sandbox.record.faults["dropped_attach_response"] == 1
    assert [a.answer_lost for a in learn.sandbox.attach_log()] == [True, False]
    assert_merged_once(learn, final)
    enrolled = [e.at for e in learn.sandbox.record.enrolments]
    assert max(a.at for a in learn.sandbox.attach_log()) <= min(enrolled)


# A shifted row: every date write (`sending`, `shifted`) and every date PATCH is a crash point.
SHIFTED = [row(2, BIO, NEW, name="Biology 101 (Spring 2027)", shift=DateShift(days=119))]
DATE_POINTS = (
    "before date {} sending",
    "after date {} sending",  # the PATCH not sent
    "after PATCH date {}",  # applied, its answer lost with the process
    "after date {} shifted",
)


def date_call(request: httpx.Request) -> str | None:
    """`PATCH date <item>` for a date PATCH, None for any other call."""
    path = request.url.path
    dated = ("/contents/", "/gradebook/columns/", "/announcements/", "/calendars/items/")
    if request.method != "PATCH" or not any(part in path for part in dated):
        return None
    return f"PATCH date {path.rsplit('/', 1)[-1]}"


def date_items(
    learn: Learn, course: str, *, calendar: bool
) -> dict[tuple[str, str], dict[str, str]]:
    """A course's dated items by (kind, title): their dates as Learn holds them (its calendar's
    events only when the run moves them)."""
    found = learn.sandbox.dated_items(f"courseId:{course}")
    return {(i.kind, i.title): i.dates for i in found if calendar or i.kind != "calendar"}


# With --shift-calendar the course calendar's events move last: the last item is one of them.
CALENDAR_OPTIONS = replace(
    OPTIONS, calendar_reader=Enrolment("userName:rollover-integration", "TeachingAssistant")
)


@pytest.mark.parametrize("options", [OPTIONS, CALENDAR_OPTIONS], ids=["", "calendar"])
@pytest.mark.parametrize("position", [0, 1, -1], ids=["first", "second", "last"])
@pytest.mark.parametrize("point", DATE_POINTS)
def test_crash_around_a_date_then_resume_moves_it_once(
    tmp_path: Path, point: str, position: int, options: RunOptions
) -> None:
    """A crash around an item's `sending`, PATCH or `shifted` (a calendar event's too), then a
    re-run: each date moved once."""
    dry = site()
    passed = crash_run(
        dry,
        tmp_path / "dry.sqlite",
        lambda _: False,
        rows=SHIFTED,
        calls=date_call,
        options=options,
    )
    items = [p.split(" ")[2] for p in passed if p.startswith("before date") and "sending" in p]
    chosen = point.format(items[position])
    learn, ledger_path = site(), tmp_path / "l.sqlite"
    crashed = crash_run(
        learn,
        ledger_path,
        lambda what: what == chosen,
        rows=SHIFTED,
        calls=date_call,
        options=options,
    )
    assert crashed[-1] == chosen
    _, final = engine_run(learn, SHIFTED, ledger_path, options)
    assert [r.state for r in final] == [State.DONE], final
    assert learn.sandbox.record.copies_per_target() == {NEW: 1}
    changes = Counter((c.item_id, c.field) for c in learn.sandbox.date_changes(f"courseId:{NEW}"))
    assert set(changes.values()) == {1}, changes
    calendar = options.calendar_reader is not None
    source = date_items(learn, BIO, calendar=calendar)
    target = date_items(learn, NEW, calendar=calendar)
    assert source.keys() == target.keys()
    assert calendar == any(kind == "calendar" for kind, _ in source)
    for key, dates in source.items():
        moved = {
            field: shift_moment(
                datetime.fromisoformat(value.replace("Z", "+00:00")), 119, ZoneInfo("UTC")
            )
            for field, value in dates.items()
        }
        held = {f: datetime.fromisoformat(v.replace("Z", "+00:00")) for f, v in target[key].items()}
        assert held == moved, key
