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
# held in the rows as tuples of shapes and written out as text ("1x3x224x224, 1x10")
# when the report's frame is built: text that only a frame shows is made with it
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
