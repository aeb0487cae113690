"""Evidence: transformers' default Llama4VisionConfig has hidden_size 768 but
intermediate_size 5632 (= 4 x 1408, the checkpoints' hidden size): the pixel shuffle
(ratio 0.5) turns 768 channels into 3072, and the vision adapter's first linear layer,
built with intermediate_size inputs, refuses them.  Plain transformers, real CPU build
from the default config with layers shrunk to 1, an image of the config's size."""
import os, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
from transformers import Llama4VisionConfig, Llama4VisionModel
transformers.logging.set_verbosity_error()

cfg = Llama4VisionConfig()
print(f"hidden_size {cfg.hidden_size}, pixel_shuffle_ratio {cfg.pixel_shuffle_ratio}, "
      f"intermediate_size {cfg.intermediate_size}")
cfg.num_hidden_layers = 1
torch.manual_seed(0)
model = Llama4VisionModel(cfg).eval()
try:
    with torch.no_grad():
        model(pixel_values=torch.randn(1, 3, cfg.image_size, cfg.image_size))
    print("ran")
except Exception as e:
    print(f"{type(e).__name__}: {str(e)[:200]}")
