"""`profiler profile --fold-bn / --fully-conv`: build the model with real weights,
transform it, profile the result and say what changed."""
from __future__ import annotations

import pandas as pd
from torch import nn

from profiler.errors import ProfilerError
from profiler.report.render import table

SUMMED = ["params", "mults", "adds", "other", "macs", "flops"]


def build(name: str, native: bool) -> tuple[nn.Module, object]:
    """The named model with real, seeded weights, in eval mode (it is ours), and its spec."""
    from profiler.models.resolve import resolve
    spec = resolve(name, native=native)
    model = spec.build_seeded()
    if not isinstance(model, nn.Module):
        raise ProfilerError(f"{name} did not build an nn.Module")
    return model.eval(), spec


def _size(args) -> str:
    return "x".join(map(str, args))


def fold_bn(name: str, input_size, batch: int, native: bool, units: str):
    """(report of the folded model without the folded BatchNorms' rows, summary text)."""
    from profiler.api import profile
    from profiler.capture.inputs import default_input_size
    from profiler.transforms.outputs import compare_outputs
    from profiler.transforms.fold_bn import fold_batchnorm
    model, spec = build(name, native)
    size = tuple(input_size) if input_size else default_input_size(spec, native)
    result = fold_batchnorm(model)
    before = profile(model, input_size=size, batch=batch)
    after = profile(result.model, input_size=size, batch=batch)
    after.model = before.model = spec.name
    folded = {bn for bn, _ in result.folded}
    after.layers = after.layers[~after.layers["name"].isin(folded)].reset_index(drop=True)
    diff, scale = compare_outputs(model, result.model, size, batch)
    counts = pd.DataFrame([before.total[SUMMED], after.total[SUMMED]]).reset_index(drop=True)
    counts.loc[2] = counts.loc[0] - counts.loc[1]
    counts.insert(0, "model", ["before", "after", "saved"])
    lines = ["", f"fold-bn: folded {len(result.folded)} BatchNorm layer(s) into the conv/linear before "
             f"them (found by {'a torch.fx trace' if result.method == 'fx' else 'torch.fx traces of its parts'})"
             + (f"; left {len(result.unfoldable)}:" if result.unfoldable else "")]
    lines += [f"  {bn}: {reason}" for bn, reason in result.unfoldable]
    lines += [table(counts, SUMMED, units=units), "",
              f"max abs output difference, folded vs original, on a random {batch}x{_size(size)} input: "
              f"{diff:.3g} (outputs up to {scale:.3g})", ""]
    return after, "\n".join(lines)


def _window(model: nn.Module, spec, text: str | None, channels: int) -> tuple[int, int, int]:
    from profiler.arguments import parse_input_size
    from profiler.models.weights import weights_meta
    from profiler.transforms.fully_conv import infer_window
    if text:
        return parse_input_size(text, "window")
    crop = weights_meta(spec.name).get("crop_size") if spec.family != "custom" else None
    return (channels, *crop) if crop else infer_window(model, channels)


def fully_conv(name: str, image, batch: int, window_text: str | None, units: str):
    """(report of the fully convolutional model on ``image``, summary text)."""
    from profiler.api import profile
    from profiler.transforms.fully_conv import to_fully_convolutional
    from profiler.transforms.window import sliding_window_check
    if not image:
        raise ProfilerError("--fully-conv needs --input CxHxW: the (larger) image to slide over")
    model, spec = build(name, native=False)
    window = _window(model, spec, window_text, image[0])
    if len(image) != 3 or image[0] != window[0] or image[1] < window[1] or image[2] < window[2]:
        raise ProfilerError(f"the image {_size(image)} must be at least the window {_size(window)} "
                            f"the classifier was built for")
    fc = to_fully_convolutional(model, window)
    report = profile(fc.model, input_size=tuple(image), batch=batch)
    report.model = f"{spec.name} (fully convolutional)"
    check = sliding_window_check(model, fc, tuple(image), batch, fc_report=report)
    rows, cols = check.windows
    (sh, sw), (mh, mw) = fc.stride, check.map_size
    counts = pd.DataFrame([[f"sliding window ({rows * cols} windows)", check.sliding_mults],
                           ["fully convolutional", check.fully_conv_mults]], columns=["how", "mults"])
    lines = ["", "fully-conv: " + "; ".join(f"{a} → {b}" for a, b in fc.converted if b.startswith("Conv2d")),
             f"window {_size(window)}, image {_size(image)}, total stride {sh}x{sw}: score map "
             f"{mh}x{mw}, {rows}x{cols} whole windows"
             + ("" if (mh, mw) == (rows, cols) else " (the other positions reach past the image)"),
             table(counts, ["mults"], units=units),
             f"ratio sliding / fully convolutional: {check.ratio:.2f}x", "",
             f"max abs difference on a random window-sized input (1x1 score map vs original): "
             f"{check.max_diff_window:.3g}",
             f"max abs difference, score map vs the original on every window: {check.max_diff:.3g}"]
    if fc.padded:
        shown = ", ".join(fc.padded[:4]) + (f" and {len(fc.padded) - 4} more" if len(fc.padded) > 4 else "")
        lines.append(f"note: {shown} pad their input: inside a larger image they read real pixels "
                     f"where a lone window reads zeros, so the score map only approximates the "
                     f"windows' scores (it is exact for feature extractors without padding)")
    return report, "\n".join(lines) + "\n\n"
