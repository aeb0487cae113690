"""qwen3_omni_moe_text, outside the profiler (no profiler import): the default config's
hidden_size 2048 over 28 heads is no whole head (73.14...); the attention's projections use
2048 // 28 = 73 a head, the rotary embedding 74 (its own rounding), so the default config's
text model fails at its first attention: "Attempting to broadcast a dimension of length 74".
Meta build from the default config (layers cut to 2), 128 token ids."""
import os, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
transformers.logging.set_verbosity_error()
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import Qwen3OmniMoeThinkerTextModel

cfg = CONFIG_MAPPING["qwen3_omni_moe_text"](num_hidden_layers=2)
print(f"hidden_size {cfg.hidden_size}, heads {cfg.num_attention_heads}: {cfg.hidden_size / cfg.num_attention_heads:.2f} a head")
with torch.device("meta"):
    model = Qwen3OmniMoeThinkerTextModel._from_config(cfg).eval()
try:
    with torch.no_grad():
        model(input_ids=torch.randint(0, cfg.vocab_size, (1, 128)).to("meta"))
    print("qwen3_omni_moe_text: ran")
except Exception as e:
    print(f"qwen3_omni_moe_text: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
