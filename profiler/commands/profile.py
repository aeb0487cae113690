"""`profiler profile MODEL`: the per-layer table, the by-kind summary and totals."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    from ..cli import EXAMPLES
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
    p.set_defaults(run=run)


def run(args) -> int:
    from ..api import profile
    from ..models import parse_input_size
    native = args.input == "native"
    size = None if args.input in (None, "native") else parse_input_size(args.input)
    report = profile(args.model, input_size=size, batch=args.batch, native=native)
    print(report.to_string(args.units), end="")
    for path, write in ((args.csv, report.to_csv), (args.md, lambda p: report.to_markdown(p, args.units))):
        if path:
            print(f"wrote {write(path)}")
    return 1 if len(report.uncounted) else 0
