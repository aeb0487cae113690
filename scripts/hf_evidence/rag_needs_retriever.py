# RagModel built from RagConfig() has no retriever: its forward refuses input_ids alone and asks for
# context_input_ids (documents a retriever returns), which are not model inputs one can derive from the config.
import torch, transformers
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
cfg = CONFIG_MAPPING["rag"](question_encoder={"model_type": "dpr", "num_hidden_layers": 2},
                            generator={"model_type": "bart", "encoder_layers": 2, "decoder_layers": 2})
with torch.device("meta"):
    m = transformers.RagModel(cfg).eval()
try:
    m(input_ids=torch.randint(0, 1000, (1, 16)), decoder_input_ids=torch.randint(0, 1000, (1, 16)))
except Exception as e:
    print(type(e).__name__, e)
