"""`profiler profile MODEL`: the per-layer table, the by-kind summary and totals."""
from __future__ import annotations

import argparse
import re

DTYPES = ("float32", "float16", "bfloat16", "float64")


def register(sub) -> None:
    from profiler.cli.examples import EXAMPLES
    from profiler.cli.helpers import default_inputs_text
    p = sub.add_parser("profile", help="profile one model", epilog=default_inputs_text() + "\n" + EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="torchvision name, alexnet_homework, alexnet2012, hf:ARCH, timm:NAME, a "
                                 "folder holding a config.json, file.py:Attr or package.module:attr")
    p.add_argument("--input", default=None, metavar="CxHxW",
                   help="per-sample input size (default: the model family's, listed below; 'native' = "
                        "the weights' crop size)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    add_language_arguments(p, repeat=False)
    add_input_arguments(p)
    p.add_argument("--dtype", choices=DTYPES,
                   help="profile as if the floating parameters and inputs were this dtype (memory "
                        "columns; default: the model's own dtype)")
    p.add_argument("--csv", metavar="PATH", help="write the per-layer table as CSV (raw integers)")
    p.add_argument("--md", metavar="PATH", help="write the report as Markdown")
    p.add_argument("--units", choices=["grouped", "raw", "human", "sci"], default="grouped",
                   help="number format on screen and in Markdown (default grouped: 70,276,800)")
    p.add_argument("--depth", type=int, metavar="N",
                   help="sum rows below module depth N into their ancestor (0 = the whole model)")
    p.add_argument("--sort", choices=["mults", "params", "memory"],
                   help="order rows by multiplications, parameters or output activation memory, largest first")
    p.add_argument("--top", type=int, metavar="K", help="show only the K largest rows (by --sort, default mults)")
    p.add_argument("--plot", metavar="PATH",
                   help="write per-layer mults and params and the shares by kind as PNG (--md embeds it)")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON (schema: docs/reports.md, JSON)")
    add_measure_arguments(p)
    add_utilisation_arguments(p)
    add_detections_argument(p)
    p.add_argument("--training", action="store_true",
                   help="count a training step: the forward in train mode plus the backward "
                        "(bwd_* columns; forward, backward and total)")
    p.add_argument("--checkpointing", nargs="?", const="non-reentrant", choices=["non-reentrant", "reentrant"],
                   help="with --training: switch on a transformers or timm model's activation "
                        "checkpointing (default kind non-reentrant); its recomputed forward is "
                        "counted (rc_* columns; model and hardware FLOPs)")
    add_memory_arguments(p)
    what_if = p.add_mutually_exclusive_group()
    what_if.add_argument("--fold-bn", action="store_true",
                         help="fold eval-mode BatchNorm into the conv/linear before it: counts before "
                              "and after, FLOPs saved, max abs output difference")
    what_if.add_argument("--fully-conv", action="store_true",
                         help="make the Flatten→Linear classifier convolutional and run it on --input "
                              "CxHxW, a larger image: sliding-window vs fully convolutional mults")
    p.add_argument("--verbose", action="store_true",
                   help="print each note's full text (by default each note is one short line)")
    p.add_argument("--window", metavar="CxHxW",
                   help="with --fully-conv: the input the classifier was built for (default: the "
                        "published crop size, else the smallest input that fills the first Linear)")
    p.set_defaults(run=run)


# profiler.formulas.optimizers.OPTIMIZERS and the stages profiler.formulas.sharding.parse_shard
# takes, named here so that the flags are checked without importing torch (profiler.formulas does)
OPTIMIZERS = ("sgd", "sgd-momentum", "adam", "adamw", "adafactor")
SHARD = re.compile(r"(ddp|dp|zero-?[0-3]|fsdp|full[-_]shard|shard[-_]grad[-_]op|[0-3]):0*[1-9]\d*", re.IGNORECASE)


def add_memory_arguments(p, compare: bool = False) -> None:
    """--memory, --optimizer, --amp, --fits and --shard (profile); --memory and
    --optimizer (compare)."""
    p.add_argument("--memory", action="store_true",
                   help="follow the memory of the step: the peak and where it occurs, bytes by category "
                        "(parameters, gradients, optimizer states, saved activations, ...)"
                        + ("" if compare else "; with --plot, live memory layer by layer (PATH_memory.png)")
                        + " (implied by the flags below)")
    p.add_argument("--optimizer", choices=OPTIMIZERS,
                   help="with --training: the optimizer stepped after the backward, whose states are counted "
                        "(implies --memory)")
    if compare:
        return
    p.add_argument("--amp", choices=["bf16", "fp16"],
                   help="with --training: mixed precision as DeepSpeed and Megatron train: 16-bit parameters, "
                        "gradients and activations, fp32 master weights and optimizer states (implies --memory)")
    p.add_argument("--fits", metavar="SIZE",
                   help="a memory capacity (80GB, 24GiB; GB = 10^9 bytes) or a device (H100, A100-40GB, "
                        "RTX-4090, ...): whether the step fits, and the largest batch that fits, searched by "
                        "profiling again at each batch tried (implies --memory; --device NAME gives its "
                        "capacity too)")
    p.add_argument("--shard", metavar="STAGE:N",
                   help="with --training: model states per device under data parallelism over N devices, "
                        "STAGE ddp, zero1, zero2, zero3 or fsdp (= zero3), on paper (implies --memory)")


def _memory_asked(args) -> bool:
    return any(getattr(args, flag, None) for flag in ("memory", "optimizer", "amp", "fits", "shard"))


def memory_options(args) -> dict | None:
    """profiler.fits.plan()'s options from the memory flags, checked without torch;
    None when no memory flag is given."""
    from profiler.errors import ProfilerError
    asked = [f for f, v in (("--optimizer", args.optimizer), ("--amp", args.amp), ("--fits", args.fits),
                             ("--shard", args.shard)) if v]
    if not (asked or args.memory):
        return None
    device_capacity = None
    if args.device and not args.measure:
        from profiler.report.peaks import CAPACITY, capacity_name
        device_capacity = capacity_name(args.device)
        if device_capacity is None:
            raise ProfilerError(f"--device {args.device!r}: with --memory, --optimizer, --amp, --fits or --shard, "
                                f"--device names the device whose memory the step must fit: one of "
                                f"{', '.join(CAPACITY)}")
    for flag in ("--optimizer", "--amp", "--shard"):
        if flag in asked and not args.training:
            raise ProfilerError(f"{flag} applies to a training step: add --training")
    if args.amp and args.dtype:
        raise ProfilerError(f"--amp {args.amp} runs the step in 16 bits: it does not go with --dtype")
    if args.fold_bn or args.fully_conv or args.measure:
        raise ProfilerError("--memory, --optimizer, --amp, --fits and --shard do not go with --fold-bn, "
                            "--fully-conv or --measure")
    if args.fits and args.arg:
        raise ProfilerError("--fits searches the batch of the made inputs: it does not go with --arg, "
                            "whose shapes include the batch")
    from profiler.report.peaks import parse_capacity
    fits = args.fits or device_capacity
    if fits:
        parse_capacity(fits)
    if args.shard and not SHARD.fullmatch(args.shard.strip()):
        raise ProfilerError(f"--shard {args.shard!r}: expected STAGE:N, a stage (ddp, zero1, zero2, zero3 or fsdp) "
                            "and a positive device count, e.g. zero3:8")
    return dict(fits=fits, optimizer=args.optimizer, amp=args.amp, shard=args.shard)


def add_detections_argument(p) -> None:
    p.add_argument("--detections", choices=["bound", "real"], default="bound",
                   help="detection models: 'bound' (default) counts on shapes with every candidate passing "
                        "and NMS keeping every box, the same everywhere; 'real' counts one forward on a "
                        "random image on real CPU tensors, the real execution (varies with the image, "
                        "weights and thread count)")


def rate(text: str) -> float:
    """A --peak-flops / --peak-bandwidth value: 67e12, 67T, 3.35T."""
    from profiler.errors import ProfilerError
    from profiler.measure.roofline import parse_rate
    try:
        return parse_rate(text)
    except ProfilerError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_measure_arguments(p) -> None:
    """--measure, --device, --peak-flops, --peak-bandwidth and --runs (profile and compare)."""
    p.add_argument("--measure", action="store_true",
                   help="time every layer on real data (random weights, seeded): mean, median and IQR of "
                        "its time, share of the time by kind, achieved FLOP/s and bytes/s, and its roofline "
                        "bound, regime and efficiency; with --plot, the roofline")
    p.add_argument("--device", metavar="DEVICE",
                   help="where --measure runs: cpu (default), cuda or cuda:N; or a data-sheet name (A100, H100, "
                        "H200, ...) whose peaks the roofline uses.  Without --measure: each layer's least time "
                        "on that device, from the roofline alone; with --step-time, the data sheet whose peak MFU is of")
    p.add_argument("--peak-flops", type=rate, metavar="FLOP/s",
                   help="the roofline's compute peak (e.g. 67T or 67e12) instead of a microbenchmark; with "
                        "--step-time, the peak MFU is of")
    p.add_argument("--peak-bandwidth", type=rate, metavar="B/s",
                   help="the roofline's memory bandwidth (e.g. 3.35T) instead of a microbenchmark")
    p.add_argument("--runs", type=int, metavar="N",
                   help="with --measure: timed runs (default: as many as fit in about 3 seconds, at least 10)")


def measure_options(args) -> dict | None:
    """profile()'s measure options from the flags (its keyword arguments measure,
    device, runs, peak_flops, peak_bandwidth), checked without torch; None when no flag
    asks for time, or when --device and --peak-flops give the peak of --step-time
    (or --tokens-per-second) instead (see ``utilisation_options``)."""
    from profiler.errors import ProfilerError
    if args.runs is not None and (not args.measure or args.runs < 1):
        raise ProfilerError("--runs goes with --measure and takes a positive integer")
    if _utilisation_asked(args):
        return None
    if args.device and not (args.measure or args.peak_flops or args.peak_bandwidth) and _memory_asked(args):
        return None   # --device NAME beside the memory flags: the capacity --fits takes (memory_options)
    if not (args.measure or args.device or args.peak_flops or args.peak_bandwidth):
        return None
    if args.device:
        from profiler.measure.roofline import parse_device
        parse_device(args.device)
    if args.tokens or args.decode:
        raise ProfilerError("--measure and --device do not go with --tokens or --decode: "
                            "time the model from Python with profiler.measure.measure(..., inputs=...)")
    return dict(device=args.device or "cpu", runs=args.runs, peak_flops=args.peak_flops,
                peak_bandwidth=args.peak_bandwidth, measure=args.measure)


def positive_number(text: str) -> float:
    """A --step-time / --tokens-per-second value: a positive, finite number."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number")
    return value


def add_utilisation_arguments(p) -> None:
    """--step-time or --tokens-per-second: MFU and HFU, with --device NAME or --peak-flops."""
    step = p.add_mutually_exclusive_group()
    step.add_argument("--step-time", type=positive_number, metavar="SECONDS",
                      help="the measured time of one step (a --training step, else a forward): its MFU and HFU "
                           "(model and hardware FLOPs / (time x peak)) on --device NAME (a data sheet, at the "
                           "profile's dtype) or at --peak-flops")
    step.add_argument("--tokens-per-second", type=positive_number, metavar="N",
                      help="language models: the measured throughput, instead of --step-time (the step time is "
                           "batch x tokens / N)")


def _utilisation_asked(args) -> bool:
    return getattr(args, "step_time", None) is not None or getattr(args, "tokens_per_second", None) is not None


def utilisation_options(args) -> dict | None:
    """Report.utilisation()'s step_time= or tokens_per_second=, and the peak: the
    data-sheet name of --device (resolved after the profile, at its dtype) or
    --peak-flops; checked without torch.  None when neither flag is given."""
    if not _utilisation_asked(args):
        return None
    from profiler.errors import ProfilerError
    from profiler.measure.roofline import DATASHEET, datasheet_name
    flag = "--step-time" if args.step_time is not None else "--tokens-per-second"
    if args.measure or args.peak_bandwidth:
        raise ProfilerError(f"{flag} gives the utilisation of a step timed elsewhere, at a peak FLOP/s: it does "
                            f"not go with {'--measure' if args.measure else '--peak-bandwidth'}")
    if args.fold_bn or args.fully_conv:
        raise ProfilerError(f"{flag} does not go with --fold-bn or --fully-conv: profile the model you timed")
    if args.device and args.peak_flops:
        raise ProfilerError(f"{flag}: give the peak by --device NAME or by --peak-flops, not both")
    if not (args.device or args.peak_flops):
        raise ProfilerError(f"{flag} needs the device's peak FLOP/s: --device NAME (a data sheet: "
                            f"{', '.join(DATASHEET)}) or --peak-flops (e.g. 989.5T)")
    name = datasheet_name(args.device) if args.device else None
    if args.device and name is None:
        raise ProfilerError(f"--device {args.device!r}: {flag} takes the peak of a data sheet: one of "
                            f"{', '.join(DATASHEET)}; or give --peak-flops")
    return dict(step_time=args.step_time, tokens_per_second=args.tokens_per_second, datasheet=name,
                peak_flops=args.peak_flops)


def add_language_arguments(p, repeat: bool) -> None:
    """--tokens, --decode and --config (for compare, --tokens and --decode repeat)."""
    action, each = ("append", ", repeatable") if repeat else ("store", "")
    p.add_argument("--tokens", type=int, action=action, metavar="N",
                   help="language models: a prefill of batch x N token ids" + each)
    p.add_argument("--decode", type=int, action=action, metavar="N",
                   help="transformers models: one new token after a KV cache of N tokens" + each)
    p.add_argument("--config", action="append", metavar="NAME=VALUE",
                   help="hf:/timm: models: override a config field, e.g. num_hidden_layers=2 (repeatable)")


def add_input_arguments(p) -> None:
    """--arg NAME=SHAPE[:dtype] (repeatable), and the sizes of a transformers model's made inputs."""
    p.add_argument("--arg", action="append", metavar="NAME=SHAPE[:dtype]",
                   help="an input by name, e.g. pixel_values=1x3x336x336 or input_ids=1x600:int64 (whole "
                        "shape, batch included; repeatable): hf: models get it in place of the made one, "
                        "others as a keyword input")
    p.add_argument("--image", type=int, metavar="N", help="hf: models: the made image's side in pixels")
    p.add_argument("--frames", type=int, metavar="N", help="hf: models: the made video's frames")
    p.add_argument("--seconds", type=float, metavar="S", help="hf: models: the made audio's length in seconds")


def input_options(args) -> dict:
    """profile()'s named=, image=, frames= and seconds= from --arg, --image, --frames
    and --seconds, checked without torch."""
    from profiler.arguments import check_made_sizes, parse_named_inputs
    check_made_sizes(args.image, args.frames, args.seconds)
    out = {"named": parse_named_inputs(args.arg)} if args.arg else {}
    return {**out, **{k: getattr(args, k) for k in ("image", "frames", "seconds") if getattr(args, k) is not None}}


def language_options(args) -> dict:
    """profile()'s config= from --config (the text parsed into values, without torch)."""
    if not args.config:
        return {}
    from profiler.arguments import parse_config_overrides
    return {"config": parse_config_overrides(args.config)}


def check_sizes(args, inputs: list[str], batches: list[int]) -> list[tuple[int, ...] | None]:
    """What profile, compare and check take alike, checked without torch: the
    environment's numbers, each --input (a size, or native), each --batch (and each
    batch × size fits a tensor's element count), --tokens and --decode, and the
    --config syntax.  Returns the sizes (None for native).  profile and check take
    one --tokens and one --decode, which make the inputs themselves (so no --input
    goes with them); compare repeats them, each a point of its own beside the
    --input sizes."""
    from profiler.arguments import check_batch, check_environment, check_input_fits, check_tokens, parse_input_size
    check_environment()
    sizes = [None if text == "native" else parse_input_size(text) for text in inputs]
    for batch in batches:
        check_batch(batch)
        for size in sizes:
            if size is not None:
                check_input_fits(batch, size)
        if isinstance(args.tokens, list) or isinstance(args.decode, list):   # compare's points
            for tokens in args.tokens or []:
                check_tokens(tokens, None, batch=batch)
            for decode in args.decode or []:
                check_tokens(None, decode, batch=batch)
        else:
            check_tokens(args.tokens, args.decode, any(s is not None for s in sizes), False,
                         "native" in inputs, batch)
    language_options(args)
    return sizes


def check_arguments(args) -> tuple[tuple[int, ...] | None, bool, dict | None]:
    """Every check of the flags that needs no model, made before torch is imported,
    so that a bad argument is refused at once: sizes and numbers (``check_sizes``),
    --window, --depth, --top, --runs, --device, the flags that do not go together,
    and the output paths (``check_output_paths``: writable, not the model's own
    source, not another output).  Returns (the --input size, native, profile()'s measure
    options or None)."""
    from profiler.errors import ProfilerError
    [size] = check_sizes(args, [args.input] if args.input else [], [args.batch]) or [None]
    native = args.input == "native"
    if args.window:
        if not args.fully_conv:
            raise ProfilerError("--window goes with --fully-conv")
        from profiler.arguments import parse_input_size
        parse_input_size(args.window, "window")
    if args.fully_conv and size is None:
        raise ProfilerError("--fully-conv needs --input CxHxW: the (larger) image to slide over")
    if args.depth is not None and args.depth < 0 or args.top is not None and args.top < 1:
        raise ProfilerError("--depth must be 0 or more and --top a positive integer")
    if args.dtype and (args.fold_bn or args.fully_conv):
        raise ProfilerError(f"--dtype does not go with --{'fold-bn' if args.fold_bn else 'fully-conv'}")
    if (args.fold_bn or args.fully_conv) and (args.tokens or args.decode or args.config or input_options(args)):
        raise ProfilerError("--tokens, --decode, --config, --arg, --image, --frames and --seconds do not go with "
                            "--fold-bn or --fully-conv")
    if args.checkpointing and not args.training:
        raise ProfilerError("--checkpointing changes only a training step: add --training")
    if args.training and (args.fold_bn or args.fully_conv):
        raise ProfilerError("--fold-bn needs an eval-mode model: in training mode BatchNorm normalises "
                            "with batch statistics, which no folded weights reproduce" if args.fold_bn
                            else "--fully-conv transforms the inference model; drop --training")
    measuring = measure_options(args)
    if measuring is not None and input_options(args):
        raise ProfilerError("--measure and --device do not go with --arg, --image, --frames or --seconds: time "
                            "the model from Python with profiler.measure.measure(..., kwargs=...)")
    if measuring is not None and (args.fold_bn or args.fully_conv or args.training):
        raise ProfilerError("--measure and --device time the inference forward of the model as it is: "
                            "drop --fold-bn, --fully-conv and --training")
    memory_options(args)
    from profiler.cli.helpers import check_output_paths
    plots = {"plot": args.plot}
    if args.plot and (args.memory or args.optimizer or args.amp or args.fits or args.shard):
        from profiler.report.memory import plot_path
        plots["plot's memory plot"] = plot_path(args.plot)
    check_output_paths(args.model, csv=args.csv, md=args.md, json=args.json, **plots)
    return size, native, measuring


def run(args) -> int:
    size, native, measuring = check_arguments(args)   # before torch: a bad argument costs no wait
    usage = utilisation_options(args)
    from profiler.api import profile
    from profiler.report.grouping import view
    import warnings
    # an uncounted row is listed once, on the report's last line: not also as a warning above it
    warnings.filterwarnings("ignore", message=r"profiler: .* is uncounted")
    if args.fold_bn or args.fully_conv:
        report, summary = _what_if(args, size, native)
    else:
        import torch
        # no --dtype: pass none, so that profile() keeps the model's own dtype
        dtype = {"dtype": getattr(torch, args.dtype)} if args.dtype else {}
        # the measured run (--measure, --device) is profile()'s: it times the model and the inputs
        # the profile built and made (a transformers model's too), sized before anything is built
        measured = measuring or {}
        memory = memory_options(args)
        profiled = profile
        if memory is not None:   # the memory what-ifs: profiler.fits re-profiles for the largest batch
            from profiler.fits import plan as profiled
            measured = {**measured, **memory}
        report, summary = profiled(args.model, input_size=size, batch=args.batch, native=native,
                                  training=args.training, tokens=args.tokens, decode=args.decode,
                                  checkpointing=args.checkpointing or False,
                                  detections=args.detections, **dtype, **language_options(args),
                                  **input_options(args), **measured), ""
    if usage is not None:   # shown in the text, Markdown and JSON below
        _utilisation(report, **usage)
    layers, note = view(report.layers, args.depth, args.sort, args.top)   # the per-layer table everywhere
    print(report.to_string(args.units, layers, note, verbose=args.verbose) + summary, end="")
    if args.plot and report.measurement is not None:
        from profiler.report.plots import save
        from profiler.report.roofline_plot import roofline_figure
        print(f"wrote {save(roofline_figure(report, layers), args.plot)}")
    elif args.plot:
        from profiler.report.plots import report_figure, save
        print(f"wrote {save(report_figure(report, layers), args.plot)}")
    if args.plot and report.memory is not None:
        from profiler.report.memory import plot_path, save_memory_plot
        print(f"wrote {save_memory_plot(report, plot_path(args.plot))}")
    if args.json:
        from profiler.report.json_report import write_json
        print(f"wrote {write_json(report, args.json, layers, note)}")
    for path, write in ((args.csv, lambda p: report.to_csv(p, layers=layers)),
                        (args.md, lambda p: report.to_markdown(p, args.units, layers, note, args.plot))):
        if path:
            print(f"wrote {write(path)}")
    return 1 if len(report.uncounted) else 0


def _utilisation(report, step_time, tokens_per_second, datasheet, peak_flops) -> None:
    """report.utilisation() at --peak-flops, or at the data sheet's peak at the profile's dtype."""
    from profiler.measure.roofline import table_peaks
    peak = peak_flops if peak_flops is not None else table_peaks(datasheet, report.dtype)
    report.utilisation(step_time=step_time, peak=peak, tokens_per_second=tokens_per_second)


def _what_if(args, size, native):
    """--fold-bn or --fully-conv: (report of the transformed model, summary text)."""
    from profiler.cli import whatif
    if args.fold_bn:
        return whatif.fold_bn(args.model, size, args.batch, native, args.units)
    return whatif.fully_conv(args.model, size, args.batch, args.window, args.units)
