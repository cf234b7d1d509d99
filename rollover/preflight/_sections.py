"""The preflight of merged sections (`child_course_ids`): which rows a run would attach
sections to, which sections to ask more about (what one not yet merged holds, whose section one
already merged elsewhere is), and what is wrong with each: missing, another course's section
already, a parent itself (problems), or holding content (a warning). A row's sections are read
with the other courses (`Asker.ask`), so a section costs no call more than any course."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from rollover.errors import CountRefused
from rollover.learn import id_form
from rollover.ledger import LedgerRow
from rollover.manifest import ManifestRow
from rollover.plan import RowSpec

from ._asker import Asker

LEAVE_OUT = "take it out of child_course_ids"
# (the section as the manifest names it, what is wrong with it)
Finding = tuple[str, str]


def sections_left(row: ManifestRow, known: LedgerRow | None) -> bool:
    """Whether some of the row's sections are still to attach: it has any, and the ledger does
    not record every one it lists as attached (the caller knows whether the row has work)."""
    return bool(row.children) and (
        known is None
        or set(row.children) != set(known.spec.children)
        or known.children_attached < len(row.children)
    )


def targets_of(row: ManifestRow, known: LedgerRow | None, asker: Asker) -> set[str]:
    """The primary ids the row's target has or may have: a section already under one of them
    is attached already (to the shell, or to the course this ledger made or copied into)."""
    ours = [asker.courses.get(id_form(row.target_course_id))]
    if known is not None:
        ours += [known.course_pk, known.target_pk, known.copied_into]
    return {pk for pk in ours if pk}


def sections_to_ask(
    attaching: Sequence[tuple[ManifestRow, LedgerRow | None]], asker: Asker
) -> tuple[list[str], list[str]]:
    """Once the courses are read: the sections (primary ids) merged under no parent yet, whose
    content is counted, and the other courses already parent of one, whose courseId names
    them in the problem."""
    to_count: dict[str, None] = {}
    parents: dict[str, None] = {}
    for row, known in attaching:
        ours = targets_of(row, known, asker)
        for child in row.children:
            standing = asker.standings.get(id_form(child))
            if standing is None or standing.is_parent or standing.parent_pk in ours:
                continue
            if standing.parent_pk is None:
                to_count[standing.pk] = None
            else:
                parents[standing.parent_pk] = None
    return list(to_count), list(parents)


def section_problems(row: ManifestRow, known: LedgerRow | None, asker: Asker) -> Iterable[Finding]:
    """Each section of the row Learn cannot attach to its target: missing, another course's
    section already, or a parent of sections itself (Learn merges one level only)."""
    ours = targets_of(row, known, asker)
    for child in row.children:
        ref = id_form(child)
        standing = asker.standings.get(ref)
        if ref in asker.courses and standing is None:
            yield (
                child,
                "no such course in Learn: correct the id (a courseId, externalId:X or _N_1), "
                f"or {LEAVE_OUT}",
            )
        elif standing is None or standing.parent_pk in ours:
            continue
        elif standing.parent_pk is not None:
            parent = asker.parents.get(standing.parent_pk) or standing.parent_pk
            yield (
                child,
                f"is already a section of {parent}: Learn merges a section under one parent "
                f"only; separate it from {parent} in Learn first, or {LEAVE_OUT}",
            )
        elif standing.is_parent:
            yield (
                child,
                "is itself a parent of merged sections (Learn merges one level only): "
                f"separate its sections in Learn first, or {LEAVE_OUT}",
            )


def section_warnings(row: ManifestRow, asker: Asker) -> Iterable[Finding]:
    """Each section of the row that holds content: Learn's guidance is never to merge a course
    holding student work. A warning: the run attaches it all the same."""
    for child in row.children:
        standing = asker.standings.get(id_form(child))
        held = asker.sections.get(standing.pk) if standing is not None else None
        if held:
            items = f"{held} content item{'s' if held != 1 else ''}"
            yield (
                child,
                f"holds {items} (empty folders aside). Learn's guidance is never to merge a "
                "course that holds student work: once merged, its content is managed from the "
                f"parent. Check it in Learn before the run, or {LEAVE_OUT}",
            )


def uncounted(row: ManifestRow, refused: CountRefused) -> Finding:
    """The one warning when Learn refused to list a section's content (for every course
    alike): the sections were not checked for student work, and how to have them checked."""
    return (
        ";".join(row.children),
        "whether the sections hold content (student work) was not checked: "
        f"{refused.message}; to have it checked, {refused.hint}",
    )


def as_synced(spec: RowSpec, known: LedgerRow | None) -> LedgerRow | None:
    """The ledger row as the run's sync leaves it, as far as its count of attached sections
    goes: the ledger counts only the sections the manifest lists, so those it dropped no
    longer count (at worst each was attached: the estimate errs on the side of more calls)."""
    if known is None:
        return None
    dropped = len(set(known.spec.children) - set(spec.children))
    if not dropped:
        return known
    return replace(known, children_attached=max(0, known.children_attached - dropped))
