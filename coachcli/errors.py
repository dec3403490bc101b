"""The one error type the rules raise, and the exit codes the CLI maps it to."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    NOT_FOUND = 3
    REFUSED = 4
    PERMISSION = 5
    DATABASE = 6
    DELIVERY = 7


class CoachError(Exception):
    """A refused action or bad input: one line for the user, and an exit code.

    The message says what was wrong and, where it can, how to fix it.
    """

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.BAD_INPUT):
        message = message.translate(_ONE_LINE)
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


# Messages quote what the user gave; a newline or escape sequence in it must
# not break the one-line message or reach the terminal raw.
_ONE_LINE = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def not_found(message: str) -> CoachError:
    return CoachError(message, ExitCode.NOT_FOUND)


def refused(message: str) -> CoachError:
    return CoachError(message, ExitCode.REFUSED)


def forbidden(message: str) -> CoachError:
    return CoachError(message, ExitCode.PERMISSION)
