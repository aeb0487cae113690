"""Library errors in the CLI's words.

The library names the Python argument an error is about (``depth=-1``,
``input_size='3x22a'``, "give tokens= instead"); the command's user typed a
flag.  ``in_flags`` rewords a message for the command: each argument the CLI has
a flag for becomes that flag, and a few spelled-out values become the flag's own
syntax.
"""
from __future__ import annotations

import re

FLAGS = {"input_size": "--input", "input_sizes": "--input", "batch": "--batch", "dtype": "--dtype",
         "depth": "--depth", "sort": "--sort", "top": "--top", "tokens": "--tokens", "decode": "--decode",
         "config": "--config", "device": "--device", "runs": "--runs", "jobs": "--jobs", "window": "--window",
         "arg": "--arg", "named": "--arg", "image": "--image", "frames": "--frames", "seconds": "--seconds",
         "step_time": "--step-time", "tokens_per_second": "--tokens-per-second", "checkpointing": "--checkpointing",
         "fits": "--fits", "optimizer": "--optimizer", "amp": "--amp", "shard": "--shard"}
# values written the Python way in a message, and how the command takes them
SPELLED = {"window=(C, H, W)": "--window CxHxW", "native=True": "--input native", "training=True": "--training",
           "checkpointing=True": "--checkpointing"}

# an argument name followed by "=": its value, if one follows, goes after the flag and a space
_ARGUMENT = re.compile(r"\b(" + "|".join(sorted(FLAGS, key=len, reverse=True)) + r")=(?=([^\s,;:)])?)")


def in_flags(message: str) -> str:
    """``message`` with Python argument names replaced by the CLI's flags:
    "depth=-1: expected 0 or more" → "--depth -1: expected 0 or more";
    "give tokens= (or decode=)" → "give --tokens (or --decode)"."""
    for python, flag in SPELLED.items():
        message = message.replace(python, flag)
    return _ARGUMENT.sub(lambda m: FLAGS[m[1]] + (" " if m[2] else ""), message)
