"""Random crash / fault / resume sequences against the real engine, ledger and sandbox."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harness import (
    TEACHERS,
    Learn,
    early_or_lost,
    engine_run,
    instructors,
    make_learn,
    rollover_on,
    row,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from rollover.engine import RunOptions
from rollover.ledger import Ledger, LedgerRow, State
from rollover.manifest import DateShift, Enrolment, ManifestRow
from rollover.sandbox import SeedCourse

SHELLS = ("ENG-150-SP27", "MATH-120-SP27")
# Sections merged under two of the rows (a new course and a shell): attached once each, only
# after their parent's copy completed.
SECTIONS = ("BIO-101-B01-SP27", "BIO-101-B02-SP27", "MATH-120-001-SP27")
# An SIS shell the SIS filled, first named as a new course (Learn says the courseId is taken),
# then flipped to copy_into_existing by the registrar: never copied into (no
# --allow-nonempty-shell), whatever happened before.
FULL_SHELL = "ART-100-SP27"
# Copies may outlast --adopt-settle (and queue behind each other on one slot): an adopted copy
# is proven from what Learn holds, never assumed finished because the settle ran out.
COPY_MAX_SECONDS = 900.0
# The shifted rows move their calendars' events too, read by the sandbox's integration user.
OPTIONS = RunOptions(
    concurrency=3,
    poll_min=1.0,
    poll_max=30.0,
    adopt_settle=300.0,
    calendar_reader=Enrolment("userName:rollover-integration", "TeachingAssistant"),
)
MANIFEST: list[ManifestRow] = [
    row(
        2,
        "BIO-101-FA26",
        "BIO-101-A-SP27",
        name="Biology 101 A",
        term_id="SP27",
        instructors=instructors("userName:jane.doe", "userName:bob=TeachingAssistant"),
        shift=DateShift(days=119),  # its dates move forward, exactly once
    ),
    row(
        3,
        "BIO-101-FA26",
        "BIO-101-B-SP27",
        name="Biology 101 B",
        available="No",
        children=SECTIONS[:2],
    ),
    row(
        4,
        "CHEM-110-FA26",
        "CHEM-110-A-SP27",
        description="Spring section",
        instructors=instructors("userName:bob"),
    ),
    # No patch at all: its instructor is enrolled during the copy or right after it.
    row(5, "CHEM-110-FA26", "CHEM-110-B-SP27", instructors=instructors("userName:jane.doe")),
    row(
        6,
        "BIO-101-FA26",
        SHELLS[0],
        copy_into_existing=True,
        name="English 150 (Spring)",
        instructors=instructors("userName:jane.doe=Instructor", "userName:bob=Grader"),
        shift=DateShift(days=-14),  # and a shell's backward
    ),
    row(7, "CHEM-110-FA26", SHELLS[1], copy_into_existing=True, children=SECTIONS[2:]),
]
NEW_TARGETS = [r.target_course_id for r in MANIFEST if not r.copy_into_existing]
INTO_EXISTING = [r.target_course_id for r in MANIFEST if r.copy_into_existing]
TAKEN_BY_A_SHELL = row(8, "BIO-101-FA26", FULL_SHELL, name="Art 100 (Spring)")


class SimulatedKill(Exception):
    """Raised from the ledger observer: the process dies right after a committed transition."""


async def _run_until_killed(
    learn: Learn,
    manifest: list[ManifestRow],
    ledger_path: Path,
    kill_after: int,
    options: RunOptions,
    skew: timedelta,
) -> None:
    """The real engine, killed (every task torn down) just after its `kill_after`-th commit."""

    def wall() -> datetime:
        return learn.clock.datetime() + skew

    async with rollover_on(learn, manifest, ledger_path, options, wall=wall) as (ledger, engine):
        seen = itertools.count(1)

        def kill(*_: object) -> None:
            if next(seen) >= kill_after:
                raise SimulatedKill

        ledger.observer = kill
        try:
            await engine.run()
        except* SimulatedKill:
            pass


class RolloverCrashResume(RuleBasedStateMachine):
    """One simulated Learn site and one ledger, driven through crashes, faults and resumes."""

    def __init__(self) -> None:
        super().__init__()
        self.workdir = Path(tempfile.mkdtemp(prefix="rollover-stateful-"))
        self.ledger_path = self.workdir / "rollover.ledger.sqlite"
        self.learn: Learn | None = None
        self.options = OPTIONS
        self.manifest = [*MANIFEST, TAKEN_BY_A_SHELL]
        self.skew = timedelta(0)  # this machine's wall clock against Learn's, for the next runs
        self.full_shell_holds = 0

    @initialize(
        copy_seconds=st.sampled_from([0.5, 5.0, 20.0, 400.0]),
        copy_sigma=st.sampled_from([0.0, 0.6]),
        slots=st.integers(1, 4),
        forget_tasks_after=st.sampled_from([None, 0.0, 30.0]),
        seed=st.integers(0, 2**16),
    )
    def site(
        self,
        copy_seconds: float,
        copy_sigma: float,
        slots: int,
        forget_tasks_after: float | None,
        seed: int,
    ) -> None:
        """A fresh sandbox seeded with the shells the into-existing rows name, and the users
        the instructors cells name."""
        self.learn = make_learn(
            users=TEACHERS,
            courses=[
                *(SeedCourse(s, f"{s} shell", term_id="SP27", shell=True) for s in SHELLS),
                SeedCourse(FULL_SHELL, "A shell the SIS filled", term_id="SP27", shell=True),
                *(SeedCourse(s, f"{s} section", term_id="SP27", shell=True) for s in SECTIONS),
            ],
            shells_with_content=[FULL_SHELL],
            copy_seconds=copy_seconds,
            copy_sigma=copy_sigma,
            copy_max_seconds=COPY_MAX_SECONDS,
            slots=slots,
            forget_tasks_after=forget_tasks_after,
            seed=seed,
        )
        self.full_shell_holds = self.learn.sandbox.content_count(f"courseId:{FULL_SHELL}")

    @property
    def site_ready(self) -> Learn:
        """The site made by `site` (every rule runs after it)."""
        assert self.learn is not None
        return self.learn

    def _set_faults(self, **rates: float | list[int] | None) -> None:
        sandbox = self.site_ready.sandbox
        changes: dict[str, Any] = dict(rates)
        sandbox.config = replace(sandbox.config, **changes)  # read per request by the model

    def _ledger_rows(self) -> list[LedgerRow]:
        with Ledger(self.ledger_path, clock=self.site_ready.clock.datetime) as ledger:
            return ledger.rows()

    @rule(transitions=st.integers(1, 10))
    def run_until_crash(self, transitions: int) -> None:
        """Run the engine and stop it after `transitions` ledger commits."""
        engine_run(
            self.site_ready,
            self.manifest,
            self.ledger_path,
            self.options,
            stop_after=transitions,
            skew=self.skew,
        )

    @rule(transitions=st.integers(1, 10))
    def kill_at_transition(self, transitions: int) -> None:
        """Run the engine and tear every task down right after a commit, as kill -9 would."""
        asyncio.run(
            _run_until_killed(
                self.site_ready,
                self.manifest,
                self.ledger_path,
                transitions,
                self.options,
                self.skew,
            )
        )

    @rule(rate=st.sampled_from([0.0, 0.5, 1.0]))
    def lose_responses(self, rate: float) -> None:
        """Learn applies copies but their answers are lost (502) at this rate."""
        self._set_faults(drop_copy_response_rate=rate)

    @rule(after=st.integers(0, 2))
    def lose_an_attach_answer(self, after: int) -> None:
        """Learn attaches a section but its answer is lost (a gateway's 504), `after`
        attachments from now."""
        made = len(self.site_ready.sandbox.attach_log())
        self._set_faults(drop_attach_responses=[made + 1 + after])

    @rule(rate=st.sampled_from([0.0, 0.2, 0.5]))
    def server_errors(self, rate: float) -> None:
        """Learn answers 500 without doing anything, at this rate, on every endpoint."""
        self._set_faults(error_rate=rate)

    @rule(verify=st.booleans())
    def verify_copies(self, verify: bool) -> None:
        """Later runs count what each copy brought (--verify), or do not."""
        self.options = replace(self.options, verify=verify)

    @rule(calls=st.sampled_from([2, 40]), after=st.integers(0, 6))
    def sign_in_page(self, calls: int, after: int) -> None:
        """A sign-on gateway answers Learn's address with its web page for `calls` calls,
        from `after` calls on: retried like an outage, or the run stops; no row fails for it."""
        sandbox = self.site_ready.sandbox
        made = sandbox.record.calls.total() + sandbox.record.faults["sign_in_page"]
        self._set_faults(sign_in_page_from=made + 1 + after, sign_in_page_calls=calls)

    @rule(retry_after=st.sampled_from([20, 1200]), after=st.integers(0, 6))
    def gateway_asks_to_wait(self, retry_after: int, after: int) -> None:
        """A gateway answers two calls 429 with a `Retry-After` (waited out, or over 15 minutes:
        the run stops) while Learn's quota shows plenty."""
        made = sum(self.site_ready.sandbox.record.calls.values())
        self._set_faults(
            gateway_from=made + 1 + after, gateway_calls=2, gateway_retry_after=retry_after
        )

    @rule(seconds=st.sampled_from([-90.0, 60.0, 600.0]))
    def clock_step(self, seconds: float) -> None:
        """This machine's clock is stepped between runs (NTP, a VM resumed): intents made
        before the step are still known as this run's own."""
        self.skew += timedelta(seconds=seconds)

    @rule()
    def flip_to_shell(self) -> None:
        """The registrar finds the taken courseId is an SIS shell and sets copy_into_existing."""
        self.manifest = [
            replace(r, copy_into_existing=True) if r.target_course_id == FULL_SHELL else r
            for r in self.manifest
        ]

    @rule(seconds=st.sampled_from([1.0, 10.0, 45.0, 400.0]))
    def advance(self, seconds: float) -> None:
        """Time passes between runs: copies finish, tasks may be forgotten."""
        self.site_ready.clock.now += seconds

    @rule()
    def resume_to_end(self) -> None:
        """Run the engine until it returns by itself."""
        engine_run(self.site_ready, self.manifest, self.ledger_path, self.options, skew=self.skew)

    @invariant()
    def full_shell_never_copied_into(self) -> None:
        """The shell the SIS filled holds what it held: no run copied into it."""
        if self.learn is None:
            return
        held = self.learn.sandbox.content_count(f"courseId:{FULL_SHELL}")
        assert held == self.full_shell_holds, (held, self.full_shell_holds)

    @invariant()
    def copied_at_most_once(self) -> None:
        """No target ever receives a second copy."""
        if self.learn is None:
            return
        counts = self.learn.sandbox.record.copies_per_target()
        assert all(count <= 1 for count in counts.values()), counts
        assert set(counts) <= {r.target_course_id for r in MANIFEST}, counts  # never FULL_SHELL

    @invariant()
    def patched_only_after_copy_completed(self) -> None:
        """Every PATCH Learn applied came after its course's copy had finished."""
        if self.learn is None:
            return
        early = [p for p in self.learn.sandbox.record.patches if not p.copy_complete]
        assert not early, early

    @invariant()
    def enrolled_from_15_percent_and_kept(self) -> None:
        """No enrolment was made before 15% of a copy into its course, and none was dropped."""
        if self.learn is None:
            return
        assert early_or_lost(self.learn) == [], self.learn.sandbox.record.enrolments

    @invariant()
    def sections_attached_once_after_the_copy(self) -> None:
        """Each section was attached at most once, and only after its parent's copy ended."""
        if self.learn is None:
            return
        log = self.learn.sandbox.attach_log()
        assert all(a.copy_complete for a in log), log
        children = [a.child_course_id for a in log]
        assert sorted(children) == sorted(set(children)), log

    @invariant()
    def dates_moved_once(self) -> None:
        """No date of any course was changed twice: each moved once, from its original."""
        if self.learn is None:
            return
        changes = Counter(
            (c.course_primary_id, c.kind, c.item_id, c.field)
            for c in self.learn.sandbox.record.date_changes
        )
        assert all(count == 1 for count in changes.values()), changes

    @invariant()
    def ledger_consistent_with_learn(self) -> None:
        """done rows name their course and have every instructor enrolled in it with the
        manifest's role; pending new-target rows have no copy in Learn."""
        if self.learn is None or not self.ledger_path.exists():
            return
        counts = self.learn.sandbox.record.copies_per_target()
        for ledger_row in self._ledger_rows():
            target = ledger_row.target_course_id
            if ledger_row.state is State.DONE:
                course = self.learn.sandbox.catalog.find_course(f"courseId:{target}")
                assert course is not None and ledger_row.course_pk == course.primary_id, (
                    target,
                    ledger_row.course_pk,
                )
                assert ledger_row.enrolled == len(ledger_row.spec.instructors), ledger_row
                for enrolment in ledger_row.spec.instructors:
                    member = self.learn.sandbox.membership(course.primary_id, enrolment.user_id)
                    assert member is not None, (target, enrolment)
                    assert member["courseRoleId"] == enrolment.role, (target, member)
                assert ledger_row.children_attached == len(ledger_row.spec.children), ledger_row
                assert ledger_row.dates_shifted == ledger_row.dates_to_shift, ledger_row
                if ledger_row.spec.shift is not None and ledger_row.spec.shift.calendar:
                    assert "calendar" in ledger_row.dates_listed, ledger_row
                    assert ledger_row.calendar_span is not None, ledger_row
                assert (ledger_row.spec.shift is None) or ledger_row.dates_to_shift > 0, ledger_row
                for child in ledger_row.spec.children:
                    parent = self.learn.sandbox.parent_of(f"courseId:{child}")
                    assert parent is course, (target, child, parent)
            if ledger_row.state is State.PENDING and not ledger_row.copy_into_existing:
                assert counts.get(target, 0) == 0, (target, "pending but copied")

    def _guarantees_held(self) -> bool:
        """Whether every invariant still holds (False: a step already failed)."""
        try:
            self.copied_at_most_once()
            self.patched_only_after_copy_completed()
            self.enrolled_from_15_percent_and_kept()
            self.sections_attached_once_after_the_copy()
            self.ledger_consistent_with_learn()
            self.full_shell_never_copied_into()
            self.dates_moved_once()
        except AssertionError:
            return False
        return True

    def teardown(self) -> None:
        """With faults off, one more run finishes every row, each target copied at most once."""
        try:
            if self.learn is None or not self._guarantees_held():
                return  # the failing step is already reported; do not mask it
            self._set_faults(
                error_rate=0.0,
                drop_copy_response_rate=0.0,
                drop_attach_responses=[],
                sign_in_page_from=None,
                gateway_from=0,
            )
            outcome, final = engine_run(
                self.learn, self.manifest, self.ledger_path, self.options, skew=self.skew
            )
            assert outcome.stopped is None and outcome.fatal is None, outcome
            assert not outcome.parked, outcome
            counts = self.learn.sandbox.record.copies_per_target()
            states = {r.target_course_id: r.state for r in final}
            for target in NEW_TARGETS:
                assert states[target] is State.DONE, (target, states[target])
            for target in INTO_EXISTING:
                assert states[target] in (State.DONE, State.NEEDS_REVIEW), (target, states)
            assert states[FULL_SHELL] is State.FAILED, states  # taken, then a full shell
            for target, state in states.items():
                if state is State.DONE:
                    assert counts.get(target, 0) == 1, (target, counts)
            self.copied_at_most_once()
            self.patched_only_after_copy_completed()
            self.enrolled_from_15_percent_and_kept()
            self.sections_attached_once_after_the_copy()
            self.ledger_consistent_with_learn()
            self.full_shell_never_copied_into()
            self.dates_moved_once()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


TestCrashFaultResume = RolloverCrashResume.TestCase
TestCrashFaultResume.__doc__ = (
    "Any sequence of crashes, lost answers, 500s, sign-in pages, gateway waits, clock steps, "
    "long copies and a taken target flipped into a full shell copies each target at most once, "
    "never into the full shell, attaches each section once after its parent's copy, and enrols "
    "every instructor of a finished row, never before 15% of its copy."
)
TestCrashFaultResume.settings = settings(
    max_examples=60,
    stateful_step_count=15,
    deadline=None,
    # Each step is a whole engine run on a virtual clock: slow steps are the point here.
    suppress_health_check=[HealthCheck.too_slow],
)
