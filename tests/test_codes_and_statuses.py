"""The contract's exit codes and row statuses live once each, as `ExitCode` and `RowStatus`,
and every path that ends a process or names a row's status uses them."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from rollover.engine import RunOutcome, exit_code, resumable
from rollover.errors import ExitCode, LearnAuthError, RolloverError
from rollover.ledger import TERMINAL, RowStatus, State
from rollover.morning import EXIT_MEANINGS

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "reference.md"


def _exit_table() -> dict[int, str]:
    """The exit-code table of the reference (the contract's table, as the docs give it)."""
    text = REFERENCE.read_text(encoding="utf-8")
    table = text.split("| exit | meaning |", 1)[1].split("\n\n", 1)[0]
    return {
        int(code): meaning for code, meaning in re.findall(r"^\| (\d) \| (.+) \|$", table, re.M)
    }


def _subclasses(cls: type[RolloverError]) -> list[type[RolloverError]]:
    return [cls, *(sub for child in cls.__subclasses__() for sub in _subclasses(child))]


def test_exit_code_numbers_are_the_contracts_table() -> None:
    """0 all done, 1 rows need a person, 2 usage (nothing sent), 3 stopped and resumable: the
    enum's numbers and the reference's table agree, code by code."""
    table = _exit_table()
    assert sorted(table) == [code.value for code in ExitCode]
    assert (ExitCode.ALL_DONE, ExitCode.ROWS_NEED_ATTENTION, ExitCode.USAGE, ExitCode.STOPPED) == (
        0,
        1,
        2,
        3,
    )
    assert "every row is `done`" in table[ExitCode.ALL_DONE]
    assert "`failed` or `needs_review`" in table[ExitCode.ROWS_NEED_ATTENTION]
    assert "nothing was sent to Learn" in table[ExitCode.USAGE]
    assert "resumable" in table[ExitCode.STOPPED]
    for code in ExitCode:  # the enum's docstring is the table in short
        assert f"{code.value} {code.name}" in (ExitCode.__doc__ or "")
    assert set(EXIT_MEANINGS) == set(ExitCode)


def test_every_error_carries_an_exit_code_of_the_enum() -> None:
    """Each class of the one exception tree says its exit code as an `ExitCode`, never a bare
    number, and only the contract's usage or stop codes."""
    for cls in _subclasses(RolloverError):
        assert isinstance(cls.exit_code, ExitCode), cls.__name__
        assert cls.exit_code in (ExitCode.USAGE, ExitCode.STOPPED), cls.__name__


def test_a_runs_exit_code_comes_from_its_rows_statuses() -> None:
    """Pending rows stop (3), failed or needs_review rows need a person (1), all done is 0; a
    usage error after a change is a stop; a run that cannot write what it owes is resumable."""
    ended = RunOutcome()
    assert exit_code(Counter({RowStatus.DONE: 2}), ended) is ExitCode.ALL_DONE
    assert exit_code(Counter({RowStatus.NEEDS_REVIEW: 1}), ended) is ExitCode.ROWS_NEED_ATTENTION
    assert exit_code(Counter({RowStatus.FAILED: 1}), ended) is ExitCode.ROWS_NEED_ATTENTION
    assert exit_code(Counter({RowStatus.FAILED: 1, RowStatus.PENDING: 1}), ended) is (
        ExitCode.STOPPED
    )
    refused = RunOutcome(fatal=LearnAuthError(401, "no"))
    assert exit_code(Counter(), refused) is ExitCode.USAGE
    assert exit_code(Counter(), refused, changes_sent=1) is ExitCode.STOPPED
    assert [resumable(code) for code in ExitCode] == [
        ExitCode.STOPPED,
        ExitCode.STOPPED,
        ExitCode.USAGE,
        ExitCode.STOPPED,
    ]


def test_row_statuses_are_the_contracts_four_in_its_order() -> None:
    """`done, failed, needs_review, pending`, as the results CSV's `status` column lists them;
    a final state is its own status, every other state is `pending`."""
    text = REFERENCE.read_text(encoding="utf-8")
    listed = re.sub(r"\([^)]*\)", "", text.split("`status` is", 1)[1].split(".", 1)[0])
    assert re.findall(r"`(\w+)`", listed) == [status.value for status in RowStatus]
    for state in State:
        expected = RowStatus(state.value) if state in TERMINAL else RowStatus.PENDING
        assert state.status is expected, state
