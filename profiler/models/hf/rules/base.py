"""What the input rules share: ``Need`` (what a rule reads) and ``Rule`` (one
input name's maker, modality and when it is made).  See profiler.models.hf.rules."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from profiler.models.hf.make import Maker, get


@dataclass
class Need:
    """What the rules read: the model, its configs, the batch and the sizes asked
    for, and the inputs made so far (``made``; the caller's own, ``given``, first)."""

    model: Any
    config: Any
    batch: int
    make: Maker
    params: dict
    tokens: int | None = None
    image: int | None = None
    frames: int | None = None
    seconds: float | None = None
    made: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    required: set[str] = field(default_factory=set)   # needed beyond the forward's own required arguments
    feature_frames: int | None = None   # frames per sample of the audio features made: what their masks cover

    def sub(self, *names: str):
        """The first sub-config among ``names`` the config has, else the one the
        wrapped vision-language model's config has (ColQwen2's ``vlm_config``),
        else the config."""
        inner = get(self.config, "vlm_config", default=None)
        return get(self.config, *names, default=None) or (get(inner, *names, default=None) if inner else None) \
            or self.config

    @property
    def vision(self):
        return self.sub("vision_config", "visual_config", "vision_encoder_config", "image_config")

    @property
    def audio(self):
        return self.sub("audio_config", "speech_config", "audio_encoder_config", "encoder_config")

    @property
    def text(self):
        return self.sub("text_config", "decoder_config", "language_config", "llm_config")

    def takes(self, name: str) -> bool:
        return name in self.params

    def requires(self, name: str) -> bool:
        """The forward, or a method the inputs are made with (get_image_features), needs it."""
        return name in self.required or name in required(self.params)


@dataclass(frozen=True)
class Rule:
    make: Callable[[Need], Any]
    modality: str
    primary: bool = False            # made whenever the forward takes it
    after: tuple[str, ...] = ()      # a companion: made when one of these was made


def required(params) -> list[str]:
    """The forward's arguments without a default."""
    return [p for p, v in params.items()
            if v.default is inspect.Parameter.empty and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)]
