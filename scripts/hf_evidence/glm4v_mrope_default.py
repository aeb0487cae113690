"""Evidence: transformers' default GLM-4V text configs have a rotary width that does not
match their default mrope_section [8, 12, 12] (which assumes partial_rotary_factor 0.5
of head_dim 128 = 64 dims = 32 frequencies), so the text model's rotary embedding fails
in split_with_sizes before any layer.  Plain transformers, real CPU build from the
default text config with layers shrunk to 1 and a small vocabulary (neither is read by
the rotary embedding).  Usage: python glm4v_mrope_default.py [TYPE ...]"""
import os, sys, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
from transformers import CONFIG_MAPPING, AutoModel
transformers.logging.set_verbosity_error()

TYPES = sys.argv[1:] or ["glm4v", "glm46v", "glm4v_moe", "glmga", "glm4v_text", "glm4v_moe_text", "glm_image_text"]
for t in TYPES:
    cfg = CONFIG_MAPPING[t]()
    text = getattr(cfg, "text_config", None) or cfg
    head = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    rope = text.rope_parameters
    print(f"{t}: head_dim {head}, partial_rotary_factor {rope.get('partial_rotary_factor', 1.0)}, "
          f"mrope_section {rope.get('mrope_section', '(default [8, 12, 12])')}")
    text.num_hidden_layers, text.vocab_size, text.intermediate_size = 1, 1000, 64
    for k in ("moe_intermediate_size", "n_routed_experts", "num_experts", "n_shared_experts"):
        if isinstance(getattr(text, k, None), int):
            setattr(text, k, 4 if "experts" in k else 64)
    if hasattr(text, "first_k_dense_replace"):
        text.first_k_dense_replace = 1
    if isinstance(getattr(text, "pad_token_id", None), int) and text.pad_token_id >= 1000:
        text.pad_token_id = 999
    # the text model alone (the language model of the full model): its rotary embedding is what fails
    torch.manual_seed(0)
    model = AutoModel.from_config(text).eval()
    try:
        with torch.no_grad():
            model(input_ids=torch.randint(0, 800, (1, 16)))
        print("   ran")
    except Exception as e:
        print(f"   {type(model).__name__}: {type(e).__name__}: {str(e)[:200]}")
