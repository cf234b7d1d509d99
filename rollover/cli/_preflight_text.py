"""The words of a preflight report, for `validate --check-learn` and `run --preflight`."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from rollover.preflight import PreflightReport, Stage

from ._plan_text import SHIFTS_SHOWN, dated_words, shift_words

# What a run would do with the rows at each stage, in words.
_STAGE_WORDS = {
    Stage.COPY: "to copy",
    Stage.PATCH: "to patch only",
    Stage.DONE: "already done per the ledger",
    Stage.IN_FLIGHT: "in flight per the ledger (the run resumes them)",
    Stage.HELD: "failed or needing review per the ledger (left as they are)",
}


def preflight_summary_lines(report: PreflightReport, zone: ZoneInfo | None = None) -> list[str]:
    """The check in words, for `validate --check-learn` and `run --preflight`; dates in `zone`
    (default UTC)."""
    shown = [
        stage
        for stage in Stage
        if report.stages[stage] or stage in (Stage.COPY, Stage.PATCH, Stage.DONE)
    ]
    width = max(len(_STAGE_WORDS[stage]) for stage in shown) + 1
    lines = [f"Learn check: {report.rows} rows"]
    if report.foreign_ledger:
        lines.append(
            f"Ledger: {report.foreign_ledger}, not this site: not used, every row is "
            "checked as new (pass --ledger with this site's ledger)"
        )
    lines += [f"  {_STAGE_WORDS[stage] + ':':<{width}} {report.stages[stage]}" for stage in shown]
    lines.append(_asked_line(report))
    lines.append(f"Problems: {len(report.problems)}" if report.problems else "Problems: none")
    lines += [f"  {problem}" for problem in report.problems]
    if report.warnings:
        lines.append(f"Warnings: {len(report.warnings)} (they stop nothing)")
        lines += [f"  {warning}" for warning in report.warnings]
    lines += _shift_lines(report, zone or ZoneInfo("UTC"))
    remaining, limit = report.quota_remaining, report.quota_limit
    needs = f"Quota: the run needs about {report.run_calls} API calls"
    if remaining is None:
        lines.append(f"{needs}; Learn did not report its remaining quota.")
        return lines
    lines.append(
        f"{needs}; Learn reports {remaining}"
        + (f" of {limit}" if limit is not None else "")
        + " left."
    )
    if report.run_calls > remaining:
        lines.append(
            "Warning: the run needs more calls than Learn has left, and every "
            "integration on the key shares them. Run with --quota-reserve N so it stops "
            "before the quota does; re-runs continue where it stopped."
        )
    return lines


def _shift_lines(report: PreflightReport, zone: ZoneInfo) -> list[str]:
    """The rows whose dates a run would move, each with the offset computed and what its
    source holds, and the PATCHes that costs."""
    if not report.shifts:
        return []
    patches = report.date_patches
    lines = [
        f"Dates to shift: {_count(len(report.shifts), 'row')}; the run sends "
        + (
            f"{patches} PATCH{'' if patches == 1 else 'es'}, one per dated item"
            if patches is not None
            else "one PATCH per dated item (some sources could not be counted)"
        )
    ]
    for shift in report.shifts[:SHIFTS_SHOWN]:
        words = (
            "term: no offset (the source has no start date)"
            if shift.shift.term and shift.days is None
            else shift_words(shift.shift, shift.days)
        )
        if shift.source_start is not None:
            words += f" {shift.source_start.astimezone(zone).date().isoformat()}"
        held = dated_words(shift.dated) if shift.dated is not None else "its items not counted"
        lines.append(f"  line {shift.line} {shift.target_course_id}: {words}; {held}")
    if len(report.shifts) > SHIFTS_SHOWN:
        lines.append(f"  and {len(report.shifts) - SHIFTS_SHOWN} more")
    return lines


def _asked_line(report: PreflightReport) -> str:
    ways = [
        f"a list filtered on {found.part!r} for {_count(found.course_ids, 'course')} "
        f"({_count(found.pages, 'page')}"
        + ("" if found.complete else ", cut short: the rest by id")
        + ")"
        for found in report.lists
    ]
    if report.course_gets:
        ways.append(f"{_count(report.course_gets, 'course')} by id")
    if report.terms_asked:
        ways.append(f"{_count(report.terms_asked, 'term')} by id")
    if report.users_asked:
        ways.append(f"{_count(report.users_asked, 'instructor')} by id")
    if report.shells_counted:
        ways.append(f"the content of {_count(report.shells_counted, 'shell')}")
    if report.sections_counted:
        ways.append(f"the content of {_count(report.sections_counted, 'section')} to attach")
    if report.parents_asked:
        ways.append(f"{_count(report.parents_asked, 'parent course')} of sections by id")
    if report.date_lists:
        ways.append(f"{_count(report.date_lists, 'list')} of the sources' dated items")
    sections = (
        f" ({report.sections_asked} of them sections to attach)" if report.sections_asked else ""
    )
    return (
        f"Asked Learn about {_count(report.courses_asked, 'course')}{sections} and "
        f"{_count(report.terms_asked, 'term')} in {_count(report.calls, 'API call')}, "
        "sign-in included" + (f": {'; '.join(ways)}" if ways else "")
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
