"""The ledger's schema: its tables, and the migration of a ledger an older rollover wrote.

A ledger written by an older rollover is migrated in one transaction when a run opens it, so a
rollover half done by the previous version resumes; one written by a newer rollover is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from rollover.errors import LedgerError

SCHEMA_VERSION = 8

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    target_course_id TEXT PRIMARY KEY,
    line INTEGER NOT NULL,
    in_manifest INTEGER NOT NULL DEFAULT 1,
    source_course_id TEXT NOT NULL,
    copy_into_existing INTEGER NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    target_pk TEXT,
    task_location TEXT,
    course_pk TEXT,
    adopted INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    intent_at TEXT,
    requested_at TEXT,
    copied_at TEXT,
    completed_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rows_by_line ON rows (in_manifest, line);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target_course_id TEXT NOT NULL,
    at TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    detail TEXT
);
"""

# Schema 1 -> 2: a row's error gets its kind (status advice is chosen from it, not from the
# error's words), a needs_review row can carry a person's decision (`rollover resolve`), rows
# get their instructors' enrolments, their shell's counts and their verification, sources their
# counts (fetched once), and
# Learn's HTTP answers get their own table instead of self-transitions in `events` whose detail
# read "HTTP 202 POST /v2/courses/{id}/copy".
_TO_2_TABLES = """
ALTER TABLE rows ADD COLUMN error_kind TEXT;
ALTER TABLE rows ADD COLUMN resolution TEXT;
ALTER TABLE rows ADD COLUMN resolved_at TEXT;
ALTER TABLE rows ADD COLUMN course_url TEXT;
ALTER TABLE rows ADD COLUMN shell_contents INTEGER;
ALTER TABLE rows ADD COLUMN shell_columns INTEGER;
ALTER TABLE rows ADD COLUMN verification TEXT;
ALTER TABLE rows ADD COLUMN enrolled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rows ADD COLUMN settle_until TEXT;
CREATE TABLE enrolments (
    target_course_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (target_course_id, user_id)
);
CREATE TABLE source_counts (
    source_course_id TEXT PRIMARY KEY,
    contents INTEGER NOT NULL,
    columns INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target_course_id TEXT NOT NULL,
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status INTEGER NOT NULL
);
CREATE INDEX answers_by_row ON answers (target_course_id, id);
CREATE INDEX events_by_row ON events (target_course_id, id);
"""
_TO_2_DATA = """
INSERT INTO answers (target_course_id, at, state, endpoint, status)
    SELECT target_course_id, at, to_state, substr(detail, 10), CAST(substr(detail, 6, 3) AS INTEGER)
    FROM events WHERE from_state = to_state AND detail GLOB 'HTTP [0-9][0-9][0-9] *'
    ORDER BY id;
DELETE FROM events WHERE from_state = to_state AND detail GLOB 'HTTP [0-9][0-9][0-9] *';
"""

# The kinds of errors written by schema 1, told apart once, here, by the words schema 1's
# engine wrote (the same in every schema-1 version); from schema 2 on the engine writes the kind
# itself. Each pattern is a case-sensitive GLOB anchored at the start of the tool's own words, so
# Learn's message quoted after them ("Learn refused the copy: Incomplete ...") decides nothing.
_KINDS_OF_SCHEMA_1 = (
    ("Learn refused the copy: *", "copy_refused"),
    (
        "copy_into_existing is true but Learn has no course *: create the shell first,"
        " or set copy_into_existing to false",
        "shell_missing",
    ),
    (
        "courseId * already belongs to a course created *, before this rollover asked for"
        " it: choose another target_course_id",
        "target_taken",
    ),
    ("copied as * but Learn refused the PATCH: *", "patch_refused"),
    (
        "the copy of * into existing course * may or may not have been applied:"
        " its answer was lost.*",
        "copy_maybe_applied",
    ),
    (
        "course * exists but Learn did not say when it was created;"
        " check whether it is this rollover's copy",
        "created_unknown",
    ),
    (
        "Learn accepted the copy (*) but * and no course * exists;"
        " check the copy in Learn before re-running",
        "course_missing",
    ),
    ("Learn finished the copy with status CompleteWithErrors*", "copy_unclean"),
    ("Learn finished the copy with status Incomplete*", "copy_unclean"),
    # A copy whose lost task's last word was Learn's own warning, patched and handed over.
    ("*; the course was patched, check its content", "copy_unclean"),
)

_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}


def _execute_all(db: sqlite3.Connection, script: str) -> None:
    """Each statement of `script` inside the caller's transaction (executescript would commit)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _migrate_to_2(db: sqlite3.Connection) -> None:
    _execute_all(db, _TO_2_TABLES)
    _execute_all(db, _TO_2_DATA)
    # Any row with an error, final or not: a copied row that kept Learn's CompleteWithErrors
    # warning is handed to a person after its PATCH, under that warning's kind.
    for pattern, kind in _KINDS_OF_SCHEMA_1:
        db.execute(
            "UPDATE rows SET error_kind = ? WHERE error_kind IS NULL AND error GLOB ?",
            (kind, pattern),
        )
    # Schema 1 kept an error on an unfinished row only as the warning of a copy that ended
    # unclean (whatever Learn's words for it were); a failed row's other texts were Learn's.
    db.execute(
        "UPDATE rows SET error_kind = CASE state WHEN 'failed' THEN 'request_refused'"
        " WHEN 'needs_review' THEN 'uncertain' ELSE 'copy_unclean' END"
        " WHERE error_kind IS NULL AND (state IN ('failed', 'needs_review')"
        " OR (state IN ('copied', 'patched') AND error IS NOT NULL))"
    )


_MIGRATIONS[2] = _migrate_to_2

# Schema 2 -> 3: a row records the existing course that holds its own copy (`copied_into`), the
# fact the shell guard decides from (schema 2 read "an earlier attempt" as "we copied into this
# shell", so a new-course row turned copy_into_existing was copied into a full shell). A source's
# counts may be one of the two: --verify counts only what the row's copy profile copies.
_TO_3_TABLES = """
ALTER TABLE rows ADD COLUMN copied_into TEXT;
CREATE TABLE source_counts_3 (
    source_course_id TEXT PRIMARY KEY,
    contents INTEGER,
    columns INTEGER,
    at TEXT NOT NULL
);
INSERT INTO source_counts_3 SELECT source_course_id, contents, columns, at FROM source_counts;
DROP TABLE source_counts;
ALTER TABLE source_counts_3 RENAME TO source_counts;
"""
# An older ledger says a copy went into the shell only when the row reached `located` or `copied`
# after its shell was resolved (Learn accepted the copy, or a person said it is there). A copy
# whose answer was lost, or an attempt the old ledger cannot tell apart, leaves the fact unknown,
# and the shell is looked at before it is copied into: when unsure, the shell is guarded.
_TO_3_DATA = """
UPDATE rows SET copied_into = target_pk
    WHERE copy_into_existing = 1 AND target_pk IS NOT NULL AND EXISTS (
        SELECT 1 FROM events AS copied
        WHERE copied.target_course_id = rows.target_course_id
            AND copied.to_state IN ('located', 'copied')
            AND copied.id > (
                SELECT min(resolved.id) FROM events AS resolved
                WHERE resolved.target_course_id = rows.target_course_id
                    AND resolved.detail LIKE 'target resolved%'
            )
    );
"""


def _migrate_to_3(db: sqlite3.Connection) -> None:
    _execute_all(db, _TO_3_TABLES)
    _execute_all(db, _TO_3_DATA)


_MIGRATIONS[3] = _migrate_to_3


# Schema 3 -> 4: the intent's time on Learn's clock (adoption compares Learn's `created` with
# it, so a step of this machine's clock between runs changes nothing), and how far the proof of
# an adopted copy has got (`Proof`): an adopted copy's end is never seen, so it is read back.
_TO_4_TABLES = """
ALTER TABLE rows ADD COLUMN intent_site_at TEXT;
ALTER TABLE rows ADD COLUMN proof TEXT;
"""
# The safe reading of a schema-3 ledger: an adopted row not yet done (or failed after its copy,
# to be patched or enrolled again) was patched without proof, or is about to be, so its proof is
# due; one whose copy Learn said had ended with a warning (copy_unclean) goes to a person
# anyway. Old intents have no Learn time: they are compared as schema 3 did, in this machine's
# time plus the site's measured offset.
_TO_4_DATA = """
UPDATE rows SET proof = 'due' WHERE adopted = 1 AND course_pk IS NOT NULL
    AND state IN ('copied', 'patched', 'failed')
    AND (error_kind IS NULL OR error_kind != 'copy_unclean');
"""


def _migrate_to_4(db: sqlite3.Connection) -> None:
    _execute_all(db, _TO_4_TABLES)
    _execute_all(db, _TO_4_DATA)


_MIGRATIONS[4] = _migrate_to_4

# Schema 4 -> 5: a row's merged sections (its manifest's child_course_ids), each attached to its
# target as a step of its own, like an instructor's enrolment; `listed` is 0 for a child the
# manifest no longer names that was (or may have been) attached: the tool never separates one.
_TO_5_TABLES = """
ALTER TABLE rows ADD COLUMN children_attached INTEGER NOT NULL DEFAULT 0;
CREATE TABLE children (
    target_course_id TEXT NOT NULL,
    child_ref TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    child_pk TEXT,
    listed INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (target_course_id, child_ref)
);
"""


def _migrate_to_5(db: sqlite3.Connection) -> None:
    _execute_all(db, _TO_5_TABLES)


_MIGRATIONS[5] = _migrate_to_5

# Schema 5 -> 6: a row's dated items (issue 22), each date field's original recorded before its
# item's PATCH and never overwritten; the row keeps its shift's offset in days once computed, the
# kinds of items it has listed, and the counts of its items moved and to move.
_TO_6_TABLES = """
ALTER TABLE rows ADD COLUMN shift_days INTEGER;
ALTER TABLE rows ADD COLUMN dates_listed TEXT;
ALTER TABLE rows ADD COLUMN dates_shifted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rows ADD COLUMN dates_to_shift INTEGER NOT NULL DEFAULT 0;
CREATE TABLE dated_items (
    target_course_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    item_id TEXT NOT NULL,
    field TEXT NOT NULL,
    original TEXT,
    new TEXT,
    state TEXT NOT NULL,
    error TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (target_course_id, kind, item_id, field)
);
"""


def _migrate_to_6(db: sqlite3.Connection) -> None:
    _execute_all(db, _TO_6_TABLES)


_MIGRATIONS[6] = _migrate_to_6

# Schema 6 -> 7: the offset a row's moved items held before its shift changed (the direction of
# the next writes, for Learn's order between dates), and each dated item's title as Learn listed
# it (for `status --row`).
_TO_7_TABLES = """
ALTER TABLE rows ADD COLUMN shift_before INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dated_items ADD COLUMN title TEXT NOT NULL DEFAULT '';
"""


def _migrate_to_7(db: sqlite3.Connection) -> None:
    _execute_all(db, _TO_7_TABLES)


_MIGRATIONS[7] = _migrate_to_7

# Schema 7 -> 8: the span a row's course calendar was read over (`--shift-calendar`), as
# "since/until" in UTC: what `status --row` says was looked at, and what was not; and the offset
# each dated item holds in Learn (0: its original), which decides the order of the writes when
# a shift changes after only some items moved (an item shifted holds its row's offset; the
# row-wide `shift_before` of schema 7, which could not tell moved items from unmoved, is no
# longer read).
_TO_8_TABLES = """
ALTER TABLE rows ADD COLUMN calendar_span TEXT;
ALTER TABLE dated_items ADD COLUMN held_days INTEGER NOT NULL DEFAULT 0;
UPDATE dated_items SET held_days = COALESCE((SELECT shift_days FROM rows
    WHERE rows.target_course_id = dated_items.target_course_id), 0) WHERE state = 'shifted';
"""


def _migrate_to_8(db: sqlite3.Connection) -> None:
    _execute_all(db, _TO_8_TABLES)


_MIGRATIONS[8] = _migrate_to_8


def stored_version(db: sqlite3.Connection) -> int | None:
    """The schema the file holds: None before its tables exist, 1 for a ledger from before
    versions were kept."""
    if db.execute("SELECT name FROM sqlite_master WHERE name='rows'").fetchone() is None:
        return None
    found = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(found[0]) if found else 1


def create_or_migrate(db: sqlite3.Connection, path: Path) -> None:
    """Create a new ledger's tables, or bring an older one up to SCHEMA_VERSION, inside the
    caller's transaction (so in one go)."""
    version = stored_version(db)
    _execute_all(db, _TABLES)
    if version is None:
        _execute_all(db, _TO_2_TABLES)
        _execute_all(db, _TO_3_TABLES)
        _execute_all(db, _TO_4_TABLES)
        _execute_all(db, _TO_5_TABLES)
        _execute_all(db, _TO_6_TABLES)
        _execute_all(db, _TO_7_TABLES)
        _execute_all(db, _TO_8_TABLES)
        db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"{path} was written by a newer rollover (schema {version})",
            hint="upgrade rollover, or use another --ledger",
        )
    for step in range(version + 1, SCHEMA_VERSION + 1):
        _MIGRATIONS[step](db)
    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
