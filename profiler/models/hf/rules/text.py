"""Inputs that go with the text: layout boxes, token modality types, task and
Q-Former prompts.  (``input_ids`` itself, with its media placeholders, is made in
profiler.models.hf.inputs.)"""
from __future__ import annotations

from profiler.models.hf.make import get
from profiler.models.hf.rules.base import Need, Rule


def bbox(need: Need):
    """Layout boxes, one per token: batch x tokens x 4 of zeros (a valid box)."""
    ids = need.made.get("input_ids")
    length = ids.shape[1] if ids is not None else (need.tokens or 128)
    return need.make.full((need.batch, length, 4), 0)


_MODALITY_TYPES = ((1, ("image_token_id", "image_token_index")), (2, ("video_token_id", "video_token_index")),
                   (3, ("audio_token_id", "audio_token_index")))


def mm_token_type_ids(need: Need):
    """Each token's modality, as transformers' processors make it
    (``create_mm_token_type_ids``): 0 text, 1 image, 2 video, 3 audio placeholder."""
    ids = need.made["input_ids"]
    types = need.make.torch.zeros_like(ids)
    for value, names in _MODALITY_TYPES:
        token = next((v for c in (need.config, need.text) for n in names
                      if isinstance(v := getattr(c, n, None), int) and not isinstance(v, bool)), None)
        if token is not None:
            types[ids == token] = value
    return types


def task_inputs(need: Need):
    """A task prompt's token ids (OneFormer): batch x task_seq_len."""
    length = int(get(need.config, "task_seq_len", default=77))
    return need.make.ids((need.batch, length), int(get(need.text, "vocab_size", default=49408)))


def qformer_input_ids(need: Need):
    qformer = need.sub("qformer_config")
    return need.make.ids((need.batch, 32), int(get(qformer, "vocab_size", default=30522)))


RULES = {
    "bbox": Rule(bbox, "layout", after=("input_ids",)),
    "mm_token_type_ids": Rule(mm_token_type_ids, "vision-language", after=("input_ids",)),
    "task_inputs": Rule(task_inputs, "segmentation"),
    "qformer_input_ids": Rule(qformer_input_ids, "vision-language"),
}
