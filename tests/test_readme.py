"""The README stays true: its commands, its options and its two-command quick start."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from rollover.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _help(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_in_the_readme_exists() -> None:
    """Each `rollover <command>` the README and docs/ show is a real command with --help."""
    pages = README + "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
    commands = set(re.findall(r"rollover (run|validate|status|report|resolve|sandbox)\b", pages))
    assert commands == {"run", "validate", "status", "report", "resolve", "sandbox"}
    for command in commands:
        _help(command)


def test_every_option_in_the_readme_exists() -> None:
    """Each `--option` the README names is accepted by some command."""
    helps = "".join(_help(c) for c in ("run", "validate", "status", "report", "resolve", "sandbox"))
    helps += _help()
    for option in set(re.findall(r"(--[a-z][a-z-]+)", README)):
        assert option in helps, option


def test_quick_start_is_two_make_targets_that_exist() -> None:
    """`make demo` and `make test` are in the README and are real Makefile targets."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test"):
        assert f"make {target}" in README
        assert re.search(rf"^{target}:", makefile, re.MULTILINE)


def test_the_walkthrough_runs_against_the_sandbox(tmp_path: Path) -> None:
    """The README's sample manifest and walkthrough commands work as shown (on the sandbox)."""
    sample = re.search(r"```csv\n(.*?)```", README, re.DOTALL)
    assert sample is not None
    manifest = tmp_path / "spring2027.csv"
    manifest.write_text(sample.group(1), encoding="utf-8")
    fast = [
        "--sandbox-config",
        str(tmp_path / "fast.toml"),
        "--poll-min",
        "0.05",
        "--poll-max",
        "0.2",
    ]
    (tmp_path / "fast.toml").write_text("copy_seconds = 0.05\n", encoding="utf-8")
    steps: list[tuple[list[str], int]] = [
        (["validate", str(manifest)], 0),
        (["validate", str(manifest), "--check-learn", "--sandbox"], 0),
        (["run", str(manifest), "--sandbox", "--preflight", "--quota-reserve", "2000", *fast], 0),
        (["status", str(manifest), "--sandbox"], 0),
        (["status", str(manifest), "--sandbox", "--row", "2"], 0),
        (["status", str(manifest), "--sandbox", "--json"], 0),
        (["report", str(manifest), "--sandbox"], 0),
        (["run", str(manifest), "--sandbox", *fast], 0),
    ]
    for args, code in steps:
        result = CliRunner().invoke(
            cli, args, env={"LEARN_KEY": None, "LEARN_SECRET": None, "LEARN_BASE_URL": None}
        )
        assert result.exit_code == code, (args, result.output)
    assert "3 rows: 3 done" in result.stdout
    # The rehearsal kept to its own files: a real run with default paths starts afresh.
    assert (tmp_path / "spring2027.sandbox.ledger.sqlite").exists()
    assert not (tmp_path / "spring2027.ledger.sqlite").exists()


def test_every_help_page_ends_with_examples_that_use_its_own_options() -> None:
    """Each command's --help shows examples, and every option they use is that command's."""
    for name, command in cli.commands.items():
        page = _help(name)
        assert "Examples" in page, name
        examples = page.split("Examples", 1)[1]
        own = {
            opt
            for param in command.params
            for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
        }
        for option in re.findall(r"(?<=\s)(--?[a-z][a-z-]*)", examples):
            assert option in own, (name, option)


DOCS = sorted((ROOT / "docs").glob("*.md"))


def test_every_link_in_the_readme_and_docs_resolves() -> None:
    """Each relative link of the README and docs/ names a file that exists, and each #anchor
    a heading in it (GitHub's anchors: lower case, spaces to hyphens, punctuation dropped)."""
    assert DOCS, "docs/ holds the pages the README links to"
    for page in [ROOT / "README.md", *DOCS]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # an absolute URL
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), (page.name, target)
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
                anchors = {_anchor(heading) for heading in headings}
                assert anchor in anchors, (page.name, target, sorted(anchors))


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_option_in_the_docs_exists() -> None:
    """Each `--option` the docs name is accepted by some command."""
    helps = "".join(_help(c) for c in ("run", "validate", "status", "report", "resolve", "sandbox"))
    helps += _help()
    for page in DOCS:
        for option in set(re.findall(r"(--[a-z][a-z-]+)", page.read_text(encoding="utf-8"))):
            assert option in helps, (page.name, option)


def test_the_readme_is_a_registrars_page() -> None:
    """The README stays short enough to read before a rollover; the engineering lives in docs/."""
    assert len(README.split()) < 3300
    for heading in ("## Design notes", "## How a run paces itself", "## Performance"):
        assert heading not in README
