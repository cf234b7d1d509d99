"""Progress of a run: the live line on a terminal, the minute `progress` event otherwise, and the
per-transition log events, with an injected clock and a StringIO for the terminal."""

from __future__ import annotations

import asyncio
import errno
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import structlog
from cli_runs import sandbox_run
from harness import BASE_URL, make_learn, sections
from structlog.testing import capture_logs

from rollover.engine import RunOptions
from rollover.learn import Site
from rollover.ledger import ErrorKind, Ledger, LedgerRow, State
from rollover.manifest import Manifest
from rollover.plan import RowSpec
from rollover.progress import (
    LiveDisplay,
    MinuteSummary,
    Progress,
    Snapshot,
    stop_ticking,
)
from rollover.report import stage_counts
from rollover.runner import run
from rollover.runner import status as runner_status

SMALL = """\
source_course_id,target_course_id,copy_into_existing,name,term_id
BIO-101-FA26,BIO-101-001-SP27,false,Biology 101 (Spring 2027),SP27
BIO-101-FA26,BIO-101-002-SP27,false,Biology 101 section 2,SP27
CHEM-110-FA26,CHEM-110-001-SP27,,,
HIST-210-FA26,HIST-210-001-SP27,true,,SP27
"""


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Quota:
    """A stand-in for the client's quota fields."""

    quota_remaining: int | None = 9000
    quota_limit: int | None = 10000


@dataclass
class RecordingView:
    """A view that keeps every snapshot it is shown."""

    every: float = 1.0
    shown: list[Snapshot] = field(default_factory=list)
    final: Snapshot | None = None

    def show(self, snapshot: Snapshot) -> None:
        """Keep the snapshot."""
        self.shown.append(snapshot)

    def finish(self, snapshot: Snapshot) -> None:
        """Keep the final snapshot."""
        self.final = snapshot


def ledger_row(target: str, state: State) -> LedgerRow:
    """A ledger row in `state` (only the fields progress reads matter)."""
    return LedgerRow(
        spec=RowSpec(target, 2, "BIO-101-FA26", False),
        state=state,
        target_pk=None,
        task_location=None,
        course_pk=None,
        adopted=False,
        error=None,
        error_kind=None,
        attempts=0,
        intent_at=None,
        requested_at=None,
        copied_at=None,
        completed_at=None,
    )


def move(progress: Progress, target: str, *states: State) -> None:
    """Feed the observer hook the transitions of one row through `states`."""
    for before, after in itertools.pairwise(states):
        progress.observe(ledger_row(target, after), before.value, "test")


def ten_pending(progress: Progress, quota: Quota | None = None) -> None:
    """Start `progress` on ten pending rows."""
    progress.start([ledger_row(f"T-{i}", State.PENDING) for i in range(10)], quota=quota)


@pytest.fixture
def default_logs() -> Iterator[None]:
    """structlog as a fresh process has it: a CLI run in this process (`--quiet` filters info
    events out) must not hide the events a test captures."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)


def live_line(output: str) -> str:
    """The last line a live display drew (after its last carriage return)."""
    return output.rsplit("\r", 1)[-1].removesuffix("\x1b[K").removesuffix("\n")


def json_events(stderr: str) -> list[dict[str, object]]:
    """The JSON log lines of a run's stderr."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


# --- the live display ---------------------------------------------------------------------------


def test_live_line_for_given_counts() -> None:
    """Rows by stage, rows finished per minute, the ETA at that rate, and quota left/limit,
    drawn in place: a carriage return, the line, and an erase of whatever was longer."""
    out = io.StringIO()
    LiveDisplay(out, width=200).show(
        Snapshot(
            stages={
                "queued": 7,
                "copying": 1,
                "patching": 1,
                "shifting": 0,
                "done": 1,
                "failed": 1,
                "needs_review": 0,
            },
            finished=2,
            elapsed=60.0,
            quota_remaining=9000,
            quota_limit=10000,
        )
    )
    assert out.getvalue() == (
        "\rqueued 7 | copying 1 | patching 1 | shifting 0 | done 1 | failed 1 | needs review 0 | "
        "2.0 rows/min | ETA 4 min | quota 9000/10000\x1b[K"
    )


def test_counts_and_rate_come_from_transitions() -> None:
    """Each transition moves one row between stages; final rows this run make the rate."""
    clock = FakeClock()
    progress = Progress(RecordingView(), clock=clock)
    ten_pending(progress, Quota())
    clock.now += 30
    move(
        progress,
        "T-0",
        State.PENDING,
        State.INTENT,
        State.LOCATED,
        State.COPIED,
        State.PATCHED,
        State.DONE,
    )
    move(progress, "T-1", State.PENDING, State.INTENT, State.LOCATED, State.COPIED)
    move(progress, "T-2", State.PENDING, State.INTENT)
    clock.now += 30
    move(progress, "T-3", State.PENDING, State.INTENT, State.FAILED)
    snapshot = progress.snapshot()
    assert snapshot.stages == {
        "queued": 6,
        "copying": 1,
        "patching": 1,
        "shifting": 0,
        "done": 1,
        "failed": 1,
        "needs_review": 0,
    }
    assert (snapshot.finished, snapshot.rows_per_minute, snapshot.eta_seconds) == (2, 2.0, 240.0)
    assert (snapshot.quota_remaining, snapshot.quota_limit) == (9000, 10000)


def test_live_line_before_any_row_finishes_has_no_rate() -> None:
    """Until a row is final the rate and ETA are unknown, and so is the quota before a call."""
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(LiveDisplay(out, width=200), clock=clock)
    ten_pending(progress, Quota(None, None))
    clock.now += 5
    move(progress, "T-0", State.PENDING, State.INTENT)
    progress.tick()
    assert live_line(out.getvalue()) == (
        "queued 9 | copying 1 | patching 0 | shifting 0 | done 0 | failed 0 | needs review 0 | "
        "-- rows/min | ETA -- | quota ?"
    )


def test_transitions_never_draw_and_the_ticker_draws_at_most_four_times_a_second() -> None:
    """The observer only counts (it runs inside the ledger's commit path); the ticker draws,
    once per quarter second however many ticks and transitions come in between."""
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(LiveDisplay(out, width=200), clock=clock)
    ten_pending(progress)
    clock.now += 0.25
    for i in range(10):
        move(progress, f"T-{i}", State.PENDING, State.INTENT)
    assert out.getvalue() == ""
    progress.tick()
    assert out.getvalue().count("\r") == 1
    clock.now += 0.125
    move(progress, "T-0", State.INTENT, State.LOCATED)
    progress.tick()
    assert out.getvalue().count("\r") == 1
    clock.now += 0.125
    move(progress, "T-1", State.INTENT, State.LOCATED)
    progress.tick()
    assert out.getvalue().count("\r") == 2
    assert live_line(out.getvalue()).startswith("queued 0 | copying 10 | patching 0 |")


class DeadTerminal(io.StringIO):
    """A terminal that was closed: every write fails as a hung-up pty's does."""

    def write(self, text: str) -> int:
        """Fail with EIO."""
        raise OSError(errno.EIO, "Input/output error")


@pytest.mark.usefixtures("default_logs")
def test_a_dead_terminal_turns_the_live_line_off_and_never_breaks_a_commit(
    tmp_path: Path,
) -> None:
    """Transitions committed while the terminal is gone raise nothing; the first draw that
    fails turns the display off, says so once, and later ticks and log lines write nothing."""
    clock = FakeClock()
    display = LiveDisplay(DeadTerminal(), width=200)
    progress = Progress(display, clock=clock)
    with Ledger(tmp_path / "l.sqlite") as ledger, capture_logs() as logs:
        ledger.sync_manifest([RowSpec("T-0", 2, "BIO-101-FA26", False)])
        progress.start(ledger.rows())
        ledger.observer = progress.observe
        clock.now += 1
        ledger.record_intent("T-0")
        progress.tick()
        clock.now += 1
        ledger.record_not_sent("T-0", "test")
        progress.tick()
        progress.finish()
        assert [row.state for row in ledger.rows()] == [State.PENDING]
    assert [e["event"] for e in logs] == ["progress.off"]
    assert "the terminal cannot be written" in logs[0]["reason"]


def test_live_line_is_cut_to_the_terminal_width() -> None:
    """A line wider than the terminal is cut short of its last column, so `\\r` redraws it all."""
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(LiveDisplay(out, width=30), clock=clock)
    ten_pending(progress)
    clock.now += 1
    progress.tick()
    assert live_line(out.getvalue()) == "queued 10 | copying 0 | patch"


def test_log_lines_are_printed_above_the_live_line() -> None:
    """A log line erases the live line, prints in full, and the live line is drawn again."""
    clock, out = FakeClock(), io.StringIO()
    display = LiveDisplay(out, width=200)
    progress = Progress(display, clock=clock)
    ten_pending(progress)
    clock.now += 1
    progress.tick()
    drawn = out.getvalue()
    line = live_line(drawn)
    print("row.intent target=T-0", file=display.log_stream, flush=True)
    assert out.getvalue()[len(drawn) :] == (
        "\r\x1b[K" + "row.intent target=T-0" + "\n" + "\r" + line + "\x1b[K"
    )


def test_finish_draws_the_final_numbers_and_ends_the_line() -> None:
    """At the end the display draws once more and ends its line; later log lines stay plain."""
    clock, out = FakeClock(), io.StringIO()
    display = LiveDisplay(out, width=200)
    progress = Progress(display, clock=clock)
    progress.start([ledger_row("T-0", State.PENDING)])
    clock.now += 0.1
    move(progress, "T-0", State.PENDING, State.INTENT, State.LOCATED, State.COPIED, State.DONE)
    progress.finish()
    assert out.getvalue().endswith(
        "\rqueued 0 | copying 0 | patching 0 | shifting 0 | done 1 | failed 0 | needs review 0 | "
        "600.0 rows/min | ETA 0 s | quota ?\x1b[K\n"
    )
    print("after", file=display.log_stream)
    assert out.getvalue().endswith("\x1b[K\nafter\n")


# --- the minute summary -------------------------------------------------------------------------


@pytest.mark.usefixtures("default_logs")
def test_minute_summary_logs_progress_once_a_minute() -> None:
    """Without a terminal, a `progress` event carries the same numbers once a minute, then a
    final one."""
    clock = FakeClock()
    progress = Progress(MinuteSummary(), clock=clock)
    with capture_logs() as logs:
        ten_pending(progress, Quota(8123, 10000))
        clock.now += 30
        move(progress, "T-0", State.PENDING, State.INTENT, State.LOCATED, State.COPIED, State.DONE)
        progress.tick()
        assert logs == []
        clock.now += 30
        move(progress, "T-1", State.PENDING, State.INTENT)
        progress.tick()
        clock.now += 20
        progress.tick()
        progress.finish()
    assert logs == [
        {
            "event": "progress",
            "log_level": "info",
            "queued": 8,
            "copying": 1,
            "patching": 0,
            "shifting": 0,
            "done": 1,
            "failed": 0,
            "needs_review": 0,
            "rows_per_minute": 1.0,
            "eta_seconds": 540,
            "quota_remaining": 8123,
            "quota_limit": 10000,
            "elapsed_seconds": 60,
        },
        {
            "event": "progress",
            "log_level": "info",
            "final": True,
            "queued": 8,
            "copying": 1,
            "patching": 0,
            "shifting": 0,
            "done": 1,
            "failed": 0,
            "needs_review": 0,
            "rows_per_minute": 0.8,
            "eta_seconds": 720,
            "quota_remaining": 8123,
            "quota_limit": 10000,
            "elapsed_seconds": 80,
        },
    ]


def test_ticker_shows_numbers_while_no_row_changes() -> None:
    """`keep_showing` ticks on its own sleep."""
    clock, view = FakeClock(), RecordingView(every=15.0)
    progress = Progress(view, clock=clock)
    progress.start([ledger_row("T-0", State.PENDING)])

    async def tick_four_times() -> None:
        ticks = 0
        over = asyncio.Event()  # set once the fourth tick's sleep is asked for a fifth time

        async def sleep(seconds: float) -> None:
            nonlocal ticks
            if ticks == 4:
                over.set()
                await asyncio.Event().wait()  # the run is over: wait to be cancelled
            ticks += 1
            clock.now += seconds

        task = asyncio.create_task(progress.keep_showing(sleep))
        await over.wait()
        await stop_ticking(task)

    asyncio.run(tick_four_times())
    assert [round(s.elapsed) for s in view.shown] == [15, 30, 45, 60]


def test_counts_follow_a_real_ledger_without_reading_it(tmp_path: Path) -> None:
    """Fed only by the observer hook, the counts match the ledger's rows."""
    progress = Progress(RecordingView(every=0.0), clock=FakeClock())
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.sync_manifest([RowSpec(f"T-{i}", i + 2, "S", False) for i in range(3)])
        progress.start(ledger.rows())
        ledger.observer = progress.observe
        ledger.record_intent("T-0")
        ledger.record_location("T-0", "/task/1")
        ledger.record_copied("T-0", "_9_1")
        ledger.record_done("T-0")
        ledger.record_intent("T-1")
        ledger.record_needs_review("T-1", ErrorKind.UNCERTAIN, "lost")
        assert progress.snapshot().stages == stage_counts(ledger.rows())
    assert progress.snapshot().finished == 2


# --- wired into a run ---------------------------------------------------------------------------


def test_run_feeds_progress_and_keeps_the_quota_in_the_ledger(tmp_path: Path) -> None:
    """`runner.run` counts every row into the view and saves Learn's quota in the ledger."""
    learn = make_learn(copy_seconds=30.0, slots=2)
    rows = sections(5)
    site = Site(
        base_url=BASE_URL,
        key=learn.sandbox.config.key,
        secret=learn.sandbox.config.secret,
        identity="test",
        transport=learn.transport,
    )
    view = RecordingView(every=5.0)
    report = asyncio.run(
        run(
            Manifest(path=tmp_path / "m.csv", rows=tuple(rows), warnings=(), zone=ZoneInfo("UTC")),
            site,
            ledger_path=tmp_path / "l.sqlite",
            results_path=tmp_path / "r.csv",
            options=RunOptions(poll_min=1.0, poll_max=10.0),
            sleep=learn.clock.sleep,
            clock=learn.clock.datetime,
            monotonic=learn.clock.time,
            progress=Progress(view, clock=learn.clock.time),
        )
    )
    assert report.exit_code == 0
    assert view.final is not None
    assert view.final.stages == {
        "queued": 0,
        "copying": 0,
        "patching": 0,
        "shifting": 0,
        "done": 5,
        "failed": 0,
        "needs_review": 0,
    }
    assert view.final.quota_limit == 10000
    assert view.shown and view.shown[0].stages["queued"] < 5
    with Ledger(tmp_path / "l.sqlite") as ledger:
        seen = ledger.last_quota()
    assert seen is not None and seen.remaining == report.quota_remaining
    assert seen.limit == 10000
    assert abs((seen.at - learn.clock.datetime()).total_seconds()) < 0.001


def test_run_without_a_terminal_logs_progress_events(tmp_path: Path) -> None:
    """Not on a terminal (cron), a run logs a final `progress` event with the numbers."""
    manifest = tmp_path / "m.csv"
    manifest.write_text(SMALL, encoding="utf-8")
    result = sandbox_run(tmp_path, manifest)
    assert result.exit_code == 0, result.output
    [final] = [e for e in json_events(result.stderr) if e["event"] == "progress"]
    assert final["final"] is True
    assert {
        k: final[k]
        for k in (
            "queued",
            "copying",
            "patching",
            "shifting",
            "done",
            "failed",
            "needs_review",
            "eta_seconds",
        )
    } == {
        "queued": 0,
        "copying": 0,
        "patching": 0,
        "shifting": 0,
        "done": 4,
        "failed": 0,
        "needs_review": 0,
        "eta_seconds": 0,
    }
    assert final["quota_limit"] == 10000 and isinstance(final["quota_remaining"], int)
    assert "\r" not in result.stderr


def test_quiet_run_shows_no_progress(tmp_path: Path) -> None:
    """`--quiet` prints neither the live line nor `progress` events."""
    manifest = tmp_path / "m.csv"
    manifest.write_text(SMALL, encoding="utf-8")
    result = sandbox_run(tmp_path, manifest, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_each_transition_is_one_event_with_elapsed_and_no_secret(tmp_path: Path) -> None:
    """Every state change of every row is one event with line, source, target, task, attempt
    and elapsed seconds; the sandbox's key and secret appear nowhere."""
    manifest = tmp_path / "m.csv"
    manifest.write_text(SMALL, encoding="utf-8")
    result = sandbox_run(tmp_path, manifest)
    assert result.exit_code == 0, result.output
    events = [e for e in json_events(result.stderr) if str(e["event"]).startswith("row.")]
    first = [e for e in events if e["target"] == "BIO-101-001-SP27"]
    assert [e["event"] for e in first] == [
        "row.intent",
        "row.located",
        "row.copied",
        "row.patched",
        "row.done",
    ]
    for event in events:
        assert {"line", "source", "target", "task", "attempt", "elapsed"} <= event.keys()
        assert isinstance(event["elapsed"], float) and event["elapsed"] >= 0
    assert first[0]["line"] == 2 and first[0]["source"] == "BIO-101-FA26"
    assert first[0]["attempt"] == 1 and first[-1]["task"] == first[1]["task"]
    assert float(str(first[-1]["elapsed"])) >= float(str(first[0]["elapsed"]))
    for secret in ("rollover-sandbox-key", "rollover-sandbox-secret"):
        assert secret not in result.stderr and secret not in result.stdout


@pytest.mark.parametrize("width", [40, 200])
def test_live_display_output_is_one_line_whatever_the_width(width: int) -> None:
    """Every draw starts with `\\r` and holds no newline: the line stays where it is."""
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(LiveDisplay(out, width=width), clock=clock)
    ten_pending(progress, Quota())
    for i in range(10):
        clock.now += 1
        move(progress, f"T-{i}", State.PENDING, State.INTENT, State.LOCATED)
    assert "\n" not in out.getvalue()
    assert all(len(draw.removesuffix("\x1b[K")) < width for draw in out.getvalue().split("\r")[1:])


def test_a_row_reopened_by_a_manifest_change_is_logged(tmp_path: Path) -> None:
    """A failed row the corrected manifest re-opens logs that change too, before its steps."""
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "source_course_id,target_course_id,name,term_id\n"
        "BIO-101-FA26,BIO-101-001-SP27,Biology,_999_1\n",
        encoding="utf-8",
    )
    assert sandbox_run(tmp_path, manifest).exit_code == 1
    manifest.write_text(
        "source_course_id,target_course_id,name,term_id\nBIO-101-FA26,BIO-101-001-SP27,Biology,\n",
        encoding="utf-8",
    )
    result = sandbox_run(tmp_path, manifest)
    assert result.exit_code == 0, result.output
    events = [
        (e["event"], e["previous"], e["detail"])
        for e in json_events(result.stderr)
        if str(e["event"]).startswith("row.")
    ]
    assert events == [
        ("row.copied", "failed", "manifest changed"),
        ("row.patched", "copied", "patched"),
        ("row.done", "patched", "done"),
    ]


def test_status_sees_the_quota_while_the_run_goes_on(tmp_path: Path) -> None:
    """The quota is kept in the ledger as soon as Learn first reports it, so `status` during a
    run never says "not seen yet" after the first answer."""
    learn = make_learn(copy_seconds=30.0, slots=2)
    ledger_path = tmp_path / "l.sqlite"
    seen_during: list[object] = []

    class Peeking(RecordingView):
        def show(self, snapshot: Snapshot) -> None:
            super().show(snapshot)
            if not seen_during:
                seen_during.append(runner_status(ledger_path).quota)

    site = Site(
        base_url=BASE_URL,
        key=learn.sandbox.config.key,
        secret=learn.sandbox.config.secret,
        identity="test",
        transport=learn.transport,
    )
    report = asyncio.run(
        run(
            Manifest(
                path=tmp_path / "m.csv", rows=tuple(sections(3)), warnings=(), zone=ZoneInfo("UTC")
            ),
            site,
            ledger_path=ledger_path,
            results_path=tmp_path / "r.csv",
            options=RunOptions(poll_min=1.0, poll_max=10.0),
            sleep=learn.clock.sleep,
            clock=learn.clock.datetime,
            monotonic=learn.clock.time,
            progress=Progress(Peeking(every=5.0), clock=learn.clock.time),
        )
    )
    assert report.exit_code == 0
    [quota] = seen_during
    assert quota is not None and getattr(quota, "limit", None) == 10000
