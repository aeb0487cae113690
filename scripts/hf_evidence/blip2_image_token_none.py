"""Evidence: transformers' default Blip2Config / InstructBlipConfig leave image_token_index
(InstructBlipVideoConfig: video_token_index) None, and the forward's get_placeholder_mask computes `input_ids == None` (a Python
bool) and calls .unsqueeze on it: "'bool' object has no attribute 'unsqueeze'", with any
input_ids.  Plain transformers, real CPU build from the default config, layers shrunk to 1."""
import os, sys, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
from transformers import CONFIG_MAPPING, AutoModel
transformers.logging.set_verbosity_error()

for t in sys.argv[1:] or ["blip-2", "instructblip", "instructblipvideo"]:
    cfg = CONFIG_MAPPING[t]()
    token = "video_token_index" if t == "instructblipvideo" else "image_token_index"
    print(f"{t}: {token} {getattr(cfg, token)}")
    for sub in (cfg.text_config, cfg.vision_config, cfg.qformer_config):
        for k in ("num_hidden_layers", "num_layers", "num_decoder_layers"):
            if isinstance(getattr(sub, k, None), int):
                setattr(sub, k, 1)
    torch.manual_seed(0)
    model = AutoModel.from_config(cfg).eval()
    # InstructBLIP-Video takes a clip: batch x frames x C x H x W (4 frames, as its processor makes)
    pixels = torch.randn(1, 4, 3, 224, 224) if t == "instructblipvideo" else torch.randn(1, 3, 224, 224)
    kw = dict(pixel_values=pixels, input_ids=torch.randint(3, 1000, (1, 16)))
    import inspect
    if "qformer_input_ids" in inspect.signature(model.forward).parameters:
        kw["qformer_input_ids"] = torch.randint(3, 1000, (1, 8))
    try:
        with torch.no_grad():
            model(**kw)
        print("   ran")
    except Exception as e:
        print(f"   {type(model).__name__}: {type(e).__name__}: {str(e)[:200]}")
