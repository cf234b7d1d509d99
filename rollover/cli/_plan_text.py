"""The plan in words: `validate`'s estimate and quota lines, and `run`'s Plan line.

Pure functions from a `CallEstimate` to text lines; the CLI only echoes them.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from rollover.plan import ASSUMED_COPY_SECONDS, ASSUMED_SLOTS, DEFAULT_DAILY_QUOTA, CallEstimate
from rollover.times import humanized


def run_plan_line(plan: CallEstimate, manifest_rows: int, concurrency: int, zone: ZoneInfo) -> str:
    """`run`'s line before its first copy: rows left to copy, calls and time they should take,
    and the zone its dates and window are read in."""
    if not plan.rows:
        return (
            f"Plan: no copy left to start; finishing what the ledger has in flight. "
            f"{zone_line(zone)}"
        )
    return (
        f"Plan: {plan.rows} of {manifest_rows} rows to copy; "
        f"about {plan.calls} API calls; {duration_text(plan, concurrency)}. "
        f"{zone_line(zone)}"
    )


def zone_line(zone: ZoneInfo) -> str:
    """The zone dates without a UTC offset and --window are read in."""
    return f"Time zone: {zone.key} (dates without a UTC offset, and --window)"


def validate_lines(
    manifest_path: Path, plan: CallEstimate, concurrency: int, zone: ZoneInfo
) -> list[str]:
    """`validate`'s verdict: the courses by kind, the call and time estimate, the quota and the
    time zone."""
    lines = [
        f"{manifest_path}: valid, {plan.rows} course{'' if plan.rows == 1 else 's'}",
        f"  new courses to copy:        {plan.new_courses}",
        f"  copies into existing shells: {plan.into_existing}",
        f"  courses to patch afterwards: {plan.to_patch}",
        *([f"  instructors to enrol:        {plan.enrolments}"] if plan.enrolments else []),
        f"Estimated API calls: {plan.calls} (about {plan.per_course:.1f} per course"
        + (f", {plan.verifications} of them to verify the copies" if plan.verifications else "")
        + ")",
        f"Estimated duration: {duration_text(plan, concurrency)}",
        zone_line(zone),
    ]
    if plan.shortfall(None):
        days = plan.calls / DEFAULT_DAILY_QUOTA
        lines.append(
            f"Warning: {plan.calls} calls is more than Learn's default daily quota of "
            f"{DEFAULT_DAILY_QUOTA} (about {days:.1f} days of it), which every "
            "integration on the key shares. Run with --quota-reserve N so each run "
            "stops before the quota does; re-runs continue where it stopped."
        )
    else:
        lines.append(
            f"Quota: {plan.calls} of Learn's default {DEFAULT_DAILY_QUOTA} calls a day "
            "(the site's remaining quota is checked when the run starts)."
        )
    return lines


def duration_text(plan: CallEstimate, concurrency: int) -> str:
    """How long the copies should take, and the assumption behind the figure."""
    return (
        f"about {humanized(plan.duration(concurrency))} if copies take "
        f"~{ASSUMED_COPY_SECONDS:.0f} s each with {min(concurrency, ASSUMED_SLOTS)} at once "
        "(Learn's copy queue decides)"
    )
