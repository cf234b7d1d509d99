"""Hostile answers from Learn (or whatever sits in front of it) end in a recorded row state.

The real engine and client talk to the sandbox through a transport that spoils one kind of
answer: malformed JSON, a missing or foreign `Location`, a 303 without `Location`, a huge
body, an undocumented status. Whatever arrives, the run ends without an exception, every row
is in a state the ledger records, no target is copied twice, and the bearer token never goes
to another host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from harness import BASE_URL, Learn, make_learn, sections

from rollover.engine import Rollover, RunOptions
from rollover.learn import LearnClient, RetryPolicy
from rollover.ledger import Ledger, LedgerRow
from rollover.plan import row_spec

Spoil = Callable[[httpx.Request, httpx.Response], httpx.Response]
COPY, TASK = "/copy", "/tasks/"


class HostileTransport(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox and spoils the answers `spoil` picks, once per row."""

    def __init__(self, learn: Learn, spoil: Spoil) -> None:
        self.inner, self.spoil = learn.transport, spoil
        self.hosts: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.add(request.url.host)
        response = await self.inner.handle_async_request(request)
        await response.aread()
        return self.spoil(request, response)


def replaced(
    response: httpx.Response,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    drop: tuple[str, ...] = (),
) -> httpx.Response:
    """A copy of `response` with another status, headers or body."""
    gone = {"content-length", *(d.lower() for d in drop), *(h.lower() for h in headers or {})}
    kept = {k: v for k, v in response.headers.items() if k.lower() not in gone}
    return httpx.Response(
        status or response.status_code,
        headers={**kept, **(headers or {})},
        content=response.content if content is None else content,
    )


def on(path_part: str, status: int, change: Callable[[httpx.Response], httpx.Response]) -> Spoil:
    """Spoil every answer whose path contains `path_part` and whose status is `status`."""

    def spoil(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if path_part in request.url.path and response.status_code == status:
            return change(response)
        return response

    return spoil


HOSTILE: dict[str, Spoil] = {
    "copy accepted without Location": on(COPY, 202, lambda r: replaced(r, drop=("Location",))),
    "Location absolute on the same host": on(
        COPY,
        202,
        lambda r: replaced(r, headers={"Location": "http://learn.test" + r.headers["Location"]}),
    ),
    "Location on another host": on(
        COPY,
        202,
        lambda r: replaced(r, headers={"Location": "https://evil.example" + r.headers["Location"]}),
    ),
    "copy answered 200 by a proxy": on(COPY, 202, lambda r: replaced(r, status=200)),
    "copy answered 302": on(
        COPY, 202, lambda r: replaced(r, status=302, headers={"Location": "/login"})
    ),
    # Malformed: a page instead of JSON is the site's problem, not the task's (test_site_pages).
    "task body not JSON": on(TASK, 200, lambda r: replaced(r, content=b'{"status": oops')),
    "task body a JSON list": on(TASK, 200, lambda r: replaced(r, content=b"[1, 2]")),
    "303 without Location": on(TASK, 303, lambda r: replaced(r, drop=("Location",))),
    "303 to another host": on(
        TASK,
        303,
        lambda r: replaced(
            r, headers={"Location": "https://evil.example/learn/api/public/v1/courses/_9_1"}
        ),
    ),
    "task answered 418": on(TASK, 200, lambda r: replaced(r, status=418)),
    "duplicate Location headers": on(
        TASK,
        303,
        lambda r: httpx.Response(
            303,
            headers=[
                ("Location", r.headers["Location"]),
                ("Location", "/learn/api/public/v1/courses/_9_1"),
            ],
        ),
    ),
    "huge task body": on(
        TASK,
        200,
        lambda r: replaced(r, content=b'{"status": "Running", "pad": "' + b"x" * 5_000_000 + b'"}'),
    ),
    "PATCH answer not JSON": on("/v3/courses/", 200, lambda r: replaced(r, content=b"\x00\xff")),
    "PATCH answer a JSON list": on("/v3/courses/", 200, lambda r: replaced(r, content=b"[]")),
}


def hostile_run(
    learn: Learn, spoil: Spoil, ledger_path: Path, rows: int = 3
) -> tuple[list[LedgerRow], HostileTransport]:
    """One engine run over `rows` sections with every matching answer spoiled."""
    transport = HostileTransport(learn, spoil)
    config = learn.sandbox.config

    async def go() -> list[LedgerRow]:
        with Ledger(ledger_path, clock=learn.clock.datetime) as ledger:
            ledger.sync_manifest([row_spec(r) for r in sections(rows)])
            async with LearnClient(
                BASE_URL,
                config.key,
                config.secret,
                transport=transport,
                sleep=learn.clock.sleep,
                monotonic=learn.clock.time,
                clock=learn.clock.datetime,
                retry=RetryPolicy(attempts=3, max_wait=2.0),
            ) as client:
                await Rollover(
                    ledger,
                    client,
                    RunOptions(poll_min=1, poll_max=5, adopt_settle=30, task_timeout=600),
                    clock=learn.clock.datetime,
                    sleep=learn.clock.sleep,
                    monotonic=learn.clock.time,
                ).run()
            return ledger.rows()

    return asyncio.run(go()), transport


# Answers after which the task cannot tell how the copy ended: the row is reconciled through
# the course instead (adopted), never copied again. The others are read as Learn meant them.
RECONCILED = {
    "copy accepted without Location",
    "Location on another host",
    "copy answered 200 by a proxy",
    "copy answered 302",
    "task body not JSON",
    "task body a JSON list",
    "303 without Location",
    "303 to another host",
    "duplicate Location headers",
    "task answered 418",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_answers_end_in_recorded_states(tmp_path: Path, kind: str) -> None:
    """Each row ends done (adopted if the task could not say); one copy each; token stays home."""
    learn = make_learn(copy_seconds=2.0)
    final, transport = hostile_run(learn, HOSTILE[kind], tmp_path / "l.sqlite")
    assert [(row.state.value, row.adopted) for row in final] == [("done", kind in RECONCILED)] * 3
    assert learn.sandbox.record.copies_per_target() == {row.target_course_id: 1 for row in final}
    assert all(patch.copy_complete for patch in learn.sandbox.record.patches)
    assert transport.hosts == {"learn.test"}
