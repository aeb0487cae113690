"""Evidence: transformers' default Gemma3 configs (gemma3, shieldgemma2, t5gemma2) pair a
default SigLIP tower (image_size 224, patch_size 16: 14 patches per side) with
mm_tokens_per_image 256 (16 per side), so the projector's AvgPool2d is built with
kernel = stride = 14 // 16 = 0 and fails: "stride should not be zero".  No input size
helps: the kernel is fixed at build.  Plain transformers, real CPU build from the default
config (text layers 1 and a small vocabulary: the image path does not read them)."""
import os, sys, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
from transformers import CONFIG_MAPPING, AutoModel
transformers.logging.set_verbosity_error()

for t in sys.argv[1:] or ["gemma3", "shieldgemma2", "t5gemma2"]:
    cfg = CONFIG_MAPPING[t]()
    inner = cfg if hasattr(cfg, "vision_config") else cfg.encoder       # T5Gemma2: the encoder holds the tower
    v = inner.vision_config
    print(f"{t}: image_size {v.image_size}, patch_size {v.patch_size}, mm_tokens_per_image {inner.mm_tokens_per_image}")
    v.num_hidden_layers = 1
    for text in {id(c): c for c in (getattr(inner, "text_config", None), getattr(cfg, "text_config", None),
                                     getattr(cfg, "decoder", None)) if c is not None}.values():
        text.num_hidden_layers, text.vocab_size = 1, 1000
        if hasattr(text, "layer_types"):
            text.layer_types = text.layer_types[:1]
    torch.manual_seed(0)
    # ShieldGemma2 has no AutoModel entry: its one model class
    model = (transformers.ShieldGemma2ForImageClassification(cfg) if t == "shieldgemma2"
             else AutoModel.from_config(cfg)).eval()
    holder = next(m for m in model.modules() if hasattr(m, "get_image_features") and hasattr(m, "multi_modal_projector"))
    try:
        with torch.no_grad():
            holder.get_image_features(pixel_values=torch.randn(1, 3, v.image_size, v.image_size))
        print("   ran")
    except Exception as e:
        print(f"   {type(holder).__name__}.get_image_features: {type(e).__name__}: {str(e)[:200]}")
