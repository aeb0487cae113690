"""The examples of README.md and docs/*.md, read as a reader reads them, for
tests/test_readme.py.

A page's fenced blocks are examples of four sorts:

- ``python`` whose first line is ``# NAME.py``: a file the page's other examples use
  (written into the folder they run in);
- any other ``python``: a script, run in a fresh process.  A line ``print(...)  # TEXT``
  shows what that print writes: the printed line must be TEXT, or TEXT must start with it
  followed by ": " (the rest is an explanation);
- ``bash`` / ``sh``: one command a line (a trailing ``\\`` continues it, ``# ...``
  comments it).  Each ``profiler ...`` and ``python ...`` line runs and must exit 0;
  a ``pip install`` line is what made the environment the tests run in;
- ``console``, or any block whose lines start with ``$ ``: each ``$ COMMAND`` runs, and
  the lines shown under it (``...`` stands for lines left out) must all appear in what
  it printed, in order; ``$ echo $?`` shows the exit status of the command before it.
  A number in e-notation is a rounding error (a max abs difference) and may differ.

An HTML comment right before a block says how to treat it:
``<!-- test: slow -->`` (long: under the slow marker) or ``<!-- test: skip REASON -->``
(not run: the reason must say where it is covered instead).  Blocks of other languages and plain
text blocks are output shown after an example, never code.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DIRECTIVE = re.compile(r"<!--\s*test:\s*(slow|skip)\b\s*(.*?)\s*-->", re.S)
FILE_HEADER = re.compile(r"#\s*([\w./-]+\.py)\s*$")


@dataclass
class Block:
    page: Path
    line: int                    # 1-based line of the opening fence
    info: str
    text: str
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def file_name(self) -> str | None:
        """The NAME.py of a file block, else None."""
        if self.info != "python":
            return None
        first = self.text.splitlines()[0] if self.text.strip() else ""
        found = FILE_HEADER.fullmatch(first.strip())
        return found.group(1) if found else None

    @property
    def sort(self) -> str:
        """"file", "script", "commands", "session" or "output"."""
        if self.info == "python":
            return "file" if self.file_name else "script"
        if any(line.startswith("$ ") for line in self.text.splitlines()):
            return "session"
        if self.info in ("bash", "sh", "shell"):
            return "commands"
        return "output"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of one page, each with the directive right before it."""
    tokens = MarkdownIt().parse(page.read_text(encoding="utf-8"))
    found, pending = [], {}
    for token in tokens:
        if token.type == "fence":
            found.append(Block(page, token.map[0] + 1, token.info.strip().split(" ")[0], token.content, pending))
        # a directive applies to the block that follows it at once, nothing else
        pending = ({m.group(1): m.group(2) for m in DIRECTIVE.finditer(token.content)}
                   if token.type == "html_block" else {})
    return found


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in blocks(page)]


# --- python scripts ------------------------------------------------------------------------

PRINT = re.compile(r"^\s*print\(.*\)\s+#\s?(.*)$")


def shown_prints(script: str) -> list[str]:
    """What each top-level ``print(...)  # TEXT`` line shows, in order."""
    return [m.group(1).rstrip() for m in map(PRINT.match, script.splitlines()) if m]


def print_matches(printed: str, shown: str) -> bool:
    return shown == printed or shown.startswith(printed + ": ")


# --- commands ------------------------------------------------------------------------------


def command_lines(text: str) -> list[str]:
    """The commands of a bash block: continuations joined, comments and blank lines dropped."""
    joined, commands = "", []
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            joined += line[:-1] + " "
            continue
        line, joined = joined + line, ""
        words = shlex.split(line, comments=True)
        if words:
            commands.append(shlex.join(words))
    return commands


@dataclass
class Step:
    command: str
    shown: list[str]             # the lines shown under it (without "..." lines)
    status: int | None           # the status `echo $?` shows after it, if any


def session_steps(text: str) -> list[Step]:
    """The ``$ COMMAND`` steps of a console block, each with the lines shown under it
    and the status a following ``$ echo $?`` shows."""
    steps: list[Step] = []
    echo = False
    for line in text.splitlines():
        if line.startswith("$ "):
            echo = line[2:].strip() == "echo $?"
            if not echo:
                steps.append(Step(line[2:].strip(), [], None))
        elif echo and line.strip().isdigit():
            steps[-1].status, echo = int(line.strip()), False
        elif steps and line.strip() not in ("", "..."):
            steps[-1].shown.append(line.rstrip())
    return steps


# a rounding error shown in e-notation (a max abs difference of 5.53e-05) depends on the
# machine's kernels and thread count: any such number stands for any other
ROUNDING = re.compile(r"\b\d+(?:\.\d+)?e[-+]\d+\b")


def _line(text: str) -> str:
    return ROUNDING.sub("<e>", text.rstrip())


def shown_in_order(shown: list[str], printed: str) -> str | None:
    """None when every shown line appears among the printed lines, in order (trailing
    spaces ignored, numbers in e-notation taken as rounding errors); else the first
    shown line that does not."""
    lines = [_line(line) for line in printed.splitlines()]
    at = 0
    for want in shown:
        try:
            at = lines.index(_line(want), at) + 1
        except ValueError:
            return want
    return None
