"""A vision model whose default config runs at no image size, outside the profiler
(no profiler import; default config, transformers' own class, random images; a real CPU build,
or a meta one where the real build would not fit in memory: DeepSeek-OCR2's 675M-parameter
encoder, whose failure is one of shapes).

* deepseek_ocr2_vision: the SAM encoder's neck gives 896 channels a patch, while the learned
  queries concatenated after the patches are the vision encoder's width, 4096: the
  concatenation fails at every size.
  Shown at 224, 768 and 1024 px.

    python scripts/hf_evidence/deepseek_ocr2_vision_width.py
"""
import importlib, os, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
transformers.logging.set_verbosity_error()
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

CASES = {"deepseek_ocr2_vision": ("transformers.models.deepseek_ocr2.modeling_deepseek_ocr2:DeepseekOcr2VisionModel",
                                  (224, 768, 1024), "meta")}
for t, (name, sides, device) in CASES.items():
    module, _, attr = name.rpartition(":")
    cls = getattr(importlib.import_module(module) if module else transformers, attr)
    torch.manual_seed(0)
    with torch.device(device):
        model = cls._from_config(CONFIG_MAPPING[t]()).eval()
    for side in sides:
        try:
            with torch.no_grad():
                model(pixel_values=torch.randn(1, 3, side, side, device=device))
            print(f"{t} {side}: ran")
        except Exception as e:
            print(f"{t} {side} ({type(model).__name__}): {type(e).__name__}: {str(e).splitlines()[0][:160]}")
