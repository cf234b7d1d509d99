"""`--verify` compares only what a row's copy profile copies, and a gradebook Learn will not let
the integration user read stops the run once (resumable) instead of failing every row after its
copy: found up front by `validate --check-learn` and `run --preflight`, or at the first count.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from cli_runs import FAST, invoke, sandbox_config, write
from harness import Learn, engine_run, make_learn, row

from rollover.engine import RunOptions, RunOutcome
from rollover.ledger import LedgerRow, State
from rollover.manifest import ManifestRow
from rollover.plan import (
    PROFILES,
    CopyOptions,
    VerifiedCounts,
    configured_profile,
    estimate,
    verified_counts,
)
from rollover.preflight import PreflightReport, check_learn

VERIFY = RunOptions(poll_min=1.0, poll_max=60.0, adopt_settle=60.0, verify=True)
SOURCE = "BIO-101-FA26"
CONTENTS = "GET /v1/courses/{id}/contents"
COLUMNS = "GET /v2/courses/{id}/gradebook/columns"
COPY = "POST /v2/courses/{id}/copy"
PATCH = "PATCH /v3/courses/{id}"
GRADEBOOK = "course.gradebook.MODIFY"


def profiles(**tables: Mapping[str, object]) -> Mapping[str, CopyOptions | None]:
    """The built-in profiles and rollover.toml's `[profiles.NAME]` tables."""
    configured = {name: configured_profile(table)[0] for name, table in tables.items()}
    return {**PROFILES, **configured}


NO_GRADES = profiles(nogrades={"gradebook": False})


def targets(count: int, profile: str | None = None) -> list[ManifestRow]:
    """`count` new-course rows from one source, with `profile`."""
    return [row(n + 2, SOURCE, f"BIO-101-{n:03d}-SP27", copy_profile=profile) for n in range(count)]


def run(
    learn: Learn,
    rows: list[ManifestRow],
    ledger: Path,
    options: RunOptions = VERIFY,
    known: Mapping[str, CopyOptions | None] = PROFILES,
) -> tuple[RunOutcome, list[LedgerRow]]:
    """One run of the real engine, the rows' profiles looked up in `known`."""
    return engine_run(learn, rows, ledger, options, profiles=known)


def counts(learn: Learn, course_id: str) -> tuple[int, int]:
    """(content items, gradebook columns) of a course now."""
    ref = f"courseId:{course_id}"
    return learn.sandbox.content_count(ref), learn.sandbox.column_count(ref)


def preflight(
    learn: Learn, rows: Sequence[ManifestRow], known: Mapping[str, CopyOptions | None] = PROFILES
) -> PreflightReport:
    """`validate --check-learn --verify` of `rows`, no ledger."""

    async def go() -> PreflightReport:
        async with learn.client() as client:
            return await check_learn(rows, [], client, profiles=known, verify=True)

    return asyncio.run(go())


def test_the_rule_follows_the_profiles_content_areas_and_gradebook() -> None:
    """What --verify compares: content with contentAreas, columns with gradebook; exact: both."""
    assert verified_counts(PROFILES["default"]) == VerifiedCounts(contents=True, columns=True)
    assert verified_counts(None) == VerifiedCounts(contents=True, columns=True)
    assert verified_counts(NO_GRADES["nogrades"]) == VerifiedCounts(contents=True, columns=False)
    nothing = configured_profile({"gradebook": False, "contentAreas": False})[0]
    assert verified_counts(nothing).reads == 0


def test_a_profile_without_the_gradebook_is_verified_on_content_alone(tmp_path: Path) -> None:
    """gradebook off: rows end done with `contents N/N` only, and no column is ever read."""
    learn = make_learn()
    _, final = run(learn, targets(3, "nogrades"), tmp_path / "l.sqlite", known=NO_GRADES)
    contents = counts(learn, SOURCE)[0]
    for done in final:
        assert done.state is State.DONE, done
        assert done.verification == f"contents {contents}/{contents}"
        assert counts(learn, done.target_course_id) == (contents, 0)
    assert learn.sandbox.record.calls[COLUMNS] == 0
    assert learn.sandbox.record.calls[CONTENTS] == 1 + 3  # the source once, each target


def test_a_profile_copying_neither_is_not_counted(tmp_path: Path) -> None:
    """Neither content areas nor gradebook: nothing to compare, no count read, the row done."""
    learn = make_learn()
    bare = profiles(bare={"gradebook": False, "contentAreas": False})
    _, final = run(learn, targets(1, "bare"), tmp_path / "l.sqlite", known=bare)
    assert final[0].state is State.DONE and final[0].verification is None, final[0]
    assert learn.sandbox.record.calls[COLUMNS] == learn.sandbox.record.calls[CONTENTS] == 0


def test_the_estimate_counts_only_the_reads_the_profile_promises() -> None:
    """A count not compared costs no call: gradebook off saves a read per target and source."""
    full = estimate(targets(4), verify=True)
    lean = estimate(targets(4, "nogrades"), verify=True, profiles=NO_GRADES)
    assert full.verifications == 2 * 4 + 2
    assert lean.verifications == 4 + 1
    assert full.calls - lean.calls == 5


def test_a_refused_gradebook_stops_the_run_once_and_fails_no_row(tmp_path: Path) -> None:
    """403 on the columns: the counted row keeps its copy and PATCH, no other copy starts, the
    run stops saying what to grant; granted, the re-run finishes every row, one copy each."""
    learn = make_learn(missing_entitlements=[GRADEBOOK])
    ledger = tmp_path / "l.sqlite"
    rows = [replace(r, name="Renamed") for r in targets(3)]
    outcome, final = run(learn, rows, ledger, replace(VERIFY, concurrency=1))
    assert outcome.stopped is not None and GRADEBOOK in outcome.stopped, outcome
    assert "no copy was started after it" in outcome.stopped
    assert "run the same command again (or run it without --verify)" in outcome.stopped
    assert [r.state for r in final] == [State.PATCHED, State.PENDING, State.PENDING]
    assert learn.sandbox.record.copies_per_target() == {rows[0].target_course_id: 1}
    assert learn.sandbox.record.calls[PATCH] == 1
    assert not [r for r in final if r.state.final]

    learn.sandbox.config = replace(learn.sandbox.config, missing_entitlements=[])
    before = Counter(learn.sandbox.record.calls)
    outcome, final = run(learn, rows, ledger)
    assert outcome.stopped is None and [r.state for r in final] == [State.DONE] * 3
    assert learn.sandbox.record.copies_per_target() == {r.target_course_id: 1 for r in rows}
    assert (learn.sandbox.record.calls - before)[PATCH] == 2  # the first row is not re-patched


def test_the_preflight_names_the_entitlement_when_columns_will_be_counted() -> None:
    """--verify with the gradebook refused: one problem, naming course.gradebook.MODIFY and the
    way out; with a profile that does not copy the gradebook, no problem and no column read."""
    learn = make_learn(missing_entitlements=[GRADEBOOK])
    report = preflight(learn, targets(3))
    [problem] = [str(p) for p in report.problems]
    assert problem.startswith(
        "line 2, copy_profile 'default': --verify counts the gradebook columns this row's copy "
        "brings (and those of 2 other rows), but Learn refused to list the gradebook columns of "
        f"courseId:{SOURCE} (403: "
    )
    assert problem.endswith(
        f"the Learn user of the REST integration lacks the entitlement {GRADEBOOK}: grant it "
        "to that user and run the same command again (or run it without --verify)"
    )
    before = Counter(learn.sandbox.record.calls)
    assert preflight(learn, targets(3, "nogrades"), NO_GRADES).problems == ()
    assert (learn.sandbox.record.calls - before)[COLUMNS] == 0


def test_run_preflight_stops_before_copying_and_a_plain_run_stops_at_the_first_count(
    tmp_path: Path,
) -> None:
    """CLI: `run --verify --preflight` exits 2 naming the entitlement, nothing copied; without
    --preflight the run exits 3 with one message, resumable."""
    manifest = write(
        tmp_path / "spring.csv",
        "source_course_id,target_course_id,name\n"
        "BIO-101-FA26,BIO-101-001-SP27,Biology\n"
        "BIO-101-FA26,BIO-101-002-SP27,Biology\n",
    )
    config = sandbox_config(tmp_path, f'missing_entitlements = ["{GRADEBOOK}"]\n')
    common: list[str | Path] = ["run", manifest, "--sandbox", "--sandbox-config", config]
    common += [*FAST, "--verify"]
    checked = invoke(*common, "--preflight", "--concurrency", "1")
    assert checked.exit_code == 2, checked.output
    assert f"lacks the entitlement {GRADEBOOK}: grant it to that user" in checked.stdout
    assert "nothing was copied" in checked.stderr

    result = invoke(*common, "--concurrency", "1")
    assert result.exit_code == 3, result.output
    [stopped] = [line for line in result.stdout.splitlines() if line.startswith("Stopped early")]
    assert f"the Learn user of the REST integration lacks the entitlement {GRADEBOOK}" in stopped
    assert "0 failed" in result.stdout and "Run the same command again" in result.stdout


def test_the_preflight_asks_another_source_when_one_is_missing() -> None:
    """A source Learn does not have cannot show the entitlement: the next source is listed."""
    learn = make_learn(missing_entitlements=[GRADEBOOK])
    rows = [row(2, "GONE-FA26", "GONE-001-SP27"), row(3, SOURCE, "BIO-101-001-SP27")]
    found = [str(p) for p in preflight(learn, rows).problems]
    assert found[0] == "line 2, source_course_id 'GONE-FA26': no such course in Learn"
    assert len(found) == 2 and f"gradebook columns of courseId:{SOURCE} (403" in found[1]
