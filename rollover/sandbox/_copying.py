"""Learn's copy queue: tasks served by a fixed number of server copy slots, first come first served.

Each task's duration is drawn when it is posted, so its start and end are known at once:
start = max(post time, the earliest moment a slot frees), end = start + duration.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from ._config import SandboxConfig
from ._replies import iso_time


@dataclass
class CopyTask:
    """One course copy: who is copied where, when it runs, and how it ends."""

    id: str
    source_primary_id: str
    source_course_id: str
    target_primary_id: str
    into_existing: bool
    posted: float
    start: float
    end: float
    outcome: str  # "Complete" or "CompleteWithErrors"
    applied: bool = False
    exact: bool = False  # posted without a `copy` object: enrolments are copied too
    partial: bool = False  # a fault: reports Complete yet adds only part of the content
    contents: bool = True  # the request copies the content areas
    columns: bool = True  # the request copies the gradebook
    announcements: bool = True  # the request copies the announcements
    calendar: bool = True  # the request copies the course calendar

    def done_at(self, now: float) -> bool:
        """Whether the copy has finished by `now`."""
        return now >= self.end

    def percent_at(self, now: float) -> int:
        """The percentComplete Learn reports at `now`: 0 queued, up to 99 running, 100 done."""
        if now < self.start:
            return 0
        if now >= self.end:
            return 100
        return min(99, int(99 * (now - self.start) / (self.end - self.start)))

    def time_reaching(self, percent: int) -> float:
        """The first moment `percent_at` reports at least `percent`: a step of the copy that
        runs "at 15%" runs then. Exact to the float, so it agrees with `percent_at` and `view`."""
        if percent <= 0:
            return self.posted
        if percent > 99 or self.end <= self.start:
            return self.end
        moment = min(self.end, self.start + (self.end - self.start) * percent / 99)
        # The division above may land an ulp either side of where int() flips.
        while moment < self.end and self.percent_at(moment) < percent:
            moment = math.nextafter(moment, math.inf)
        while moment > self.start and self.percent_at(math.nextafter(moment, -math.inf)) >= percent:
            moment = math.nextafter(moment, -math.inf)
        return moment

    def view(self, now: float) -> dict[str, Any]:
        """The CourseTask body Learn returns for this task at `now`."""
        if now < self.start:
            return {"id": self.id, "status": "Queued", "percentComplete": 0}
        started = iso_time(self.start)
        if now < self.end:
            return {
                "id": self.id,
                "status": "Running",
                "percentComplete": self.percent_at(now),
                "started": started,
            }
        return {"id": self.id, "status": self.outcome, "percentComplete": 100, "started": started}


@dataclass
class CopyQueue:
    """All copy tasks ever posted and when each server copy slot is next free."""

    slot_free_at: list[float]
    tasks: dict[str, CopyTask] = field(default_factory=dict)
    next_id: int = 1
    # A heap of the unapplied tasks as (end, posted, place in `tasks`, id): finished copies are
    # applied by end time, ties in posting order, without every request scanning every task.
    _unapplied: list[tuple[float, float, int, str]] = field(
        init=False, repr=False, compare=False, default_factory=list
    )
    # Target primary id -> the ids of the tasks copying into it, in posting order.
    _by_target: dict[str, list[str]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for task in self.tasks.values():
            self._by_target.setdefault(task.target_primary_id, []).append(task.id)
        self._unapplied = [
            (task.end, task.posted, place, task.id)
            for place, task in enumerate(self.tasks.values())
            if not task.applied
        ]
        heapq.heapify(self._unapplied)

    @classmethod
    def with_slots(cls, slots: int) -> CopyQueue:
        """An idle queue with `slots` copy slots."""
        return cls(slot_free_at=[0.0] * slots)

    def schedule(
        self,
        *,
        source_primary_id: str,
        source_course_id: str,
        target_primary_id: str,
        into_existing: bool,
        now: float,
        duration: float,
        outcome: str,
        exact: bool = False,
        partial: bool = False,
        contents: bool = True,
        columns: bool = True,
        announcements: bool = True,
        calendar: bool = True,
    ) -> CopyTask:
        """Queue a copy behind the ones already posted and fix when it will run."""
        slot = min(range(len(self.slot_free_at)), key=lambda i: self.slot_free_at[i])
        start = max(now, self.slot_free_at[slot])
        end = start + duration
        self.slot_free_at[slot] = end
        task = CopyTask(
            id=f"_{self.next_id}_1",
            source_primary_id=source_primary_id,
            source_course_id=source_course_id,
            target_primary_id=target_primary_id,
            into_existing=into_existing,
            posted=now,
            start=start,
            end=end,
            outcome=outcome,
            exact=exact,
            partial=partial,
            contents=contents,
            columns=columns,
            announcements=announcements,
            calendar=calendar,
        )
        self.next_id += 1
        heapq.heappush(self._unapplied, (task.end, task.posted, len(self.tasks), task.id))
        self.tasks[task.id] = task
        self._by_target.setdefault(target_primary_id, []).append(task.id)
        return task

    def take_finished(self, now: float) -> list[CopyTask]:
        """Mark applied and return the tasks ended by `now` and not applied yet, in end order."""
        due = []
        while self._unapplied and self._unapplied[0][0] <= now:
            task = self.tasks[heapq.heappop(self._unapplied)[3]]
            task.applied = True
            due.append(task)
        return due

    def unfinished_into(self, target_primary_id: str, now: float) -> list[CopyTask]:
        """The copies into this course that have not finished by `now`, in posting order."""
        tasks = (self.tasks[task_id] for task_id in self._by_target.get(target_primary_id, ()))
        return [task for task in tasks if not task.done_at(now)]

    def ideal_makespan(self) -> float:
        """How long these tasks would take if all were posted at once: FIFO on the same slots."""
        # The floor under any client's makespan: no posting delay, each task (in posting order)
        # to the slot that frees first, as `schedule` does. Not the optimal packing.
        slot_free_at = [0.0] * len(self.slot_free_at)
        for task in self.tasks.values():
            heapq.heapreplace(slot_free_at, slot_free_at[0] + (task.end - task.start))
        return max(slot_free_at)

    def busy_span(self) -> float:
        """Seconds from the first copy posted to the last copy finished; 0 with no copies."""
        if not self.tasks:
            return 0.0
        return self._last_end() - self._first_posted()

    def summary(self) -> dict[str, Any]:
        """Slots, task count and the spans above, as /__sandbox__/record and summary show them."""
        return {
            "slots": len(self.slot_free_at),
            "tasks": len(self.tasks),
            "ideal_makespan": self.ideal_makespan(),
            "busy_span": self.busy_span(),
            "first_posted": self._first_posted() if self.tasks else None,
            "last_end": self._last_end() if self.tasks else None,
        }

    def _first_posted(self) -> float:
        return min(task.posted for task in self.tasks.values())

    def _last_end(self) -> float:
        return max(task.end for task in self.tasks.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "slot_free_at": self.slot_free_at,
            "tasks": [asdict(t) for t in self.tasks.values()],
            "next_id": self.next_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CopyQueue:
        """The queue `to_dict` described."""
        tasks = [CopyTask(**t) for t in data["tasks"]]
        return cls(list(data["slot_free_at"]), {t.id: t for t in tasks}, data["next_id"])


def draw_duration(rng: random.Random, config: SandboxConfig) -> float:
    """A copy's duration: lognormal around the median `copy_seconds`, capped at the maximum."""
    median, sigma = config.copy_seconds, config.copy_sigma
    drawn = median if sigma <= 0 else median * math.exp(rng.gauss(0.0, sigma))
    return min(max(0.0, drawn), config.copy_max_seconds)
