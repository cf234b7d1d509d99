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

    if state_path.exists():
        try:
            sandbox = LearnSandbox.load(state_path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(
                f"the sandbox state {state_path} cannot be read: {exc}",
                hint=f"delete it, {journal_path(state_path).name} and the ledger "
                "beside them to start the rehearsal afresh",
            ) from exc
    else:
        try:
            config = (
                SandboxConfig.from_toml(config_path)
                if config_path
                else SandboxConfig(copy_seconds=0.4, copy_sigma=0.6, copy_max_seconds=5.0)
            )
        except (OSError, ValueError) as exc:
            raise UsageError(f"--sandbox-config: {exc}") from exc
        sources = dict.fromkeys(
            row.source_course_id for row in manifest.rows if not is_primary_id(row.source_course_id)
        )
        shells = dict.fromkeys(
            row.target_course_id for row in manifest.rows if row.copy_into_existing
        )
        terms = dict.fromkeys(
            row.term_id for row in manifest.rows if row.term_id and not is_primary_id(row.term_id)
        )
        known_courses = {course.course_id for course in config.courses}
        known_terms = {term.external_id for term in config.terms}
        config = replace(
            config,
            courses=[
                *config.courses,
                *(
                    SeedCourse(source, f"{source} (last term)")
                    for source in sources
                    if source not in known_courses
                ),
                *(
                    SeedCourse(shell, f"{shell} (SIS shell)")
                    for shell in shells
                    if shell not in known_courses
                ),
            ],
            terms=[
                *config.terms,
                *(SeedTerm(term, term) for term in terms if term and term not in known_terms),
            ],
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
