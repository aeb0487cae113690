"""The `profiler` command.  Heavy modules (torch, pandas) are imported lazily, inside
the subcommands, so `--help` answers at once."""
from __future__ import annotations

import argparse
import sys
import warnings

EXAMPLES = """examples:
  profiler profile alexnet                          per-layer table, by-kind summary, totals
  profiler profile alexnet_paper --input 3x227x227  the hand count of the 2012 paper
  profiler profile resnet50 --input 3x224x224 --batch 8 --csv out/resnet50.csv --md out/resnet50.md
  profiler profile path/to/net.py:Net               your own model (a class or a no-argument function)
  profiler list                                     the models it can profile by name
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2, no usage dump
        self.exit(2, f"profiler: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="profiler", description="Exact, static FLOP and parameter counts for "
                     "PyTorch models, layer by layer.", epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("profile", help="profile one model", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="torchvision name, alexnet_paper, file.py:Attr or package.module:attr")
    p.add_argument("--input", default=None, metavar="CxHxW",
                   help="per-sample input size (default 3x227x227; 'native' = the weights' crop size)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--csv", metavar="PATH", help="write the per-layer table as CSV (raw integers)")
    p.add_argument("--md", metavar="PATH", help="write the report as Markdown")
    p.add_argument("--units", choices=["grouped", "raw", "human", "sci"], default="grouped",
                   help="number format on screen and in Markdown (default grouped: 70,276,800)")
    p.set_defaults(run=_cmd_profile)

    lst = sub.add_parser("list", help="list the models it can profile by name")
    lst.set_defaults(run=_cmd_list)
    return parser


def _cmd_profile(args) -> int:
    from .api import profile
    from .models import parse_input_size
    native = args.input == "native"
    size = None if args.input in (None, "native") else parse_input_size(args.input)
    report = profile(args.model, input_size=size, batch=args.batch, native=native)
    print(report.to_string(args.units), end="")
    for path, write in ((args.csv, report.to_csv), (args.md, lambda p: report.to_markdown(p, args.units))):
        if path:
            print(f"wrote {write(path)}")
    return 1 if len(report.uncounted) else 0


def _cmd_list(args) -> int:
    from .models import all_names
    print("\n".join(all_names()))
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
