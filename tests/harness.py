"""Test wiring: the sandbox app in-process on a virtual clock, and the tool pointed at it.

Nothing here fakes the tool: the engine, client and ledger are the real ones, talking HTTP to the
real sandbox application through `httpx.ASGITransport`. Only time is virtual, so copies that
"take" minutes finish instantly and deterministically.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import selectors
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from rollover.engine import Rollover, RunOptions, RunOutcome
from rollover.learn import LearnClient, RetryPolicy, Site
from rollover.ledger import Ledger, LedgerRow
from rollover.manifest import DEFAULT_ROLE, Enrolment, ManifestRow
from rollover.plan import PROFILES, CopyOptions, row_spec
from rollover.sandbox import (
    LearnSandbox,
    SandboxConfig,
    SeedCourse,
    SeedTerm,
    SeedUser,
    create_app,
)

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
    """Time that moves only when nothing else can: no real waiting, and no jumping ahead.

    A sleeper waits on a future. Time jumps to the earliest sleeper's wake-up only once the
    event loop is idle, that is about to wait in its selector with no callback ready to run
    (`VirtualTimeSelector`), and no request is in flight (`in_flight`, kept by the transport:
    a sandbox answering slowly takes real time, not virtual time), so a worker still busy with
    an answer is never overtaken by a later sleeper. Sleepers wake one at a time, in (wake-up,
    arrival) order. The loop must be one `VirtualTimePolicy` made (the suite's conftest
    installs it, so `asyncio.run` makes one).
    """

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.in_flight = 0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        """Epoch seconds (the sandbox's clock, and the client's monotonic clock)."""
        return self.now

    def datetime(self) -> datetime:
        """The same instant as an aware UTC datetime (the engine's and ledger's clock)."""
        return datetime.fromtimestamp(self.now, UTC)

    async def sleep(self, seconds: float) -> None:
        """Wait until every earlier sleeper has woken and nothing else can run, then wake."""
        loop = asyncio.get_running_loop()
        clocks = _CLOCKS.get(loop)
        if clocks is None:
            raise RuntimeError(
                "VirtualClock.sleep needs an event loop made by VirtualTimePolicy: install it "
                "with asyncio.set_event_loop_policy(VirtualTimePolicy()) (tests/conftest.py does)"
            )
        if self not in clocks:
            clocks.append(self)
        woken: asyncio.Future[None] = loop.create_future()
        entry = (self.now + max(0.0, seconds), next(self._seq), woken)
        heapq.heappush(self._sleepers, entry)
        try:
            await woken
        finally:
            if entry in self._sleepers:  # cancelled before its turn
                self._sleepers.remove(entry)
                heapq.heapify(self._sleepers)

    def wake_one(self, loop: asyncio.AbstractEventLoop) -> bool:
        """The loop is idle: move time to the earliest sleeper of `loop` and wake it, unless a
        request is in flight. True if one woke."""
        while self._sleepers and (
            self._sleepers[0][2].done() or self._sleepers[0][2].get_loop() is not loop
        ):
            heapq.heappop(self._sleepers)  # cancelled, or of a loop that has ended
        if not self._sleepers or self.in_flight:
            return False
        wake, _, woken = heapq.heappop(self._sleepers)
        self.now = max(self.now, wake)
        woken.set_result(None)
        return True


# The virtual clocks that have sleepers on each loop VirtualTimePolicy made, in arrival order.
_CLOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[VirtualClock]] = (
    weakref.WeakKeyDictionary()
)


class VirtualTimeSelector(selectors.DefaultSelector):
    """The loop's selector: when the loop is about to wait (a timeout that is not zero: no
    callback is ready to run) and no I/O is ready, a virtual clock's sleeper wakes instead."""

    loop: asyncio.AbstractEventLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """Ready I/O; else, on an idle loop, wake a virtual sleeper; else wait as asked."""
        if timeout is None or timeout > 0:
            ready = super().select(0)
            if ready:
                return ready
            loop = self.loop
            if loop is not None and any(clock.wake_one(loop) for clock in _CLOCKS.get(loop, [])):
                return []
        return super().select(timeout)


class VirtualTimePolicy(asyncio.DefaultEventLoopPolicy):
    """Makes event loops on which `VirtualClock`s advance: `asyncio.run` uses it once set."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        """A selector event loop whose selector wakes virtual sleepers when it is idle."""
        selector = VirtualTimeSelector()
        loop = asyncio.SelectorEventLoop(selector)
        selector.loop = loop
        _CLOCKS[loop] = []
        return loop


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox app and keeps (method, path, JSON body) of each.

    `before` is told of each request before Learn sees it, `after` once Learn has answered it
    (and applied what it asked): a test raises from either to crash the tool right there.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: VirtualClock) -> None:
        self.inner = inner
        self.clock = clock
        self.sent: list[tuple[str, str, Any]] = []
        self.before: Callable[[httpx.Request], None] | None = None
        self.after: Callable[[httpx.Request, httpx.Response], None] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        body: Any = None
        if content and request.headers.get("content-type", "").startswith("application/json"):
            body = json.loads(content)
        if self.before is not None:
            self.before(request)
        self.sent.append((request.method, request.url.path, body))
        self.clock.in_flight += 1
        try:
            response = await self.inner.handle_async_request(request)
        finally:
            self.clock.in_flight -= 1
        if self.after is not None:
            self.after(request, response)
        return response


@dataclass
class Learn:
    """One simulated Learn site and the virtual clock it runs on."""

    sandbox: LearnSandbox
    clock: VirtualClock
    transport: RecordingTransport = field(init=False)

    def __post_init__(self) -> None:
        self.transport = RecordingTransport(
            httpx.ASGITransport(app=create_app(self.sandbox)), self.clock
        )

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
            **{"monotonic": self.clock.time, "clock": self.clock.datetime, **kwargs},
        )

    def site(self) -> Site:
        """This simulated site as `runner.run` takes it."""
        config = self.sandbox.config
        return Site(
            base_url=BASE_URL,
            key=config.key,
            secret=config.secret,
            identity="test",
            transport=self.transport,
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


# Users of the simulated site: two teachers and a system administrator no application may enrol.
TEACHERS = [SeedUser("jane.doe"), SeedUser("bob"), SeedUser("root", system_admin=True)]


def instructors(*cells: str) -> tuple[Enrolment, ...]:
    """Enrolments as the manifest's `instructors` cell gives them: `userName:bob=Grader`."""
    entries = (cell.partition("=") for cell in cells)
    return tuple(Enrolment(user, role or DEFAULT_ROLE) for user, _, role in entries)


def early_or_lost(learn: Learn) -> list[Any]:
    """The enrolments Learn made before 15% of a copy into their course, or later dropped."""
    return [
        event
        for event in learn.sandbox.record.enrolments
        if event.lost or (event.percent is not None and event.percent < 15)
    ]


def delete_course(learn: Learn, course_id: str) -> None:
    """A person deletes a course in Learn (the sandbox serves no DELETE): it and what it held."""
    catalog = learn.sandbox.catalog
    course = catalog.find_course(f"courseId:{course_id}")
    assert course is not None, course_id
    catalog.remove_course(course)
    learn.sandbox.teaching.courses.pop(course.primary_id, None)


def delete_parent_course(learn: Learn, course_id: str) -> None:
    """A person deletes a merged parent in Learn: its children are separated first (Learn
    separates them with it), then it goes as `delete_course` says."""
    parent = learn.sandbox.course(f"courseId:{course_id}")
    assert parent is not None, course_id
    for child in learn.sandbox.children_of(parent.primary_id):
        learn.sandbox.crosslist.unlink(parent, child)
    delete_course(learn, course_id)


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


@contextlib.asynccontextmanager
async def rollover_on(
    learn: Learn,
    rows: list[ManifestRow],
    ledger_path: Path,
    options: RunOptions | None = None,
    *,
    profiles: Mapping[str, CopyOptions | None] = PROFILES,
    wall: Callable[[], datetime] | None = None,
    **engine: Any,
) -> AsyncIterator[tuple[Ledger, Rollover]]:
    """The real engine over `rows` (their copy profiles from `profiles`), its ledger and client
    open, on the virtual clock; `wall` is this machine's wall clock (default: Learn's), which
    may be off Learn's while monotonic time is not. Tests hook the ledger or the engine, then
    run it."""
    options = options or RunOptions(poll_min=1.0, poll_max=30.0, adopt_settle=60.0)
    wall = wall or learn.clock.datetime
    with Ledger(ledger_path, clock=wall) as ledger:
        ledger.sync_manifest(
            [row_spec(r, profiles, calendar_reader=options.calendar_reader) for r in rows]
        )
        async with learn.client(clock=wall) as client:
            yield (
                ledger,
                Rollover(
                    ledger,
                    client,
                    options,
                    clock=wall,
                    sleep=learn.clock.sleep,
                    monotonic=learn.clock.time,
                    **engine,
                ),
            )


async def run_engine(
    learn: Learn,
    rows: list[ManifestRow],
    ledger_path: Path,
    options: RunOptions | None = None,
    stop_after: int | None = None,
    profiles: Mapping[str, CopyOptions | None] = PROFILES,
    skew: timedelta = timedelta(0),
) -> tuple[RunOutcome, list[LedgerRow]]:
    """One run of the real engine over `rows` (their copy profiles from `profiles`);
    `stop_after` N transitions requests a stop; `skew` sets this machine's wall clock that far
    off Learn's (monotonic time is unaffected)."""

    def wall() -> datetime:
        return learn.clock.datetime() + skew

    async with rollover_on(learn, rows, ledger_path, options, profiles=profiles, wall=wall) as (
        ledger,
        engine,
    ):
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
    profiles: Mapping[str, CopyOptions | None] = PROFILES,
    skew: timedelta = timedelta(0),
) -> tuple[RunOutcome, list[LedgerRow]]:
    """Synchronous wrapper of `run_engine` for plain pytest tests."""
    return asyncio.run(run_engine(learn, rows, ledger_path, options, stop_after, profiles, skew))


def mock_client(
    handler: Callable[[httpx.Request], httpx.Response],
    clock: VirtualClock | None = None,
    *,
    base_url: str = BASE_URL,
    **kwargs: Any,
) -> LearnClient:
    """A client whose Learn is `handler`; the token endpoint answers for it."""
    clock = clock or VirtualClock()

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(
                200, json={"access_token": "tok", "token_type": "bearer", "expires_in": 3600}
            )
        return handler(request)

    return LearnClient(
        base_url,
        "k",
        "s",
        transport=httpx.MockTransport(route),
        sleep=clock.sleep,
        monotonic=clock.time,
        retry=RetryPolicy(attempts=4, max_wait=2.0),
        **kwargs,
    )


_Result = TypeVar("_Result")


def with_mock_client(
    learn: Callable[[httpx.Request], httpx.Response],
    act: Callable[[LearnClient], Awaitable[_Result]],
) -> _Result:
    """What `act` returns (or raises) against a `mock_client` whose Learn is `learn`."""

    async def scenario() -> _Result:
        async with mock_client(learn) as client:
            return await act(client)

    return asyncio.run(scenario())


def learn_refusal(status: int, message: str) -> httpx.Response:
    """An error answer as Learn writes them."""
    return httpx.Response(status, json={"status": status, "message": message})
