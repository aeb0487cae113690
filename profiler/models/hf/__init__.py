"""transformers models by model type (``hf:llama``) or local config (``hf:PATH``, a
folder holding config.json or a .json file), built on meta, never downloaded; the
user's view is docs/language-models.md.  One job per module:

``names``    the ``hf:`` names, read from transformers' sources without importing it;
``config``   the config: by model type or from a file, with overrides;
``classes``  the model class a config is built as, and the ``ModelSpec``;
``make``     example tensors on the model's device, and small config readers;
``inputs``   ``example_inputs``: what the forward takes, made from its signature and config;
``rules``    what each forward argument gets, by name and modality;
``decode``   a generation step's KV cache, from the model's own prefill.
"""
from profiler.models.hf.classes import HF_FAMILIES, choose_class, resolve_hf
from profiler.models.hf.inputs import example_inputs
from profiler.models.hf.names import hf_model_types, hf_names

__all__ = ["HF_FAMILIES", "choose_class", "example_inputs", "hf_model_types", "hf_names", "resolve_hf"]
