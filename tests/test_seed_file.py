"""The simulator's seed file: a mistake in it is a usage error (exit 2) naming the file, the key,
the value and the form expected, never "a bug in rollover"; and its format is documented."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
from cli_runs import invoke, write

from rollover.sandbox import SandboxConfig, SeedCourse, SeedTerm, SeedUser

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "source_course_id,target_course_id\nBIO101-SP26,BIO101-FA26\n"
HINT = (
    "Hint: fix the file and run the same command again; every key of the seed file, its meaning "
    'and its default are in docs/operations.md, "The simulator\'s seed file"\n'
)


@pytest.mark.parametrize(
    ("seed", "said"),
    [
        ('copy_seconds = "fast"\n', 'copy_seconds = "fast": expected a number, e.g. 0.5'),
        ("latency = true\n", "latency = true: expected a number, e.g. 0.5"),
        ("slots = 2.5\n", "slots = 2.5: expected a whole number, e.g. 4"),
        ("slots = 0\n", "slots = 0: expected a whole number, at least 1"),
        (
            "error_rate = 5\n",
            "error_rate = 5: expected a number from 0 to 1 (a share of calls), e.g. 0.05",
        ),
        (
            "slotz = 3\n",
            "slotz = 3: unknown key; expected a key the simulator knows (did you mean 'slots'?)",
        ),
        (
            'roles = "Mentor"\n',
            'roles = "Mentor": expected a list of texts in quotes, e.g. ["Mentor"]',
        ),
        ("courses = 3\n", "courses = 3: expected [[courses]] tables, one per entry"),
        (
            '[[courses]]\ncourse_id = "X-1"\n',
            "[[courses]] #1 has no name: expected a line `name = ...` (text in quotes)",
        ),
        (
            '[[courses]]\ncourse_id = "X-1"\nname = "X"\ncontents = "many"\n',
            '[[courses]] #1 contents = "many": expected a whole number, e.g. 4',
        ),
        (
            '[[courses]]\ncourse_id = "X-1"\nname = "X"\nterm_id = "SP99"\n',
            '[[courses]] "X-1" term_id = "SP99": expected the external_id of a [[terms]] entry',
        ),
        (
            '[[users]]\nuser_name = "ada"\n[[users]]\nuser_name = "ada"\n',
            "[[users]] user_name = \"ada\": two users are named 'ada'; expected each user_name "
            "once",
        ),
        (
            "copy_seconds =\n",
            "is not valid TOML (Invalid value (at line 1, column 15)): expected `key = value` "
            "lines and [[courses]], [[terms]] and [[users]] tables, as docs/operations.md, "
            '"The simulator\'s seed file" shows',
        ),
    ],
)
def test_a_mistake_in_the_seed_file_is_a_usage_error_naming_key_and_value(
    tmp_path: Path, seed: str, said: str
) -> None:
    """`run --sandbox --sandbox-config` with a mistake: exit 2, the file, key, value and form
    expected in the Error line, the seed format's place in the Hint; no simulated site made."""
    manifest = write(tmp_path / "spring.csv", MANIFEST)
    config = write(tmp_path / "seed.toml", seed)
    result = invoke("run", manifest, "--sandbox", "--sandbox-config", config)
    assert result.exit_code == 2, result.output
    assert result.stderr.endswith(f"Error: --sandbox-config {config}: {said}\n{HINT}")
    assert "bug in rollover" not in result.output
    assert not (tmp_path / "spring.sandbox.json").exists()


def test_the_sandbox_command_says_the_same_of_its_config(tmp_path: Path) -> None:
    """`rollover sandbox --config` with an unknown key: exit 2 naming the file, never a bug."""
    config = write(tmp_path / "seed.toml", "slotz = 3\n")
    result = invoke("sandbox", "--port", "0", "--config", config)
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"Error: --config {config}: slotz = 3: unknown key; expected a key the simulator "
        f"knows (did you mean 'slots'?)\n{HINT}"
    )


def test_every_key_of_the_seed_file_is_documented() -> None:
    """docs/operations.md's "The simulator's seed file" names every key of the file and of its
    [[courses]], [[terms]] and [[users]] tables."""
    page = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = page.split("## The simulator's seed file", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(?:\[\[)?([a-z_]+)(?:\]\])?`", section))
    for kind in (SandboxConfig, SeedCourse, SeedTerm, SeedUser):
        missing = {f.name for f in fields(kind)} - named
        assert not missing, (kind.__name__, missing)
