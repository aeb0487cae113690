"""FlopCounterMode (torch.utils.flop_counter) has no formula for aten.mkldnn_rnn_layer (CPU's
LSTM kernel), aten.mv or aten._euclidean_dist (torch.cdist): it counts 0 for each."""
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, flop_registry
aten = torch.ops.aten
for op in (aten.mkldnn_rnn_layer, aten.mv, aten._euclidean_dist):
    print(op, "registered:", op in flop_registry)
cases = {
    "LSTM(16,16) on CPU, 5 steps (4*16*(16+16)*5 = 10240 MACs)": lambda: nn.LSTM(16, 16)(torch.randn(5, 1, 16)),
    "mv (5x16)(16) (80 MACs)": lambda: torch.mv(torch.randn(5, 16), torch.randn(16)),
    "cdist 30x4 / 40x4 via mm (30*40*6 = 7200 MACs)": lambda: torch.cdist(torch.randn(30, 4), torch.randn(40, 4),
                                                                         compute_mode="use_mm_for_euclid_dist"),
}
for name, fn in cases.items():
    c = FlopCounterMode(display=False)
    with torch.no_grad(), c:
        fn()
    print(name, "-> FlopCounterMode MACs:", c.get_total_flops() // 2)
