# VoxtralConfig() leaves audio_token_id None: `input_ids == None` is a Python bool, and
# get_placeholder_mask calls .sum() on it. Plain transformers, meta build, default config (2 layers).
import torch, transformers
cfg = transformers.VoxtralConfig(audio_config={"num_hidden_layers": 2}, text_config={"num_hidden_layers": 2})
print("audio_token_id:", cfg.audio_token_id)
with torch.device("meta"):
    m = transformers.VoxtralForConditionalGeneration(cfg).eval()
    feats = torch.empty(1, 128, 3000)
try:
    m(input_ids=torch.randint(0, 1000, (1, 128)), input_features=feats)
except Exception as e:
    print(type(e).__name__, e)
