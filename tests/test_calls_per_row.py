"""The calls a row costs have one rule (`rollover.plan.calls_for`): the plan's estimate, the
preflight's count of the run's calls, the pacing's floor and the advice on when to run again all
ask it, and it matches what a real run against the sandbox spends, with --verify and shells.
A date shift's lists and PATCHes are counted by it too (issue 22).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from harness import TEACHERS, engine_run, instructors, make_learn, row

from rollover.engine import RunOptions
from rollover.ledger import State, calls_left
from rollover.manifest import ManifestRow
from rollover.plan import (
    POLLS_PER_COPY,
    PROFILES,
    CopyOptions,
    CopyStep,
    DatedCounts,
    DateShift,
    calls_for,
    configured_profile,
    estimate,
    row_spec,
    source_calls,
)
from rollover.preflight import check_learn
from rollover.sandbox import SeedCourse

POLL = "GET /v1/courses/{id}/tasks/{id}"
VERIFY = RunOptions(poll_min=1.0, poll_max=30.0, adopt_settle=60.0, verify=True)
KNOWN: dict[str, CopyOptions | None] = {
    **PROFILES,
    "nogrades": configured_profile({"gradebook": False})[0],
    "bare": configured_profile({"gradebook": False, "contentAreas": False})[0],
}


def rows() -> list[ManifestRow]:
    """A new course (renamed, one instructor), a shell, and a contents-only profile's row."""
    return [
        row(
            2,
            "BIO-101-FA26",
            "BIO-101-001-SP27",
            name="Biology",
            instructors=instructors("userName:bob"),
        ),
        row(3, "CHEM-110-FA26", "HIST-210-SP27", copy_into_existing=True),
        row(4, "BIO-101-FA26", "BIO-101-002-SP27", name="Biology 2", copy_profile="nogrades"),
    ]


def test_calls_per_row_with_verify_shells_and_a_contents_only_profile() -> None:
    """Per row, from the start: shell look-up and counts, POST, polls, PATCH, PUTs, target reads."""
    new, shell, lean = (row_spec(r, KNOWN) for r in rows())
    # POST, 1.2 polls, PATCH, one PUT; --verify: contents and columns of the target.
    assert calls_for(new, verify=False) == 1 + POLLS_PER_COPY + 1 + 1
    assert calls_for(new, verify=True) == 1 + POLLS_PER_COPY + 1 + 1 + 2
    # Found by courseId, its content counted (and its columns, to verify against), POST, polls.
    assert calls_for(shell, verify=False, polls=1) == 2 + 1 + 1
    assert calls_for(shell, verify=True, polls=1) == 3 + 1 + 1 + 2
    assert calls_for(shell, verify=True, polls=1, shell_known=True, shell_ours=True) == 1 + 1 + 2
    # gradebook off: contents alone, on the target and (once) on the source.
    assert calls_for(lean, verify=True, polls=1) == 1 + 1 + 1 + 1
    assert source_calls([new, lean], verify=True) == 2  # BIO-101: contents and columns, once
    assert source_calls([lean], verify=True) == 1
    assert calls_for(new, verify=True, step=CopyStep.REQUESTED, polls=1) == 1 + 1 + 1 + 2
    assert calls_for(new, verify=True, step=CopyStep.PATCHED, enrolled=1) == 2


def test_a_real_run_spends_what_the_rule_says(tmp_path: Path) -> None:
    """A --verify run of a new course, a shell and a contents-only row spends calls_for's calls
    (with the polls it made), its sources' counts and one token; the estimate says the same."""
    learn = make_learn(users=TEACHERS)
    outcome, final = engine_run(learn, rows(), tmp_path / "l.sqlite", VERIFY, profiles=KNOWN)
    assert outcome.stopped is None, outcome
    assert [r.state for r in final] == [State.DONE] * 3, final
    calls = learn.sandbox.record.calls
    polls = calls[POLL]
    specs = [row_spec(r, KNOWN) for r in rows()]
    ruled = (
        1
        + source_calls(specs, verify=True)
        + sum(calls_for(s, verify=True, polls=0) for s in specs)
    )
    assert sum(calls.values()) == ruled + polls, dict(calls)
    planned = estimate(rows(), verify=True, profiles=KNOWN).calls
    assert planned == round(ruled + len(specs) * POLLS_PER_COPY)


def _calls_left_in_advice(left: list[ManifestRow], *, verify: bool, tmp_path: Path) -> int:
    """The calls `--quota-reserve`'s stop says the rows after a first copy need (the reserve
    added, the quota left taken off), from a run whose quota is spent alike every time."""
    learn = make_learn(quota_limit=50, quota_refill_per_second=0.0)
    first = row(2, "BIO-101-FA26", "BIO-101-001-SP27", copy_profile="bare")  # never counted
    options = replace(VERIFY, verify=verify, quota_reserve=100, concurrency=1)
    ledger = tmp_path / f"{verify}-{len(tmp_path.parts)}-{left[0].target_course_id}.sqlite"
    outcome, final = engine_run(learn, [first, *left], ledger, options, profiles=KNOWN)
    assert outcome.stopped is not None and "quota reserve reached" in outcome.stopped, outcome
    assert [r.state for r in final[1:]] == [State.PENDING] * len(left), final
    assert f"the {len(left)} rows left need about " in outcome.stopped, outcome.stopped
    return int(outcome.stopped.split("need about ")[1].split()[0])


def test_the_advice_to_run_again_counts_verify_and_shells(tmp_path: Path) -> None:
    """The quota reserve reached: the rows left are costed by calls_for, so --verify's counts
    (targets and each source once) and a shell's look-up and count are in the advice."""
    shell = row(3, "CHEM-110-FA26", "HIST-210-SP27", copy_into_existing=True)
    lean = row(4, "TAKEN-SP27", "TAKEN-002-SP27", copy_profile="nogrades")
    new = replace(shell, target_course_id="CHEM-110-001-SP27", copy_into_existing=False)
    plain = _calls_left_in_advice([shell, lean], verify=False, tmp_path=tmp_path)
    verified = _calls_left_in_advice([shell, lean], verify=True, tmp_path=tmp_path)
    no_shell = _calls_left_in_advice([new, lean], verify=False, tmp_path=tmp_path)
    # --verify: the shell's columns before the copy, 2 + 1 target reads, CHEM 2 + TAKEN 1.
    assert verified - plain == 1 + 3 + 3
    # The shell found by courseId and its content counted, against a new course's nothing.
    assert plain - no_shell == 2


def test_the_preflight_counts_verify_for_rows_the_run_resumes(tmp_path: Path) -> None:
    """Rows a stopped run left in flight still cost --verify's counts when resumed: the
    preflight's count of the run's calls says so (its targets' reads and each source once)."""
    learn = make_learn(users=TEACHERS, copy_seconds=600.0)
    options = replace(VERIFY, task_timeout=5.0)  # the copies are left in Learn's hands
    _, left = engine_run(learn, rows(), tmp_path / "l.sqlite", options, profiles=KNOWN)
    assert {r.state for r in left} == {State.LOCATED}, left

    def run_calls(verify: bool) -> int:
        async def go() -> int:
            async with learn.client() as client:
                report = await check_learn(rows(), left, client, profiles=KNOWN, verify=verify)
            return report.run_calls

        return asyncio.run(go())

    specs = [r.spec for r in left]
    reads = sum(s.verified.reads for s in specs) + source_calls(specs, verify=True)
    assert reads == (2 + 2 + 1) + (2 + 2)  # targets; BIO-101 and CHEM-110 each once
    assert run_calls(True) - run_calls(False) == reads


def merged() -> list[ManifestRow]:
    """A parent copied new with three sections to attach, and a shell parent with one."""
    return [
        row(
            2,
            "BIO-101-FA26",
            "BIO-101-SP27",
            name="Biology",
            instructors=instructors("userName:bob"),
            children=("BIO-101-001-SP27", "externalId:SIS.BIO.101.002", "_4021_1"),
        ),
        row(3, "CHEM-110-FA26", "CHEM-110-SP27", copy_into_existing=True, children=("CHEM-1",)),
    ]


def test_each_child_not_yet_attached_costs_one_put() -> None:
    """A merged row's floor is the copy's calls plus one PUT per child not yet `attached`
    (never fewer than none), at every step up to the last, PATCHED."""
    parent, shell = (row_spec(r) for r in merged())
    assert parent.children == ("BIO-101-001-SP27", "externalId:SIS.BIO.101.002", "_4021_1")
    alone = replace(parent, children=())
    for step in CopyStep:
        assert (
            calls_for(parent, verify=False, step=step)
            == calls_for(alone, verify=False, step=step) + 3
        )
    assert calls_for(parent, verify=False, attached=1) == calls_for(alone, verify=False) + 2
    assert calls_for(parent, verify=False, attached=4) == calls_for(alone, verify=False)
    # Copied and patched, the instructor enrolled: the three PUTs are all that is left.
    assert calls_for(parent, verify=False, step=CopyStep.PATCHED, enrolled=1) == 3
    # A shell: its look-up and content count, POST, polls, then the one child's PUT.
    assert calls_for(shell, verify=False, polls=1) == 2 + 1 + 1 + 1


def test_the_estimate_counts_one_put_per_child() -> None:
    """The plan's estimate adds one call per child listed, and says how many of its calls
    attach children."""
    with_children = estimate(merged())
    without = estimate([replace(r, children=()) for r in merged()])
    assert with_children.calls == without.calls + 4
    assert (with_children.attachments, without.attachments) == (4, 0)
    assert with_children.enrolments == without.enrolments == 1


def shifted() -> list[ManifestRow]:
    """Two sections of one source moved 17 weeks on, a course of another source by term, and
    one that does not move."""
    return [
        row(2, "BIO-101-FA26", "BIO-101-001-SP27", shift=DateShift(days=119)),
        row(3, "BIO-101-FA26", "BIO-101-002-SP27", shift=DateShift(days=119)),
        row(4, "CHEM-110-FA26", "CHEM-110-SP27", shift=DateShift(term=True)),
        row(5, "HIST-210-FA26", "HIST-210-SP27"),
    ]


# A typical course (LEARN_API.md): 40 dated contents, 25 columns with due dates, 10 announcements.
TYPICAL = DatedCounts(content=40, column=25, announcement=10)


def test_a_shift_costs_one_list_per_kind_and_one_patch_per_item_not_yet_moved() -> None:
    """A row with a shift adds three lists and a PATCH per dated item of its source not yet
    `shifted`, at every step up to PATCHED; unknown counts (None) add the lists alone."""
    spec = row_spec(shifted()[0])
    alone = replace(spec, shift=None)
    assert spec.shift == DateShift(days=119)
    for step in CopyStep:
        assert (
            calls_for(spec, verify=False, step=step, dated=TYPICAL)
            == calls_for(alone, verify=False, step=step) + 3 + 75
        )
    assert calls_for(spec, verify=False, dated=None) == calls_for(alone, verify=False) + 3
    assert (
        calls_for(spec, verify=False, dated=TYPICAL, shifted=70)
        == calls_for(alone, verify=False) + 3 + 5
    )
    assert (
        calls_for(spec, verify=False, dated=TYPICAL, shifted=80)
        == calls_for(alone, verify=False) + 3
    )
    # Dated counts cost nothing for a row that does not move.
    assert calls_for(alone, verify=False, dated=TYPICAL) == calls_for(alone, verify=False)
    # Copied and patched: the lists and the 75 PATCHes are all that is left.
    assert calls_for(spec, verify=False, step=CopyStep.PATCHED, dated=TYPICAL) == 3 + 75


def test_the_estimate_counts_the_shift_and_says_unknown_without_counts() -> None:
    """The estimate adds each shifted target's lists and PATCHes (never its sources' lists: the
    run does not read them); with a source's counts missing, its PATCHes are unknown (None) and
    only the lists are counted."""
    rows_ = shifted()
    plain = estimate([replace(r, shift=None) for r in rows_])
    counts = {"BIO-101-FA26": TYPICAL, "CHEM-110-FA26": DatedCounts(column=4)}
    known = estimate(rows_, dated=counts)
    assert (known.date_lists, known.date_patches) == (3 * 3, 75 + 75 + 4)
    assert known.calls == plain.calls + 9 + 154
    unknown = estimate(rows_, dated={"BIO-101-FA26": TYPICAL})
    assert (unknown.date_lists, unknown.date_patches) == (3 * 3, None)
    assert unknown.calls == plain.calls + 9 + 150
    assert (plain.date_lists, plain.date_patches) == (0, 0)


def test_a_shift_for_every_row_fills_only_the_blank_cells() -> None:
    """`shift_dates` given to row_spec (rollover.toml's key, or an option) moves the rows whose
    own cell is blank; a row's own cell wins; the estimate counts them alike."""
    every = DateShift(days=-7)
    specs = [row_spec(r, shift_dates=every) for r in shifted()]
    assert [s.shift for s in specs] == [
        DateShift(days=119),
        DateShift(days=119),
        DateShift(term=True),
        every,
    ]
    assert estimate(shifted(), shift_dates=every).date_lists == 4 * 3


def test_a_real_run_of_merged_rows_spends_what_the_rule_says(tmp_path: Path) -> None:
    """A --verify run of a new parent with two sections and a shell parent with one spends
    calls_for's calls (one PUT per child, with the polls it made), its sources' counts and one
    token; the estimate says the same."""
    sections = [
        SeedCourse("BIO-101-001-SP27", "Biology section 1", shell=True),
        SeedCourse("BIO-101-002-SP27", "Biology section 2", external_id="SIS.BIO.2", shell=True),
        SeedCourse("CHEM-1", "Chemistry section 1", shell=True),
    ]
    parents = [
        row(
            2,
            "BIO-101-FA26",
            "BIO-101-SP27",
            name="Biology",
            instructors=instructors("userName:bob"),
            children=("BIO-101-001-SP27", "externalId:SIS.BIO.2"),
        ),
        row(3, "CHEM-110-FA26", "HIST-210-SP27", copy_into_existing=True, children=("CHEM-1",)),
    ]
    learn = make_learn(users=TEACHERS, courses=sections)
    outcome, final = engine_run(learn, parents, tmp_path / "l.sqlite", VERIFY)
    assert outcome.stopped is None, outcome
    assert [(r.state, r.children_attached) for r in final] == [(State.DONE, 2), (State.DONE, 1)]
    calls = learn.sandbox.record.calls
    assert calls["PUT /v1/courses/{id}/children/{id}"] == 3
    specs = [row_spec(r) for r in parents]
    ruled = (
        1
        + source_calls(specs, verify=True)
        + sum(calls_for(s, verify=True, polls=0) for s in specs)
    )
    assert sum(calls.values()) == ruled + calls[POLL], dict(calls)
    assert estimate(parents, verify=True).calls == round(ruled + len(specs) * POLLS_PER_COPY)


def test_a_row_waiting_in_shifting_needs_one_patch_per_date_left(tmp_path: Path) -> None:
    """calls_left of a row parked in `shifting`: one PATCH per date left, what the next run spends."""
    learn = make_learn(quota_limit=30, quota_refill_per_second=0.0)
    shifted = [row(2, "BIO-101-FA26", "BIO-101-001-SP27", name="B", shift=DateShift(days=119))]
    options = RunOptions(poll_min=2.0, poll_max=10.0, quota_reserve=20)
    ledger = tmp_path / "l.sqlite"
    _, (parked,) = engine_run(learn, shifted, ledger, options)
    assert parked.stage == "shifting" and parked.dates_listed, parked
    left = calls_left(parked.spec, parked, parked.state, verify=False)
    assert left == parked.dates_to_shift - parked.dates_shifted > len(parked.dates_listed)
    learn.sandbox.bucket.refill_per_second = 1.0
    learn.clock.now += 86_400
    before = learn.sandbox.record.date_patches
    _, (done,) = engine_run(learn, shifted, ledger, options)
    assert done.state is State.DONE, done
    assert learn.sandbox.record.date_patches - before == left
