"""The command line: options in, one core entry point called, words and exit codes out.

`_group` holds the `rollover` group and is the only place where errors become `Error:` lines,
hints and exit codes; each command has its own module (`_run`, `_validate`, `_status`,
`_report`, `_resolve`, `_sandbox`) that adds it to the group; `_options` holds the options they
share; `_plan_text`, `_status_text` and `_preflight_text` the words; `_advice` what a person
should do about a row; `_logs` the structlog set-up; `_rehearsal` the `--sandbox` wiring;
`_files` the default file names (one function names them all) and the check that each can be
written; `_signals` the handlers that stop a run.
"""

# Imported for their commands: each module adds its own to `cli`.
from . import _report, _resolve, _run, _sandbox, _status, _validate  # noqa: F401
from ._advice import Invocation, next_step
from ._files import RunFiles, default_files
from ._group import cli, main, reports_errors
from ._logs import configure as configure_logs
from ._preflight_text import preflight_summary_lines
from ._rehearsal import sandbox_site

__all__ = [
    "Invocation",
    "RunFiles",
    "cli",
    "configure_logs",
    "default_files",
    "main",
    "next_step",
    "preflight_summary_lines",
    "reports_errors",
    "sandbox_site",
]
