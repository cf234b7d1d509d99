"""The plan in words: `validate`'s estimate and quota lines, and `run`'s Plan line.

Pure functions from a `CallEstimate` to text lines; the CLI only echoes them.
"""

from __future__ import annotations

from pathlib import Path

from rollover.plan import ASSUMED_COPY_SECONDS, ASSUMED_SLOTS, DEFAULT_DAILY_QUOTA, CallEstimate


def run_plan_line(plan: CallEstimate, manifest_rows: int, concurrency: int) -> str:
    """`run`'s line before its first copy: rows left to copy, calls and time they should take."""
    if not plan.rows:
        return "Plan: no copy left to start; finishing what the ledger has in flight."
    return (f"Plan: {plan.rows} of {manifest_rows} rows to copy; "
            f"about {plan.calls} API calls; {duration_text(plan, concurrency)}")


def validate_lines(manifest_path: Path, plan: CallEstimate, concurrency: int) -> list[str]:
    """`validate`'s verdict: the courses by kind, the call and time estimate, and the quota."""
    lines = [f"{manifest_path}: valid, {plan.rows} courses",
             f"  new courses to copy:        {plan.new_courses}",
             f"  copies into existing shells: {plan.into_existing}",
             f"  courses to patch afterwards: {plan.to_patch}",
             f"Estimated API calls: {plan.calls} (about {plan.per_course:.1f} per course)",
             f"Estimated duration: {duration_text(plan, concurrency)}"]
    if plan.shortfall(None):
        days = plan.calls / DEFAULT_DAILY_QUOTA
        lines.append(f"Warning: {plan.calls} calls is more than Learn's default daily quota of "
                     f"{DEFAULT_DAILY_QUOTA} (about {days:.1f} days of it), which every "
                     "integration on the key shares. Run with --quota-reserve N so each run "
                     "stops before the quota does; re-runs continue where it stopped.")
    else:
        lines.append(f"Quota: {plan.calls} of Learn's default {DEFAULT_DAILY_QUOTA} calls a day "
                     "(the site's remaining quota is checked when the run starts).")
    return lines


def duration_text(plan: CallEstimate, concurrency: int) -> str:
    """How long the copies should take, and the assumption behind the figure."""
    return (f"about {_humanized(plan.duration(concurrency))} if copies take "
            f"~{ASSUMED_COPY_SECONDS:.0f} s each with {min(concurrency, ASSUMED_SLOTS)} at once "
            "(Learn's copy queue decides)")


def _humanized(seconds: float) -> str:
    if seconds < 90 * 60:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
