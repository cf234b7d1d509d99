"""Shared pytest set-up: event loops on virtual time, each test with structlog's defaults."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import structlog
from harness import VirtualTimePolicy

# Every event loop the suite makes (asyncio.run's included) lets a VirtualClock move on when
# nothing else can run: the public selector seam, no private loop attribute.
asyncio.set_event_loop_policy(VirtualTimePolicy())


@pytest.fixture(autouse=True)
def fresh_logging() -> Iterator[None]:
    """An in-process CLI run configures structlog (e.g. --quiet filters info events); undo it,
    so a later test's capture_logs() sees what it expects."""
    yield
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def registrar_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as a registrar's machine would, in a zone with daylight saving; CI's machines
    are set to UTC, where a manifest's local dates are refused without --timezone. A test about
    the machine's zone sets TZ itself."""
    monkeypatch.setenv("TZ", "America/Chicago")
