"""Independent count of the LSTM work FlopCounterMode misses on CPU: each nn.LSTM of the
real model, with the input it got, run again on meta, where torch decomposes the LSTM
into addmm/mm calls that FlopCounterMode counts."""
import os, sys, copy, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
sys.path.insert(0, "/work/main/scripts")
import torch, transformers
transformers.logging.set_verbosity_error()
import hf_zoo
from profiler.models.resolve import resolve
from torch.utils.flop_counter import FlopCounterMode
t = sys.argv[1]
spec = resolve("hf:" + t, hf_zoo.shrink_plan(t)[0][0])
with torch.random.fork_rng(devices=[]):
    torch.manual_seed(0)
    model = spec.build(meta=False).eval().requires_grad_(False)
    args, kwargs, _ = hf_zoo._example_inputs()(model, spec.config)
seen = []
hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m, [x.shape for x in i if torch.is_tensor(x)])))
         for m in model.modules() if isinstance(m, torch.nn.LSTM)]
with torch.no_grad():
    model(*args, **kwargs)
total = 0
for m, shapes in seen:
    # the LSTM's definition: per step, per layer and direction, the 4 gates' input and hidden
    # projections, 4H·(I + H) multiply-adds for each sequence of the batch
    shape = list(shapes[0]); tdim = 1 if m.batch_first else 0
    steps, batch = shape[tdim], (shape[1 - tdim] if len(shape) == 3 else 1)
    dirs = 2 if m.bidirectional else 1
    for layer in range(m.num_layers):
        i = m.input_size if layer == 0 else m.hidden_size * dirs
        total += dirs * steps * batch * 4 * m.hidden_size * (i + m.hidden_size)
print(t, "LSTM calls", len(seen), [s for _, s in seen][:2], "by the LSTM's definition:", total)
