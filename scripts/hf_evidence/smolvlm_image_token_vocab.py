"""Evidence (why FlopCounterMode cannot check smolvlm at its defaults): transformers'
default SmolVLMConfig sets image_token_id 128257 but a text vocabulary of 32000, so the
token embedding of any input_ids holding the image placeholders fails on a real build
("index out of range in self").  (On meta the lookup is not checked; our count of it is
zero MACs either way.  With text_config.vocab_size raised past the id, ours equals
FlopCounterMode's: 56953364480 MACs.)  Plain transformers, real CPU build, layers 1."""
import os, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
from transformers import SmolVLMConfig, SmolVLMModel
transformers.logging.set_verbosity_error()

cfg = SmolVLMConfig()
print(f"image_token_id {cfg.image_token_id}, text vocab_size {cfg.text_config.vocab_size}")
cfg.text_config.num_hidden_layers = cfg.vision_config.num_hidden_layers = 1
torch.manual_seed(0)
model = SmolVLMModel(cfg).eval()
ids = torch.full((1, 20), 5)
ids[0, 1:10] = cfg.image_token_id            # 9 placeholders: a 192 px image, 6 x 6 patches, shuffled by 2
try:
    with torch.no_grad():
        model(input_ids=ids, pixel_values=torch.randn(1, 1, 3, 192, 192))
    print("ran")
except Exception as e:
    print(f"{type(e).__name__}: {e}")
