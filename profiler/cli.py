"""The `profiler` command.  Heavy modules (torch, pandas) are imported lazily, inside
the subcommands, so `--help` answers at once."""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from importlib import import_module

EXAMPLES = """examples:
  profiler profile alexnet                          per-layer table, by-kind summary, totals
  profiler profile alexnet_paper --input 3x227x227  the hand count of the 2012 paper
  profiler profile resnet50 --input 3x224x224 --batch 8 --csv out/resnet50.csv --md out/resnet50.md
  profiler profile path/to/net.py:Net               your own model (a class or a no-argument function)
  profiler list                                     the models it can profile by name
"""


COMMANDS = ("profile", "list", "check", "compare")  # each a module in profiler/commands with register(subparsers)


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2, no usage dump
        self.exit(2, f"profiler: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="profiler", description="Exact, static FLOP and parameter counts for "
                     "PyTorch models, layer by layer.", epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    for command in COMMANDS:
        import_module(f".commands.{command}", __package__).register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import ProfilerError
    warnings.showwarning = _show_warning
    try:
        return args.run(args)
    except ProfilerError as exc:
        print(f"profiler: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("profiler: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`profiler profile vgg16 | head`): stop quietly, and keep
        # Python from complaining again when it flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
