"""Types transformers has no model class for, outside the profiler (no profiler import).

For each type: no auto model mapping names it (or the one it names does not exist in
transformers), and no ``PreTrainedModel`` subclass in any modeling module of its model
folder has its config class as ``config_class``: the part is built only inside a larger
model, which takes it as a plain ``nn.Module`` (SAM's mask decoder, Idefics's perceiver).
So there is nothing to build by name.

    python scripts/hf_evidence/no_model_class.py [TYPE,TYPE]
"""
import importlib, inspect, os, pkgutil, sys, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import transformers
transformers.logging.set_verbosity_error()
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.auto import modeling_auto as M

TYPES = ("edgetam_mask_decoder,edgetam_prompt_encoder,edgetam_video_mask_decoder,edgetam_video_prompt_encoder,"
         "gemma4_unified_audio,gemma4_unified_vision,idefics_perciever,idefics_vision,layoutxlm,pp_chart2table,"
         "pp_chart2table_vision,sam2_mask_decoder,sam2_prompt_encoder,sam2_video_mask_decoder,"
         "sam2_video_prompt_encoder,sam3_geometry_encoder,sam3_lite_text_geometry_encoder,"
         "sam3_tracker_mask_decoder,sam3_tracker_prompt_encoder,sam3_tracker_video_mask_decoder,"
         "sam3_tracker_video_prompt_encoder,sam_hq_mask_decoder,sam_hq_prompt_encoder,sam_mask_decoder,"
         "sam_prompt_encoder,sapiens2_head,t5_gemma_module,vibevoice_diffusion,voxtral_realtime_text")
MAPS = [v for k, v in vars(M).items() if k.startswith("MODEL_") and k.endswith("_MAPPING_NAMES") and isinstance(v, dict)]

for t in (sys.argv[1] if len(sys.argv) > 1 else TYPES).split(","):
    cfg_cls = type(CONFIG_MAPPING[t]())
    mapped = sorted({(n[0] if isinstance(n, (list, tuple)) else n) for m in MAPS if t in m for n in [m[t]]})
    existing = [n for n in mapped if hasattr(transformers, n)]
    package = cfg_cls.__module__.rpartition(".")[0]
    own = []
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if info.name.startswith("modeling_"):
            mod = importlib.import_module(f"{package}.{info.name}")
            own += [n for n, o in vars(mod).items() if inspect.isclass(o) and issubclass(o, transformers.PreTrainedModel)
                    and o.__module__ == mod.__name__ and getattr(o, "config_class", None) is cfg_cls]
    missing = [n for n in mapped if n not in existing]
    verdict = "NO MODEL CLASS" if not existing and not own else f"has a class: {existing + own}"
    print(f"{t}: {cfg_cls.__name__}: auto maps {mapped or 'nothing'}"
          + (f" (not in transformers: {missing})" if missing else "")
          + f"; PreTrainedModel with this config_class in {package}: {own or 'none'} -> {verdict}")
