# Default configs of Bamba, GraniteMoeHybrid and Qwen4ExpText have no attention layer
# (every layer type 'linear_attention' / mamba); a plain forward of input ids fails in transformers.
import torch, transformers
for cls_name, cfg_name, kw in [("BambaModel", "BambaConfig", dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, mamba_n_heads=8, mamba_d_head=16, mamba_d_state=16, num_hidden_layers=2, vocab_size=100)),
                               ("GraniteMoeHybridModel", "GraniteMoeHybridConfig", dict(num_hidden_layers=2)),
                               ("Qwen4ExpTextModel", "Qwen4ExpTextConfig", dict(num_hidden_layers=2))]:
    cfg = getattr(transformers, cfg_name)(**kw)
    print(cls_name, "layer types:", getattr(cfg, "layer_types", None) or getattr(cfg, "layers_block_type", None))
    with torch.device("meta"):
        m = getattr(transformers, cls_name)(cfg).eval()
    try:
        m(input_ids=torch.randint(0, 50, (1, 16)))
        print("  ran")
    except Exception as e:
        print("  ", type(e).__name__, str(e)[:200])
# the same at the default size (BambaConfig() unchanged: attn_layer_indices=None, 32 mamba layers)
cfg = transformers.BambaConfig()
with torch.device("meta"):
    m = transformers.BambaModel(cfg).eval()
try:
    m(input_ids=torch.randint(0, 50, (1, 16)))
except Exception as e:
    print("BambaConfig() default:", type(e).__name__, str(e)[:200])
