"""Evidence: transformers' default ModernVBert configs (modernvbert, ultravbert,
colmodernvbert) pair a SigLIP tower of image_size 224 / patch_size 16 (14 x 14 patches,
a fixed table of 196 positions) with pixel_shuffle_factor 4, which needs patches per
side divisible by 4: at the config's own image size the connector's reshape fails, and
at any other size the tower's position table does not fit.  Plain transformers, real
CPU build from the default config with layers shrunk to 1."""
import os, sys, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
from transformers import CONFIG_MAPPING, AutoModel
transformers.logging.set_verbosity_error()

for t in sys.argv[1:] or ["modernvbert", "ultravbert", "colmodernvbert"]:
    cfg = CONFIG_MAPPING[t]()
    inner = getattr(cfg, "vlm_config", None) or cfg
    v = inner.vision_config
    print(f"{t}: image_size {v.image_size}, patch_size {v.patch_size}, pixel_shuffle_factor {inner.pixel_shuffle_factor}")
    inner.text_config.num_hidden_layers = 1
    v.num_hidden_layers = 1
    torch.manual_seed(0)
    # colmodernvbert's retrieval model wraps a ModernVBertModel built from its vlm_config
    inner_model = AutoModel.from_config(inner).eval()
    for side in (224, 256, 192):
        try:
            with torch.no_grad():
                inner_model.get_image_features(pixel_values=torch.randn(1, 1, 3, side, side))
            print(f"   {side}x{side}: ran")
        except Exception as e:
            print(f"   {side}x{side}: {type(e).__name__}: {str(e)[:160]}")
