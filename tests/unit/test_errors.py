"""The one error type: its message is always one line."""

from coachcli.errors import CoachError, ExitCode


def test_every_error_message_is_one_line_whatever_the_user_typed():
    message = CoachError("bad handle '\n\x1b[2J\r\t'").message
    assert message == "bad handle '\\n\\x1b[2J\\r\\t'"
    assert "\n" not in message and "\x1b" not in message


def test_bad_input_is_the_default_exit_code():
    assert CoachError("x").exit_code is ExitCode.BAD_INPUT
