"""The live preflight: the manifest checked against Learn (the sandbox), changing nothing.

Core tests drive the real client against the sandbox app in-process (tests/harness.py); CLI tests
use click's CliRunner with `--sandbox`, as tests/test_cli.py does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from cli_runs import FAST, invoke, sandbox_config
from harness import BASE_URL, Learn, engine_run, make_learn, row, sections

from rollover.cli import preflight_summary_lines
from rollover.errors import LearnAuthError, LearnUnreachable
from rollover.learn import LearnClient, Site
from rollover.ledger import ErrorKind, Ledger, LedgerRow, State
from rollover.manifest import Manifest, ManifestRow
from rollover.plan import PROFILES, RowSpec
from rollover.preflight import (
    CourseList,
    PreflightProblem,
    PreflightReport,
    Stage,
    check_learn,
    group_by_shared_part,
    stage_of,
)
from rollover.runner import preflight
from rollover.sandbox import LearnSandbox, SeedCourse

COURSE_GET = "GET /v3/courses/{id}"
COURSE_LIST = "GET /v3/courses"
TERM_GET = "GET /v1/terms/{id}"


def check(
    learn: Learn, rows: Sequence[ManifestRow], ledger_rows: Sequence[LedgerRow] = (), **options: Any
) -> PreflightReport:
    """The preflight of `rows` against `learn` with a fresh real client."""

    async def go() -> PreflightReport:
        async with learn.client() as client:
            return await check_learn(rows, ledger_rows, client, **options)

    return asyncio.run(go())


def pk(learn: Learn, course_id: str) -> str:
    """The primary id the sandbox gave a course."""
    course = learn.sandbox.course(f"courseId:{course_id}")
    assert course is not None
    return course.primary_id


def problems(report: PreflightReport) -> list[str]:
    """The report's problems as the user reads them."""
    return [str(problem) for problem in report.problems]


# --- what is checked --------------------------------------------------------------------------


def test_missing_source_is_named_by_line_column_and_value() -> None:
    """A source Learn does not have is reported with its line, column and value; others pass."""
    learn = make_learn()
    report = check(
        learn,
        [row(2, "BIO-101-FA26", "BIO-101-001-SP27"), row(3, "BIO-999-FA26", "BIO-999-001-SP27")],
    )
    assert problems(report) == ["line 3, source_course_id 'BIO-999-FA26': no such course in Learn"]
    assert report.stages[Stage.COPY] == 2


def test_taken_target_is_a_problem_but_one_this_ledger_made_is_not(tmp_path: Path) -> None:
    """A new target that exists is a problem unless this ledger made it (then it is done)."""
    learn = make_learn()
    made = row(2, "BIO-101-FA26", "BIO-101-001-SP27", name="Biology 101")
    _outcome, ledger_rows = engine_run(learn, [made], tmp_path / "l.sqlite")
    learn.transport.sent.clear()
    report = check(learn, [made, row(3, "CHEM-110-FA26", "TAKEN-SP27")], ledger_rows)
    assert problems(report) == [
        "line 3, target_course_id 'TAKEN-SP27': Learn already has a course with this courseId "
        f"({pk(learn, 'TAKEN-SP27')}) that this ledger did not make: choose another "
        "target_course_id"
    ]
    assert report.stages[Stage.DONE] == 1 and report.stages[Stage.COPY] == 1
    # A row the ledger finished costs no call at all.
    assert not any("BIO-101" in path for _method, path, _body in learn.transport.sent)


def test_renamed_done_row_is_to_patch_only_and_its_term_is_checked(tmp_path: Path) -> None:
    """A finished row whose name changed will be patched again, not copied; its term is asked."""
    learn = make_learn()
    _outcome, ledger_rows = engine_run(
        learn, [row(2, "BIO-101-FA26", "BIO-101-001-SP27")], tmp_path / "l.sqlite"
    )
    report = check(
        learn,
        [row(2, "BIO-101-FA26", "BIO-101-001-SP27", name="Renamed", term_id="SP28")],
        ledger_rows,
    )
    assert report.stages[Stage.PATCH] == 1
    assert problems(report) == ["line 2, term_id 'SP28': no such term in Learn"]
    assert report.courses_asked == 0


def test_missing_shell_is_a_problem_and_an_existing_one_is_not() -> None:
    """copy_into_existing needs the target to exist in Learn."""
    learn = make_learn()
    report = check(
        learn,
        [
            row(2, "BIO-101-FA26", "HIST-210-SP27", copy_into_existing=True),
            row(3, "BIO-101-FA26", "NO-SUCH-SHELL", copy_into_existing=True),
        ],
    )
    assert problems(report) == [
        "line 3, target_course_id 'NO-SUCH-SHELL': copy_into_existing is true but Learn has no "
        "such course: create the shell first, or set copy_into_existing to false"
    ]


def test_missing_term_by_external_id_or_primary_id() -> None:
    """Terms are asked by externalId, or by `_N_1` primary id as given; missing ones are named."""
    learn = make_learn()
    report = check(
        learn,
        [
            row(2, "BIO-101-FA26", "A-1", term_id="SP27"),
            row(3, "BIO-101-FA26", "A-2", term_id="SP28"),
            row(4, "BIO-101-FA26", "A-3", term_id="_2_1"),
            row(5, "BIO-101-FA26", "A-4", term_id="_99_1"),
        ],
    )
    assert problems(report) == [
        "line 3, term_id 'SP28': no such term in Learn",
        "line 5, term_id '_99_1': no such term in Learn",
    ]
    asked = sorted(path for method, path, _ in learn.transport.sent if "/terms/" in path)
    assert asked == [
        "/learn/api/public/v1/terms/_2_1",
        "/learn/api/public/v1/terms/_99_1",
        "/learn/api/public/v1/terms/externalId:SP27",
        "/learn/api/public/v1/terms/externalId:SP28",
    ]


def test_rows_sharing_a_source_and_term_ask_about_them_once() -> None:
    """Two rows with one source and one term cost one source GET and one term GET."""
    learn = make_learn()
    report = check(
        learn,
        [
            row(2, "BIO-101-FA26", "BIO-101-001-SP27", term_id="SP27"),
            row(3, "BIO-101-FA26", "BIO-101-002-SP27", term_id="SP27"),
        ],
    )
    assert report.problems == ()
    calls = learn.sandbox.record.calls
    assert calls[COURSE_GET] == 3  # the source once, each target once
    assert calls[TERM_GET] == 1
    sources = [path for _m, path, _b in learn.transport.sent if path.endswith("BIO-101-FA26")]
    assert len(sources) == 1
    assert report.calls == 5  # sign-in, three courses, one term


def test_unknown_key_is_refused_at_sign_in() -> None:
    """Bad credentials raise the client's LearnAuthError, as a run would."""
    learn = make_learn()

    async def go() -> None:
        async with LearnClient(
            BASE_URL, learn.sandbox.config.key, "wrong", transport=learn.transport
        ) as client:
            await check_learn([row(2, "BIO-101-FA26", "X-1")], [], client)

    with pytest.raises(LearnAuthError):
        asyncio.run(go())


def test_check_sends_only_reads() -> None:
    """The check sends GETs (and the token request) only: nothing copied, nothing patched."""
    learn = make_learn()
    check(
        learn,
        [
            *sections(6, term_id="SP27"),
            row(9, "BIO-999-FA26", "TAKEN-SP27"),
            row(10, "BIO-101-FA26", "HIST-210-SP27", copy_into_existing=True),
        ],
    )
    sent = {(method, path) for method, path, _ in learn.transport.sent}
    assert {method for method, _ in sent} == {"GET", "POST"}
    assert [path for method, path in sent if method == "POST"] == [
        "/learn/api/public/v1/oauth2/token"
    ]
    assert learn.sandbox.record.copies == [] and learn.sandbox.record.patches == []


# --- the cheaper way to ask ---------------------------------------------------------------------


def test_grouping_takes_the_longest_part_the_most_ids_share() -> None:
    """Many ids sharing a prefix or suffix form a list group on the longest shared part."""
    targets = [f"BIO-101-{n:03d}-SP27" for n in range(6)]
    groups, singles = group_by_shared_part([*targets, "CHEM-110-FA26", "HIST-210-FA26"])
    assert [(g.part, sorted(g.course_ids)) for g in groups] == [("BIO-101-00", targets)]
    assert singles == ["CHEM-110-FA26", "HIST-210-FA26"]
    assert group_by_shared_part(["A-1-X", "A-2-X", "A-3-X"]) == ([], ["A-1-X", "A-2-X", "A-3-X"])


def test_many_targets_sharing_a_part_are_checked_by_one_exact_list() -> None:
    """Ten sections and their source cost one list page; a longer courseId is not a match."""
    learn = make_learn(
        courses=[
            SeedCourse("BIO-101-003-SP27-OLD", "Contains a target's id"),
            SeedCourse("BIO-101-007-SP27", "Already taken"),
        ]
    )
    rows = sections(10)
    report = check(learn, rows)
    calls = learn.sandbox.record.calls
    assert calls[COURSE_LIST] == 1 and calls[COURSE_GET] == 0
    [listed] = report.lists
    assert (listed.part, listed.course_ids, listed.pages, listed.complete) == (
        "BIO-101-",
        11,
        1,
        True,
    )
    listed_with = [path for _m, path, _b in learn.transport.sent if path.endswith("/courses")]
    assert listed_with == ["/learn/api/public/v3/courses"]
    assert problems(report) == [
        "line 9, target_course_id 'BIO-101-007-SP27': Learn already has a course with this "
        f"courseId ({pk(learn, 'BIO-101-007-SP27')}) that this ledger did not make: choose "
        "another target_course_id"
    ]


def test_a_list_longer_than_its_gets_is_cut_short_and_the_rest_asked_by_id() -> None:
    """A list stops at half the calls its GETs would cost; what it has not found is asked by id."""
    crowd = [SeedCourse(f"BIO-101-9{n:02d}-OLD", "An older section") for n in range(40)]
    learn = make_learn(courses=[*crowd, SeedCourse("BIO-101-007-SP27", "Already taken")])
    report = check(learn, sections(10), page_size=2)
    [listed] = report.lists
    assert (listed.pages, listed.complete) == (5, False)  # 11 ids: at most 5 pages
    calls = learn.sandbox.record.calls
    assert calls[COURSE_LIST] == 5
    assert calls[COURSE_GET] == 10  # the source was on the first page; the targets by id
    assert problems(report) == [
        "line 9, target_course_id 'BIO-101-007-SP27': Learn already has a course with this "
        f"courseId ({pk(learn, 'BIO-101-007-SP27')}) that this ledger did not make: choose "
        "another target_course_id"
    ]


def test_list_pages_follow_learns_next_page_links() -> None:
    """A list over several pages follows `paging.nextPage` to its end and then stops."""
    learn = make_learn(courses=[SeedCourse(f"BIO-101-9{n:02d}-OLD", "Older") for n in range(6)])
    report = check(learn, sections(10), page_size=3)
    [listed] = report.lists
    assert (listed.pages, listed.complete) == (3, True)  # 7 matching courses, 3 a page
    paths = [path for _m, path, _b in learn.transport.sent if path.endswith("/v3/courses")]
    assert len(paths) == 3
    assert learn.sandbox.record.calls[COURSE_GET] == 0
    assert report.problems == ()


# --- the command line ---------------------------------------------------------------------------

SMALL = """\
source_course_id,target_course_id,copy_into_existing,name,term_id
BIO-101-FA26,BIO-101-001-SP27,false,Biology 101 (Spring 2027),SP27
BIO-101-FA26,BIO-101-002-SP27,false,Biology 101 section 2,SP27
CHEM-110-FA26,CHEM-110-001-SP27,,,
HIST-210-FA26,HIST-210-001-SP27,true,,SP27
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A four-row manifest (one into an existing shell) in its own directory."""
    path = tmp_path / "spring.csv"
    path.write_text(SMALL, encoding="utf-8")
    return path


TAKEN = '[[courses]]\ncourse_id = "CHEM-110-001-SP27"\nname = "Somebody else\'s"\n'


def test_validate_check_learn_prints_the_plan_and_writes_nothing(
    tmp_path: Path, small: Path
) -> None:
    """`validate --check-learn --sandbox` exits 0 with the plan and quota, leaving no file."""
    result = invoke("validate", small, "--check-learn", "--sandbox")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    at = lines.index("Learn check: 4 rows")
    assert lines[at + 1 : at + 4] == [
        "  to copy:                     4",
        "  to patch only:               0",
        "  already done per the ledger: 0",
    ]
    assert "Problems: none" in lines
    assert "Quota: the run needs about 15 API calls; Learn reports 99" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spring.csv"]


def test_the_check_in_words_names_every_stage_how_learn_was_asked_and_the_quota() -> None:
    """A preflight report prints every stage in words, each way Learn was asked, each problem
    and the quota warning, exactly as `validate --check-learn` shows them."""
    report = PreflightReport(
        stages={Stage.COPY: 3, Stage.PATCH: 1, Stage.DONE: 0, Stage.IN_FLIGHT: 2, Stage.HELD: 1},
        problems=(PreflightProblem(4, "source_course_id", "GONE-1", "no such course in Learn"),),
        courses_asked=9,
        terms_asked=1,
        course_gets=1,
        lists=(CourseList("-FA26", 6, 2, False),),
        calls=7,
        run_calls=120,
        quota_remaining=100,
        quota_limit=10000,
        users_asked=2,
        shells_counted=1,
        foreign_ledger="made for https://other.example.edu",
    )
    assert preflight_summary_lines(report) == [
        "Learn check: 7 rows",
        "Ledger: made for https://other.example.edu, not this site: not used, every row is checked as new (pass --ledger with this site's ledger)",
        "  to copy:                                                    3",
        "  to patch only:                                              1",
        "  already done per the ledger:                                0",
        "  in flight per the ledger (the run resumes them):            2",
        "  failed or needing review per the ledger (left as they are): 1",
        "Asked Learn about 9 courses and 1 term in 7 API calls, sign-in included: a list filtered on '-FA26' for 6 courses (2 pages, cut short: the rest by id); 1 course by id; 1 term by id; 2 instructors by id; the content of 1 shell",
        "Problems: 1",
        "  line 4, source_course_id 'GONE-1': no such course in Learn",
        "Quota: the run needs about 120 API calls; Learn reports 100 of 10000 left.",
        "Warning: the run needs more calls than Learn has left, and every integration on the key shares them. Run with --quota-reserve N so it stops before the quota does; re-runs continue where it stopped.",
    ]


def test_validate_check_learn_changes_nothing_in_learn(tmp_path: Path, small: Path) -> None:
    """After a rehearsal, `validate --check-learn` adds no copy, PATCH or POST to its record."""
    first = invoke("run", small, "--sandbox", "--sandbox-config", sandbox_config(tmp_path), *FAST)
    assert first.exit_code == 0, first.output
    state = tmp_path / "spring.sandbox.json"
    before = LearnSandbox.load(state).record
    result = invoke("validate", small, "--check-learn", "--sandbox")
    assert result.exit_code == 0, result.output
    assert "  already done per the ledger: 4" in result.stdout
    after = LearnSandbox.load(state).record
    assert after.copies == before.copies and after.patches == before.patches
    new_calls = after.calls - before.calls
    assert set(new_calls) <= {"POST /v1/oauth2/token", COURSE_GET, COURSE_LIST, TERM_GET}


def test_validate_check_learn_problem_exits_2_naming_the_line(tmp_path: Path, small: Path) -> None:
    """A taken target is listed by line, column and value, and validate exits 2."""
    result = invoke(
        "validate",
        small,
        "--check-learn",
        "--sandbox",
        "--sandbox-config",
        sandbox_config(tmp_path, TAKEN),
    )
    assert result.exit_code == 2, result.output
    assert (
        "  line 4, target_course_id 'CHEM-110-001-SP27': Learn already has a course with "
        "this courseId"
    ) in result.stdout
    assert "Problems: 1" in result.stdout
    assert (
        "Error: Learn check: 1 problem listed above; nothing in Learn was changed" in result.stderr
    )


def test_run_preflight_with_problems_exits_2_and_copies_nothing(
    tmp_path: Path, small: Path
) -> None:
    """`run --preflight` stops with exit 2 before any copy, ledger or plan when Learn disagrees."""
    result = invoke(
        "run",
        small,
        "--sandbox",
        "--sandbox-config",
        sandbox_config(tmp_path, TAKEN),
        "--preflight",
        *FAST,
    )
    assert result.exit_code == 2, result.output
    assert "line 4, target_course_id 'CHEM-110-001-SP27'" in result.stdout
    assert "Plan:" not in result.stdout
    assert "Error: Learn check: 1 problem listed above; nothing was copied" in result.stderr
    assert not (tmp_path / "spring.ledger.sqlite").exists()
    assert LearnSandbox.load(tmp_path / "spring.sandbox.json").record.copies == []


def test_run_preflight_all_well_prints_the_check_then_the_plan(tmp_path: Path, small: Path) -> None:
    """With no problem, `run --preflight` prints the check before `Plan:` and runs to exit 0."""
    result = invoke(
        "run",
        small,
        "--sandbox",
        "--sandbox-config",
        sandbox_config(tmp_path),
        "--preflight",
        *FAST,
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        lines.index("Learn check: 4 rows")
        < lines.index("Problems: none")
        < next(n for n, line in enumerate(lines) if line.startswith("Plan: 4 of 4 rows to copy"))
    )
    assert "Rollover: 4 rows: 4 done" in result.stdout


def test_validate_check_learn_needs_a_site(small: Path) -> None:
    """Without --sandbox or a base URL, `validate --check-learn` is a usage error (exit 2)."""
    result = invoke("validate", small, "--check-learn")
    assert result.exit_code == 2
    assert "--base-url" in result.stderr and "--sandbox" in result.stderr


def test_unreachable_learn_raises_learn_unreachable(tmp_path: Path) -> None:
    """Learn not answering: the preflight raises LearnUnreachable (exit 3), after its retries."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def no_wait(seconds: float) -> None:
        """Retries without real sleeps."""

    site = Site(
        base_url="http://127.0.0.1:9",
        key="k",
        secret="s",
        identity="test",
        transport=httpx.MockTransport(refuse),
    )
    manifest = Manifest(tmp_path / "m.csv", (row(2, "BIO-101-FA26", "X-1"),), (), ZoneInfo("UTC"))
    with pytest.raises(LearnUnreachable) as raised:
        asyncio.run(
            preflight(manifest, site, ledger_path=tmp_path / "m.ledger.sqlite", sleep=no_wait)
        )
    assert raised.value.exit_code == 3
    assert not (tmp_path / "m.ledger.sqlite").exists()


# --- preflight and run agree (defect "preflight and run disagree") ---------------------------

LIGHT = {**(PROFILES["default"] or {}), "announcements": False, "discussions": "ForumsOnly"}
LIGHTER = {**LIGHT, "gradebook": False}
TARGET = "BIO-101-001-SP27"


def light_spec(copy: dict[str, Any] = LIGHT, **changes: Any) -> RowSpec:
    """The row as the ledger keeps it, copied with the configured profile `light`."""
    spec = RowSpec(
        TARGET, 2, "BIO-101-FA26", False, patch={"name": "Biology"}, profile="light", copy=copy
    )
    return replace(spec, **changes)


def settled(ledger: Ledger, how: str) -> None:
    """Walk the ledger's one row to a final state the way a run would."""
    ledger.record_intent(TARGET)
    if how == "copy refused":
        ledger.record_failed(TARGET, ErrorKind.COPY_REFUSED, "Learn refused the copy: Forbidden")
        return
    ledger.record_location(TARGET, "/learn/api/public/v1/courses/_1_1/tasks/_9_1")
    ledger.record_copied(TARGET, "_5_1")
    if how == "patch refused":
        ledger.record_failed(
            TARGET,
            ErrorKind.PATCH_REFUSED,
            "copied as _5_1 but Learn refused the PATCH: Invalid date",
        )
    else:
        ledger.record_done(TARGET)


def test_failed_row_whose_profile_options_changed_is_to_copy_for_preflight_and_run(
    tmp_path: Path,
) -> None:
    """A refused copy whose configured profile changed: preflight says to copy, sync -> pending."""
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.sync_manifest([light_spec()])
        settled(ledger, "copy refused")
        known = ledger.row(TARGET)
        assert stage_of(light_spec(), known) is Stage.HELD  # unchanged: left as it is
        changed = light_spec(copy=LIGHTER)
        assert stage_of(changed, known) is Stage.COPY
        # The live preflight builds the spec from rollover.toml's profiles: it agrees too.
        report = check(
            make_learn(),
            [row(2, "BIO-101-FA26", TARGET, name="Biology", copy_profile="light")],
            [known],
            profiles={**PROFILES, "light": LIGHTER},
        )
        assert report.stages[Stage.COPY] == 1 and report.problems == ()
        ledger.sync_manifest([changed])
        moved = ledger.row(TARGET)
    assert (moved.state, moved.error, moved.error_kind) == (State.PENDING, None, None)
    assert moved.spec.copy == LIGHTER


STAGE_OF_STATE = {
    State.PENDING: Stage.COPY,
    State.INTENT: Stage.IN_FLIGHT,
    State.LOCATED: Stage.IN_FLIGHT,
    State.COPIED: Stage.PATCH,
    State.PATCHED: Stage.PATCH,
    State.DONE: Stage.DONE,
    State.FAILED: Stage.HELD,
    State.NEEDS_REVIEW: Stage.HELD,
}
EDITS: dict[str, dict[str, Any]] = {
    "nothing": {},
    "copy options": {"copy": LIGHTER},
    "profile": {"profile": "default", "copy": None},
    "name": {"patch": {"name": "Renamed"}},
    "line": {"line": 9},
}


@pytest.mark.parametrize("retry_failed", [False, True])
@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("how", ["copy refused", "patch refused", "done"])
def test_preflight_stage_is_where_the_run_starts_the_row(
    tmp_path: Path, how: str, edit: str, retry_failed: bool
) -> None:
    """For every settled row and manifest edit, stage_of names the state sync (+retry) gives."""
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.sync_manifest([light_spec()])
        settled(ledger, how)
        edited = light_spec(**EDITS[edit])
        said = stage_of(edited, ledger.row(TARGET), retry_failed=retry_failed)
        ledger.sync_manifest([edited])
        if retry_failed:
            ledger.retry_failed()
        assert said is STAGE_OF_STATE[ledger.row(TARGET).state]
