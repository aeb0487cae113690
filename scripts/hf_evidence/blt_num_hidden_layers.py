# BltConfig() has no num_hidden_layers (its layers are counted per part), while BltModel's forward
# reads config.num_hidden_layers when it makes its cache: a plain forward of token ids fails.
import torch, transformers
cfg = transformers.BltConfig()
print("has num_hidden_layers:", hasattr(cfg, "num_hidden_layers"))
with torch.device("meta"):
    m = transformers.BltModel(cfg).eval()
try:
    m(input_ids=torch.randint(0, 200, (1, 16)))
except Exception as e:
    print(type(e).__name__, e)
