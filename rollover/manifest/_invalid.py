"""The error a cell parser raises: what is wrong with the cell and how to fix it."""

from __future__ import annotations


class Invalid(ValueError):
    """A cell breaks a rule; each message says what is wrong and how to fix it.

    Most cells break one rule at a time; a cell that lists several things (the instructors) may
    break several, and each becomes its own problem, so a person fixes them all in one pass.
    """

    def __init__(self, message: str, *more: str) -> None:
        super().__init__(message)
        self.messages = (message, *more)
