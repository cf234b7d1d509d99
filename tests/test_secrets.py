"""Secrets: the key, the secret and the bearer token appear in no artefact of a run.

A real run (a simulated Learn served by uvicorn on loopback, the CLI in-process with `--debug`
and `--log-file`) goes through copies, token renewals, a refused PATCH and server errors; then
every file it wrote and everything it printed is searched for the three values, in plain text
and in the encodings they travel in (HTTP Basic's base64, URL quoting).
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner, Result

from rollover.cli import cli
from rollover.sandbox import (
    LearnSandbox,
    SandboxConfig,
    SandboxServer,
    SeedCourse,
    SeedTerm,
    create_app,
)

KEY = "key-7f3a9c1e55d04b2e"
SECRET = "secret-b9e2d47a10c34f6f8a"
MANIFEST = """\
source_course_id,target_course_id,name,term_id,external_id
BIO-101-FA26,BIO-101-001-SP27,Biology 101,SP27,
BIO-101-FA26,BIO-101-002-SP27,Biology 101 section 2,SP27,TAKEN-EXT
CHEM-110-FA26,CHEM-110-001-SP27,Chemistry 110,SP27,
"""


@pytest.fixture
def learn() -> Iterator[tuple[LearnSandbox, str]]:
    """A simulated Learn with its own key and secret, short-lived tokens and some 500s."""
    sandbox = LearnSandbox(
        SandboxConfig(
            key=KEY,
            secret=SECRET,
            token_lifetime=0.4,
            error_rate=0.05,
            seed=5,
            copy_seconds=0.3,
            courses=[
                SeedCourse("BIO-101-FA26", "Biology"),
                SeedCourse("CHEM-110-FA26", "Chem"),
                SeedCourse("OTHER", "Holds an externalId", external_id="TAKEN-EXT"),
            ],
            terms=[SeedTerm("SP27", "Spring 2027")],
        )
    )
    with SandboxServer(create_app(sandbox)) as server:
        yield sandbox, server.base_url


def forms(value: str, secret: str = SECRET) -> list[str]:
    """A value as it may leak: plain, URL-quoted, and inside an HTTP Basic header."""
    basic = base64.b64encode(f"{KEY}:{secret}".encode()).decode()
    return [value, quote(value, safe=""), basic]


def run(tmp_path: Path, base_url: str, *extra: str) -> Result:
    """`rollover --debug run` with the credentials in the environment and a JSON log file."""
    manifest = tmp_path / "m.csv"
    manifest.write_text(MANIFEST, encoding="utf-8")
    return CliRunner().invoke(
        cli,
        [
            "--debug",
            "run",
            str(manifest),
            "--base-url",
            base_url,
            "--poll-min",
            "0.05",
            "--poll-max",
            "0.2",
            "--adopt-settle",
            "0",
            "--log-file",
            str(tmp_path / "run.log"),
            *extra,
        ],
        env={"LEARN_KEY": KEY, "LEARN_SECRET": SECRET, "LEARN_BASE_URL": None},
    )


def artefacts(tmp_path: Path) -> dict[str, str]:
    """Every file the run left, as text (the ledger as a dump of all its tables)."""
    found: dict[str, str] = {}
    for path in tmp_path.iterdir():
        if path.name.endswith(".ledger.sqlite"):
            with sqlite3.connect(path) as db:
                found[path.name] = "\n".join(db.iterdump())
        found[path.name + " (bytes)"] = path.read_bytes().decode("utf-8", "replace")
    return found


def test_no_artefact_of_a_run_holds_the_key_secret_or_token(
    tmp_path: Path, learn: tuple[LearnSandbox, str]
) -> None:
    """Ledger, results, log file, stdout and stderr of a debug run never show a credential."""
    sandbox, base_url = learn
    result = run(tmp_path, base_url)
    assert result.exit_code == 1, result.output  # the PATCH on a taken externalId fails
    assert sandbox.record.calls["POST /v1/oauth2/token"] >= 2  # tokens expired and renewed
    assert sandbox.token is not None
    texts = {**artefacts(tmp_path), "stdout": result.stdout, "stderr": result.stderr}
    assert {"run.log", "m.results.csv", "m.ledger.sqlite"} <= {
        name.removesuffix(" (bytes)") for name in texts
    }
    for secret in (KEY, SECRET, sandbox.token.value):
        for form in forms(secret):
            leaks = [name for name, text in texts.items() if form in text]
            assert leaks == [], f"{form!r} found in {leaks}"


def test_refused_credentials_are_reported_without_echoing_them(
    tmp_path: Path, learn: tuple[LearnSandbox, str]
) -> None:
    """A wrong secret ends the run with a message that names the problem, not the secret."""
    _, base_url = learn
    manifest = tmp_path / "m.csv"
    manifest.write_text(MANIFEST, encoding="utf-8")
    wrong = "wrong-secret-0c1d2e3f4a5b"
    result = CliRunner().invoke(
        cli,
        [
            "--debug",
            "run",
            str(manifest),
            "--base-url",
            base_url,
            "--log-file",
            str(tmp_path / "run.log"),
        ],
        env={"LEARN_KEY": KEY, "LEARN_SECRET": wrong, "LEARN_BASE_URL": None},
    )
    assert result.exit_code == 2, result.output
    assert "credentials" in result.output.lower() or "401" in result.output
    texts = {**artefacts(tmp_path), "stdout": result.stdout, "stderr": result.stderr}
    for secret in (KEY, wrong):
        for form in forms(secret, wrong):
            assert [name for name, text in texts.items() if form in text] == []


@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_password_in_the_base_url_is_refused_and_never_printed(
    tmp_path: Path, command: str
) -> None:
    """`--base-url https://user:pass@host` is refused before any call, the password and the user
    shown nowhere, and the message says where credentials belong."""
    manifest = tmp_path / "spring.csv"
    manifest.write_text(MANIFEST, encoding="utf-8")
    args = [command, str(manifest), "--base-url", f"https://admin:{SECRET}@learn.example.edu"]
    if command == "validate":
        args.append("--check-learn")
    result = CliRunner().invoke(cli, args, env={"LEARN_KEY": KEY, "LEARN_SECRET": SECRET})
    assert result.exit_code == 2, result.output
    assert SECRET not in result.output and "admin" not in result.output
    assert "with a user name or password before the host" in result.output
    assert "LEARN_KEY and LEARN_SECRET" in result.output
    assert not list(tmp_path.glob("*.ledger.sqlite"))


@pytest.mark.parametrize("option", ["--key", "--secret", "--password"])
def test_credential_options_say_where_credentials_come_from(option: str) -> None:
    """`--secret VALUE` gets the environment variables to set, not click's nearest option
    (`Did you mean --verify?`), and the value is not echoed."""
    result = CliRunner().invoke(cli, ["run", "spring.csv", option, SECRET])
    assert result.exit_code == 2
    assert "LEARN_KEY and LEARN_SECRET" in result.output
    assert "Did you mean" not in result.output and SECRET not in result.output
