"""profiler.models.checkpointing: ``checkpointing=`` / ``--checkpointing`` switch on a by-name
transformers or timm model's own activation checkpointing, which counts as the same model
switched on by hand (whose counts tests/capture/test_autograd.py checks against
FlopCounterMode); bad uses are refused in one line."""
from __future__ import annotations

import pytest
import torch

import profiler
from profiler.errors import ProfilerError

transformers = pytest.importorskip("transformers")
timm = pytest.importorskip("timm")

TINY = {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 100}


def _passes(report) -> dict[str, int]:
    return report.passes.set_index("pass")["macs"].to_dict()


@pytest.mark.parametrize("variant", [True, "reentrant"])
def test_by_name_equals_the_model_switched_on_by_hand(variant):
    by_name = profiler.profile("hf:llama", config=TINY, training=True, checkpointing=variant, tokens=16)
    assert any("activation checkpointing" in note for note in by_name.notes)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**TINY))
    model.gradient_checkpointing_enable(
        gradient_checkpointing_kwargs={"use_reentrant": variant == "reentrant"})
    by_hand = profiler.profile(model, inputs=(torch.randint(0, 100, (1, 16)),), training=True)
    plain = profiler.profile("hf:llama", config=TINY, training=True, tokens=16)
    assert _passes(by_name) == _passes(by_hand)
    counted = _passes(by_name)
    assert counted["forward+backward"] == _passes(plain)["forward+backward"]
    assert counted["recompute"] > 0


def test_timm_by_name():
    counted = _passes(profiler.profile("timm:vit_tiny_patch16_224", training=True, checkpointing=True,
                                       config={"depth": 2}))
    plain = _passes(profiler.profile("timm:vit_tiny_patch16_224", training=True, config={"depth": 2}))
    assert counted["forward+backward"] == plain["forward+backward"] and counted["recompute"] > 0


@pytest.mark.parametrize("model, kwargs, fragment", [
    ("hf:llama", {"checkpointing": True}, "add training=True"),
    ("resnet18", {"checkpointing": True, "training": True}, "transformers' or timm's own"),
    ("timm:vit_tiny_patch16_224", {"checkpointing": "reentrant", "training": True}, "set_reentrant_ckpt"),
    ("hf:llama", {"checkpointing": "sometimes", "training": True}, "expected True, False"),
    (torch.nn.Linear(2, 2), {"checkpointing": True, "training": True, "input_size": (2,)}, "yourself"),
])
def test_bad_uses_are_refused(model, kwargs, fragment):
    with pytest.raises(ProfilerError, match=fragment.replace("(", r"\(")):
        profiler.profile(model, **({"config": TINY} if model == "hf:llama" else {}), **kwargs)


def test_cli(cli):
    code, out, err = cli("profile", "hf:llama", "--config", "num_hidden_layers=2", "--config", "hidden_size=64",
                         "--config", "intermediate_size=128", "--config", "num_attention_heads=4",
                         "--config", "num_key_value_heads=2", "--config", "vocab_size=100", "--tokens", "16",
                         "--training", "--checkpointing", "--depth", "1")
    assert code == 0, err
    assert "forward+backward+recompute" in out and "rc_macs" in out
    code, out, err = cli("profile", "hf:llama", "--checkpointing")
    assert code == 2 and err.strip() == "profiler: error: --checkpointing changes only a training step: add --training"
