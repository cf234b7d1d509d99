"""`rollover resolve`: the way out of `needs_review`, a person's decision kept in the audit
trail, and a re-run that finishes every resolved row with exactly one copy per target."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

from cli_runs import FAST, invoke, sandbox_config, write

from rollover.ledger import ErrorKind, Ledger
from rollover.manifest import load_manifest
from rollover.plan import PROFILES, row_spec
from rollover.sandbox import LearnSandbox

MANIFEST = (
    "source_course_id,target_course_id,copy_into_existing,name\n"
    "HIST-210-FA26,HIST-210-001-SP27,true,History 210\n"
    "HIST-210-FA26,HIST-210-002-SP27,true,History 210 section 2\n"
    "BIO-101-FA26,BIO-101-001-SP27,false,Biology 101\n"
)


def rehearse(tmp_path: Path, manifest: Path, config: Path) -> tuple[int, str, str]:
    """One `run --sandbox` of `manifest` with `config`; (exit code, stdout, stderr)."""
    result = invoke(
        "run", manifest, "--sandbox", "--sandbox-config", config, "--adopt-settle", "0", *FAST
    )
    return result.exit_code, result.stdout, result.stderr


def crashed_after_intent(tmp_path: Path, manifest: Path, target: str) -> None:
    """The rehearsal's ledger as a `kill -9` between the intent commit and the POST leaves it."""
    loaded = load_manifest(manifest, timezone=ZoneInfo("UTC"), profiles=PROFILES)
    with Ledger(tmp_path / "spring.sandbox.ledger.sqlite") as ledger:
        ledger.sync_manifest([row_spec(row) for row in loaded.rows])
        ledger.record_intent(target)


def copies_per_target(state: Path) -> Counter[str]:
    """How many copies the simulated Learn made into each target."""
    return Counter(copy.target_course_id for copy in LearnSandbox.load(state).record.copies)


def test_resolve_each_row_as_learn_holds_it_and_the_rerun_finishes_with_one_copy_each(
    tmp_path: Path,
) -> None:
    """Rows left needs_review (a lost answer that was applied, a crash before the POST) are
    resolved by what the sandbox really holds; the re-run patches the copied one, copies the
    other once, and every target ends with exactly one copy."""
    manifest = write(tmp_path / "spring.csv", MANIFEST)
    crashed_after_intent(tmp_path, manifest, "HIST-210-002-SP27")
    lossy = sandbox_config(tmp_path, "drop_copy_response_rate = 1.0\n")
    code, out, _ = rehearse(tmp_path, manifest, lossy)
    assert code == 1, out
    assert "2 needs_review" in out
    state = tmp_path / "spring.sandbox.json"
    assert copies_per_target(state) == {"HIST-210-001-SP27": 1, "BIO-101-001-SP27": 1}

    done = invoke("resolve", manifest, "4", "--copied", "--sandbox")
    assert done.exit_code == 2
    assert (
        "Error: line 4 BIO-101-001-SP27 is done, not needs_review: only a row the tool handed "
        "to a person can be resolved"
    ) in done.stderr
    undecided = invoke("resolve", manifest, "2", "--sandbox")
    assert undecided.exit_code == 2
    assert "Error: say what you found in Learn: --copied or --not-copied" in undecided.stderr

    copied = invoke("resolve", manifest, "hist-210-001-sp27", "--copied", "--sandbox")
    assert copied.exit_code == 0, copied.output
    assert copied.stdout == (
        "Line 2 HIST-210-001-SP27: resolved as copied; the next run finds the course by its "
        "courseId, patches it and finishes the row. Run the same `rollover run` command to "
        "continue.\n"
    )
    not_copied = invoke("resolve", manifest, "3", "--not-copied", "--sandbox")
    assert not_copied.exit_code == 0, not_copied.output
    assert (
        "Line 3 HIST-210-002-SP27: resolved as not copied; the next run requests the copy again."
    ) in not_copied.stdout
    status = invoke("status", manifest, "--sandbox")
    assert "Resolved by a person: line 2 HIST-210-001-SP27 (copied, " in status.stdout
    assert "line 3 HIST-210-002-SP27 (not copied, " in status.stdout

    sandbox = LearnSandbox.load(state)  # the faults end; the night goes on
    sandbox.config = dataclasses.replace(sandbox.config, drop_copy_response_rate=0.0)
    sandbox.save(state)
    code, out, _ = rehearse(tmp_path, manifest, lossy)
    assert code == 0, out
    assert "3 rows: 3 done" in out
    assert copies_per_target(state) == {
        "HIST-210-001-SP27": 1,
        "HIST-210-002-SP27": 1,
        "BIO-101-001-SP27": 1,
    }
    patched = {patch.course_id for patch in LearnSandbox.load(state).record.patches}
    assert {"HIST-210-001-SP27", "HIST-210-002-SP27"} <= patched
    trail = invoke("status", manifest, "--sandbox", "--row", "2").stdout
    assert "needs_review -> copied: resolved by a person: the copy is in Learn" in trail
    assert "copied -> copied: course found by its courseId" in trail


def test_a_row_resolved_as_copied_whose_course_is_missing_stays_needs_review(
    tmp_path: Path,
) -> None:
    """--copied on a row whose course Learn does not have: the re-run says so and leaves the
    row needs_review; nothing is copied."""
    manifest = write(
        tmp_path / "spring.csv",
        "source_course_id,target_course_id\nBIO-101-FA26,BIO-101-009-SP27\n",
    )
    crashed_after_intent(tmp_path, manifest, "BIO-101-009-SP27")
    with Ledger(tmp_path / "spring.sandbox.ledger.sqlite") as ledger:
        ledger.record_needs_review("BIO-101-009-SP27", ErrorKind.UNCERTAIN, "cannot tell")
    assert invoke("resolve", manifest, "2", "--copied", "--sandbox").exit_code == 0
    code, out, _ = rehearse(tmp_path, manifest, sandbox_config(tmp_path))
    assert code == 1, out
    row = invoke("status", manifest, "--sandbox", "--json").stdout
    assert "resolved as copied, but Learn has no course BIO-101-009-SP27" in row
    assert copies_per_target(tmp_path / "spring.sandbox.json") == {}
