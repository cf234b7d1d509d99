"""The test harness's virtual clock: time moves only when nothing else can run."""

from __future__ import annotations

import asyncio

from harness import START, VirtualClock


def test_time_waits_for_every_task_that_can_still_run() -> None:
    """A sleeper does not wake while another task still has steps to take, however many."""
    clock = VirtualClock()
    seen: list[tuple[str, float]] = []

    async def sleeper() -> None:
        await clock.sleep(10.0)
        seen.append(("woke", clock.now))

    async def busy() -> None:
        for _ in range(500):
            await asyncio.sleep(0)
        seen.append(("busy done", clock.now))

    async def both() -> None:
        await asyncio.gather(sleeper(), busy())

    asyncio.run(both())
    assert seen == [("busy done", START), ("woke", START + 10.0)]


def test_sleepers_wake_in_order_of_wake_up_then_arrival() -> None:
    """Sleepers wake one at a time, earliest first; equal wake-ups in the order they slept."""
    clock = VirtualClock()
    order: list[str] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        order.append(f"{name}@{clock.now - START:g}")

    async def all_of_them() -> None:
        await asyncio.gather(nap("a", 5), nap("b", 1), nap("c", 5), nap("d", 0))

    asyncio.run(all_of_them())
    assert order == ["d@0", "b@1", "a@5", "c@5"]


def test_a_request_in_flight_holds_time_still() -> None:
    """While the transport has a request in flight (real time passing), virtual time waits."""
    clock = VirtualClock()
    seen: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(60.0)
        seen.append(clock.now)

    async def slow_answer() -> None:
        clock.in_flight += 1
        try:
            await asyncio.sleep(0.001)  # a sandbox answering slowly: real time
            seen.append(clock.now)
        finally:
            clock.in_flight -= 1

    async def both() -> None:
        await asyncio.gather(sleeper(), slow_answer())

    asyncio.run(both())
    assert seen == [START, START + 60.0]
