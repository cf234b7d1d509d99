"""Copy profiles: named sets of Learn's copy options, sent as the `copy` object of a copy request.

Learn treats a copy request *without* a `copy` object as an exact copy, which carries the source
course's enrolments into the new course. The built-in `exact` profile is exactly that (its options
are None), and the tool refuses it unless asked twice (`--allow-exact`). Every other profile sends
an explicit `copy` object, and none copies users.

Profiles from rollover.toml are checked here, against the copy options of Learn's official spec
(`CopyV2` of `POST /v2/courses/{courseId}/copy`), written out by hand below: the tool must not
depend on the sandbox's schema validator (an optional extra), and the spec lets unknown keys
through, whereas a typo such as `announcments` must be caught before a term's copies go out. A test
holds these lists equal to the spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from rollover.errors import did_you_mean

CopyOptions = dict[str, Any]  # Learn's `copy` object

CONTENT_AREAS = (
    "adaptiveReleaseRules",
    "announcements",
    "assessments",
    "blogs",
    "calendar",
    "contacts",
    "contentAlignments",
    "contentAreas",
    "glossary",
    "gradebook",
    "groupSettings",
    "journals",
    "retentionRules",
    "rubrics",
    "tasks",
    "wikis",
)
DISCUSSIONS = ("None", "ForumsAndStarterPosts", "ForumsOnly")
SETTINGS = (
    "availability",
    "bannerImage",
    "duration",
    "enrollmentOptions",
    "guestAccess",
    "languagePack",
    "navigationSettings",
    "observerAccess",
)
OPTIONS = tuple(sorted((*CONTENT_AREAS, "discussions", "settings")))


def _everything() -> CopyOptions:
    """All content areas and settings, discussions with starter posts (Anthology's example)."""
    copy: CopyOptions = dict.fromkeys(CONTENT_AREAS, True)
    copy["discussions"] = "ForumsAndStarterPosts"
    copy["settings"] = dict.fromkeys(SETTINGS, True)
    return copy


def _without_discussions_and_announcements() -> CopyOptions:
    """Everything but last term's conversations: discussions and announcements stay behind."""
    copy = _everything()
    copy["announcements"] = False
    copy["discussions"] = "None"
    return copy


DEFAULT_PROFILE = "default"
EXACT_PROFILE = "exact"

# `no-discussions` keeps its name (manifests already use it) and, as its docstring says, leaves
# announcements behind too: both are last term's conversations.
PROFILES: Mapping[str, CopyOptions | None] = MappingProxyType(
    {
        DEFAULT_PROFILE: _everything(),
        "no-discussions": _without_discussions_and_announcements(),
        EXACT_PROFILE: None,
    }
)


@dataclass(frozen=True)
class VerifiedCounts:
    """What `--verify` compares after a copy: only what the copy's profile copies, since a
    course is never short of what it was not asked to bring."""

    contents: bool  # content items, when the profile copies the content areas
    columns: bool  # gradebook columns, when it copies the gradebook
    NONE: ClassVar[VerifiedCounts]

    def __or__(self, other: VerifiedCounts) -> VerifiedCounts:
        """What either of two copies promises (a source counted for both)."""
        return VerifiedCounts(self.contents or other.contents, self.columns or other.columns)

    @property
    def reads(self) -> int:
        """Count reads per course (each at least one call)."""
        return int(self.contents) + int(self.columns)


VerifiedCounts.NONE = VerifiedCounts(contents=False, columns=False)


def verified_counts(options: CopyOptions | None) -> VerifiedCounts:
    """What `--verify` compares for a copy with these `copy` options (None: Learn's exact
    copy, which brings everything)."""
    if options is None:
        return VerifiedCounts(contents=True, columns=True)
    return VerifiedCounts(
        contents=options.get("contentAreas") is True, columns=options.get("gradebook") is True
    )


def copy_options(profile: str | None) -> CopyOptions | None:
    """The `copy` object of a built-in profile (None names the default; None back: exact)."""
    return _deep_copy(PROFILES[profile or DEFAULT_PROFILE])


def _deep_copy(options: CopyOptions | None) -> CopyOptions | None:
    if options is None:
        return None
    return {
        key: dict(value) if isinstance(value, dict) else value for key, value in options.items()
    }


def configured_profile(table: Mapping[str, Any]) -> tuple[CopyOptions, list[tuple[str, str]]]:
    """A profile from rollover.toml: the default's options changed by `table`'s, and its problems.

    Each problem is (key path inside the profile, what is wrong with it and how to fix it).
    """
    copy = _everything()
    problems: list[tuple[str, str]] = []
    for key, value in table.items():
        if key in CONTENT_AREAS:
            if isinstance(value, bool):
                copy[key] = value
            else:
                problems.append((key, f"{key} = {shown(value)}: must be true or false"))
        elif key == "discussions":
            if value in DISCUSSIONS:
                copy[key] = value
            else:
                problems.append(
                    (key, f"discussions = {shown(value)}: must be {_either(DISCUSSIONS)}")
                )
        elif key == "settings":
            if isinstance(value, Mapping):
                problems += _check_settings(value, copy["settings"])
            else:
                problems.append(
                    (
                        key,
                        "settings must be a table of true/false, e.g. settings = "
                        "{availability = true, guestAccess = false}",
                    )
                )
        else:
            problems.append(
                (
                    key,
                    f"unknown copy option {key!r}{did_you_mean(key, OPTIONS)}; "
                    f"the options are Learn's: {', '.join(OPTIONS)}",
                )
            )
    return copy, problems


def _check_settings(table: Mapping[str, Any], settings: dict[str, bool]) -> list[tuple[str, str]]:
    """Apply `table` to `settings`; a problem for each unknown setting or non-boolean value."""
    problems: list[tuple[str, str]] = []
    for key, value in table.items():
        path = f"settings.{key}"
        if key not in SETTINGS:
            problems.append(
                (
                    path,
                    f"unknown setting {key!r}{did_you_mean(key, SETTINGS)}; the "
                    f"settings are: {', '.join(SETTINGS)}",
                )
            )
        elif not isinstance(value, bool):
            problems.append((path, f"{path} = {shown(value)}: must be true or false"))
        else:
            settings[key] = value
    return problems


def shown(value: Any) -> str:
    """A value as TOML writes it, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Mapping):
        return "{...}"
    return repr(value)


def _either(words: tuple[str, ...]) -> str:
    quoted = [f'"{word}"' for word in words]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}"
