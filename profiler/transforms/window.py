"""The sliding-window check of a fully convolutional net (profiler.transforms.fully_conv):
its score map on an image against the original network run on every window of the
image, in values and in multiplications."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from profiler.errors import ProfilerError
from profiler.capture.modes import eval_state
from profiler.transforms.outputs import max_abs_difference, model_dtype, random_input

if TYPE_CHECKING:
    from profiler.transforms.fully_conv import FullyConv


@dataclass
class SlidingCheck:
    """How the fully convolutional net on ``image`` compares with running the
    original on each window of it (``windows`` = rows × cols of them, at the
    total stride).  ``max_diff_window``: the fully convolutional net's 1×1 output
    against the original's on one window-sized input; ``max_diff``: the score map
    against every window; ``sliding_mults``: windows × the original's mults on one
    window; ``fully_conv_mults``: the fully convolutional net's on the image."""

    image: tuple[int, ...]
    map_size: tuple[int, int]
    windows: tuple[int, int]
    max_diff_window: float
    max_diff: float
    sliding_mults: int
    fully_conv_mults: int

    @property
    def ratio(self) -> float:
        return self.sliding_mults / self.fully_conv_mults if self.fully_conv_mults else float("inf")


def sliding_window_check(original: nn.Module, fc: FullyConv, image_size: tuple[int, ...],
                         batch: int = 1, seed: int = 0, chunk: int = 16,
                         fc_report=None) -> SlidingCheck:
    """Run ``fc`` on a random image of ``image_size`` and ``original`` on each of
    its windows; count both ways with ``profile`` (``fc_report``: a profile of
    ``fc.model`` on the image already made)."""
    from profiler.api import profile
    c, h, w = fc.window
    if len(image_size) != 3 or image_size[0] != c or image_size[1] < h or image_size[2] < w:
        raise ProfilerError(f"the image {'x'.join(map(str, image_size))} must have {c} channels "
                            f"and be at least the window {h}x{w}")
    dtype = model_dtype(original)
    image = random_input(tuple(image_size), batch, dtype, seed)
    window = random_input(fc.window, batch, dtype, seed + 1)
    sh, sw = fc.stride
    rows, cols = (image_size[1] - h) // sh + 1, (image_size[2] - w) // sw + 1
    with eval_state(original, fc.model):
        max_diff_window = max_abs_difference(original(window), fc.model(window).flatten(1))
        scores = fc.model(image)
        crops = [(i, j) for i in range(rows) for j in range(cols)]
        diff = 0.0
        for start in range(0, len(crops), max(1, chunk // batch)):
            part = crops[start:start + max(1, chunk // batch)]
            x = torch.cat([image[:, :, i * sh:i * sh + h, j * sw:j * sw + w] for i, j in part])
            want = original(x).reshape(len(part), batch, -1)
            got = torch.stack([scores[:, :, i, j] for i, j in part])
            diff = max(diff, max_abs_difference(want, got))
    per_window = int(profile(original, input_size=fc.window, batch=batch, dtype=dtype).total["mults"])
    fc_report = fc_report or profile(fc.model, input_size=tuple(image_size), batch=batch, dtype=dtype)
    whole = int(fc_report.total["mults"])
    return SlidingCheck(tuple(image_size), tuple(scores.shape[-2:]), (rows, cols), max_diff_window,
                        diff, per_window * rows * cols, whole)
