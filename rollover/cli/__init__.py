"""The command line: options in, one core entry point called, words and exit codes out.

`_commands` holds the click commands and is the only place where errors become `Error:` lines,
hints and exit codes; `_options` the options they share; `_plan_text` and `_status_text` the
words; `_advice` what a person should do about a row; `_logs` the structlog set-up; `_rehearsal`
the `--sandbox` wiring.
"""

from ._advice import Invocation, next_step
from ._commands import cli, main, reports_errors
from ._logs import configure as configure_logs
from ._rehearsal import sandbox_site

__all__ = [
    "Invocation",
    "cli",
    "configure_logs",
    "main",
    "next_step",
    "reports_errors",
    "sandbox_site",
]
