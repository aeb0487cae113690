"""Evidence: transformers' default configs of the Qwen-VL family put vision features of one
width into a text model of another, so the forward fails in get_placeholder_mask with
"Image features and image tokens do not match" whatever the placeholder count.

Plain transformers, real CPU build from the DEFAULT config; only sizes the check does not
read are shrunk (layers to 1, MLP widths, experts, vocabulary with the special token ids
moved below it).  The vision merger's output width and the text hidden size are kept.
Usage: python qwen_vl_hidden_mismatch.py [TYPE ...]"""
import os, sys, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
from transformers import CONFIG_MAPPING, AutoModel
transformers.logging.set_verbosity_error()

TYPES = sys.argv[1:] or ["qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "glm_ocr", "glm5_next",
                         "exaone4_5", "cosmos3_omni"]
VOCAB = 1000

def shrink(cfg):
    for k, v in (("num_hidden_layers", 1), ("depth", 1), ("intermediate_size", 64), ("moe_intermediate_size", 64),
                 ("num_experts", 4), ("n_routed_experts", 4), ("first_k_dense_replace", 0),
                 ("shared_expert_intermediate_size", 64), ("vocab_size", VOCAB)):
        if hasattr(cfg, k) and isinstance(getattr(cfg, k), int) and not (k == "depth" and cfg is None):
            setattr(cfg, k, v)

for t in TYPES:
    cfg = CONFIG_MAPPING[t]()
    text, vision = cfg.text_config, cfg.vision_config
    out_width = getattr(vision, "out_hidden_size", None) or vision.hidden_size
    print(f"{t}: text hidden_size {text.hidden_size}, vision merger output {out_width}")
    text.vocab_size = VOCAB
    shrink(text); shrink(vision)
    if hasattr(text, "mlp_layer_types"):
        text.mlp_layer_types = ["dense"] * text.num_hidden_layers
    if hasattr(text, "layer_types") and text.layer_types:
        text.layer_types = text.layer_types[:text.num_hidden_layers]
    ids = {}
    for c in (cfg, text):        # special ids moved below the shrunk vocabulary, kept distinct
        for k, v in list(vars(c).items()):
            if k.endswith("token_id") and isinstance(v, int) and v >= VOCAB:
                ids.setdefault(v, 900 + len(ids))
                setattr(c, k, ids[v])
    torch.manual_seed(0)
    model = AutoModel.from_config(cfg).eval()
    p, tp, m = vision.patch_size, getattr(vision, "temporal_patch_size", 2), vision.spatial_merge_size
    grid = torch.tensor([[1, 16, 16]])
    pixel_values = torch.randn(16 * 16, vision.in_channels * tp * p * p)
    n = 16 * 16 // (m * m)
    special = {v for c in (cfg, text) for k, v in vars(c).items() if k.endswith("token_id") and isinstance(v, int)}
    plain = next(i for i in range(5, VOCAB) if i not in special)
    input_ids = torch.full((1, n + 40), plain)
    input_ids[0, 1:n + 1] = cfg.image_token_id
    try:
        with torch.no_grad():
            model(input_ids=input_ids, pixel_values=pixel_values, image_grid_thw=grid)
        print("   ran")
    except Exception as e:
        print(f"   {type(e).__name__}: {str(e)[:200]}")
