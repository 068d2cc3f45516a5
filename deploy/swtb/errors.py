"""The testbed's one exception type: a message for a human, printed as one line by the CLI."""


class TestbedError(Exception):
    """Something the operator must fix or look at; `str()` is the whole message."""

    exit_code = 1


class UsageError(TestbedError):
    """Bad command-line input (exit code 2, like argparse)."""

    exit_code = 2
