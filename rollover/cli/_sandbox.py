"""`rollover sandbox`: the embedded Learn simulator served on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ._group import cli, examples, reports_errors


@cli.command(
    epilog=examples(
        "rollover sandbox --port 8000     # then export what it prints and run against it",
    )
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port on 127.0.0.1 to serve on (0: any free port, printed).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TOML file: seed courses and terms, durations, slots, quota, faults.",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the simulated site's state in this JSON file (resumes if it exists).",
)
@reports_errors
def sandbox(port: int, config_path: Path | None, state: Path | None) -> None:
    """Serve the embedded Learn simulator on 127.0.0.1 until stopped."""
    from rollover.sandbox import LearnSandbox, SandboxConfig, create_app, serve_forever

    from ._rehearsal import seed_file

    if state is not None and state.exists():
        simulated = LearnSandbox.load(state)
    else:
        with seed_file("--config", config_path):
            simulated = LearnSandbox(
                SandboxConfig.from_toml(config_path) if config_path else SandboxConfig()
            )

    def announce(base_url: str) -> None:
        click.echo(f"LEARN_BASE_URL={base_url}")
        click.echo(f"LEARN_KEY={simulated.config.key}")
        click.echo(f"LEARN_SECRET={simulated.config.secret}")
        click.echo("Serving the simulated Learn; Ctrl-C stops it.", err=True)
        sys.stdout.flush()

    serve_forever(create_app(simulated, state_path=state), port=port, on_ready=announce)
