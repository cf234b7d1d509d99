"""The site as data: its whole state (RNG states and counters too) as JSON-safe data, and back."""

from __future__ import annotations

import time
from typing import Any, Self

from ._access import AccessToken, QuotaBucket
from ._catalog import Catalog, Course
from ._config import SandboxConfig
from ._copying import CopyQueue
from ._crosslist import CrossListing
from ._record import SandboxRecord
from ._seeding import Seeding
from ._site import Clock
from ._state import restored_rng, rng_state
from ._teaching import Teaching

STATE_VERSION = 1


class Persistence(Seeding):
    """The whole site as JSON-safe data (`to_state`) and back (`from_state`)."""

    def to_state(self) -> dict[str, Any]:
        """The whole site as JSON-safe data, RNG states and counters included."""
        return {
            "version": STATE_VERSION,
            "config": self.config.to_dict(),
            "courses": [c.to_dict() for c in self.catalog.courses.values()],
            "teaching": self.teaching.to_dict(),
            "terms": list(self.catalog.terms.values()),
            "next_id": self.catalog.next_id,
            "queue": self.queue.to_dict(),
            "token": self.token.to_dict() if self.token else None,
            "bucket": self.bucket.to_dict(),
            "record": self.record.to_dict(),
            "crosslist": self.crosslist.to_list(),
            "rng": {
                name: rng_state(getattr(self, name))
                for name in ("fault_rng", "duration_rng", "id_rng")
            },
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], clock: Clock = time.time) -> Self:
        """The site `to_state` described, running on `clock`."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported sandbox state version {state.get('version')!r}")
        sandbox = cls.__new__(cls)
        sandbox.config = SandboxConfig.from_dict(state["config"])
        sandbox.clock = clock
        sandbox.catalog = Catalog(
            {
                c["data"]["id"]: Course(c["data"], c["content"], c["copy_task"])
                for c in state["courses"]
            },
            {t["id"]: t for t in state["terms"]},
            state["next_id"],
        )
        if "teaching" in state:
            sandbox.teaching = Teaching.from_dict(state["teaching"])
        else:  # saved before users and content existed: the users, and no content
            sandbox.teaching = Teaching()
            for user in sandbox.config.users:
                sandbox._add_seed_user(user, clock())
        sandbox.queue = CopyQueue.from_dict(state["queue"])
        sandbox.token = AccessToken(**state["token"]) if state["token"] else None
        sandbox.bucket = QuotaBucket(**state["bucket"])
        sandbox.record = SandboxRecord.from_dict(state["record"])
        sandbox.crosslist = CrossListing.from_list(state.get("crosslist", []))
        for name, saved in state["rng"].items():
            setattr(sandbox, name, restored_rng(saved))
        return sandbox
