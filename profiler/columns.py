"""The report's vocabulary, without torch: the row columns and the layer kinds.

Kept apart from the code that makes rows (profiler.count.rows, which needs torch) so
that reading and rendering a report (profiler.report) imports no torch.
"""
from __future__ import annotations

KINDS = ("conv", "linear", "matmul", "attention", "recurrent", "norm", "activation",
         "pool", "resample", "elementwise", "embedding", "reshape", "other")

COLUMNS = ["name", "type", "kind", "depth", "input_shapes", "output_shape", "params",
           "mults", "adds", "other", "macs", "flops", "act_elems", "act_bytes", "in_bytes", "status", "ops"]
COUNT_COLUMNS = ["params", "mults", "adds", "other", "macs", "flops", "act_elems", "act_bytes", "in_bytes"]
BWD_COLUMNS = ["bwd_mults", "bwd_adds", "bwd_other", "bwd_macs"]  # training profiles, plus bwd_status
# training profiles with activation checkpointing: the forward work the backward reran
RC_COLUMNS = ["rc_mults", "rc_adds", "rc_other", "rc_macs"]
# memory profiles (profiler.count.memory): bytes of the row's own parameters, their
# gradients, and what autograd saved in its forward
MEMORY_COLUMNS = ["param_bytes", "grad_bytes", "saved_bytes"]
# held in the rows as tuples of shapes; the report's frame holds them as ShapeText:
# the text its tables show ("1x3x224x224, 1x10"), made when the frame is built, with
# the tuples it was made from beside it, for whatever needs the numbers (JSON)
SHAPE_COLUMNS = ("input_shapes", "output_shape")


# what the rendered report shows: shares by kind, plain-language kind names, the
# per-layer view, and how intensity is defined
SHOWN_SHARES = ["params", "mults", "adds", "other", "macs", "flops", "act_bytes"]
KIND_LABELS = {"linear": "linear layers", "conv": "conv layers", "matmul": "matmuls",
               "attention": "attention layers", "recurrent": "recurrent layers", "embedding": "embeddings"}
INTENSITY_NOTE = ("intensity: arithmetic intensity, FLOPs per byte moved, where a row moves its "
                  "parameters (at the dtype's element size), its input activations and its output "
                  "activations once each, with no reuse between layers")
LAYER_VIEW = ["name", "type", "kind", "input_shapes", "output_shape", "params", "mults", "adds",
              "other", "macs", "act_bytes"]


def fmt_shapes(shapes) -> str:
    return ", ".join("x".join(map(str, s)) for s in shapes)


class ShapeText(str):
    """The text of a row's shapes (``fmt_shapes``), carrying the shapes themselves in
    ``shapes`` (a tuple of tuples), so that nothing reads numbers back out of text.
    It is a str for everything that shows or compares it: CSV, tables, ``== "1x10"``."""

    __slots__ = ("shapes",)

    def __new__(cls, shapes: tuple = ()) -> "ShapeText":
        text = super().__new__(cls, fmt_shapes(shapes))
        text.shapes = tuple(tuple(s) for s in shapes)
        return text

    def __reduce__(self):   # pickled (a worker's report) as the shapes, not the text
        return ShapeText, (self.shapes,)
