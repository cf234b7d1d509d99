"""A ledger that follows the rollover: a manifest saved under a new name is sent back to the
ledger that made its copies, advice never offers a second copy into a course the tool may have
filled, and `resolve --not-copied` never turns the row's own course into someone else's."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from cli_runs import invoke, sandbox_run, write
from harness import row

from rollover.ledger import Ledger, ledgers_beside
from rollover.plan import row_spec
from rollover.sandbox import LearnSandbox

SPRING = (
    "source_course_id,target_course_id,copy_into_existing,name,instructors\n"
    "HIST-210-FA26,HIST-210-001-SP27,false,History 210,userName:jdoe;userName:tnguyen\n"
    "BIO-101-FA26,BIO-101-001-SP27,false,Biology 101,\n"
    "CHEM-110-FA26,CHEM-110-001-SP27,true,Chemistry 110,\n"
)


def rehearse(tmp_path: Path, manifest: Path, *extra: str | Path) -> tuple[int, str]:
    """One `run --sandbox` of `manifest` with near-instant copies: (exit code, all output)."""
    result = sandbox_run(tmp_path, manifest, "--adopt-settle", "0", "-q", *extra)
    return result.exit_code, result.output


def copies_per_target(state: Path) -> Counter[str]:
    """How many copies the simulated Learn made into each target."""
    return Counter(copy.target_course_id for copy in LearnSandbox.load(state).record.copies)


def test_a_renamed_manifest_is_sent_back_to_the_ledger_that_made_its_copies(
    tmp_path: Path,
) -> None:
    """spring.csv rehearsed, then saved as spring-final.csv: the run refuses (exit 2) naming
    spring.sandbox.ledger.sqlite, how many targets it holds and `--ledger`; with that --ledger
    it resumes and copies nothing twice."""
    spring = write(tmp_path / "spring.csv", SPRING)
    code, out = rehearse(tmp_path, spring)
    assert code == 0, out
    final = tmp_path / "spring-final.csv"
    shutil.copy(spring, final)

    code, out = rehearse(tmp_path, final)

    old = tmp_path / "spring.sandbox.ledger.sqlite"
    assert code == 2, out
    assert f"{old} already records 3 of this manifest's targets" in out
    assert "HIST-210-001-SP27, BIO-101-001-SP27, CHEM-110-001-SP27" in out
    assert f"Hint: pass --ledger {old} to continue from it" in out
    assert not (tmp_path / "spring-final.sandbox.ledger.sqlite").exists()

    code, out = rehearse(tmp_path, final, "--ledger", old)
    assert code == 0, out
    assert copies_per_target(tmp_path / "spring.sandbox.json") == {
        "HIST-210-001-SP27": 1,
        "BIO-101-001-SP27": 1,
        "CHEM-110-001-SP27": 1,
    }
    with Ledger(old, read_only=True) as ledger:
        assert [row.attempts for row in ledger.rows()] == [1, 1, 1]


def test_validate_check_learn_names_the_other_ledger_as_a_problem(tmp_path: Path) -> None:
    """`validate --check-learn --sandbox` of the renamed manifest lists the other ledger as a
    problem on the line of its first target, with the --ledger to pass, and exits 2."""
    spring = write(tmp_path / "spring.csv", SPRING)
    assert rehearse(tmp_path, spring)[0] == 0
    final = tmp_path / "spring-final.csv"
    shutil.copy(spring, final)

    checked = invoke("validate", final, "--check-learn", "--sandbox")

    old = tmp_path / "spring.sandbox.ledger.sqlite"
    assert checked.exit_code == 2, checked.output
    assert f"line 2, target_course_id 'HIST-210-001-SP27': {old} already records 3" in (
        checked.output
    )
    assert f"pass --ledger {old} to continue from it" in checked.output


def _bound_ledger(path: Path, site: str, targets: list[str]) -> None:
    """A ledger at `path` bound to `site`, holding rows for `targets`."""
    with Ledger(path) as ledger:
        ledger.sync_manifest(
            [row_spec(row(n + 2, "SRC-1", target)) for n, target in enumerate(targets)]
        )
        ledger.bind_site(site)


def test_ledgers_beside_ignore_other_sites_unbound_ledgers_and_rehearsals(tmp_path: Path) -> None:
    """Only a ledger bound to the same site and holding a target counts: one of another site,
    one never bound, one holding none of the targets, a rehearsal's (for a real run) and the
    run's own are left out; a file that is not a ledger is reported unreadable."""
    site = "https://learn.example.edu"
    _bound_ledger(tmp_path / "spring.ledger.sqlite", site, ["A-1", "B-1"])
    _bound_ledger(tmp_path / "other.ledger.sqlite", "https://learn.other.edu", ["A-1"])
    _bound_ledger(tmp_path / "fall.ledger.sqlite", site, ["Z-9"])
    _bound_ledger(tmp_path / "spring.sandbox.ledger.sqlite", site, ["A-1"])
    _bound_ledger(tmp_path / "final.ledger.sqlite", site, ["A-1"])
    with Ledger(tmp_path / "unbound.ledger.sqlite") as ledger:
        ledger.sync_manifest([])
    (tmp_path / "broken.ledger.sqlite").write_bytes(b"not a database, just bytes" * 100)

    found = ledgers_beside(
        tmp_path,
        ["B-1", "A-1", "C-1"],
        own=tmp_path / "final.ledger.sqlite",
        rehearsal=False,
        same_site=lambda bound: bound == site,
    )

    assert [(f.path.name, f.targets) for f in found.holding] == [
        ("spring.ledger.sqlite", ("B-1", "A-1"))
    ]
    assert [path.name for path, _ in found.unreadable] == ["broken.ledger.sqlite"]
