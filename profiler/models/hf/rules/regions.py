"""Region features: the detector outputs some vision-language models read instead
of pixels (LXMERT's ``visual_feats`` and ``visual_pos``, VisualBERT's
``visual_embeds``), one vector per detected box."""
from __future__ import annotations

from profiler.models.hf.make import get
from profiler.models.hf.rules.base import Need, Rule

BOXES_DEFAULT = 36        # boxes per image: what the Faster R-CNN features these models were trained on keep


def visual_feats(need: Need):
    """batch x boxes x ``visual_feat_dim``."""
    return need.make.floats((need.batch, BOXES_DEFAULT, int(get(need.config, "visual_feat_dim", default=2048))))


def visual_pos(need: Need):
    """Each box's normalised corners: batch x boxes x ``visual_pos_dim`` (4)."""
    return need.make.floats((need.batch, BOXES_DEFAULT, int(get(need.config, "visual_pos_dim", default=4))))


def visual_embeds(need: Need):
    """batch x boxes x ``visual_embedding_dim``."""
    return need.make.floats((need.batch, BOXES_DEFAULT,
                             int(get(need.config, "visual_embedding_dim", default=512))))


RULES = {
    "visual_feats": Rule(visual_feats, "regions", primary=True),
    "visual_pos": Rule(visual_pos, "regions", after=("visual_feats",)),
    "visual_embeds": Rule(visual_embeds, "regions", primary=True),
}
