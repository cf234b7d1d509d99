"""`--sandbox`: a rehearsal against the embedded Learn simulator, served on loopback in-process.

The only module of the tool that imports `rollover.sandbox` (besides the `sandbox` command).
The simulated site is seeded from the manifest (its sources, terms, shells, instructors and
merged sections) and kept beside
the ledger, as a snapshot plus a journal of every call since, so an interrupted rehearsal, even
one killed with SIGKILL, resumes against the same simulated Learn.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from rollover.errors import UsageError
from rollover.learn import REHEARSAL_SITE, Site, is_primary_id
from rollover.manifest import DateShift, Enrolment, Manifest

EXTERNAL_ID = "externalId:"  # a section the manifest names by its externalId


@contextlib.contextmanager
def sandbox_site(
    manifest: Manifest,
    state_path: Path,
    config_path: Path | None = None,
    *,
    keep_new: bool = True,
    shift_dates: DateShift | None = None,
    learn_user: Enrolment | None = None,
) -> Iterator[Site]:
    """Serve a simulated Learn seeded from the manifest for the duration of the block.

    With `keep_new` false (`validate`), a site that has no state yet lives in memory only, so
    a later `run --sandbox` still starts afresh with its own --sandbox-config. `shift_dates`
    (the run's, for blank cells) says which sources a `term` shift reads the start of;
    `learn_user` (`--learn-user`) is the Learn user the simulated integration acts as, unless
    the seed file names one.
    """
    try:
        import rollover.sandbox
        from rollover.sandbox import LearnSandbox, SandboxConfig
    except ImportError as exc:  # pragma: no cover - depends on how rollover was installed
        raise UsageError(
            "--sandbox needs the sandbox extra", hint="pip install 'rollover[sandbox]'"
        ) from exc

    courses, terms, users = _seeds(manifest, rollover.sandbox, shift_dates, learn_user)
    if state_path.exists():
        sandbox = _kept(state_path)
        # Rows added to the manifest since the rehearsal began: their sources, shells and terms
        # exist in the simulated Learn too, as they would in the real one.
        added = sandbox.seed(courses, terms, users)
        if added:
            click.echo(
                f"Sandbox: added what the manifest names since the rehearsal began: "
                f"{', '.join(added[:5])}"
                + (f" and {len(added) - 5} more" if len(added) > 5 else "")
            )
    else:
        with seed_file("--sandbox-config", config_path):
            config = (
                SandboxConfig.from_toml(config_path)
                if config_path
                else SandboxConfig(copy_seconds=0.4, copy_sigma=0.6, copy_max_seconds=5.0)
            )
            known_courses = {course.course_id for course in config.courses}
            known_terms = {term.external_id for term in config.terms}
            known_users = {user.user_name for user in config.users}
            config = replace(
                config,
                courses=[
                    *config.courses,
                    *(c for c in courses if c.course_id not in known_courses),
                ],
                terms=[*config.terms, *(t for t in terms if t.external_id not in known_terms)],
                users=[*config.users, *(u for u in users if u.user_name not in known_users)],
            )
            kind, _, name = learn_user.user_id.partition(":") if learn_user else ("", "", "")
            if kind == "userName" and config.integration_user == SandboxConfig().integration_user:
                # The simulated integration acts as the user --learn-user names, as the real
                # one does when it is named right (a seed file may name another, to rehearse
                # a wrong --learn-user).
                config = replace(config, integration_user=name)
            sandbox = LearnSandbox(config)
    # The app writes a fresh snapshot now, then journals each call before answering it.
    kept = state_path if keep_new or state_path.exists() else None
    with _served(sandbox, state_path, kept) as site:
        yield site


@contextlib.contextmanager
def kept_sandbox_site(state_path: Path) -> Iterator[Site | None]:
    """The rehearsal's simulated Learn as it was left (nothing seeded), served for the block;
    None when no rehearsal has kept one at `state_path`."""
    if not state_path.exists():
        yield None
        return
    with _served(_kept(state_path), state_path, state_path) as site:
        yield site


def _kept(state_path: Path) -> Any:
    """The simulated site a rehearsal kept at `state_path`."""
    from rollover.sandbox import LearnSandbox, journal_path

    try:
        return LearnSandbox.load(state_path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"the sandbox state {state_path} cannot be read: {exc}",
            hint=f"delete it, {journal_path(state_path).name} and the ledger "
            "beside them to start the rehearsal afresh",
        ) from exc


@contextlib.contextmanager
def _served(sandbox: Any, state_path: Path, kept: Path | None) -> Iterator[Site]:
    """Serve `sandbox` on loopback for the block (journalled to `kept`, if given)."""
    from rollover.sandbox import SandboxServer, create_app

    with SandboxServer(create_app(sandbox, state_path=kept)) as server:
        yield Site(
            base_url=server.base_url,
            key=sandbox.config.key,
            secret=sandbox.config.secret,
            identity=f"{REHEARSAL_SITE}{state_path.name}",
        )


@contextlib.contextmanager
def seed_file(option: str, path: Path | None) -> Iterator[None]:
    """Within the block, a mistake in the simulator's seed file `path` (given by `option`) is
    a usage error naming the file, the key, the value and the form expected; a file that
    cannot be read, one naming the file and why."""
    from rollover.sandbox import SandboxConfigInvalid

    try:
        yield
    except SandboxConfigInvalid as exc:
        mistake = exc.in_file(path) if path is not None and exc.path is None else exc
        raise UsageError(
            f"{option} {mistake}",
            hint="fix the file and run the same command again; every key of the seed file, "
            "its meaning and its default are in docs/operations.md, \"The simulator's seed "
            'file"',
        ) from None
    except OSError as exc:
        raise UsageError(
            f"{option} {path} cannot be read ({exc.strerror or exc})",
            hint="pass a seed file this account may read",
        ) from None


def _seeds(
    manifest: Manifest,
    sandbox: Any,
    shift_dates: DateShift | None = None,
    learn_user: Enrolment | None = None,
) -> tuple[list[Any], list[Any], list[Any]]:
    """The courses, terms and users a rehearsal of `manifest` needs: its sources and empty
    shells (by courseId), its merged sections (by courseId or externalId: existing courses of
    their own, empty as the SIS makes them, merged under no parent yet), its terms (by
    externalId) and its instructors and `learn_user` (by userName or externalId). Primary ids
    and uuids name what the site must already have."""
    sources = dict.fromkeys(
        row.source_course_id for row in manifest.rows if not is_primary_id(row.source_course_id)
    )
    shells = dict.fromkeys(row.target_course_id for row in manifest.rows if row.copy_into_existing)
    # Learn's externalId defaults to the courseId: one seed answers to either form.
    sections = dict.fromkeys(
        child.removeprefix(EXTERNAL_ID)
        for row in manifest.rows
        for child in row.children
        if not is_primary_id(child)
    )
    terms = dict.fromkeys(
        row.term_id for row in manifest.rows if row.term_id and not is_primary_id(row.term_id)
    )
    users: dict[str, Any] = {}
    named = [enrolment for row in manifest.rows for enrolment in row.instructors]
    for enrolment in [*named, *([learn_user] if learn_user else [])]:
        kind, _, name = enrolment.user_id.partition(":")
        if kind == "userName":
            users.setdefault(name.lower(), sandbox.SeedUser(name))
        elif kind == "externalId":
            users.setdefault(name.lower(), sandbox.SeedUser(name, external_id=name))
    # A `term` shift runs from its source's start: those sources start on the day their weekly
    # dated items do.
    termed = {
        row.source_course_id
        for row in manifest.rows
        if (shift := row.shift or shift_dates) is not None and shift.term
    }
    first_day = sandbox.FIRST_SEEDED_DAY.isoformat()
    return (
        [
            sandbox.SeedCourse(
                source,
                f"{source} (last term)",
                dates_from=first_day if source in termed else None,
            )
            for source in sources
        ]
        + [
            sandbox.SeedCourse(shell, f"{shell} (SIS shell)", shell=True)
            for shell in shells
            if shell not in sources
        ]
        + [
            sandbox.SeedCourse(section, f"{section} (SIS section)", contents=0, columns=0)
            for section in sections
            if section not in sources and section not in shells
        ],
        [sandbox.SeedTerm(name, name) for name in terms],
        list(users.values()),
    )
