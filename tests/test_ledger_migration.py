"""A ledger written by the previous rollover (schema 1) is migrated on opening, and resumes.

tests/ledgers/schema1.ledger.sqlite was written by the previous version over the 25 rows of
sample_manifests/fall2026.csv: 1 done, 2 failed (a refused copy, a refused PATCH), 1 needs_review
(a copy into an existing course whose answer was lost), 21 pending; its HTTP answers are kept as
self-transitions ("HTTP 202 POST /v2/courses/{id}/copy"), it is bound to the rehearsal site
'sandbox:fall2026.sandbox.json' and it remembers the quota 9000 of 10000. Every test works on a
copy in tmp_path: the file in the repository is never opened for writing.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from harness import make_learn

from rollover.engine import Rollover, RunOptions, RunOutcome
from rollover.errors import LedgerError
from rollover.ledger import SCHEMA_VERSION, Answer, ErrorKind, Ledger, LedgerRow, Proof, State
from rollover.manifest import load_manifest
from rollover.plan import PROFILES
from rollover.sandbox import SeedCourse

TESTS = Path(__file__).resolve().parent
SCHEMA_1 = TESTS / "ledgers" / "schema1.ledger.sqlite"
SAMPLE = TESTS.parent / "sample_manifests" / "fall2026.csv"

DONE = "BIO-101-001-SP27"
COPY_REFUSED = "BIO-101-002-SP27"
PATCH_REFUSED = "BIO-101-003-SP27"
MAYBE_APPLIED = "HIST-210-001-SP27"
SETTLED = {
    DONE: State.DONE,
    COPY_REFUSED: State.FAILED,
    PATCH_REFUSED: State.FAILED,
    MAYBE_APPLIED: State.NEEDS_REVIEW,
}
# The HTTP answers schema 1 kept as self-transitions, row by row: (state, endpoint, status).
ANSWERS_OF_SCHEMA_1 = {
    DONE: [
        ("intent", "POST /v2/courses/{id}/copy", 202),
        ("located", "GET /v1/courses/{id}/tasks/{id}", 303),
        ("copied", "PATCH /v3/courses/{id}", 200),
    ],
    COPY_REFUSED: [("intent", "POST /v2/courses/{id}/copy", 404)],
    PATCH_REFUSED: [("copied", "PATCH /v3/courses/{id}", 400)],
}


@pytest.fixture
def old_ledger(tmp_path: Path) -> Path:
    """A copy of the schema-1 ledger, as the previous version left it."""
    path = tmp_path / "fall2026.ledger.sqlite"
    shutil.copy(SCHEMA_1, path)
    return path


def raw(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` read straight from the file, bypassing the Ledger."""
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def schema_version(path: Path) -> str:
    return str(raw(path, "SELECT value FROM meta WHERE key = 'schema_version'")[0][0])


def opened_tracing(path: Path, sent: list[str]) -> Ledger:
    """The ledger at `path`, every SQL statement it sends appended to `sent`, one line each."""
    return Ledger(path, trace=lambda sql: sent.append(" ".join(sql.split())))


def test_the_fixture_is_a_schema_1_ledger(old_ledger: Path) -> None:
    """The stored file really is schema 1: no error_kind, no answers table, answers in events."""
    assert schema_version(old_ledger) == "1"
    columns = {row[1] for row in raw(old_ledger, "PRAGMA table_info(rows)")}
    assert "error_kind" not in columns
    assert raw(old_ledger, "SELECT name FROM sqlite_master WHERE name = 'answers'") == []
    assert raw(
        old_ledger,
        "SELECT count(*) FROM events WHERE from_state = to_state AND detail LIKE 'HTTP %'",
    ) == [(5,)]


def test_opening_migrates_a_schema_1_ledger_in_one_step(old_ledger: Path) -> None:
    """Opening a schema-1 ledger migrates it to the current schema in one transaction, once;
    reopening does not."""
    sent: list[str] = []
    with opened_tracing(old_ledger, sent) as ledger:
        assert len(ledger.rows()) == 25
    assert SCHEMA_VERSION == 8 and schema_version(old_ledger) == "8"
    altered = [n for n, sql in enumerate(sent) if sql.startswith("ALTER TABLE")]
    stamped = [
        n
        for n, sql in enumerate(sent)
        if sql.startswith("INSERT OR REPLACE INTO meta VALUES ('schema_version'")
    ]
    # To 2: error_kind, resolution and its time, course_url, the shell's counts, verification,
    # enrolled, settle_until; to 3: copied_into, and source_counts rebuilt with counts optional;
    # to 4: intent_site_at and proof; to 5: children_attached (and the children table); to 6:
    # shift_days, dates_listed, dates_shifted, dates_to_shift (and the dated_items table); to 7:
    # shift_before and the dated items' title; to 8: calendar_span and the items' held_days.
    assert len(altered) == 22 and len(stamped) == 1
    # The schema change, the data moved and the new version: all inside one transaction.
    begin = max(n for n, sql in enumerate(sent[: altered[0]]) if sql.startswith("BEGIN"))
    commit = next(n for n, sql in enumerate(sent) if n > begin and sql == "COMMIT")
    assert begin < altered[0] < altered[-1] < stamped[0] < commit
    assert any(sql.startswith("INSERT INTO answers") for sql in sent[begin:commit])
    sent.clear()
    with opened_tracing(old_ledger, sent):
        pass
    assert not any(sql.startswith(("ALTER", "INSERT INTO answers", "UPDATE rows")) for sql in sent)


def test_a_migration_that_fails_leaves_the_schema_1_file_as_it_was(old_ledger: Path) -> None:
    """The migration is one transaction: failing half way leaves schema 1, answers in events."""
    with sqlite3.connect(old_ledger) as db:  # in the way of the migration's CREATE TABLE
        db.execute("CREATE TABLE answers (note TEXT)")
    with pytest.raises(LedgerError):
        Ledger(old_ledger)
    assert schema_version(old_ledger) == "1"
    # The ALTER TABLE that ran before the failure was rolled back with the rest.
    assert "error_kind" not in {row[1] for row in raw(old_ledger, "PRAGMA table_info(rows)")}
    assert raw(old_ledger, "SELECT count(*) FROM events") == [(44,)]
    with sqlite3.connect(old_ledger) as db:
        db.execute("DROP TABLE answers")
    with Ledger(old_ledger) as ledger:  # the next opening migrates it after all
        assert ledger.row(COPY_REFUSED).error_kind is ErrorKind.COPY_REFUSED


def test_rows_keep_their_state_and_errors_get_their_kind(old_ledger: Path) -> None:
    """Every row keeps its state and error; failed and needs_review rows get their ErrorKind."""
    with Ledger(old_ledger) as ledger:
        rows = {row.target_course_id: row for row in ledger.rows()}
    assert len(rows) == 25
    assert {t: r.state for t, r in rows.items() if r.state is not State.PENDING} == SETTLED
    kinds = {t: r.error_kind for t, r in rows.items() if r.error_kind is not None}
    assert kinds == {
        COPY_REFUSED: ErrorKind.COPY_REFUSED,
        PATCH_REFUSED: ErrorKind.PATCH_REFUSED,
        MAYBE_APPLIED: ErrorKind.COPY_MAYBE_APPLIED,
    }
    assert rows[COPY_REFUSED].error == "Learn refused the copy: Course not found"
    assert rows[PATCH_REFUSED].error == "copied as _102_1 but Learn refused the PATCH: Invalid date"
    assert "may or may not have been applied" in (rows[MAYBE_APPLIED].error or "")
    done = rows[DONE]
    assert (done.course_pk, done.error, done.error_kind, done.attempts) == ("_101_1", None, None, 1)
    assert rows[MAYBE_APPLIED].target_pk == "_55_1"


def test_http_answers_move_out_of_history(old_ledger: Path) -> None:
    """The "HTTP 202 POST ..." self-transitions become Answers; history keeps real transitions."""
    with Ledger(old_ledger) as ledger:
        for target in (DONE, COPY_REFUSED, PATCH_REFUSED, MAYBE_APPLIED):
            answers = ledger.answers(target)
            assert all(isinstance(answer, Answer) for answer in answers)
            assert [(a.state, a.endpoint, a.status) for a in answers] == ANSWERS_OF_SCHEMA_1.get(
                target, []
            )
            assert not any(
                (step.detail or "").startswith("HTTP ") for step in ledger.history(target)
            )
        assert [step.to_state for step in ledger.history(DONE)] == [
            "pending",
            "intent",
            "located",
            "copied",
            "patched",
            "done",
        ]
        assert ledger.answers(DONE)[0].at == "2026-11-20T22:00:04.000+00:00"
        # A self-transition that is not an HTTP answer stays in history.
        assert [(s.from_state, s.to_state, s.detail) for s in ledger.history(MAYBE_APPLIED)][1] == (
            "pending",
            "pending",
            "target resolved",
        )
    assert raw(old_ledger, "SELECT count(*) FROM events") == [(44 - 5,)]


def test_site_binding_and_quota_survive(old_ledger: Path) -> None:
    """The site the ledger was bound to, and the quota last seen, are still known."""
    with Ledger(old_ledger) as ledger:
        assert ledger.bound_site() == "sandbox:fall2026.sandbox.json"
        quota = ledger.last_quota()
    assert quota is not None and (quota.remaining, quota.limit) == (9000, 10000)


def test_a_run_resumes_on_the_migrated_ledger(old_ledger: Path) -> None:
    """The 21 pending rows are copied once each and end done; the settled rows are untouched."""
    manifest = load_manifest(SAMPLE, timezone=ZoneInfo("America/Chicago"), profiles=PROFILES)
    sources = dict.fromkeys(row.source_course_id for row in manifest.rows)
    shells = [row.target_course_id for row in manifest.rows if row.copy_into_existing]
    learn = make_learn(
        copy_seconds=30.0,
        copy_sigma=0.5,
        slots=4,
        courses=[
            *(SeedCourse(source, f"{source} (last term)") for source in sources),
            *(
                SeedCourse(shell, f"{shell} (SIS shell)", term_id="SP27", shell=True)
                for shell in shells
            ),
        ],
    )

    async def resume() -> tuple[RunOutcome, dict[str, LedgerRow], dict[str, LedgerRow]]:
        with Ledger(old_ledger, clock=learn.clock.datetime) as ledger:
            before = {row.target_course_id: row for row in ledger.rows()}
            # The manifest as the previous version stored it: resuming it changes no row.
            ledger.sync_manifest([row.spec for row in before.values()])
            assert {r.target_course_id: r.state for r in ledger.rows()} == {
                t: r.state for t, r in before.items()
            }
            async with learn.client() as client:
                outcome = await Rollover(
                    ledger,
                    client,
                    RunOptions(poll_min=1, poll_max=30, adopt_settle=60),
                    clock=learn.clock.datetime,
                    sleep=learn.clock.sleep,
                    monotonic=learn.clock.time,
                ).run()
            return outcome, before, {row.target_course_id: row for row in ledger.rows()}

    with Ledger(old_ledger) as ledger:
        settled_history = {target: ledger.history(target) for target in SETTLED}
        settled_answers = {target: ledger.answers(target) for target in SETTLED}
    outcome, before, after = asyncio.run(resume())

    pending = {t for t, row in before.items() if row.state is State.PENDING}
    assert len(pending) == 21 and outcome.stopped is None and outcome.fatal is None
    assert {t: after[t].state for t in pending} == dict.fromkeys(pending, State.DONE)
    assert learn.sandbox.record.copies_per_target() == dict.fromkeys(pending, 1)
    assert all(after[t].attempts == 1 and after[t].course_pk for t in pending)
    assert all(patch.copy_complete for patch in learn.sandbox.record.patches)
    # The done, failed and needs_review rows: same row, same history, same answers, no call.
    with Ledger(old_ledger) as ledger:
        for target in SETTLED:
            assert after[target] == before[target]
            assert ledger.history(target) == settled_history[target]
            assert ledger.answers(target) == settled_answers[target]
        # The resumed rows' answers went to the answers table, under the new schema.
        assert ("intent", "POST /v2/courses/{id}/copy", 202) in [
            (a.state, a.endpoint, a.status) for a in ledger.answers("CS-240-001-SP27")
        ]
    touched = " ".join(path for _, path, _ in learn.transport.sent)
    assert "_101_1" not in touched and "_102_1" not in touched
    assert not any(target in touched for target in SETTLED)
    assert schema_version(old_ledger) == str(SCHEMA_VERSION)


def test_a_ledger_of_a_newer_schema_is_refused_untouched(old_ledger: Path) -> None:
    """schema_version 99 (a newer rollover) is a LedgerError, and the file is not changed."""
    with sqlite3.connect(old_ledger) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(LedgerError, match="newer rollover") as refused:
        Ledger(old_ledger)
    assert "schema 99" in refused.value.message
    assert "upgrade rollover" in (refused.value.hint or "")
    assert schema_version(old_ledger) == "99"
    assert raw(old_ledger, "SELECT name FROM sqlite_master WHERE name = 'answers'") == []
    assert raw(old_ledger, "SELECT count(*) FROM events") == [(44,)]


def test_a_copied_row_keeps_its_warnings_kind(old_ledger: Path) -> None:
    """A row left `copied` with Learn's CompleteWithErrors warning gets the kind copy_unclean."""
    warning = "Learn finished the copy with status CompleteWithErrors"
    with sqlite3.connect(old_ledger) as db:
        db.execute(
            "UPDATE rows SET state = 'copied', course_pk = '_103_1', error = ?,"
            " attempts = 1 WHERE target_course_id = 'CS-240-001-SP27'",
            (warning,),
        )
    with Ledger(old_ledger) as ledger:
        row = ledger.row("CS-240-001-SP27")
        assert (row.state, row.error, row.error_kind) == (
            State.COPIED,
            warning,
            ErrorKind.COPY_UNCLEAN,
        )
        assert ledger.row("CS-110-002-SP27").error_kind is None  # no error, no kind


def as_schema_5(path: Path) -> None:
    """Turn the ledger at `path` into what rollover's schema 5 kept: no dated items, no shift
    or counts of them on the rows."""
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE dated_items")
        for column in (
            "shift_days",
            "shift_before",
            "dates_listed",
            "dates_shifted",
            "dates_to_shift",
            "calendar_span",
        ):
            db.execute(f"ALTER TABLE rows DROP COLUMN {column}")
        db.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")


def as_schema_4(path: Path) -> None:
    """Turn the ledger at `path` into what rollover's schema 4 kept: no children table, no
    count of children attached."""
    as_schema_5(path)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE children")
        db.execute("ALTER TABLE rows DROP COLUMN children_attached")
        db.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")


def as_schema_3(path: Path) -> None:
    """Turn the ledger at `path` into what rollover's schema 3 kept: the same tables without the
    two columns schema 4 added."""
    as_schema_4(path)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE rows DROP COLUMN intent_site_at")
        db.execute("ALTER TABLE rows DROP COLUMN proof")
        db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")


# Rows of a schema-3 ledger that adopted copies: (state, error_kind) -> the proof schema 4 gives.
ADOPTED_IN_SCHEMA_3 = {
    "CS-110-001-SP27": ("copied", None, Proof.DUE),  # waiting out the settle
    "CS-110-002-SP27": ("patched", None, Proof.DUE),  # patched, not yet enrolled
    "CS-240-001-SP27": ("copied", "copy_unclean", None),  # Learn said the copy ended
    "ENG-101-001-SP27": ("done", None, None),  # finished by schema 3: left as it is
    "ENG-101-002-SP27": ("failed", "enrol_refused", Proof.DUE),  # to be enrolled again
}


def test_a_schema_3_ledger_opens_with_the_proof_of_its_adopted_rows_due(old_ledger: Path) -> None:
    """Schema 3 -> 4: adopted rows not done whose end Learn never showed get their proof due
    (no enrolment until counted, then read back); others none; old intents have no Learn time."""
    with Ledger(old_ledger):
        pass
    with sqlite3.connect(old_ledger) as db:
        for target, (state, kind, _) in ADOPTED_IN_SCHEMA_3.items():
            db.execute(
                "UPDATE rows SET state = ?, error_kind = ?, adopted = 1, course_pk = '_9_1',"
                " attempts = 1, intent_at = '2026-11-20T22:00:04.000+00:00'"
                " WHERE target_course_id = ?",
                (state, kind, target),
            )
    as_schema_3(old_ledger)
    assert "proof" not in {row[1] for row in raw(old_ledger, "PRAGMA table_info(rows)")}
    with Ledger(old_ledger) as ledger:
        rows = {row.target_course_id: row for row in ledger.rows()}
    assert schema_version(old_ledger) == str(SCHEMA_VERSION)
    assert {t: rows[t].proof for t in ADOPTED_IN_SCHEMA_3} == {
        t: proof for t, (_, _, proof) in ADOPTED_IN_SCHEMA_3.items()
    }
    assert all(row.proof is None for t, row in rows.items() if t not in ADOPTED_IN_SCHEMA_3)
    assert all(row.intent_site_at is None for row in rows.values())
    assert rows["CS-110-002-SP27"].state is State.PATCHED


# Texts schema 1 wrote that the case-insensitive `LIKE '%word%'` classification labelled wrong:
# Learn's message quoted after the tool's own words, a word of a pattern in another case or in a
# courseId, a lost task whose reason names the unfinished status. (target, state, error, kind)
TRIPPED_THE_OLD_LIKE = [
    (
        "BIO-210-001-SP27",
        "failed",
        "Learn refused the copy: Incomplete request body",
        "copy_refused",
    ),
    (
        "CHEM-111-001-SP27",
        "needs_review",
        "Learn accepted the copy (/learn/api/public/v1/courses/_1_1/tasks/_9_1) but Learn "
        "finished the copy with status Incomplete and no course CHEM-111-001-SP27 exists; "
        "check the copy in Learn before re-running",
        "course_missing",
    ),
    (
        "HIST-210-002-SP27",
        "failed",
        "copy_into_existing is true but Learn has no course HIST-210-002-SP27-EXISTS: create "
        "the shell first, or set copy_into_existing to false",
        "shell_missing",
    ),
    (
        "CHEM-111-002-SP27",
        "failed",
        "copied as _105_1 but Learn refused the PATCH: Term INCOMPLETE-FA27 not found",
        "patch_refused",
    ),
    (
        "CHEM-112-001-SP27",
        "failed",
        "Learn refused a request: User not found; Learn has no course membership for it",
        "request_refused",
    ),
    (
        "CHEM-112-002-SP27",
        "failed",
        "courseId CHEM-112-002-SP27 already belongs to a course created 2026-11-01T00:00:00+00:00,"
        " before this rollover asked for it: choose another target_course_id",
        "target_taken",
    ),
    (
        "MATH-140-001-SP27",
        "needs_review",
        "Task _9_1 ended: copy incomplete; the course was patched, check its content",
        "copy_unclean",
    ),
    ("MATH-140-002-SP27", "copied", "Task _9_2 ended: copy incomplete", "copy_unclean"),
    (
        "MATH-141-001-SP27",
        "needs_review",
        "course MATH-141-001-SP27 exists but Learn did not say when it was created; check "
        "whether it is this rollover's copy",
        "created_unknown",
    ),
]


def test_error_kinds_come_from_the_exact_words_schema_1_wrote(old_ledger: Path) -> None:
    """The migration reads each schema-1 error by the exact, case-sensitive start of the words
    the old engine wrote (Learn's words after them decide nothing): every crafted row gets its
    right kind, and the real rows keep theirs."""
    with sqlite3.connect(old_ledger) as db:
        for target, state, error, _ in TRIPPED_THE_OLD_LIKE:
            db.execute(
                "UPDATE rows SET state = ?, error = ?, course_pk = '_105_1', attempts = 1"
                " WHERE target_course_id = ?",
                (state, error, target),
            )
    with Ledger(old_ledger) as ledger:
        kinds = {row.target_course_id: row.error_kind for row in ledger.rows()}
    assert {target: kinds[target] for target, *_ in TRIPPED_THE_OLD_LIKE} == {
        target: ErrorKind(kind) for target, _, _, kind in TRIPPED_THE_OLD_LIKE
    }
    assert (kinds[COPY_REFUSED], kinds[PATCH_REFUSED], kinds[MAYBE_APPLIED]) == (
        ErrorKind.COPY_REFUSED,
        ErrorKind.PATCH_REFUSED,
        ErrorKind.COPY_MAYBE_APPLIED,
    )
