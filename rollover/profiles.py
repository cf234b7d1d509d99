"""Copy profiles: named sets of Learn's copy options, sent as the `copy` object of a copy request.

Learn treats a copy request *without* a `copy` object as an exact copy, which carries the source
course's enrolments into the new course. Every profile here therefore sends an explicit `copy`
object, and none copies users.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

_CONTENT_AREAS = (
    "adaptiveReleaseRules", "announcements", "assessments", "blogs", "calendar", "contacts",
    "contentAlignments", "contentAreas", "glossary", "gradebook", "groupSettings", "journals",
    "retentionRules", "rubrics", "tasks", "wikis",
)
_SETTINGS = (
    "availability", "bannerImage", "duration", "enrollmentOptions", "guestAccess",
    "languagePack", "navigationSettings", "observerAccess",
)


def _everything() -> dict[str, Any]:
    """All content areas and settings, discussions with starter posts (Anthology's example)."""
    copy: dict[str, Any] = {area: True for area in _CONTENT_AREAS}
    copy["discussions"] = "ForumsAndStarterPosts"
    copy["settings"] = {setting: True for setting in _SETTINGS}
    return copy


def _without_discussions_and_announcements() -> dict[str, Any]:
    """Everything but last term's conversations: discussions and announcements stay behind."""
    copy = _everything()
    copy["announcements"] = False
    copy["discussions"] = "None"
    return copy


DEFAULT_PROFILE = "default"

PROFILES: MappingProxyType[str, dict[str, Any]] = MappingProxyType({
    DEFAULT_PROFILE: _everything(),
    "no-discussions": _without_discussions_and_announcements(),
})


def copy_options(profile: str | None) -> dict[str, Any]:
    """The `copy` object for a profile name (None means the default profile)."""
    return _deep_copy(PROFILES[profile or DEFAULT_PROFILE])


def _deep_copy(options: dict[str, Any]) -> dict[str, Any]:
    return {key: dict(value) if isinstance(value, dict) else value
            for key, value in options.items()}
