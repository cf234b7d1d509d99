"""What `status` says of merged sections: the totals attached of asked and the rows still to
attach, each attachment of a row (`--row`) with its state, time and error, and the sections the
manifest dropped that stay attached in Learn; `--json` carries them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_runs import invoke

from rollover.ledger import AttachmentState, ErrorKind, Ledger
from rollover.plan import RowSpec

AT = datetime(2027, 1, 15, 3, 0, tzinfo=UTC)
STAMP = "2027-01-15T03:00:00.000+00:00"  # AT as the ledger keeps it (and --json gives it)
SHOWN = "2027-01-14 21:00:00 CST"  # AT as status --row shows it, in the run's zone (Chicago)
REFUSED = (
    "Learn refused to attach CHEM-1-002 to _7_1 as a merged section: CHEM-1-002 is already a "
    "child of another course (_3_1)"
)


def specs(*, dropped: bool = False) -> list[RowSpec]:
    """BIO-XL (three sections, or two once one is dropped), CHEM-XL (two), HIST-XL (one) and
    ART-SP27 (none)."""
    bio = ("BIO-1-001", "externalId:BIO-1-002") + (() if dropped else ("BIO-1-003",))
    return [
        RowSpec("BIO-XL", 2, "BIO-FA26", False, {"name": "Biology"}, children=bio),
        RowSpec("CHEM-XL", 3, "CHEM-FA26", False, children=("CHEM-1-001", "CHEM-1-002")),
        RowSpec("HIST-XL", 4, "HIST-FA26", True, children=("_41_1",)),
        RowSpec("ART-SP27", 5, "ART-FA26", False),
    ]


def copied(ledger: Ledger, target: str, pk: str) -> None:
    """Take a row through its copy and PATCH."""
    ledger.record_intent(target)
    ledger.record_location(target, f"/learn/api/public/v1/courses/_1_1/tasks/{pk}")
    ledger.record_copied(target, pk)
    ledger.record_patched(target)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    """A ledger where BIO-XL is done with its three sections attached, then the manifest
    dropped BIO-1-003; CHEM-XL is patched with one section attached and one refused (the
    run stopped there); HIST-XL failed on its section; ART-SP27 waits for its copy."""
    path = tmp_path / "spring.ledger.sqlite"
    clock: Callable[[], datetime] = lambda: AT  # noqa: E731 - a fixed clock
    with Ledger(path, clock=clock) as ledger:
        ledger.sync_manifest(specs())
        copied(ledger, "BIO-XL", "_5_1")
        for n, child in enumerate(("BIO-1-001", "externalId:BIO-1-002", "BIO-1-003"), start=40):
            ledger.record_attachment("BIO-XL", child, AttachmentState.SENDING)
            ledger.record_attachment("BIO-XL", child, AttachmentState.ATTACHED, child_pk=f"_{n}_1")
        ledger.record_done("BIO-XL")
        copied(ledger, "CHEM-XL", "_7_1")
        ledger.record_attachment(
            "CHEM-XL", "CHEM-1-001", AttachmentState.ATTACHED, child_pk="_50_1"
        )
        copied(ledger, "HIST-XL", "_8_1")
        ledger.record_attachment("HIST-XL", "_41_1", AttachmentState.FAILED, error=REFUSED)
        ledger.record_failed("HIST-XL", ErrorKind.CHILD_REFUSED, REFUSED)
        ledger.sync_manifest(specs(dropped=True))
    return path


def test_status_totals_sections_attached_the_rows_waiting_and_those_left_attached(
    ledger_path: Path,
) -> None:
    """`status` sums the sections attached of those the manifest asks, counts the unfinished
    rows still to attach theirs, and says a dropped section stays attached in Learn."""
    result = invoke("status", "--ledger", ledger_path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        "Sections: 3 of 5 attached; 1 row waiting to attach theirs (after the copy and its PATCH)"
        in lines
    )
    assert (
        "Still attached in Learn: 1 section (BIO-1-003 under BIO-XL) removed from the manifest; "
        "rollover never separates a section: separate it in Learn if wanted"
    ) in lines


def test_status_row_lists_each_attachment_with_state_time_error_and_the_dropped_ones(
    ledger_path: Path,
) -> None:
    """`status --row` lists each section the row lists (its primary id once known, its state,
    time in the run's zone and error) and each dropped one still attached, with why it stays."""
    bio = invoke("status", "--ledger", ledger_path, "--row", "BIO-XL").stdout.splitlines()
    at = bio.index("Sections: 2 of 2 attached")
    assert bio[at + 1 : at + 4] == [
        f"  BIO-1-001 (_40_1): attached ({SHOWN})",
        f"  externalId:BIO-1-002 (_41_1): attached ({SHOWN})",
        f"  BIO-1-003 (_42_1): attached ({SHOWN}): removed from the manifest; rollover never "
        "separates a section: separate it in Learn if wanted",
    ]
    hist = invoke("status", "--ledger", ledger_path, "--row", "4").stdout.splitlines()
    at = hist.index("Sections: 0 of 1 attached")
    assert hist[at + 1] == f"  _41_1: failed ({SHOWN}): {REFUSED}"
    history = hist[hist.index("History:") + 1 :]
    assert history and all(" CST  " in line and "+00:00" not in line for line in history)
    assert [line for line in hist if line.startswith("What to do:")] == [
        "What to do: HIST-XL is copied and patched, but Learn refused to attach the section the "
        "error names. Either fix the child_course_ids cell (correct the section's id, or take "
        "out a section that belongs to another parent course or is itself a parent) and run "
        "again, or set the section right in Learn (separate it from its other parent, or its "
        "own sections from it), then run again with --retry-failed: only the attachments are "
        "retried, never the copy"
    ]
    art = invoke("status", "--ledger", ledger_path, "--row", "ART-SP27").stdout
    assert "Sections" not in art


def test_status_json_carries_the_sections(ledger_path: Path) -> None:
    """`status --json` and `status --row --json` carry the same facts for scripts."""
    data = json.loads(invoke("status", "--ledger", ledger_path, "--json").stdout)
    assert data["sections"] == {
        "asked": 5,
        "attached": 3,
        "rows_waiting": 1,
        "left_attached": [
            {
                "target_course_id": "BIO-XL",
                "child_ref": "BIO-1-003",
                "child_pk": "_42_1",
                "state": "attached",
                "error": None,
                "at": STAMP,
            }
        ],
    }
    chem = json.loads(invoke("status", "--ledger", ledger_path, "--row", "3", "--json").stdout)
    assert chem["sections"] == [
        {
            "child_ref": "CHEM-1-001",
            "child_pk": "_50_1",
            "state": "attached",
            "error": None,
            "at": STAMP,
        },
        {
            "child_ref": "CHEM-1-002",
            "child_pk": None,
            "state": "pending",
            "error": None,
            "at": STAMP,
        },
    ]
    assert chem["left_attached"] == []
    bio = json.loads(invoke("status", "--ledger", ledger_path, "--row", "2", "--json").stdout)
    assert [a["child_ref"] for a in bio["left_attached"]] == ["BIO-1-003"]
