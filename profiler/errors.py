"""Errors the CLI turns into a one-line message and exit code 2, and the one-line
form of any other exception.  Torch-free: the report and the CLI import it."""
from __future__ import annotations


class ProfilerError(Exception):
    """Bad input or a model that cannot be profiled; the message is for the user.

    A message about an argument names it as Python spells it (``depth=-1``,
    ``input_size=``); the CLI rewords those names into its flags
    (profiler.cli.flags), so the library never speaks of flags."""


def first_line(exc: BaseException, typed: bool = True) -> str:
    """The first non-blank line of ``exc``'s message, after its type name
    ("ValueError: no weights here") when ``typed``; a traceback's worth of text
    (a meta kernel's, a user's constructor's) would not fit a note or a one-line error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if not typed:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
