"""For each type whose default config does not build: transformers' own constructor,
outside the profiler (no profiler import), on meta."""
import os, sys, json, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
transformers.logging.set_verbosity_error()
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.auto import modeling_auto as M
out = {}
for t in sys.argv[1].split(","):
    try:
        cfg = CONFIG_MAPPING[t]()
        cls = None
        for mapping in (M.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, M.MODEL_MAPPING_NAMES):
            if t in mapping:
                name = mapping[t]; cls = getattr(transformers, name[0] if isinstance(name, (list, tuple)) else name); break
        if cls is None:
            out[t] = "no auto class"; continue
        with torch.device("meta"):
            cls._from_config(cfg)
        out[t] = "builds"
    except Exception as e:
        out[t] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
print(json.dumps(out, indent=0))
