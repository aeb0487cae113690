"""Evidence (why hf:janus does not run): transformers' default JanusConfig sets
image_token_id 100581 but a text vocabulary of 32000 (its text config's default),
so the token embedding of any input_ids holding the image placeholders fails on a
real build ("index out of range in self"), and on meta the forward needs real
tensors (a data-dependent count of the placeholders).  Plain transformers, real
CPU build, layers 1, 576 placeholders (a 384 px image, 16 px patches)."""
import os, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
from transformers import JanusConfig, JanusModel
transformers.logging.set_verbosity_error()

cfg = JanusConfig()
print(f"image_token_id {cfg.image_token_id}, text vocab_size {cfg.text_config.vocab_size}")
cfg.text_config.num_hidden_layers = cfg.vision_config.num_hidden_layers = 1
torch.manual_seed(0)
model = JanusModel(cfg).eval()
side = cfg.vision_config.image_size
tokens = (side // cfg.vision_config.patch_size) ** 2
ids = torch.full((1, tokens + 8), 5)
ids[0, 1:tokens + 1] = cfg.image_token_id
try:
    with torch.no_grad():
        model(input_ids=ids, pixel_values=torch.randn(1, 3, side, side))
    print("ran")
except Exception as e:
    print(f"{type(e).__name__}: {e}")
