"""`profiler check MODEL`: our MACs next to fvcore's and FlopCounterMode's."""
from __future__ import annotations

COLUMNS = ["layer", "ours", "fvcore", "flop_counter", "fvcore_diff", "flop_counter_diff", "status", "reason"]


def register(sub) -> None:
    p = sub.add_parser("check", help="cross-check MACs against fvcore and FlopCounterMode")
    p.add_argument("model", help="torchvision name, alexnet_homework, alexnet2012, hf:ARCH, timm:NAME, "
                                 "file.py:Attr or package.module:attr")
    p.add_argument("--input", default=None, metavar="CxHxW",
                   help="per-sample input size (default as in profile; 'native' = the weights' crop size)")
    p.add_argument("--batch", type=int, default=1)
    from profiler.cli.profile import add_language_arguments
    add_language_arguments(p, repeat=False)
    p.add_argument("--all-rows", action="store_true",
                   help="show every layer, the matching ones too (default: the differences and the total)")
    p.add_argument("--verbose", action="store_true", help="print each note's full text")
    p.set_defaults(run=run)


def run(args) -> int:
    from profiler.cli.profile import check_sizes, language_options
    # before torch: a bad argument costs no wait
    [size] = check_sizes(args, [args.input] if args.input else [], [args.batch]) or [None]
    native = args.input == "native"
    from profiler.check import check
    from profiler.report.render import short_note, table
    result = check(args.model, input_size=size, batch=args.batch, native=native, tokens=args.tokens,
                   decode=args.decode, **language_options(args))
    rows = result.table
    # the total row always: when every layer matches, it is what shows that, tool by tool
    shown = rows if args.all_rows else rows[(rows["status"] != "match") | (rows["layer"] == "(total)")]
    print(f"{result.model} · input {result.input_desc} · MACs (multiply-accumulates of conv, linear and "
          f"matmul; fvcore counts MACs, FlopCounterMode's FLOPs are halved)")
    for note in result.notes:
        print(f"note: {note if args.verbose else short_note(note)}")
    print(table(shown[COLUMNS].astype(object).fillna("n/a"), ["ours", "fvcore", "flop_counter", "fvcore_diff",
                                                               "flop_counter_diff"]))
    matched = int((rows["status"] == "match").sum())
    hidden = len(rows) - len(shown)
    print(f"{matched} of {len(rows)} rows match exactly; {len(result.unexplained)} unexplained difference(s)"
          + (f"; --all-rows shows the {hidden} matching layer(s) not listed" if hidden else ""))
    return 0 if result.ok else 1
