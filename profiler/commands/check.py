"""`profiler check MODEL`: our MACs next to fvcore's and FlopCounterMode's."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("check", help="cross-check MACs against fvcore and FlopCounterMode")
    p.add_argument("model", help="torchvision name, alexnet_paper, file.py:Attr or package.module:attr")
    p.add_argument("--input", default=None, metavar="CxHxW",
                   help="per-sample input size (default as in profile; 'native' = the weights' crop size)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--all-rows", action="store_true", help="show matching rows too, not only differences")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..check import check
    from ..models import parse_input_size
    from ..render import table
    native = args.input == "native"
    size = None if args.input in (None, "native") else parse_input_size(args.input)
    result = check(args.model, input_size=size, batch=args.batch, native=native)
    shown = result.table if args.all_rows else result.table[result.table["status"] != "match"]
    print(f"{result.model} · input {result.input_desc} · MACs (multiply-accumulates of conv, linear and "
          f"matmul; fvcore counts MACs, FlopCounterMode's FLOPs are halved)")
    for note in result.notes:
        print(f"note: {note}")
    print(table(shown.fillna("n/a"), ["ours", "fvcore", "flop_counter", "fvcore_diff", "flop_counter_diff"]))
    matched = (result.table["status"] == "match").sum()
    print(f"{matched} of {len(result.table)} rows match exactly; "
          f"{len(result.unexplained)} unexplained difference(s)")
    return 0 if result.ok else 1
