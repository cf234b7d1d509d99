"""The live preflight of merged sections (`child_course_ids`): each section a run would attach
exists, is no other course's section and no parent itself; one holding content is a warning;
the sections are read with the other courses, and the run's calls count one PUT per section
still to attach."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from cli_runs import invoke, sandbox_config, write
from harness import Learn, make_learn, mock_client, row
from test_preflight import check

from rollover.cli import preflight_summary_lines
from rollover.ledger import AttachmentState, Ledger, LedgerRow
from rollover.manifest import ManifestRow
from rollover.plan import row_spec
from rollover.preflight import CourseList, PreflightProblem, PreflightReport, Stage, check_learn
from rollover.sandbox import SeedCourse

COURSE_GET = "GET /v3/courses/{id}"
SECTIONS = [
    SeedCourse("BIO-101-001-SP27", "Section 001", contents=0, columns=0),
    SeedCourse("BIO-101-002-SP27", "Section 002", contents=0, columns=0),
    SeedCourse("BIO-101-003-SP27", "Section 003", contents=0, columns=0),
    SeedCourse("BIO-101-004-SP27", "Section 004 (holds work)", contents=3, columns=1),
    SeedCourse("OTHER-XL-SP27", "Another merged course", contents=0, columns=0),
    SeedCourse("CHEM-110-001-SP27", "Someone's section", parent="OTHER-XL-SP27", contents=0),
    SeedCourse("CHEM-110-002-SP27", "Under the shell", parent="HIST-210-SP27", contents=0),
]


def sections_learn(**config: Any) -> Learn:
    """The harness's site plus empty sections, one holding content, one already merged under
    another parent, and one already merged under the shell HIST-210-SP27."""
    return make_learn(courses=SECTIONS, **config)


def said(found: Sequence[PreflightProblem]) -> list[str]:
    """Problems or warnings as the user reads them."""
    return [str(problem) for problem in found]


def course_reads(learn: Learn) -> list[str]:
    """The paths of every course GET and list the site was sent."""
    return [
        path
        for method, path, _ in learn.transport.sent
        if method == "GET" and "/courses" in path and "/contents" not in path
    ]


def test_missing_foreign_and_parent_sections_are_problems_naming_line_column_value_and_fix() -> (
    None
):
    """A section Learn does not have, one under another parent (named by its courseId) and one
    that is a parent itself are problems of the row's child_course_ids, each with its fix."""
    learn = sections_learn()
    merged = row(
        2,
        "BIO-101-FA26",
        "BIO-101-XL-SP27",
        children=("BIO-101-001-SP27", "BIO-101-009-SP27", "CHEM-110-001-SP27", "OTHER-XL-SP27"),
    )
    report = check(learn, [merged])
    assert said(report.problems) == [
        "line 2, child_course_ids 'BIO-101-009-SP27': no such course in Learn: correct the id "
        "(a courseId, externalId:X or _N_1), or take it out of child_course_ids",
        "line 2, child_course_ids 'CHEM-110-001-SP27': is already a section of OTHER-XL-SP27: "
        "Learn merges a section under one parent only; separate it from OTHER-XL-SP27 in Learn "
        "first, or take it out of child_course_ids",
        "line 2, child_course_ids 'OTHER-XL-SP27': is itself a parent of merged sections (Learn "
        "merges one level only): separate its sections in Learn first, or take it out of "
        "child_course_ids",
    ]
    assert report.warnings == ()
    assert (report.sections_asked, report.sections_counted, report.parents_asked) == (4, 1, 1)


def test_a_section_already_under_the_rows_own_shell_is_no_problem() -> None:
    """A section whose parentId is the row's shell (copy_into_existing) is attached already:
    no problem, and its content is not counted."""
    learn = sections_learn()
    into_shell = row(
        2,
        "BIO-101-FA26",
        "HIST-210-SP27",
        copy_into_existing=True,
        children=("CHEM-110-002-SP27", "externalId:BIO-101-001-SP27"),
    )
    report = check(learn, [into_shell])
    assert report.problems == () and report.warnings == ()
    assert (report.sections_asked, report.sections_counted, report.parents_asked) == (2, 1, 0)


def test_a_section_under_the_course_this_ledger_made_is_no_problem(tmp_path: Path) -> None:
    """A row this ledger copied, whose section is already merged under that very course (an
    attach whose answer was lost), passes; the same section under a course the ledger did not
    make names that course."""
    learn = sections_learn()
    merged = row(
        2, "BIO-101-FA26", "BIO-101-XL-SP27", name="Biology", children=("BIO-101-001-SP27",)
    )
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.sync_manifest([row_spec(merged)])
        target = merged.target_course_id
        ledger.record_intent(target)
        ledger.record_location(target, "/learn/api/public/v1/courses/_1_1/tasks/_9_1")
        ledger.record_copied(target, attach_to_new_course(learn, target, "BIO-101-001-SP27"))
        ledger.record_patched(target)
        ledger.record_done(target)
        known = ledger.rows()
    report = check(learn, [replace(merged, name="Renamed")], known)
    assert report.stages[Stage.PATCH] == 1
    assert report.problems == ()
    fresh = check(learn, [replace(merged, target_course_id="BIO-101-YY-SP27")])
    assert said(fresh.problems) == [
        "line 2, child_course_ids 'BIO-101-001-SP27': is already a section of BIO-101-XL-SP27: "
        "Learn merges a section under one parent only; separate it from BIO-101-XL-SP27 in "
        "Learn first, or take it out of child_course_ids"
    ]


def attach_to_new_course(learn: Learn, course_id: str, child: str) -> str:
    """Make a course `course_id` in the site (a copy of BIO-101-FA26, as a run would) and merge
    `child` under it through the real client; the new course's primary id."""
    learn.sandbox.seed([SeedCourse(course_id, "Made by the ledger's run", contents=0)], [])

    async def go() -> str:
        async with learn.client() as client:
            course = await client.get_course(f"courseId:{course_id}", "id")
            await client.attach_child(str(course["id"]), child)
            return str(course["id"])

    return asyncio.run(go())


def test_a_section_holding_content_is_a_warning_naming_the_count_and_stops_nothing() -> None:
    """A section holding content items is warned of, with the count and Learn's guidance, not
    refused; the empty ones pass silently."""
    learn = sections_learn()
    merged = row(
        5,
        "BIO-101-FA26",
        "BIO-101-XL-SP27",
        children=("BIO-101-001-SP27", "BIO-101-004-SP27"),
    )
    report = check(learn, [merged])
    assert report.problems == ()
    assert said(report.warnings) == [
        "line 5, child_course_ids 'BIO-101-004-SP27': holds 3 content items (empty folders "
        "aside). Learn's guidance is never to merge a course that holds student work: once "
        "merged, its content is managed from the parent. Check it in Learn before the run, or "
        "take it out of child_course_ids"
    ]


def test_sections_are_read_with_the_other_courses_in_one_list() -> None:
    """Sections sharing a part with the row's target are asked about in the same filtered
    list (with parentId and hasChildren), not one GET each; only their content is listed."""
    learn = sections_learn()
    merged = row(
        2,
        "BIO-101-FA26",
        "BIO-101-XL-SP27",
        children=("BIO-101-001-SP27", "BIO-101-002-SP27", "BIO-101-003-SP27"),
    )
    report = check(learn, [merged])
    assert report.problems == () and report.warnings == ()
    assert [found.course_ids for found in report.lists] == [5]  # the source and target too
    assert report.course_gets == 0
    reads = course_reads(learn)
    assert not any("BIO-101-00" in path for path in reads), reads
    assert report.sections_counted == 3


def test_a_row_whose_sections_are_all_attached_asks_nothing_about_them(tmp_path: Path) -> None:
    """A done row renamed (patched again) whose every section the ledger records attached
    costs no read of its sections; one given a new section has its sections read."""
    learn = sections_learn()
    merged = row(
        2, "BIO-101-FA26", "BIO-101-XL-SP27", name="Biology", children=("BIO-101-001-SP27",)
    )
    known = done_with(tmp_path / "l.sqlite", merged, attached=["BIO-101-001-SP27"])
    renamed = check(learn, [replace(merged, name="Renamed")], known)
    assert renamed.stages[Stage.PATCH] == 1 and renamed.sections_asked == 0
    assert not any("BIO-101-00" in path for path in course_reads(learn))
    grown = check(
        learn, [replace(merged, children=("BIO-101-001-SP27", "BIO-101-002-SP27"))], known
    )
    assert grown.stages[Stage.PATCH] == 1 and grown.sections_asked == 2


def done_with(path: Path, merged: ManifestRow, *, attached: Sequence[str]) -> list[LedgerRow]:
    """A ledger at `path` where `merged` is done, with `attached` of its sections attached."""
    target = merged.target_course_id
    with Ledger(path) as ledger:
        ledger.sync_manifest([row_spec(merged)])
        ledger.record_intent(target)
        ledger.record_location(target, "/learn/api/public/v1/courses/_1_1/tasks/_9_1")
        ledger.record_copied(target, "_900_1")
        ledger.record_patched(target)
        for child in attached:
            ledger.record_attachment(target, child, AttachmentState.ATTACHED, child_pk="_1_1")
        ledger.record_done(target)
        return ledger.rows()


def test_the_runs_calls_count_one_put_per_section_still_to_attach(tmp_path: Path) -> None:
    """The preflight's count of the run's calls has one PUT per section, less those the
    ledger records attached."""
    learn = sections_learn()
    children = ("BIO-101-001-SP27", "BIO-101-002-SP27", "BIO-101-003-SP27")
    merged = row(2, "BIO-101-FA26", "BIO-101-XL-SP27", name="Biology", children=children)
    alone = replace(merged, children=())
    assert check(learn, [merged]).run_calls == check(learn, [alone]).run_calls + 3
    # Taken up at `patched` for a new section: only what is not attached yet costs a call.
    known = done_with(
        tmp_path / "l.sqlite", replace(merged, children=children[:2]), attached=children[:1]
    )
    assert check(learn, [merged], known).run_calls == 1 + 2  # the token, two PUTs


def test_sections_in_words_how_learn_was_asked_and_the_warnings() -> None:
    """The check in words counts the sections among the courses asked, the content listed and
    the parents asked, and lists the warnings after the problems."""
    report = PreflightReport(
        stages={Stage.COPY: 1, Stage.PATCH: 0, Stage.DONE: 0, Stage.IN_FLIGHT: 0, Stage.HELD: 0},
        problems=(),
        courses_asked=5,
        terms_asked=0,
        course_gets=1,
        lists=(CourseList("BIO-101-", 4, 1, True),),
        calls=7,
        run_calls=9,
        quota_remaining=None,
        quota_limit=None,
        sections_asked=3,
        sections_counted=2,
        parents_asked=1,
        warnings=(PreflightProblem(2, "child_course_ids", "S-1", "holds 3 content items"),),
    )
    assert preflight_summary_lines(report)[4:8] == [
        "Asked Learn about 5 courses (3 of them sections to attach) and 0 terms in 7 API calls, "
        "sign-in included: a list filtered on 'BIO-101-' for 4 courses (1 page); 1 course by "
        "id; the content of 2 sections to attach; 1 parent course of sections by id",
        "Problems: none",
        "Warnings: 1 (they stop nothing)",
        "  line 2, child_course_ids 'S-1': holds 3 content items",
    ]


MERGED = """\
source_course_id,target_course_id,child_course_ids
BIO-101-FA26,BIO-101-XL-SP27,BIO-101-001-SP27;BIO-101-002-SP27
"""
SECTION_WITH_WORK = (  # section 1 holds four items, one of them an empty folder
    '[[courses]]\ncourse_id = "BIO-101-FA26"\nname = "Source"\n'
    '[[courses]]\ncourse_id = "BIO-101-001-SP27"\nname = "Section 1"\ncontents = 4\n'
    '[[courses]]\ncourse_id = "BIO-101-002-SP27"\nname = "Section 2"\nparent = "BIO-101-FA26"\n'
)


def test_validate_check_learn_refuses_a_foreign_section_and_warns_of_one_with_work(
    tmp_path: Path,
) -> None:
    """`validate --check-learn --sandbox` exits 2 on a section merged elsewhere, naming it,
    and prints the warning of a section holding content too."""
    manifest = write(tmp_path / "merged.csv", MERGED)
    config = sandbox_config(tmp_path, SECTION_WITH_WORK)
    result = invoke("validate", manifest, "--check-learn", "--sandbox", "--sandbox-config", config)
    assert result.exit_code == 2, result.output
    assert (
        "  line 2, child_course_ids 'BIO-101-002-SP27': is already a section of BIO-101-FA26"
        in result.stdout
    )
    assert "Warnings: 1 (they stop nothing)" in result.stdout
    assert "  line 2, child_course_ids 'BIO-101-001-SP27': holds 3 content items" in result.stdout


def test_a_refused_content_list_is_one_warning_not_a_stop() -> None:
    """Learn's 403 on a section's content (the integration user lacks the entitlement) is one
    warning naming it: the run never counts a section, so the check goes on."""
    primary = {"courseId:SRC-1": "_1_1", "courseId:SEC-1": "_2_1"}

    def learn(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/contents"):
            return httpx.Response(403, json={"status": 403, "message": "Not entitled"})
        ref = path.rsplit("/", 1)[-1]
        if ref not in primary:
            return httpx.Response(404, json={"status": 404, "message": "Not found"})
        return httpx.Response(200, json={"id": primary[ref], "courseId": ref.split(":")[1]})

    merged = row(3, "SRC-1", "NEW-XL", children=("SEC-1",))

    async def go() -> PreflightReport:
        async with mock_client(learn) as client:
            return await check_learn([merged], [], client)

    report = asyncio.run(go())
    assert report.problems == ()
    assert said(report.warnings) == [
        "line 3, child_course_ids 'SEC-1': whether the sections hold content (student work) "
        "was not checked: Learn refused to list the content items of _2_1 (403: Not entitled): "
        "the Learn user of the REST integration lacks the entitlement course.content.MODIFY (or "
        "another of those the spec lists that show every content item, such as "
        "course.content-item.copy.EXECUTE); to have it checked, grant it to that user and run "
        "the same command again"
    ]


def test_a_section_swapped_for_another_still_costs_its_put(tmp_path: Path) -> None:
    """A done row whose manifest drops an attached section and adds a new one still needs the
    new one's PUT: the dropped section no longer counts as one of its attached."""
    learn = sections_learn()
    before = ("BIO-101-001-SP27", "BIO-101-002-SP27")
    merged = row(2, "BIO-101-FA26", "BIO-101-XL-SP27", name="Biology", children=before)
    known = done_with(tmp_path / "l.sqlite", merged, attached=before)
    swapped = replace(merged, children=("BIO-101-002-SP27", "BIO-101-003-SP27"))
    report = check(learn, [swapped], known)
    assert report.stages[Stage.PATCH] == 1
    assert report.run_calls == 1 + 1  # the token, and BIO-101-003-SP27's PUT


def test_a_shell_that_is_someones_section_is_a_problem_before_copying() -> None:
    """copy_into_existing into a course already merged under another (its parentId set): Learn
    manages its content from the parent, so the preflight refuses it, naming the parent and
    the fix; a shell that is a parent itself is the normal case and passes."""
    learn = sections_learn()
    into_section = row(2, "BIO-101-FA26", "CHEM-110-001-SP27", copy_into_existing=True)
    into_parent = row(3, "BIO-101-FA26", "OTHER-XL-SP27", copy_into_existing=True)
    report = check(learn, [into_section, into_parent])
    parent = learn.sandbox.course("courseId:OTHER-XL-SP27")
    assert parent is not None
    parent_pk = parent.primary_id
    assert said(report.problems) == [
        f"line 2, target_course_id 'CHEM-110-001-SP27': the shell is a section merged into "
        f"another course ({parent_pk}): Learn manages a merged section's content from its "
        "parent, so a copy into it would not reach its students; copy into the parent "
        "instead, or separate the section in Learn first"
    ]
