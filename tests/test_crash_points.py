"""Crash at every ledger transition, every enrolment and every verification step, before and
after it, then resume: each copy exactly once, every instructor enrolled, never before 15%.

A crash is simulated in-process by raising where a `kill -9` would stop the tool: from the
ledger's transition seam, from its enrolment and source-count writes (wrapped on the instance),
or from the HTTP transport before Learn sees a request or after it applied one (its answer lost
with the process). That unwinds the engine mid-flight, its HTTP calls cancelled; the next run
reopens the same ledger against the same simulated Learn. The soak test does the same with real
processes and SIGKILL.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import TEACHERS, Learn, early_or_lost, engine_run, instructors, make_learn, row

from rollover.engine import Rollover, RunOptions
from rollover.ledger import EnrolmentState, Ledger, LedgerRow, State
from rollover.plan import row_spec

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


def crash_run(learn: Learn, ledger_path: Path, crash_at: Callable[[str], bool]) -> list[str]:
    """Run until `crash_at` says yes to a point (`before|after <what>`), where the tool dies;
    the points passed, that one last."""
    passed: list[str] = []
    teaching = Teaching(learn, Counter())
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
        named[id(request)] = teaching.name(request)
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
            ledger.sync_manifest([row_spec(r) for r in ROWS])
            ledger.before_transition, ledger.observer = before, after
            ledger.record_enrolment = around(  # type: ignore[method-assign]
                lambda target, user, state, *_: f"enrolment {target} {user} {state.value}",
                ledger.record_enrolment,
            )
            ledger.record_source_counts = around(  # type: ignore[method-assign]
                lambda source, *_: f"source counts {source}", ledger.record_source_counts
            )
            learn.transport.before, learn.transport.after = before_request, after_request
            try:
                async with learn.client() as client:
                    await Rollover(
                        ledger,
                        client,
                        OPTIONS,
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
