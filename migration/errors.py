"""What can stop a migration, each with a message an operator can act on (never a traceback)."""

from __future__ import annotations


class MigrationError(Exception):
    """The command cannot start: a bad URL, missing credentials, a missing bucket (exit 2)."""


class RunAborted(Exception):
    """The run cannot go on (destination unreachable, disk full); what was copied is journaled.

    The next run continues where this one stopped.
    """


class ObjectFailed(Exception):
    """One object could not be copied or verified; the run goes on and reports it."""
