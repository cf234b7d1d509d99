"""Hostile manifests, one file each under tests/manifests/bad/, with the exact words they get.

The expectations live here, not in `<name>.expected` files beside the corpus: one table is read
and reviewed in one place, a `# poor message, reported` note sits on the very line it is about,
and a case can carry what a text file cannot (its --delimiter, the rows a valid file yields).
The corpus files are bytes (CRLF, byte order marks, NULs, cp1252), so tests/manifests/.gitattributes
keeps git from touching them and `test_corpus_bytes_are_as_written` notices if something did.

Big files (10 MB on one line, 200,000 lines, Excel's 16,384 columns) are written at test time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from rollover.cli import cli
from rollover.errors import ManifestInvalid
from rollover.manifest import Enrolment, Manifest, load_manifest
from rollover.plan import PROFILES

UTC = ZoneInfo("UTC")
CORPUS = Path(__file__).resolve().parent / "manifests" / "bad"
_EXCEL = "in Excel use File > Save As > 'CSV UTF-8 (Comma delimited)'"
_EXTRA_CELLS = "remove the extra cells, or put a cell that contains a comma in double quotes"
_OPEN_QUOTE = (
    "a quoted cell starts here and its closing double quote is missing: add it (a "
    'double quote inside a quoted cell is written twice, "")'
)
_NO_ROWS = "line 1: no course rows: add one line per course below the header"
_TARGET_CHARS = "target_course_id may contain only letters, digits, '-', '_' and '.'"
_ID_FORMS = (
    "a Learn user id is written userName:ID, externalId:ID or uuid:ID, or is a primary id like "
    "_12_1"
)
_NEAR_MISS_ROLE = (
    "an institution's own role id is accepted as written only when it is not a near miss of a "
    "built-in one"
)
_ONE_ROLE = "list each user once, with the one role they should have"
_IGNORING_CASE = "course ids are compared ignoring case"
_CHILD_FORMS = "a child is written as its courseId, externalId:ID or its primary id like _12_1"


_FIX_HINT = "fix the lines listed above and run the same command again"


@dataclass(frozen=True)
class Refused:
    """The file is refused: the exact `str(problem)` of every problem, in the order reported,
    the warnings that come with them, and the one hint the CLI prints."""

    problems: tuple[str, ...]
    delimiter: str = ","
    warnings: tuple[str, ...] = ()
    hint: str = _FIX_HINT


@dataclass(frozen=True)
class Accepted:
    """The file loads: each row as (line, source, target, name, description), and the warnings."""

    rows: tuple[tuple[int, str, str, str | None, str | None], ...]
    warnings: tuple[str, ...] = ()
    delimiter: str = ","


Expected = Refused | Accepted

_CONTROL = (
    "contains the control character '{}': remove it (it is invisible in Excel; "
    "retyping the cell removes it)"
)
_NUL, _ESC = _CONTROL.format("\\x00"), _CONTROL.format("\\x1b")

EXPECTED: dict[str, Expected] = {
    # The line is shown as best it can be read, so it can be found; the byte is named.
    "cp1252_bytes.csv": Refused(
        (
            "line 3: the file is not utf-8 text (byte 0xe7 is not utf-8): in Excel use File > Save "
            "As > 'CSV UTF-8 (Comma delimited)', or pass --encoding cp1252 if Excel saved it as "
            "plain 'CSV' (value 'FREN-201-001-FA26,FREN-201-001-SP27,Fran\ufffdais \ufffd "
            "\ufffdconomie')",
        )
    ),
    # A UTF-16 byte order mark names --encoding utf-16 (test_utf16_file_reads_with_encoding_utf16).
    "utf16_bom.csv": Refused(
        (
            "this file is UTF-16 text (Excel's 'Unicode Text'): pass --encoding utf-16, or in Excel "
            "use File > Save As > 'CSV UTF-8 (Comma delimited)'",
        )
    ),
    # An .xlsx workbook is a zip (PK\x03\x04): recognised, not decoded.
    "xlsx_workbook.csv": Refused(
        (
            "this is an Excel workbook (.xlsx), not a CSV file: in Excel use File > Save As > 'CSV "
            "UTF-8 (Comma delimited)'",
        )
    ),
    "semicolon_delimiter.csv": Refused(
        (
            "line 1: this file uses ';' as its delimiter, not ',': pass --delimiter ';' (or in Excel "
            "save it as 'CSV UTF-8 (Comma delimited)') (value 'source_course_id;target_course_id;"
            "name')",
        ),
        hint="run the same command again with --delimiter ';'",
    ),
    # One problem: rows read with the wrong delimiter say nothing true about cell counts.
    "tab_delimiter.csv": Refused(
        (
            "line 1: this file uses tabs as its delimiter, not ',': pass --delimiter tab (or in "
            "Excel save it as 'CSV UTF-8 (Comma delimited)') (value 'source_course_id\\t"
            "target_course_id\\tname')",
        ),
        hint="run the same command again with --delimiter tab",
    ),
    "unclosed_quote.csv": Refused(
        (
            f"line 2: {_OPEN_QUOTE} (value 'BIO-101-001-FA26,BIO-101-001-SP27,Biology,\"Cells, "
            "genes')",
        )
    ),
    "too_many_cells.csv": Refused(
        (
            "line 2: this row has 4 cells but the header has 3: " + _EXTRA_CELLS + " (value "
            "'BIO-101-001-FA26,BIO-101-001-SP27,Biology, Spring 2027')",
        )
    ),
    "too_many_cells_in_only_row.csv": Refused(
        (
            "line 2: this row has 4 cells but the header has 3: " + _EXTRA_CELLS + " (value "
            "'BIO-101-001-FA26,BIO-101-001-SP27,Biology, Spring 2027')",
        )
    ),
    "duplicate_header.csv": Refused(
        (
            "line 1, column Target_Course_ID: column target_course_id appears twice in the header "
            "(columns 2 and 4): keep one (value 'Target_Course_ID')",
        )
    ),
    "missing_target_header.csv": Refused(
        (
            "line 1, column target_course_id: required column target_course_id is missing from the "
            "header: add it",
        )
    ),
    # A header close to a column the file lacks would have its cells ignored: refused, naming
    # the column to rename it to; one close to nothing is a warning, printed with the problems.
    "unknown_column.csv": Refused(
        (
            "line 1, column nmae: unknown column, close to name: rename it name (as it is, its "
            "cells would be ignored) (value 'nmae')",
        ),
        warnings=(
            "line 1, column department: unknown column: its cells are ignored (value 'department')",
        ),
    ),
    "misspelled_copy_profile.csv": Refused(
        (
            "line 1, column copy_profle: unknown column, close to copy_profile: rename it "
            "copy_profile (as it is, its cells would be ignored) (value 'copy_profle')",
        )
    ),
    "ignored_column.csv": Accepted(
        rows=((2, "BIO-101-001-FA26", "BIO-101-001-SP27", "Biology", None),),
        warnings=("line 1, column Notes: unknown column: its cells are ignored (value 'Notes')",),
    ),
    # Y and N (either case) are flags like true and false: pinned in
    # test_yes_no_flags_are_read_as_true_and_false.
    "yes_no_flags.csv": Accepted(
        rows=(
            (2, "BIO-101-001-FA26", "BIO-101-001-SP27", "Biology", None),
            (3, "CHEM-111-001-FA26", "CHEM-111-001-SP27", "Chemistry", None),
            (4, "MATH-140-001-FA26", "MATH-140-001-SP27", "Calculus", None),
            (5, "PHYS-150-001-FA26", "PHYS-150-001-SP27", "Physics", None),
        )
    ),
    # Formula-looking text is a course name like any other: accepted verbatim, as Learn shows
    # it; results.csv (which never carries names) prefixes a quote to cells that start so.
    "formula_cells.csv": Accepted(
        rows=(
            (
                2,
                "BIO-101-001-FA26",
                "BIO-101-001-SP27",
                '=HYPERLINK("http://evil.example/","Click")',
                "x",
            ),
            (3, "BIO-101-002-FA26", "BIO-101-002-SP27", "+1", "-2+3"),
            (4, "BIO-101-003-FA26", "BIO-101-003-SP27", "@x", "=cmd|' /C calc'!A0"),
            (5, "@SUM(A1)", "BIO-101-004-SP27", "=1+1", None),
        )
    ),
    "formula_target.csv": Refused(
        (
            f"line 2, column target_course_id: {_TARGET_CHARS}; remove '=' (value "
            "'=BIO-101-001-SP27')",
        )
    ),
    # Control characters are refused wherever they are, named escaped, never printed raw.
    # The unknown column's warning escapes the header's ESC, so a terminal never acts on it.
    "control_characters.csv": Refused(
        (
            f"line 2, column name: {_NUL} (value 'Bio\\x00logy')",
            f"line 3, column source_course_id: {_ESC} (value 'BIO\\x1b-101-002-FA26')",
            f"line 3, column name: {_ESC} (value '\\x1b[31mRed\\x1b[0m')",
        ),
        warnings=(
            "line 1, column \\x1b[1mnotes: unknown column: its cells are ignored (value "
            "'\\x1b[1mnotes')",
        ),
    ),
    "control_character_in_target.csv": Refused(
        (
            f"line 2, column target_course_id: {_TARGET_CHARS}; remove '\\x00' (value "
            "'BIO-101-001-SP27\\x00')",
        )
    ),
    # The header cell is named with its control character escaped; the column to rename it to
    # is the one it resembles, never the header cell itself.
    "control_character_in_header.csv": Refused(
        (
            "line 1, column target_course_id\\x00: unknown column, close to target_course_id: "
            "rename it target_course_id (as it is, its cells would be ignored) (value "
            "'target_course_id\\x00')",
        )
    ),
    "empty.csv": Refused(
        (
            "the file is empty: the first line must be the header (source_course_id, "
            "target_course_id, copy_into_existing, name, description, external_id, term_id, "
            "available, start_date, end_date, copy_profile, instructors, child_course_ids, "
            "shift_dates)",
        )
    ),
    "header_only.csv": Refused((_NO_ROWS,)),
    "double_bom.csv": Accepted(
        rows=((2, "BIO-101-001-FA26", "BIO-101-001-SP27", "Biology", None),)
    ),
    # Lines count as an editor shows them: the blank line above the header, blank and
    # comma-only lines, and a quoted cell spanning two lines.
    "blank_lines_crlf.csv": Accepted(
        rows=(
            (4, "BIO-101-001-FA26", "BIO-101-001-SP27", "Biology", "Cells"),
            (7, "CHEM-111-001-FA26", "CHEM-111-001-SP27", "Chemistry", 'Atoms\r\nand "molecules"'),
            (10, "MATH-140-001-FA26", "MATH-140-001-SP27", "Calculus", None),
        )
    ),
    "cr_line_endings.csv": Accepted(
        rows=(
            (2, "BIO-101-001-FA26", "BIO-101-001-SP27", "Biology", None),
            (4, "CHEM-111-001-FA26", "CHEM-111-001-SP27", "Chemistry", None),
        )
    ),
    # Two Excel exports pasted together: the second header is named, not copied from.
    "concatenated_exports.csv": Refused(
        ("line 3: this line repeats the header (two files pasted together?): remove it",)
    ),
    # A quoted cell spanning two lines, as Excel writes one, with --delimiter ';'.
    "semicolon_multiline_cell.csv": Accepted(
        rows=(
            (2, "BIO-101-001-FA26", "BIO-101-001-SP27", "Biologie", "Zellen\r\nund Gene"),
            (4, "CHEM-111-001-FA26", "CHEM-111-001-SP27", "Chemie", None),
        ),
        delimiter=";",
    ),
    "semicolon_unclosed_quote.csv": Refused(
        (f"line 3: {_OPEN_QUOTE} (value 'CHEM-111-001-FA26;CHEM-111-001-SP27;\"Chemie')",),
        delimiter=";",
    ),
    # -- the instructors column: one file per kind of mistake, each message naming its fix --
    # As Excel users type it: a trailing ';', spaces, any case of a built-in role, a blank cell
    # (its enrolments: test_excel_style_instructors_are_read_as_enrolments).
    "instructors_excel_style.csv": Accepted(
        rows=(
            (2, "BIO-101-001-FA26", "BIO-101-001-SP27", "Biology", None),
            (3, "CHEM-111-001-FA26", "CHEM-111-001-SP27", "Chemistry", None),
            (4, "MATH-140-001-FA26", "MATH-140-001-SP27", "Calculus", None),
        )
    ),
    # A header one letter off is refused like any other near-miss column.
    "misspelled_instructors_header.csv": Refused(
        (
            "line 1, column instructor: unknown column, close to instructors: rename it "
            "instructors (as it is, its cells would be ignored) (value 'instructor')",
        )
    ),
    # A bare word: which id it is cannot be guessed, so userName: is suggested, not assumed.
    "instructors_without_kind.csv": Refused(
        (
            "line 2, column instructors: jdoe does not say which kind of user id it is: write "
            f"userName:jdoe ({_ID_FORMS}) (value 'jdoe')",
            "line 3, column instructors: jdoe, asmith does not say which kind of user id it is: "
            f"write userName:jdoe;userName:asmith ({_ID_FORMS}) (value 'jdoe, asmith')",
        )
    ),
    # An empty entry between two ';' or at the start; a single trailing ';' is allowed.
    "instructors_empty_entry.csv": Refused(
        (
            "line 2, column instructors: empty entry after userName:jdoe: remove the extra ';' "
            "(one ';' between users) (value 'userName:jdoe;;userName:asmith')",
            "line 3, column instructors: empty entry before userName:jdoe: remove the ';' at the "
            "start of the cell (value ';userName:jdoe')",
            "line 4, column instructors: lists no user, only ';': list users like userName:jdoe, "
            "or leave the cell blank (value ';')",
        )
    ),
    # A kind with no id after it, and a role with no user before it.
    "instructors_no_user.csv": Refused(
        (
            "line 2, column instructors: userName: names no user: write the user's userName "
            "after the ':' (value 'userName:')",
            "line 3, column instructors: =Grader names no user before '=': write the user id "
            "first, like userName:jdoe=Grader (value '=Grader')",
        )
    ),
    # A kind Learn does not take: the one it resembles is named when there is one.
    "instructors_unknown_kind.csv": Refused(
        (
            "line 2, column instructors: unknown kind of user id in user:jdoe: write "
            f"userName:jdoe ({_ID_FORMS}) (value 'user:jdoe')",
            "line 3, column instructors: unknown kind of user id in login:asmith: write "
            "userName:asmith, externalId:asmith or uuid:asmith, whichever it is (or the user's "
            "primary id, like _12_1) (value 'login:asmith')",
            "line 4, column instructors: nothing before ':' in :jdoe: write userName:jdoe "
            f"({_ID_FORMS}) (value ':jdoe')",
        )
    ),
    # The same user twice in one cell, userName compared ignoring case.
    "instructors_listed_twice.csv": Refused(
        (
            "line 2, column instructors: userName:JDoe is listed twice (also as userName:jdoe: "
            f"user ids are compared ignoring case): {_ONE_ROLE} (value "
            "'userName:jdoe;userName:JDoe=Grader')",
            f"line 3, column instructors: _12_1 is listed twice: {_ONE_ROLE} (value '_12_1;_12_1')",
        )
    ),
    # An '=' with no role after it, and two of them in one entry.
    "instructors_bad_equals.csv": Refused(
        (
            "line 2, column instructors: userName:jdoe= has no role after '=': write a course "
            "role id after it (like userName:jdoe=TeachingAssistant), or drop the '=' to enrol "
            "as Instructor (value 'userName:jdoe=')",
            "line 3, column instructors: userName:jdoe=Grader=Instructor has more than one '=': "
            "give one user and one role, like userName:jdoe=Grader, and separate users with ';' "
            "(value 'userName:jdoe=Grader=Instructor')",
        )
    ),
    # A role after a space instead of '=' is the role, not a second user named TeachingAssistant.
    "instructors_role_without_equals.csv": Refused(
        (
            "line 2, column instructors: userName:tnguyen TeachingAssistant has a space where the "
            "role's '=' belongs: write userName:tnguyen=TeachingAssistant (a user, '=' and the "
            "course role) (value 'userName:tnguyen TeachingAssistant')",
            "line 3, column instructors: _77_1 grader has a space where the role's '=' "
            "belongs: write _77_1=Grader (a user, '=' and the course role) (value "
            "'userName:ana;_77_1 grader')",
        )
    ),
    # A role close to a built-in one is a typo, not the institution's own role; every mistake in
    # a cell is listed, each on its own line.
    "instructors_unknown_role.csv": Refused(
        (
            "line 2, column instructors: unknown course role Instuctor, close to the built-in "
            f"Instructor: write Instructor ({_NEAR_MISS_ROLE}) (value 'userName:jdoe=Instuctor')",
            "line 3, column instructors: unknown course role teachingasistant, close to the "
            f"built-in TeachingAssistant: write TeachingAssistant ({_NEAR_MISS_ROLE}) (value "
            "'userName:asmith=teachingasistant')",
            "line 4, column instructors: unknown course role Teaching Assistant, close to the "
            f"built-in TeachingAssistant: write TeachingAssistant ({_NEAR_MISS_ROLE}) (value "
            "'userName:jdoe=Teaching Assistant;userName:asmith=Lab Helper')",
            "line 4, column instructors: course role Lab Helper has a space, which no role id "
            "has: write the role's id as Learn shows it (like TeachingAssistant), not its name, "
            "and separate users with ';' (value 'userName:jdoe=Teaching Assistant;"
            "userName:asmith=Lab Helper')",
        )
    ),
    # Users run together with a line break (Alt+Enter in Excel), a comma or a space.
    "instructors_run_together.csv": Refused(
        (
            "line 2, column instructors: userName:jdoe\\nuserName:asmith holds more than one "
            "user id: separate users with ';' (userName:jdoe;userName:asmith) (value "
            "'userName:jdoe\\nuserName:asmith')",
            "line 4, column instructors: userName:jdoe, _12_1 holds more than one user id: "
            "separate users with ';' (userName:jdoe;_12_1) (value 'userName:jdoe, _12_1')",
            "line 5, column instructors: userName:jdoe asmith has a space, which no Learn "
            "userName has: separate users with ';' (userName:jdoe;userName:asmith) (value "
            "'userName:jdoe asmith')",
        )
    ),
    # -- the child_course_ids column (merged sections): one file per mistake, each message
    # naming the child, the other line and the fix --
    # As Excel users type it: spaces around ';', a trailing ';', externalId in any case, a
    # primary id, a blank cell (the children: test_excel_style_children_are_read_as_written).
    "children_excel_style.csv": Accepted(
        rows=(
            (2, "BIO-101-001-FA26", "BIO-101-SP27", "Biology", None),
            (3, "CHEM-111-001-FA26", "CHEM-111-SP27", "Chemistry", None),
            (4, "MATH-140-001-FA26", "MATH-140-001-SP27", "Calculus", None),
        )
    ),
    # `children` is no spelling of child_course_ids, yet plainly meant for it: refused.
    "misspelled_children_header.csv": Refused(
        (
            "line 1, column children: unknown column, close to child_course_ids: rename it "
            "child_course_ids (as it is, its cells would be ignored) (value 'children')",
        )
    ),
    # A course merged under two parents (course ids ignoring case), or twice under one.
    "children_listed_twice.csv": Refused(
        (
            "line 3, column child_course_ids: bio-101-002-sp27 is already a child on line 2 "
            f"(written BIO-101-002-SP27 there: {_IGNORING_CASE}): a course is merged under one "
            "parent only; list it once (value 'bio-101-002-sp27;BIO-102-001-SP27')",
            "line 4, column child_course_ids: externalId:CHEM-111-002 is listed twice: list each "
            "child once (value 'externalId:CHEM-111-002;externalId:CHEM-111-002')",
        )
    ),
    "children_child_is_a_target.csv": Refused(
        (
            "line 2, column child_course_ids: BIO-101-002-SP27 is the target_course_id of line "
            "3, a course this manifest copies: a child is an existing course, attached but never "
            "copied; remove it from child_course_ids or remove line 3 (value "
            "'BIO-101-001-SP27;BIO-101-002-SP27')",
        )
    ),
    # Another row's source, and the row's own source (also a second parent for it).
    "children_child_is_a_source.csv": Refused(
        (
            "line 2, column child_course_ids: CHEM-111-001-FA26 is the source_course_id of line "
            "3: a course this manifest copies from is not made a child (a child's content is "
            "managed from its parent); remove it here or copy line 3 from another course (value "
            "'BIO-101-001-SP27;CHEM-111-001-FA26')",
            "line 3, column child_course_ids: chem-111-001-fa26 is this row's source_course_id "
            f"(written CHEM-111-001-FA26 there: {_IGNORING_CASE}): the course copied from is not "
            "merged into its copy; remove it from child_course_ids (value "
            "'CHEM-111-001-SP27;chem-111-001-fa26')",
            "line 3, column child_course_ids: chem-111-001-fa26 is already a child on line 2 "
            f"(written CHEM-111-001-FA26 there: {_IGNORING_CASE}): a course is merged under one "
            "parent only; list it once (value 'CHEM-111-001-SP27;chem-111-001-fa26')",
        )
    ),
    "children_parent_as_child.csv": Refused(
        (
            "line 3, column child_course_ids: BIO-101-SP27 is the target_course_id of line 2, a "
            "parent with children of its own: a parent cannot be a child (Learn merges one level "
            "only); remove it from child_course_ids (value 'BIO-201-001-SP27;BIO-101-SP27')",
        )
    ),
    "children_own_target.csv": Refused(
        (
            "line 2, column child_course_ids: bio-101-sp27 is this row's own target_course_id "
            f"(written BIO-101-SP27 there: {_IGNORING_CASE}): a course cannot be merged into "
            "itself; remove it from child_course_ids (value 'BIO-101-001-SP27;bio-101-sp27')",
        )
    ),
    # Courses run together with a space or a comma, a kind Learn's path takes but the column
    # does not, a character no courseId has, an externalId: with nothing after it.
    "children_bad_id_form.csv": Refused(
        (
            "line 2, column child_course_ids: BIO-101-001-SP27 BIO-101-002-SP27 holds more than "
            "one course id: separate courses with ';' (BIO-101-001-SP27;BIO-101-002-SP27) (value "
            "'BIO-101-001-SP27 BIO-101-002-SP27')",
            "line 3, column child_course_ids: CHEM-111-001-SP27, CHEM-111-002-SP27 holds more "
            "than one course id: separate courses with ';' (CHEM-111-001-SP27;CHEM-111-002-SP27) "
            "(value 'CHEM-111-001-SP27, CHEM-111-002-SP27')",
            "line 4, column child_course_ids: courseId:MATH-140-001-SP27: write MATH-140-001-SP27 "
            f"without 'courseId:' ({_CHILD_FORMS}) (value 'courseId:MATH-140-001-SP27;"
            "uuid:6a1f0c2e')",
            "line 4, column child_course_ids: unknown kind of course id in uuid:6a1f0c2e: "
            f"{_CHILD_FORMS} (value 'courseId:MATH-140-001-SP27;uuid:6a1f0c2e')",
            "line 5, column child_course_ids: HIST/210/001 is not a courseId, which may contain "
            f"only letters, digits, '-', '_' and '.': remove '/' ({_CHILD_FORMS}) (value "
            "'HIST/210/001;externalId:')",
            "line 5, column child_course_ids: externalId: names no course: write the course's "
            "externalId after the ':' (value 'HIST/210/001;externalId:')",
        )
    ),
    # An empty entry between two ';' or at the start; a single trailing ';' is allowed.
    "children_empty_item.csv": Refused(
        (
            "line 2, column child_course_ids: empty entry after BIO-101-001-SP27: remove the "
            "extra ';' (one ';' between courses) (value 'BIO-101-001-SP27;;BIO-101-002-SP27')",
            "line 3, column child_course_ids: empty entry before CHEM-111-001-SP27: remove the "
            "';' at the start of the cell (value ';CHEM-111-001-SP27')",
            "line 4, column child_course_ids: lists no course, only ';': list courses like "
            "BIO-101-002-SP27, or leave the cell blank (value ';')",
        )
    ),  # shift_dates: a sign, a whole number and d or w, or term; in any case. Each mistake names
    # the fix: the sign, the unit, blank for no shift, the three-year bound, term's start_date.
    "shift_dates_without_sign.csv": Refused(
        (
            "line 2, column shift_dates: a shift needs its sign: write +119d to move dates later "
            "or -119d to move them earlier (value '119d')",
            "line 3, column shift_dates: a shift needs its sign: write +17w to move dates later "
            "or -17w to move them earlier (value '17w')",
        )
    ),
    "shift_dates_without_unit.csv": Refused(
        (
            "line 2, column shift_dates: a shift needs its unit: write +119d for days or +119w "
            "for weeks (value '+119')",
            "line 3, column shift_dates: a shift needs its unit: write -2d for days or -2w for "
            "weeks (value '-2')",
        )
    ),
    "shift_dates_zero.csv": Refused(
        (
            "line 2, column shift_dates: a shift of 0 moves no date: leave shift_dates blank for "
            "no shift (value '+0d')",
            "line 3, column shift_dates: a shift of 0 moves no date: leave shift_dates blank for "
            "no shift (value '-0W')",
        )
    ),
    "shift_dates_too_far.csv": Refused(
        (
            "line 2, column shift_dates: moves dates by 1200 days, more than three years (1096 "
            "days at most): check the number and the unit (d for days, w for weeks) (value "
            "'+1200d')",
            "line 3, column shift_dates: moves dates by 1099 days, more than three years (1096 "
            "days at most): check the number and the unit (d for days, w for weeks) (value "
            "'-157w')",
        )
    ),
    "shift_dates_bad_form.csv": Refused(
        tuple(
            f"line {line}, column shift_dates: not a date shift: write a sign, a whole number "
            "and d (days) or w (weeks), as in +119d, -7d or +17w, or term (from the source's "
            f"start to this row's start_date) (value '{value}')"
            for line, value in ((2, "+17 weeks"), (3, "+1.5w"), (4, "next term"))
        )
    ),
    # Line 2 has its start_date; line 3's is blank, so its term has no week to move to.
    "shift_dates_term_without_start.csv": Refused(
        (
            "line 3, column shift_dates: term moves dates from the source's start to this row's "
            "start_date, which is blank: fill in start_date and end_date, or write a shift like "
            "+119d (value 'Term')",
        )
    ),
}

# Bytes an editor or a git setting could silently change, which the cases depend on.
_MARKERS: dict[str, bytes] = {
    "blank_lines_crlf.csv": b"\r\n\r\nBIO-101-001-FA26",
    "cr_line_endings.csv": b"Biology\r\rCHEM",
    "cp1252_bytes.csv": b"Fran\xe7ais \x96 \xc9conomie\r\n",
    "utf16_bom.csv": b"\xff\xfes\x00o\x00",
    "double_bom.csv": b"\xef\xbb\xbf\xef\xbb\xbfsource_course_id",
    "concatenated_exports.csv": b"Biology\r\n\xef\xbb\xbfsource_course_id",
    "control_characters.csv": b"Bio\x00logy,x\nBIO\x1b-101",
    "xlsx_workbook.csv": b"PK\x03\x04",
    "empty.csv": b"",
    "misspelled_copy_profile.csv": b"copy_profle\r\n",
    "yes_no_flags.csv": b",Y,Biology\r\n",
    "instructors_excel_style.csv": b"INSTRUCTORS\r\n",
    "instructors_empty_entry.csv": b";;userName:asmith\r\n",
    "instructors_run_together.csv": b'"userName:jdoe\nuserName:asmith"',
    "children_excel_style.csv": b"BIO-101-002-SP27 ;\r\n",
}


def load(path: Path, delimiter: str = ",") -> Manifest:
    """Load with UTC and the shipped profiles."""
    return load_manifest(path, timezone=ZoneInfo("UTC"), delimiter=delimiter, profiles=PROFILES)


def refusal(path: Path, delimiter: str = ",") -> ManifestInvalid:
    """The ManifestInvalid this file is refused with."""
    with pytest.raises(ManifestInvalid) as caught:
        load(path, delimiter)
    return caught.value


def problem_lines(path: Path, delimiter: str = ",") -> list[str]:
    """The one-line text of each problem ManifestInvalid carries for this file."""
    return [str(problem) for problem in refusal(path, delimiter).problems]


def validate(path: Path, delimiter: str = ",") -> Result:
    """`rollover validate PATH` in-process, in UTC."""
    return CliRunner().invoke(
        cli, ["validate", str(path), "--timezone", "UTC", "--delimiter", delimiter]
    )


def assert_no_traceback(result: Result) -> None:
    """The CLI ended on purpose: no traceback printed, no exception but its exit."""
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output


def assert_refused_by_cli(
    result: Result,
    path: Path,
    problems: list[str],
    *,
    warnings: tuple[str, ...] = (),
    hint: str = _FIX_HINT,
) -> None:
    """Exit 2, and stderr is exactly each warning and each problem after the path, then the
    error and the hint."""
    assert_no_traceback(result)
    assert result.exit_code == 2, result.output
    noun = "problem" if len(problems) == 1 else "problems"
    assert result.output.split("\n") == [
        *(f"Warning: {path}: {warning}" for warning in warnings),
        *(f"{path}: {problem}" for problem in problems),
        f"Error: {path}: {len(problems)} {noun}; nothing was sent to Learn",
        f"Hint: {hint}",
        "",
    ]


def assert_accepted_by_cli(result: Result, path: Path, rows: int, warnings: list[str]) -> None:
    """Exit 0, each warning after the path, then the plan's first line.

    Warnings are compared as printed, not unstyled: a control character in a header is escaped
    in the message (control_characters.csv), so no terminal ever acts on it.
    """
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    lines = result.output.split("\n")
    assert lines[: len(warnings) + 1] == [
        *(f"Warning: {path}: {warning}" for warning in warnings),
        f"{path}: valid, {rows} course{'' if rows == 1 else 's'}",
    ]


def test_every_corpus_file_has_a_case_and_every_case_a_file() -> None:
    """The table and the directory name the same files."""
    assert sorted(path.name for path in CORPUS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize(("name", "marker"), sorted(_MARKERS.items()))
def test_corpus_bytes_are_as_written(name: str, marker: bytes) -> None:
    """Line endings, byte order marks and control bytes survived checkout and editors."""
    data = (CORPUS / name).read_bytes()
    if marker:
        assert marker in data
    else:
        assert data == b""


_REFUSED = sorted(name for name, case in EXPECTED.items() if isinstance(case, Refused))
_ACCEPTED = sorted(name for name, case in EXPECTED.items() if isinstance(case, Accepted))


@pytest.mark.parametrize("name", _REFUSED)
def test_refused_file_lists_exactly_these_problems(name: str) -> None:
    """load_manifest raises ManifestInvalid whose problems, warnings and hint read as pinned."""
    case = EXPECTED[name]
    assert isinstance(case, Refused)
    refused = refusal(CORPUS / name, case.delimiter)
    assert [str(problem) for problem in refused.problems] == list(case.problems)
    assert [str(warning) for warning in refused.warnings] == list(case.warnings)
    assert refused.hint == case.hint


@pytest.mark.parametrize("name", _ACCEPTED)
def test_accepted_file_yields_exactly_these_rows_and_warnings(name: str) -> None:
    """load_manifest returns these rows on these physical lines, and these warnings."""
    case = EXPECTED[name]
    assert isinstance(case, Accepted)
    manifest = load(CORPUS / name, case.delimiter)
    assert [
        (row.line, row.source_course_id, row.target_course_id, row.name, row.description)
        for row in manifest.rows
    ] == list(case.rows)
    assert [str(warning) for warning in manifest.warnings] == list(case.warnings)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_prints_the_same_words_and_exits_2_or_0(name: str) -> None:
    """`rollover validate` prints each problem (exit 2) or each warning (exit 0), no traceback."""
    path = CORPUS / name
    case = EXPECTED[name]
    result = validate(path, case.delimiter)
    if isinstance(case, Refused):
        assert_refused_by_cli(
            result, path, list(case.problems), warnings=case.warnings, hint=case.hint
        )
    else:
        assert_accepted_by_cli(result, path, len(case.rows), list(case.warnings))


def test_yes_no_flags_are_read_as_true_and_false() -> None:
    """copy_into_existing Y, N, y and n are read as true, false, true, false."""
    rows = load(CORPUS / "yes_no_flags.csv").rows
    assert [row.copy_into_existing for row in rows] == [True, False, True, False]


def test_excel_style_instructors_are_read_as_enrolments() -> None:
    """A trailing ';', spaces and lower-case kinds and roles are read in Learn's spelling; an
    institution's own role is kept as written; a blank cell enrols no one."""
    rows = load(CORPUS / "instructors_excel_style.csv").rows
    assert [row.instructors for row in rows] == [
        (Enrolment("userName:jdoe", "Instructor"),),
        (
            Enrolment("userName:asmith", "TeachingAssistant"),
            Enrolment("_12_1", "Grader"),
            Enrolment("externalId:E123", "Mentor"),
        ),
        (),
    ]


def test_excel_style_children_are_read_as_written() -> None:
    """Spaces around ';' and a trailing ';' are dropped, externalId is spelled as Learn spells
    it, a primary id is kept, and a blank cell lists no child."""
    rows = load(CORPUS / "children_excel_style.csv").rows
    assert [row.children for row in rows] == [
        ("BIO-101-001-SP27", "BIO-101-002-SP27"),
        ("externalId:SIS.CHEM.111.002", "_4021_1"),
        (),
    ]


def test_utf16_file_reads_with_encoding_utf16() -> None:
    """The UTF-16 file is fine once named: --encoding utf-16 loads it (cp1252 does not)."""
    path = CORPUS / "utf16_bom.csv"
    rows = load_manifest(path, timezone=ZoneInfo("UTC"), encoding="utf-16", profiles=PROFILES).rows
    assert [(row.line, row.target_course_id, row.name) for row in rows] == [
        (2, "BIO-101-001-SP27", "Biology")
    ]
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(path, timezone=ZoneInfo("UTC"), encoding="cp1252", profiles=PROFILES)
    assert [problem.column for problem in caught.value.problems] == [
        "source_course_id",
        "target_course_id",
    ]


# -- written at test time: too big to keep in the repository ----------------------------------

TEN_MB = 10_000_000


def test_ten_megabyte_single_line_is_a_header_without_rows(tmp_path: Path) -> None:
    """One 10 MB line and no line break: the header without rows, and its huge unknown column a
    warning that names it in a few hundred characters, not ten million."""
    path = tmp_path / "one_line.csv"
    path.write_bytes(b"source_course_id,target_course_id," + b"n" * TEN_MB)
    shown = "n" * 200 + f"... ({TEN_MB} characters)"
    warning = (
        f"line 1, column {'n' * 80}...: unknown column: its cells are ignored (value {shown!r})"
    )
    refused = refusal(path)
    assert [str(problem) for problem in refused.problems] == [_NO_ROWS]
    assert [str(warning) for warning in refused.warnings] == [warning]
    assert_refused_by_cli(validate(path), path, [_NO_ROWS], warnings=(warning,))


def test_ten_megabyte_cell_is_refused_by_its_length(tmp_path: Path) -> None:
    """A row whose name is 10 MB long is refused on its line and column."""
    path = tmp_path / "long_cell.csv"
    name = "n" * TEN_MB
    path.write_bytes(f"source_course_id,target_course_id,name\nA-FA26,A-SP27,{name}\n".encode())
    shown = "n" * 200 + f"... ({TEN_MB} characters)"  # named, not echoed
    expected = [
        f"line 2, column name: is {TEN_MB} characters long; Learn allows at most 333: "
        f"shorten it (value {shown!r})"
    ]
    assert problem_lines(path) == expected
    assert_refused_by_cli(validate(path), path, expected)


def test_excel_trailing_empty_columns_up_to_xfd_are_accepted(tmp_path: Path) -> None:
    """A stray cell in Excel's last column (XFD) pads every line to 16,384 cells; still valid."""
    padding = b"," * 16_382
    path = tmp_path / "xfd.csv"
    path.write_bytes(
        b"source_course_id,target_course_id"
        + padding
        + b"\r\n"
        + b"".join(b"SRC-%d,TGT-%d" % (i, i) + padding + b"\r\n" for i in range(25))
    )
    manifest = load(path)
    assert [row.line for row in manifest.rows] == list(range(2, 27))
    assert manifest.warnings == ()
    assert_accepted_by_cli(validate(path), path, 25, [])


def test_two_hundred_thousand_line_manifest_loads(tmp_path: Path) -> None:
    """A 200,000-line manifest loads with every row on its line, and validates (time not pinned)."""
    path = tmp_path / "big.csv"
    rows = (
        f"SRC-{i:06d}-FA26,TGT-{i:06d}-SP27,Course {i} (Spring 2027),SP27,No,2027-01-11,2027-05-07"
        for i in range(2, 200_001)
    )
    path.write_text(
        "source_course_id,target_course_id,name,term_id,available,start_date,"
        "end_date\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    manifest = load(path)
    assert len(manifest.rows) == 199_999
    assert (manifest.rows[0].line, manifest.rows[-1].line) == (2, 200_000)
    assert manifest.rows[-1].target_course_id == "TGT-200000-SP27"
    assert_accepted_by_cli(validate(path), path, 199_999, [])
