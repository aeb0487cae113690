"""Types whose model class has no forward, outside the profiler (no profiler import).

The class transformers builds for these types (the auto class, or the PreTrainedModel whose
config_class is the type's config) leaves ``nn.Module.forward`` unimplemented: the VQ image
tokenizers only ``encode``/``decode``, Bark and Qwen2.5-Omni only ``generate``.  Any call
raises ``NotImplementedError: Module [...] is missing the required "forward" function``.

    python scripts/hf_evidence/no_forward.py [TYPE=Class,...]
"""
import os, sys, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
transformers.logging.set_verbosity_error()
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

TYPES = ("bark=BarkModel,qwen2_5_omni=Qwen2_5OmniForConditionalGeneration,chameleon_vqgan=ChameleonVQVAE,"
         "emu3_vqgan=Emu3VQVAE,glm_image_vqmodel=transformers.models.glm_image.modeling_glm_image:GlmImageVQVAE,"
         "apertus1p5_vision_tokenizer=transformers.models.apertus1p5.modeling_apertus1p5:"
         "Apertus1p5VisionTokenizerModel")
for entry in (sys.argv[1] if len(sys.argv) > 1 else TYPES).split(","):
    t, _, name = entry.partition("=")
    module, _, attr = name.rpartition(":")
    cls = getattr(__import__(module, fromlist=[attr]) if module else transformers, attr)
    with torch.device("meta"):
        model = cls._from_config(CONFIG_MAPPING[t]())
    own = type(model).forward is not torch.nn.Module.forward
    try:
        model(torch.zeros(1, 3, 64, 64, device="meta"))
        result = "ran"
    except Exception as e:
        result = f"{type(e).__name__}: {str(e).splitlines()[0][:110]}"
    print(f"{t}: {type(model).__name__}: defines forward: {own}; called: {result}")
