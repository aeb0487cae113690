"""Evidence: transformers' default UVDocConfig and EdgeTamVisionConfig join a backbone to a
head/neck built for other channel counts, so the first convolution after the backbone
refuses its output at any image size.  Plain transformers, real CPU build from the
default config.  UVDoc: the head's bridge connector takes 768 channels, the default
backbone gives 128.  EdgeTAM: the neck's first convolution takes 384, the default
backbone's stage gives 1024.  PP-OCRv6 small detector (``pp_ocrv6_small_det``, pass it as the
argument): the neck's first convolution takes 12 channels, the backbone gives 384."""
import os, sys, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
from transformers import CONFIG_MAPPING, AutoModel
transformers.logging.set_verbosity_error()

for t in sys.argv[1:] or ["uvdoc", "edgetam_vision_model", "edgetam"]:
    cfg = CONFIG_MAPPING[t]()
    torch.manual_seed(0)
    try:
        model = AutoModel.from_config(cfg).eval()
    except ValueError:
        model = getattr(transformers, {"edgetam_vision_model": "EdgeTamVisionModel"}.get(t, ""))(cfg).eval()
    for side in (224, 1024):
        try:
            with torch.no_grad():
                model(pixel_values=torch.randn(1, 3, side, side))
            print(f"{t} {side}: ran")
        except Exception as e:
            print(f"{t} {side} ({type(model).__name__}): {type(e).__name__}: {str(e)[:200]}")
