"""What the CLI says when a person's input or the environment is wrong.

A command raises ``CliError`` with one line that says what is wrong and
what to do; ``gql.cli.main`` prints it on stderr, without a traceback, and
exits with its code. Library exceptions (settings validation, database URL
and connection errors) are translated into it there, at that one boundary.
A traceback means a bug.
"""

from __future__ import annotations

# Exit codes (README, "Commands").
EXIT_OK = 0
# The command ran and did not succeed: the database could not be reached or
# has no tables, the export is missing or was refused, no such person, the
# schema drifted.
EXIT_FAILED = 1
# The command cannot run as given: bad arguments (argparse's own code),
# invalid ACCESSGRAPH_* settings, a malformed or unsupported database URL,
# a dev-only command in prod, an unknown role.
EXIT_USAGE = 2
# (``sync oneroster`` also exits 3: written, with rows skipped; gql.cli.sync.)


class CliError(Exception):
    """One line for the person at the terminal, and the exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
