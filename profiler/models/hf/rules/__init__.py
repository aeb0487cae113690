"""What each forward argument of a transformers model gets, by name and modality.

One rule per input name, in the order they are made: ``RULES[name] = Rule(...)``.
``example_inputs`` makes, for a forward:

* every argument it requires (no default) that has a rule;
* the *primary* inputs it takes even where optional (``input_ids``,
  ``pixel_values``, ``input_features``, ``input_values``, ``past_values``, ...);
* the companions of what was made (``image_grid_thw`` of ``pixel_values``,
  ``past_time_features`` of ``past_values``), where the forward takes them.

A required argument with no rule is refused in one line that names it and how to
give it (``--arg NAME=SHAPE[:dtype]``, ``kwargs=``).  Sizes come from the config
(image size, channels, patch and merge sizes, mel bins, sampling rate, frames,
context and prediction lengths) or from the ``image=``, ``frames=`` and
``seconds=`` the caller sets; the defaults are stated per rule.  Each rule reads
only the ``Need`` it is given: the model, its configs, the batch, the sizes, and
the inputs made so far.

The rules live one file per modality: ``image`` (images, video), ``regions``
(detected boxes' features), ``audio`` (waveforms, features), ``series`` (time
series, trajectories), ``text`` (what goes with the token ids), ``hidden`` (a
part's hidden-state inputs, made where required); ``base`` holds
``Need`` and ``Rule``.  ``RULES`` joins them in that
order, which is the order inputs are made in.
"""
from __future__ import annotations

from profiler.models.hf.rules import audio, hidden, image, regions, series, text
from profiler.models.hf.rules.base import Need, Rule, required

RULES: dict[str, Rule] = {**image.RULES, **regions.RULES, **audio.RULES, **series.RULES, **text.RULES,
                          **hidden.RULES}


def _hidden_states(need: Need):
    """A tower called alone reads ``hidden_states``: an audio tower its audio, a vision tower its images
    (patches of a patch-list encoder, or images for a convolution), a transformer over other models'
    states (no convolution: FLAVA's multimodal encoder) a sequence of its width."""
    mel = hidden.dit_mel(need)        # a code-to-mel DiT (Qwen2.5-Omni's): its noisy mel spectrogram
    if mel is not None:
        return mel
    if audio.reads_audio(need):
        return audio.hidden_states(need)
    if image.uses_patch_list(need) or hidden.has_convolution(need.model):
        return image.RULES["hidden_states"].make(need)
    return hidden.sequence(need)


RULES["hidden_states"] = Rule(_hidden_states, image.RULES["hidden_states"].modality)

__all__ = ["RULES", "Need", "Rule", "required"]
