"""CONTRACT.md, the interface scripts at institutions depend on, holds as written: its commands,
every option it names, the manifest's columns, the results CSV's columns in their order and the
exit codes. `tests/contract/CONTRACT.md` is the contract this code is held to (CI has no
`../shared`); where the shared contract sits beside the checkout, the copy must equal it."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from rollover.cli import cli
from rollover.errors import ExitCode
from rollover.manifest import COLUMNS as MANIFEST_COLUMNS
from rollover.manifest import REQUIRED_COLUMNS
from rollover.report import COLUMNS as RESULT_COLUMNS
from rollover.report import EXTRA_COLUMNS

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "tests" / "contract" / "CONTRACT.md"
SHARED = REPO.parent / "shared" / "CONTRACT.md"
TEXT = CONTRACT.read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of one `## title` section of the contract."""
    start = TEXT.index(f"\n## {title}\n")
    end = TEXT.find("\n## ", start + 1)
    return TEXT[start : end if end != -1 else len(TEXT)]


def table(title: str) -> list[list[str]]:
    """The rows of the first table in a section, each as its cells (header and rule left out)."""
    rows = [line for line in section(title).splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in rows[2:]]


def test_the_contract_held_here_is_the_shared_one() -> None:
    """The copy this suite checks is the contract the project was given, word for word."""
    if not SHARED.exists():
        pytest.skip("no ../shared/CONTRACT.md beside this checkout (a clean CI clone)")
    assert CONTRACT.read_text(encoding="utf-8") == SHARED.read_text(encoding="utf-8")


def test_every_command_of_the_contract_exists() -> None:
    """Each `rollover X` of the commands table is a command of the CLI."""
    found = [re.match(r"`rollover (\w+)", row[0]) for row in table("Commands")]
    named = {match.group(1) for match in found if match is not None}
    assert named == {"run", "validate", "status", "report", "resolve", "sandbox"}
    assert isinstance(cli, click.Group)
    assert named <= set(cli.commands)


def test_every_option_the_contract_names_is_an_option_of_some_command() -> None:
    """Every `--option` the contract names anywhere is accepted by a command (the contract may
    name an option of `validate`, `status` or `report` as well as of `run`, or the group's own
    `--debug`)."""
    named = set(re.findall(r"`(--[a-z][a-z-]*)", TEXT))
    offered = {
        option
        for command in [cli, *cli.commands.values()]
        for param in command.params
        for option in [*param.opts, *param.secondary_opts]
    }
    assert named and named - offered == set()


def test_the_run_options_the_contract_lists_are_options_of_run() -> None:
    """`run options (at least)`: each is an option of `rollover run`."""
    commands = section("Commands")
    listed = commands.split("`run` options (at least):", 1)[1].split("A run started", 1)[0]
    named = set(re.findall(r"`(--[a-z][a-z-]*)", listed))
    run = {opt for param in cli.commands["run"].params for opt in param.opts}
    assert len(named) >= 9 and named - run == set()


def test_the_manifest_columns_are_the_contracts() -> None:
    """The manifest's columns are the contract's table, required ones as it marks them."""
    rows = table("Manifest (CSV)")
    contract: list[str] = []
    required: list[str] = []
    for cells in rows:
        names = re.findall(r"`([a-z_]+)`", cells[0])
        contract += names
        if cells[1] == "yes":
            required += names
    assert sorted(contract) == sorted(MANIFEST_COLUMNS)
    assert sorted(required) == sorted(REQUIRED_COLUMNS)


def test_the_results_columns_are_the_contracts_in_its_order() -> None:
    """The ten columns in the contract's order, then its extra columns in theirs, then the
    tool's own (`stage`)."""
    results = section("Results CSV")
    ten = re.search(r"`(line,[a-z_,]+)`", results)
    assert ten is not None
    assert tuple(ten.group(1).split(",")) == RESULT_COLUMNS
    extras = results.split("Extra columns", 1)[1]
    named = [name for name in re.findall(r"`([a-z_]+)`", extras) if name in EXTRA_COLUMNS]
    ordered = list(dict.fromkeys(named))
    assert ordered == list(EXTRA_COLUMNS[: len(ordered)])
    assert set(EXTRA_COLUMNS) - set(ordered) == {"stage"}


def test_the_exit_codes_are_the_contracts() -> None:
    """The exit-code table's numbers are the ExitCode members, no more, no fewer."""
    codes = {int(cells[0]) for cells in table("Exit codes")}
    assert codes == {int(code) for code in ExitCode}
