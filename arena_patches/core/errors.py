"""The two kinds of fatal error. Library code raises them; only cli.py prints and exits.

UserError: the input is wrong (exit 2). InfraError: the machine failed us (exit 3).
Both carry a message meant for a human, naming the input or the tool involved.
"""
from __future__ import annotations


class ArenaPatchesError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, input: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.input = input  # the file, option or value the message is about

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UserError(ArenaPatchesError):
    exit_code = 2


class InfraError(ArenaPatchesError):
    exit_code = 3


def bad_input(what: str, why: str, hint: str | None = None) -> UserError:
    return UserError(f"{what}: {why}", hint, what)


def tool_failed(tool: str, why: str, hint: str | None = None) -> InfraError:
    return InfraError(f"{tool}: {why}", hint)
