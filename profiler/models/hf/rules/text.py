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


QUERY_TOKENS_DEFAULT = 32      # a Q-Former's learned queries where the config names none (BLIP-2: 32)


def query_embeds(need: Need):
    """A Q-Former alone: its query embeddings, batch x queries x ``hidden_size``
    (``num_query_tokens`` of the config, default 32)."""
    count = int(get(need.config, "num_query_tokens", default=QUERY_TOKENS_DEFAULT))
    return need.make.floats((need.batch, count, int(get(need.config, "hidden_size", default=768))))


def encoder_hidden_states(need: Need):
    """What a Q-Former attends to: the image encoder's features, batch x patches x
    ``encoder_hidden_size`` (patches: 257, a 224-pixel image at patch 14 and its class token);
    what a decoder alone cross-attends to, batch x 257 x ``cross_hidden_size`` (Dia's
    decoder: the text encoder's states, which its cross-attention cannot go without);
    what a mask decoder alone requires beside its feature maps (SAM 3's): the
    encoder's states over the coarsest map, batch x its height·width x ``hidden_size``."""
    width = get(need.config, "encoder_hidden_size", "cross_hidden_size")
    maps = need.made.get("backbone_features")
    if width is None and need.requires("encoder_hidden_states") and isinstance(maps, list) and maps:
        # SAM 3's mask decoder: the DETR encoder's states over its coarsest feature map, hidden_size wide
        return need.make.floats((need.batch, maps[-1].shape[-2] * maps[-1].shape[-1],
                                 int(get(need.config, "hidden_size", default=256))))
    if width is None:
        return None
    return need.make.floats((need.batch, 257, int(width)))


def lang_ids(need: Need):
    """The language of each sample (X-MOD's language adapters): the first language
    the config names (``languages``), batch of its index, where the config sets no
    ``default_language`` (which the forward would use; without either it refuses).
    One per sample, as the forward makes it from the default."""
    languages = get(need.config, "languages")
    if get(need.config, "default_language") is not None or not languages:
        return None
    return need.make.full((need.batch,), 0)


SEQUENCE_DEFAULT = 128     # positions of an embedded sequence where nothing sets them (as TOKENS_DEFAULT)


def perceiver_inputs(need: Need):
    """A Perceiver without an input preprocessor (PerceiverModel from its config)
    reads its ``inputs`` already embedded: batch x positions (tokens=, default
    128) x ``d_model``, the width its cross-attention's keys and values take.
    None where the model has a preprocessor (which names what it reads) or the
    config no ``d_model``."""
    width = get(need.config, "d_model")
    if getattr(need.model, "input_preprocessor", "absent") is not None or not isinstance(width, int):
        return None
    return need.make.floats((need.batch, need.tokens or SEQUENCE_DEFAULT, width))


IMAGE_START = 2     # Kosmos-2's processor: <s>, <image>, then the image's positions


def image_embeds_position_mask(need: Need):
    """Where the image's features go in the text (Kosmos-2): batch x tokens, 1 at the
    ``latent_query_num`` positions after ``<s><image>`` (IMAGE_START), as its
    processor lays them out, 0 elsewhere; made with images, where the config names
    the count and the text holds it."""
    ids, count = need.made.get("input_ids"), get(need.config, "latent_query_num")
    if ids is None or "pixel_values" not in need.made or not isinstance(count, int) \
            or ids.shape[1] < IMAGE_START + count:
        return None
    mask = need.make.full(tuple(ids.shape), 0)
    mask[:, IMAGE_START:IMAGE_START + count] = 1
    return mask


OPTIONS = 2      # options of the question a decision head scores (JEV's first type, "noul": false, true)


def _question(value: int):
    def make(need: Need):
        ids = need.made.get("input_ids")
        if ids is None or not all(need.requires(n) for n in ("marks", "num_options", "question_type_ids")):
            return None
        return need.make.ints([[ids.shape[1] if value is None else value]])
    return make


# One question asked of a prompt (JEV's decision head): scored at its mark, the 1-based position
# of the prompt's last token (the head reads the state before the mark), of the first question
# type (index 0), with OPTIONS options.  Each batch x 1, as the forward reads one prompt.
QUESTION = {"marks": None, "num_options": OPTIONS, "question_type_ids": 0}


CLASSES = 4          # class names an open-vocabulary detector is prompted with, per image
PROMPT_LENGTH = 77   # positions of each prompt where the text config states none (CLIP's context)


def _prompt(name: str):
    """An open-vocabulary detector's text prompts (OmDet-Turbo), made where required:
    ``classes_input_ids`` batch·CLASSES x positions (the text config's
    ``max_position_embeddings``, else PROMPT_LENGTH), ids below its vocabulary;
    ``tasks_input_ids`` batch x positions; their attention masks all ones; and
    ``classes_structure``, CLASSES per image."""
    def make(need: Need):
        if not need.requires(name):
            return None
        vocab = get(need.text, "vocab_size")
        if not isinstance(vocab, int):
            return None
        length = get(need.text, "max_position_embeddings")
        length = length if isinstance(length, int) and 0 < length <= PROMPT_LENGTH else PROMPT_LENGTH
        rows = need.batch * CLASSES if name.startswith("classes") else need.batch
        if name == "classes_structure":
            return need.make.ints([CLASSES] * need.batch)
        if name.endswith("input_ids"):
            return need.make.ids((rows, length), vocab)
        return need.make.full((rows, length), 1)
    make.__doc__ = _prompt.__doc__
    return make


PROMPTS = ("classes_input_ids", "classes_attention_mask", "tasks_input_ids", "tasks_attention_mask",
           "classes_structure")


RULES = {
    **{name: Rule(_question(value), "text", after=("input_ids",)) for name, value in QUESTION.items()},
    **{name: Rule(_prompt(name), "detection") for name in PROMPTS},
    "image_embeds_position_mask": Rule(image_embeds_position_mask, "vision-language", after=("input_ids",)),
    "query_embeds": Rule(query_embeds, "vision-language"),
    "encoder_hidden_states": Rule(encoder_hidden_states, "vision-language",
                                  after=("query_embeds", "input_ids", "backbone_features")),
    "bbox": Rule(bbox, "layout", after=("input_ids",)),
    "lang_ids": Rule(lang_ids, "text", after=("input_ids",)),
    "mm_token_type_ids": Rule(mm_token_type_ids, "vision-language", after=("input_ids",)),
    "task_inputs": Rule(task_inputs, "segmentation"),
    "qformer_input_ids": Rule(qformer_input_ids, "vision-language"),
    "inputs": Rule(perceiver_inputs, "text"),
}
