"""transformers models by model type or local config, built on meta, never downloaded.

Names
-----
``hf:ARCH``
    ARCH is a transformers ``model_type`` (``llama``, ``gpt2``, ``bert``, ``t5``,
    ``vit``, ``clip``, ``whisper``, ... any key of ``CONFIG_MAPPING``).  The model is
    built from the config class with its defaults (``LlamaConfig()`` is the 7B
    Llama), changed by the config overrides, as the class a user expects
    (``classes``).
``hf:PATH`` and a plain ``PATH``
    PATH is a folder holding ``config.json`` (a checkpoint folder, as users keep it)
    or a ``.json`` file (``profiler.models.hub.local_config``).  Its
    ``architectures[0]`` is the class when transformers has it.  After ``hf:``, a
    known model type wins over a folder of the same name (write ``hf:./llama`` for
    the folder).  The file is read locally (``model_type`` picks the config class);
    nothing is fetched, and configs that need remote code are refused.

The modules, one job each
-------------------------
``names``    the ``hf:`` names, read from transformers' sources without importing it;
``config``   the config: by model type or from a file, with overrides;
``classes``  the model class a config is built as, and the ``ModelSpec``;
``make``     example tensors on the model's device, and small config readers;
``inputs``   ``example_inputs``: what the forward takes, made from its signature and config;
``rules``    what each forward argument gets, by name and modality;
``decode``   a generation step's KV cache, from the model's own prefill.

Attention is the model's default implementation (``sdpa`` where the class
supports it, else eager); MoE experts transformers' default (``grouped_mm``).
"""
from profiler.models.hf.classes import HF_FAMILIES, choose_class, resolve_hf
from profiler.models.hf.inputs import example_inputs
from profiler.models.hf.names import hf_model_types, hf_names

__all__ = ["HF_FAMILIES", "choose_class", "example_inputs", "hf_model_types", "hf_names", "resolve_hf"]
