"""Evidence: transformers' default HunYuanVLConfig sets text rope_parameters without an
mrope_section, and HunYuanVLModel.get_rope_index (called by the forward whenever an image
is given) refuses it: "HunYuanVL expects at least 3 multimodal RoPE axes, got 0".  The
check reads only the config; the model is built on the meta device (plain transformers),
the inputs are real CPU tensors of one image of 28 x 28 patches."""
import os, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
from transformers import HunYuanVLConfig, AutoModel
transformers.logging.set_verbosity_error()

cfg = HunYuanVLConfig()
print("text rope_parameters:", cfg.text_config.rope_parameters)
cfg.text_config.num_hidden_layers = 1
try:
    with torch.device("meta"):
        model = AutoModel.from_config(cfg)
except Exception as e:
    # the default does not even build: head_dim is None; set it as hidden_size / heads to go on
    print(f"build: {type(e).__name__}: {e}")
    cfg.text_config.head_dim = cfg.text_config.hidden_size // cfg.text_config.num_attention_heads
    with torch.device("meta"):
        model = AutoModel.from_config(cfg)
ids = torch.full((1, 340), 5)
try:
    model.get_rope_index(ids, torch.zeros_like(ids, dtype=torch.int32), image_grid_thw=torch.tensor([[1, 28, 28]]))
    print("ran")
except Exception as e:
    print(f"{type(model).__name__}.get_rope_index: {type(e).__name__}: {e}")
