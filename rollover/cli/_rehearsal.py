"""`--sandbox`: a rehearsal against the embedded Learn simulator, served on loopback in-process.

The only module of the tool that imports `rollover.sandbox` (besides the `sandbox` command).
The simulated site is seeded from the manifest (its sources, terms and shells) and kept beside
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
from rollover.learn import Site, is_primary_id
from rollover.manifest import Manifest


@contextlib.contextmanager
def sandbox_site(
    manifest: Manifest, state_path: Path, config_path: Path | None = None, *, keep_new: bool = True
) -> Iterator[Site]:
    """Serve a simulated Learn seeded from the manifest for the duration of the block.

    With `keep_new` false (`validate`), a site that has no state yet lives in memory only, so
    a later `run --sandbox` still starts afresh with its own --sandbox-config.
    """
    try:
        from rollover.sandbox import (
            LearnSandbox,
            SandboxConfig,
            SandboxServer,
            SeedCourse,
            SeedTerm,
            create_app,
            journal_path,
        )
    except ImportError as exc:  # pragma: no cover - depends on how rollover was installed
        raise UsageError(
            "--sandbox needs the sandbox extra", hint="pip install 'rollover[sandbox]'"
        ) from exc

    courses, terms = _seeds(manifest, SeedCourse, SeedTerm)
    if state_path.exists():
        try:
            sandbox = LearnSandbox.load(state_path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(
                f"the sandbox state {state_path} cannot be read: {exc}",
                hint=f"delete it, {journal_path(state_path).name} and the ledger "
                "beside them to start the rehearsal afresh",
            ) from exc
        # Rows added to the manifest since the rehearsal began: their sources, shells and terms
        # exist in the simulated Learn too, as they would in the real one.
        added = sandbox.seed(courses, terms)
        if added:
            click.echo(
                f"Sandbox: added what the manifest names since the rehearsal began: "
                f"{', '.join(added[:5])}"
                + (f" and {len(added) - 5} more" if len(added) > 5 else "")
            )
    else:
        try:
            config = (
                SandboxConfig.from_toml(config_path)
                if config_path
                else SandboxConfig(copy_seconds=0.4, copy_sigma=0.6, copy_max_seconds=5.0)
            )
        except (OSError, ValueError) as exc:
            raise UsageError(f"--sandbox-config: {exc}") from exc
        known_courses = {course.course_id for course in config.courses}
        known_terms = {term.external_id for term in config.terms}
        config = replace(
            config,
            courses=[*config.courses, *(c for c in courses if c.course_id not in known_courses)],
            terms=[*config.terms, *(t for t in terms if t.external_id not in known_terms)],
        )
        sandbox = LearnSandbox(config)
    # The app writes a fresh snapshot now, then journals each call before answering it.
    kept = state_path if keep_new or state_path.exists() else None
    with SandboxServer(create_app(sandbox, state_path=kept)) as server:
        yield Site(
            base_url=server.base_url,
            key=sandbox.config.key,
            secret=sandbox.config.secret,
            identity=f"sandbox:{state_path.name}",
        )


def _seeds(manifest: Manifest, course: Any, term: Any) -> tuple[list[Any], list[Any]]:
    """The courses and terms a rehearsal of `manifest` needs: its sources and shells (by
    courseId) and its terms (by externalId); primary ids name what the site must already have."""
    sources = dict.fromkeys(
        row.source_course_id for row in manifest.rows if not is_primary_id(row.source_course_id)
    )
    shells = dict.fromkeys(row.target_course_id for row in manifest.rows if row.copy_into_existing)
    terms = dict.fromkeys(
        row.term_id for row in manifest.rows if row.term_id and not is_primary_id(row.term_id)
    )
    return (
        [course(source, f"{source} (last term)") for source in sources]
        + [course(shell, f"{shell} (SIS shell)") for shell in shells if shell not in sources],
        [term(name, name) for name in terms],
    )
