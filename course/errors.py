"""One policy for errors and exit codes.

An error meant for a person (bad input, a malformed source, a missing checkpoint, a
machine that cannot do what was asked) is a `CourseError`: the `course` command prints
it as one line, ``course CMD: error: ...``, and exits with its `exit_code`. Anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """The exit codes of every `course` command."""

    OK = 0
    FAILED = 1  # ran, and the answer is no: checks fail, files stale, material cannot be prepared
    USAGE = 2  # bad input: an unknown chapter, a missing file, a bad argument
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


class CourseError(Exception):
    """The root of the course's own errors: one line saying what was wrong and what to do."""

    exit_code = Exit.USAGE


class SetupError(CourseError):
    """The course material or this machine cannot do what was asked (not the user's input)."""

    exit_code = Exit.FAILED
