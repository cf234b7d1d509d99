"""Every request body the tool sends validates against Learn's official REST specification."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from harness import engine_run, make_learn, row

from rollover.plan import PROFILES
from rollover.sandbox import validate_request_body

SHARED_SPEC = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "learn-openapi"
    / "learn-swagger-3900.65.0.json"
)
VENDORED_SPEC = (
    Path(__file__).resolve().parents[1] / "rollover" / "sandbox" / "learn-swagger-3900.65.0.json"
)
TEMPLATES = {
    "POST": "/learn/api/public/v2/courses/{courseId}/copy",
    "PATCH": "/learn/api/public/v3/courses/{courseId}",
}


# sha256 of the official learn-swagger-3900.65.0.json (../shared/learn-openapi/SOURCES.md),
# pinned here so the check runs in any clone, with or without ../shared beside it.
OFFICIAL_SHA256 = "cef181fa8e5d3ed179d4278b2d851ecf70fbda87330c3ce54514311b3fd76e70"


def test_vendored_spec_is_the_official_one() -> None:
    """The spec the sandbox and these tests use is byte-identical to the official one."""
    assert hashlib.sha256(VENDORED_SPEC.read_bytes()).hexdigest() == OFFICIAL_SHA256
    if SHARED_SPEC.exists():  # and to ../shared's copy, where it is beside this checkout
        assert hashlib.sha256(SHARED_SPEC.read_bytes()).hexdigest() == OFFICIAL_SHA256


def test_every_body_of_a_varied_run_validates(tmp_path: Path) -> None:
    """Copies (new and into shells, every profile) and PATCHes of every field kind are valid."""
    learn = make_learn()
    start, end = datetime(2027, 1, 11, 6, tzinfo=UTC), datetime(2027, 5, 7, 5, tzinfo=UTC)
    rows = [
        row(
            2,
            "BIO-101-FA26",
            "BIO-101-001-SP27",
            name="Biology 101 (Spring 2027)",
            description="Cells & life",
            external_id="BIO-101-001-SP27",
            term_id="SP27",
            available="No",
            start_date=start,
            end_date=end,
        ),
        row(
            3,
            "BIO-101-FA26",
            "BIO-101-002-SP27",
            available="Term",
            term_id="SP27",
            copy_profile="no-discussions",
        ),
        row(4, "CHEM-110-FA26", "HIST-210-SP27", copy_into_existing=True, name="History 210"),
        row(5, "CHEM-110-FA26", "CHEM-110-001-SP27", start_date=start, end_date=end),
    ]
    engine_run(learn, rows, tmp_path / "l.sqlite")
    checked = 0
    for method, path, body in learn.transport.sent:
        is_copy = method == "POST" and path.endswith("/copy")
        is_patch = method == "PATCH" and path.startswith("/learn/api/public/v3/courses/")
        if is_copy or is_patch:
            assert validate_request_body(method, TEMPLATES[method], body) == [], (path, body)
            checked += 1
    assert checked == 4 + 4  # four copies, four patches
    assert set(PROFILES) == {"default", "no-discussions", "exact"}


def test_every_profile_but_exact_sends_an_explicit_copy_object() -> None:
    """Only `exact` omits `copy`: without it Learn makes an exact copy that carries enrolments."""
    from rollover.plan import RowSpec

    assert "copy" not in RowSpec("X-SP27", 2, "X", False, profile="exact").copy_request(None)
    for name in set(PROFILES) - {"exact"}:
        body = RowSpec("X-SP27", 2, "X", False, profile=name).copy_request(None)
        assert body["copy"], name
        assert validate_request_body("POST", TEMPLATES["POST"], body) == []
