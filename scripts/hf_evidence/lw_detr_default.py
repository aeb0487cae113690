"""Evidence: transformers' default LwDetrConfig does not run: at 224 px (14 x 14 patches)
the ViT backbone's windows (num_windows_side 4) refuse the patch grid; at sizes whose grid
divides into the windows (256, 640, 1024 = its backbone image_size) the backbone returns
no feature map, and the encoder's torch.cat of the maps gets an empty list.  Plain
transformers, real CPU build from the default config."""
import os, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
from transformers import LwDetrConfig, LwDetrModel
transformers.logging.set_verbosity_error()

cfg = LwDetrConfig()
print(f"backbone image_size {cfg.backbone_config.image_size}, patch {cfg.backbone_config.patch_size}, "
      f"num_windows_side {cfg.backbone_config.num_windows_side}, out_indices {cfg.backbone_config.out_indices}")
torch.manual_seed(0)
model = LwDetrModel(cfg).eval()
for side in (224, 256, 640):
    try:
        with torch.no_grad():
            model(pixel_values=torch.randn(1, 3, side, side))
        print(f"{side}: ran")
    except Exception as e:
        print(f"{side}: {type(e).__name__}: {str(e)[:160]}")
