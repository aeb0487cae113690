# Step3p7TextConfig() (model type step3p5; also step3p7's text model) leaves sliding_window None while
# the text model's forward always builds a sliding-window mask: a plain forward of token ids fails.
import torch
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.step3p7 import modeling_step3p7 as mod
cfg = CONFIG_MAPPING["step3p5"](num_hidden_layers=2)
print("sliding_window:", cfg.sliding_window, "layer_types:", cfg.layer_types)
with torch.device("meta"):
    m = mod.Step3p7TextModel(cfg).eval()
try:
    m(input_ids=torch.randint(0, 1000, (1, 16)))
except Exception as e:
    print(type(e).__name__, e)
