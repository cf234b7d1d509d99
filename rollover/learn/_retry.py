"""The client's retries of calls that are safe to repeat, wired into tenacity.

Only transient failures are retried (web pages where Learn's JSON should be among them),
Retry-After is the floor of the full-jitter wait, and every call spends from one run-wide budget
so that a sick site ends the run instead of prolonging it.
The copy POST never comes here (see `_copy.py`); which statuses are transient is `_statuses`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import structlog
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, wait_random_exponential

from rollover.errors import LearnAnsweredPage, LearnError, LearnRateLimited

from ._statuses import is_transient as status_is_transient

Sleep = Callable[[float], Awaitable[None]]

# Retries are the client's events: they keep its logger name.
log = structlog.get_logger("rollover.client")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to insist on idempotent calls: attempts per call and a run-wide budget."""

    attempts: int = 5
    max_wait: float = 60.0
    budget: int = 500


def failure_is_transient(exc: BaseException) -> bool:
    """Whether a failure may pass if the same call is sent again: a transient status, the
    network, or a web page where Learn's JSON should be (a sign-on gateway or a proxy in front
    of Learn, which may let the next call through, as a 5xx may pass)."""
    if isinstance(exc, LearnAnsweredPage):
        return True
    if isinstance(exc, LearnError):
        return status_is_transient(exc.status)
    return isinstance(exc, httpx.TransportError)


class RetryBudget:
    """One client's retries: its policy, and the run-wide budget all its calls spend from."""

    def __init__(self, policy: RetryPolicy, sleep: Sleep) -> None:
        self.policy = policy
        self.left = policy.budget
        self._sleep = sleep

    async def run(
        self, endpoint: str, call: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        """Run `call` under tenacity; the last failure is raised as it came (reraise)."""

        def should_retry(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            return exc is not None and failure_is_transient(exc) and self.left > 0

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            floor = exc.retry_after or 0.0 if isinstance(exc, LearnRateLimited) else 0.0
            jitter = wait_random_exponential(multiplier=0.5, max=self.policy.max_wait)(state)
            return max(floor, jitter)

        def before_sleep(state: RetryCallState) -> None:
            self.left -= 1
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "learn.retry",
                endpoint=endpoint,
                attempt=state.attempt_number,
                error=str(exc) or type(exc).__name__,
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=wait,
            retry=should_retry,
            before_sleep=before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        response: httpx.Response = await retrying(call)
        return response
