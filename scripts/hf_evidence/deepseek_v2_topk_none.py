# DeepseekV2Config() leaves num_experts_per_tok None; the router calls torch.topk(k=None).
import torch, transformers
cfg = transformers.DeepseekV2Config(num_hidden_layers=2)
print("num_experts_per_tok:", cfg.num_experts_per_tok)
with torch.device("meta"):
    m = transformers.DeepseekV2Model(cfg).eval()
try:
    m(input_ids=torch.randint(0, 1000, (1, 16)))
except Exception as e:
    print(type(e).__name__, e)
