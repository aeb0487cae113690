"""Errors the CLI turns into a one-line message and exit code 2."""


class ProfilerError(Exception):
    """Bad input or a model that cannot be profiled; the message is for the user."""
