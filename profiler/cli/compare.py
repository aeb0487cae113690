"""`profiler compare MODEL...`: several models (input sizes, batch sizes) side by side.

Exit code: 0 when every profile succeeded with every row counted, 1 when some
failed or have uncounted rows (each failure is one line on stderr), 2 on bad
usage or, with --strict, on the first failure.
"""
from __future__ import annotations

import argparse

PROGRESS_AFTER = 3      # show a progress bar beyond this many profiles
# by default, profile in worker processes beyond this many profiles: each worker imports
# torch afresh, which costs more than profiling a handful of models in this process
PARALLEL_AFTER = 8

EXAMPLES = """examples:
  profiler compare alexnet vgg16 resnet50 mobilenet_v3_large vit_b_16
  profiler compare resnet50 --input 3x224x224 --input 3x448x448 --batch 1 --batch 8
  profiler compare --all --input native --csv zoo.csv --md zoo.md --plot zoo.png
  profiler compare --all --jobs 1                   one profile after the other, in this process
  profiler compare hf:llama --tokens 128 --tokens 4096 --decode 4096   prefill and decode side by side
  profiler compare alexnet --measure --batch 1 --batch 64   measured time: where linear layers turn compute-bound
"""


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare models, input sizes and batch sizes in one table",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", metavar="MODEL", help="names as for 'profile'")
    p.add_argument("--all", action="store_true", help="every torchvision model (torchvision.models.list_models())")
    p.add_argument("--input", action="append", metavar="CxHxW",
                   help="per-sample input size, repeatable; 'native' = each model's published crop size "
                        "(default: each model's own default input)")
    p.add_argument("--batch", action="append", type=int, metavar="N", help="batch size, repeatable (default 1)")
    from profiler.cli.profile import DTYPES, add_detections_argument, add_language_arguments, add_measure_arguments
    add_language_arguments(p, repeat=True)
    add_detections_argument(p)
    add_measure_arguments(p)
    p.add_argument("--dtype", choices=DTYPES, help="count every model at this dtype (default: each model's own)")
    p.add_argument("--training", action="store_true", help="profile a training step: the forward and the backward")
    from profiler.cli.profile import add_memory_arguments
    add_memory_arguments(p, compare=True)   # --memory, --optimizer: the peak_bytes and step_peak_bytes columns
    p.add_argument("--csv", metavar="PATH", help="write the table as CSV (raw integers)")
    p.add_argument("--md", metavar="PATH", help="write the table as Markdown (embeds --plot if given)")
    p.add_argument("--plot", metavar="PATH", help="write MACs vs parameters (log-log) as PNG")
    p.add_argument("--strict", action="store_true", help="stop at the first failure (exit code 2)")
    p.add_argument("--jobs", "-j", type=_positive_int, metavar="N",
                   help="N profiles at a time: this process and N-1 worker processes; 1 = one after the "
                        "other in this process "
                        f"(default: one per CPU beyond {PARALLEL_AFTER} profiles, else 1)")
    p.add_argument("--units", choices=["grouped", "raw", "human", "sci"], default="grouped",
                   help="number format on screen and in Markdown (default grouped)")
    p.set_defaults(run=run)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def check_arguments(args) -> dict:
    """Every check of the flags that needs no model, made before torch is imported:
    each --input, --batch, --tokens and --decode, the --config syntax, the
    environment's numbers, --runs and --device, a model or --all, and the output
    paths (writable, not a model's own source, not another output).  Returns
    profile()'s measure options ({} when no flag asks for time)."""
    from profiler.cli.helpers import check_output_paths
    from profiler.cli.profile import check_sizes, measure_options
    from profiler.errors import ProfilerError
    if not args.models and not args.all:
        raise ProfilerError("give one or more model names, or --all")
    check_sizes(args, args.input or [], args.batch or [1])
    measuring = measure_options(args) or {}
    if args.optimizer and not args.training:
        raise ProfilerError("--optimizer applies to a training step: add --training")
    if (args.memory or args.optimizer) and measuring:
        raise ProfilerError("--memory and --optimizer do not go with --measure or --device")
    check_output_paths(args.models, csv=args.csv, md=args.md, plot=args.plot)
    return measuring


def run(args) -> int:
    measuring = check_arguments(args)   # before torch: a bad argument costs no wait
    import os
    import sys
    from pathlib import Path

    from tqdm import tqdm

    from profiler.compare import compare, cpu_count
    from profiler.report.profiles_table import markdown, to_text

    models = list(args.models)
    if args.all:
        from torchvision.models import list_models
        models += [m for m in sorted(list_models()) if m not in models]
    jobs = len(models) * (len(args.input or []) + len(args.tokens or []) + len(args.decode or []) or 1) \
        * len(args.batch or [1])
    bar = tqdm(total=jobs, file=sys.stderr, disable=jobs <= PROGRESS_AFTER or not sys.stderr.isatty(), leave=False,
               unit="profile", dynamic_ncols=True)

    def progress(label: str, error: str | None) -> None:
        if error is not None:
            bar.write(f"profiler: failed: {label}: {error}", file=sys.stderr)
        bar.set_postfix_str(label, refresh=False)
        bar.update()

    try:
        workers = args.jobs or (cpu_count() if jobs > PARALLEL_AFTER else 1)
        import torch

        from profiler.cli.profile import language_options
        frame = compare(models, args.input, args.batch, strict=args.strict, progress=progress, jobs=workers,
                        tokens=args.tokens, decode=args.decode, detections=args.detections,
                        dtype=getattr(torch, args.dtype) if args.dtype else None, **language_options(args),
                        training=args.training, memory=args.memory, optimizer=args.optimizer, **measuring)
    finally:
        bar.close()
    print(to_text(frame, args.units))
    for line in frame.attrs.get("roofline", []):
        print(line)
    if args.plot:
        from profiler.report.plots import compare_figure, save
        print(f"wrote {save(compare_figure(frame), args.plot)}")
    if args.csv:
        from profiler.report.atomic import write_text
        print(f"wrote {write_text(args.csv, frame.to_csv(index=False))}")
    if args.md:
        from profiler.report.atomic import write_text
        link = Path(os.path.relpath(args.plot, Path(args.md).parent)).as_posix() if args.plot else None
        print(f"wrote {write_text(args.md, markdown(frame, units=args.units, plot=link))}")
    failures = frame.attrs["failures"]
    incomplete = int((frame["uncounted"] > 0).sum())
    if failures or incomplete:
        print(f"profiler: {len(frame)} of {jobs} profiled; {len(failures)} failed"
              + (f"; {incomplete} with uncounted rows" if incomplete else ""), file=sys.stderr)
        return 1
    return 0
