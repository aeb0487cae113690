"""voxtral_realtime_text, outside the profiler (no profiler import): the text model alone
cannot run.  Its decoder layers' adaptive norm (``ada_rms_norm``) reads ``t_cond``, the
delay-token time embedding that only VoxtralRealtimeModel computes and passes down; the text
model's own forward never passes it, so every call ends in ``linear(None)``."""
import os, warnings
os.environ["HF_HUB_OFFLINE"] = "1"; warnings.filterwarnings("ignore")
import torch, transformers
transformers.logging.set_verbosity_error()
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.voxtral_realtime.modeling_voxtral_realtime import VoxtralRealtimeTextModel

cfg = CONFIG_MAPPING["voxtral_realtime_text"](num_hidden_layers=2)
with torch.device("meta"):
    model = VoxtralRealtimeTextModel._from_config(cfg).eval()
ids = torch.randint(0, cfg.vocab_size, (1, 128))
try:
    with torch.no_grad():
        model(input_ids=ids.to("meta"))
    print("voxtral_realtime_text: ran")
except Exception as e:
    print(f"voxtral_realtime_text: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
