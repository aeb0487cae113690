"""profiler.formulas.sharding: model states per device under ZeRO-1/2/3 (and FSDP's
full sharding) against the figures the ZeRO paper publishes (Rajbhandari et al.,
SC 2020): Figure 1 (Ψ = 7.5B, K = 12, N = 64) and Table 1's 7.5B column, each
compared at the digits the paper prints."""
from __future__ import annotations

import pytest

from profiler.errors import ProfilerError
from profiler.formulas.optimizers import model_states
from profiler.formulas.sharding import every_stage, parse_shard, shard

PSI = 7_500_000_000
GB = 1e9


def _paper(psi: int):
    """Mixed-precision Adam as the paper counts it: 2Ψ + 2Ψ + 12Ψ."""
    return 2 * psi, 2 * psi, 12 * psi, psi


def test_figure_1_of_the_zero_paper():
    """"7.5B parameters, K = 12, Nd = 64": baseline 120 GB, P_os 31.4 GB, P_os+g 16.6 GB, P_os+g+p 1.9 GB."""
    stages = every_stage(*_paper(PSI), devices=64)
    assert [round(s.total / GB, 1) for s in stages] == [120.0, 31.4, 16.6, 1.9]
    assert [s.formula for s in stages] == ["2Ψ + 2Ψ + 12Ψ", "2Ψ + 2Ψ + 12Ψ / N", "2Ψ + (2Ψ + 12Ψ) / N",
                                          "(2Ψ + 2Ψ + 12Ψ) / N"]


@pytest.mark.parametrize("devices, printed", [
    (1, (120, 120, 120)), (4, (52.5, 41.3, 30)), (16, (35.6, 21.6, 7.5)), (64, (31.4, 16.6, 1.88)),
    (256, (30.4, 15.4, 0.47)), (1024, (30.1, 15.1, 0.12))])
def test_table_1_of_the_zero_paper_for_the_7_5b_model(devices, printed):
    got = [shard(*_paper(PSI), stage=s, devices=devices).total / GB for s in (1, 2, 3)]
    for value, paper in zip(got, printed):
        digits = len(str(paper).partition(".")[2])
        assert abs(value - paper) <= 0.5 * 10 ** -digits   # the paper rounds half up: 41.25 is 41.3


def test_the_profile_terms_go_through_the_same_formula():
    """Any optimizer and precision: its states and master copy are the sharded "K" term."""
    states = model_states([(4096, 4096)] * 3, "adamw", itemsize=2, precision="master", step=False)
    z2 = shard(states.parameters, states.gradients, states.optimizer + states.master, states.numel, 2, 8)
    psi = 3 * 4096 * 4096
    assert (z2.parameters, z2.gradients, z2.optimizer) == (2 * psi, 2 * psi // 8, 12 * psi // 8)
    assert z2.formula == "2Ψ + (2Ψ + 12Ψ) / N" and z2.name == "ZeRO-2"


def test_an_uneven_shard_is_rounded_up_as_a_padded_flat_buffer():
    z3 = shard(10, 10, 30, 5, 3, 4)
    assert (z3.parameters, z3.gradients, z3.optimizer) == (3, 3, 8)
    assert shard(10, 10, 30, 5, 0, 4).total == 50


def test_shard_names():
    assert parse_shard("zero3:8") == (3, 8) == parse_shard("FSDP:8") == parse_shard("zero-3:8")
    assert parse_shard("zero1:64") == (1, 64) and parse_shard("ddp:2") == (0, 2) and parse_shard("2:4") == (2, 4)
    for bad in ("zero4:8", "zero3", "zero3:0", "zero3:x", "fsdp:-1", ""):
        with pytest.raises(ProfilerError, match="expected STAGE:N"):
            parse_shard(bad)
    with pytest.raises(ProfilerError, match="devices=0"):
        shard(1, 1, 1, 1, 1, 0)
