"""Every torchvision model profiles, completely, and matches the published figures.

Slow (a few minutes on 2 cores); CI runs it.  Select it alone with `-m slow`.
"""
from __future__ import annotations

import pytest
import torchvision.models as tvm

import profiler
from profiler.models import resolve, weights_meta

ALL = sorted(tvm.list_models())
CLASSIFICATION = sorted(tvm.list_models(module=tvm))

pytestmark = pytest.mark.slow


def _param_count(name: str) -> int:
    return sum(p.numel() for p in resolve(name).build(meta=True).parameters())


def test_the_zoo_has_121_models_and_80_classifiers():
    assert (len(ALL), len(CLASSIFICATION)) == (121, 80)


@pytest.mark.parametrize("name", ALL)
def test_every_model_profiles_with_nothing_uncounted(name):
    report = profiler.profile(name)
    assert report.uncounted.empty, report.uncounted[["name", "ops"]].to_string()
    assert report.total["macs"] > 0
    assert report.total["params"] == _param_count(name)
    assert report.total["flops"] == report.layers["flops"].sum()


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_native_macs_and_params_equal_torchvision_published(name):
    meta = weights_meta(name)
    report = profiler.profile(name, native=True)
    assert round(report.total["macs"] / 1e9, 3) == meta["_ops"]
    assert report.total["params"] == meta["num_params"]


@pytest.mark.parametrize("name", ["vit_b_16", "swin_t", "swin_v2_t", "maxvit_t", "mvit_v2_s"])
def test_attention_rows_include_their_matmuls(name):
    layers = profiler.profile(name).layers
    attention = layers[layers["name"].str.contains("attn|attention") & (layers["macs"] > 0)]
    matmul_like = attention[attention["kind"].isin(["attention", "matmul"])]
    assert len(matmul_like) > 0


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_classifier_macs_agree_with_fvcore_and_flop_counter_or_say_why(name):
    from profiler.check import check
    result = check(name)
    assert result.ok, result.unexplained.to_string()
    total = result.table.iloc[-1]
    if total["status"] == "match":  # no attention: all three agree to the MAC
        assert total["ours"] == total["fvcore"] == total["flop_counter"]
