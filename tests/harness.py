"""Test wiring: the sandbox app in-process on a virtual clock, and the tool pointed at it.

Nothing here fakes the tool: the engine, client and ledger are the real ones, talking HTTP to the
real sandbox application through `httpx.ASGITransport`. Only time is virtual, so copies that
"take" minutes finish instantly and deterministically.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from rollover.engine import Rollover, RunOptions, RunOutcome
from rollover.learn import LearnClient, RetryPolicy
from rollover.ledger import Ledger, LedgerRow
from rollover.manifest import ManifestRow
from rollover.plan import row_spec
from rollover.sandbox import LearnSandbox, SandboxConfig, SeedCourse, SeedTerm, create_app

BASE_URL = "http://learn.test"
START = 1_800_000_000.0  # 2027-01-15, a fixed instant so every run replays the same


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time on by `seconds`."""
        self.now += seconds


class VirtualClock:
    """Time that moves only when every sleeper before it has woken: no real waiting."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        """Epoch seconds (the sandbox's clock, and the client's monotonic clock)."""
        return self.now

    def datetime(self) -> datetime:
        """The same instant as an aware UTC datetime (the engine's and ledger's clock)."""
        return datetime.fromtimestamp(self.now, UTC)

    async def sleep(self, seconds: float) -> None:
        """Wait until the earliest sleeper is this one, then jump time to its wake-up."""
        entry = (self.now + max(0.0, seconds), next(self._seq))
        heapq.heappush(self._sleepers, entry)
        try:
            while True:
                for _ in range(4):  # let every ready coroutine (HTTP in flight) move first
                    await asyncio.sleep(0)
                if self._sleepers[0] == entry:
                    self.now = max(self.now, entry[0])
                    return
        finally:
            self._sleepers.remove(entry)
            heapq.heapify(self._sleepers)


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox app and keeps (method, path, JSON body) of each."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        body: Any = None
        if content and request.headers.get("content-type", "").startswith("application/json"):
            body = json.loads(content)
        self.sent.append((request.method, request.url.path, body))
        return await self.inner.handle_async_request(request)


@dataclass
class Learn:
    """One simulated Learn site and the virtual clock it runs on."""

    sandbox: LearnSandbox
    clock: VirtualClock
    transport: RecordingTransport = field(init=False)

    def __post_init__(self) -> None:
        self.transport = RecordingTransport(httpx.ASGITransport(app=create_app(self.sandbox)))

    def client(self, **kwargs: Any) -> LearnClient:
        """A real client for this site, on the virtual clock."""
        config = self.sandbox.config
        kwargs.setdefault("retry", RetryPolicy(attempts=6, max_wait=5.0, budget=10_000))
        return LearnClient(
            BASE_URL,
            config.key,
            config.secret,
            transport=self.transport,
            sleep=self.clock.sleep,
            monotonic=self.clock.time,
            **kwargs,
        )


def make_learn(**config: Any) -> Learn:
    """A sandbox with the given config overrides, seeded with the courses tests use."""
    clock = VirtualClock()
    courses = config.pop("courses", [])
    base = SandboxConfig(
        courses=[
            SeedCourse("BIO-101-FA26", "Biology 101 (Fall 2026)", term_id="FA26"),
            SeedCourse("CHEM-110-FA26", "Chemistry 110 (Fall 2026)", term_id="FA26"),
            SeedCourse("HIST-210-SP27", "History 210 shell", term_id="SP27", shell=True),
            SeedCourse("TAKEN-SP27", "Somebody else's course"),
            *courses,
        ],
        terms=[SeedTerm("FA26", "Fall 2026"), SeedTerm("SP27", "Spring 2027")],
    )
    learn = Learn(LearnSandbox(replace(base, **config), clock=clock.time), clock)
    clock.now += 86_400  # the seeded courses were made a day before the rollover
    return learn


def row(line: int, source: str, target: str, **fields: Any) -> ManifestRow:
    """A manifest row as the manifest module would produce it."""
    values: dict[str, Any] = {
        "copy_into_existing": False,
        "name": None,
        "description": None,
        "external_id": None,
        "term_id": None,
        "available": None,
        "start_date": None,
        "end_date": None,
        "copy_profile": None,
    }
    values.update(fields)
    return ManifestRow(line=line, source_course_id=source, target_course_id=target, **values)


def sections(count: int, source: str = "BIO-101-FA26", **fields: Any) -> list[ManifestRow]:
    """`count` new-course rows copied from one source, each renamed."""
    fields.setdefault("name", None)
    return [
        row(
            i + 2,
            source,
            f"BIO-101-{i:03d}-SP27",
            **{**fields, "name": fields["name"] or f"Biology 101 section {i:03d}"},
        )
        for i in range(count)
    ]


async def run_engine(
    learn: Learn,
    rows: list[ManifestRow],
    ledger_path: Path,
    options: RunOptions | None = None,
    stop_after: int | None = None,
) -> tuple[RunOutcome, list[LedgerRow]]:
    """One run of the real engine over `rows`; `stop_after` N transitions requests a stop."""
    options = options or RunOptions(poll_min=1.0, poll_max=30.0, adopt_settle=60.0)
    with Ledger(ledger_path, clock=learn.clock.datetime) as ledger:
        ledger.sync_manifest([row_spec(r) for r in rows])
        async with learn.client() as client:
            engine = Rollover(
                ledger, client, options, clock=learn.clock.datetime, sleep=learn.clock.sleep
            )
            if stop_after is not None:
                seen = itertools.count(1)

                def observe(*_: object) -> None:
                    if next(seen) >= stop_after:
                        engine.request_stop("test stop")

                ledger.observer = observe
            outcome = await engine.run()
        return outcome, ledger.rows()


def engine_run(
    learn: Learn,
    rows: list[ManifestRow],
    ledger_path: Path,
    options: RunOptions | None = None,
    stop_after: int | None = None,
) -> tuple[RunOutcome, list[LedgerRow]]:
    """Synchronous wrapper of `run_engine` for plain pytest tests."""
    return asyncio.run(run_engine(learn, rows, ledger_path, options, stop_after))
