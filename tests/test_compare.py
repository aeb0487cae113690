"""compare(): one row per (model, input, batch), failures listed (the `profiler compare` command:
tests/cli/test_compare.py)."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from markdown_it import MarkdownIt

import profiler
from profiler.report.profiles_table import COLUMNS, markdown
from profiler.compare import compare
from profiler.errors import ProfilerError


@pytest.fixture(scope="module")
def two():
    return compare(["alexnet_homework", "vit_b_16"])


def test_rows_hold_each_models_totals_shares_and_intensity(two):
    assert list(two.columns) == COLUMNS
    assert list(two["model"]) == ["alexnet_homework", "vit_b_16"]
    for row in two.to_dict("records"):
        report = profiler.profile(row["model"])
        for column in ("params", "mults", "adds", "other", "macs", "flops", "act_bytes"):
            assert row[column] == report.total[column]
        assert row["conv_mults_%"] == report.share("conv", "mults")
        assert row["linear_params_%"] == report.share("linear", "params")
        assert row["intensity"] == report.intensity
        assert row["input"] == report.input_desc and row["uncounted"] == 0


def test_each_model_runs_at_its_own_default_input(two):
    assert list(two["input"]) == ["3x227x227", "3x224x224"]   # ViT takes only its training size


def test_one_model_at_several_inputs_and_batches():
    frame = compare(["resnet18"], input_sizes=[(3, 112, 112), "3x224x224"], batches=[1, 3])
    assert list(zip(frame["input"], frame["batch"])) == [("3x112x112", 1), ("3x112x112", 3),
                                                         ("3x224x224", 1), ("3x224x224", 3)]
    assert frame["params"].nunique() == 1
    one, three = frame.iloc[2], frame.iloc[3]
    assert three["macs"] == 3 * one["macs"] and three["act_bytes"] == 3 * one["act_bytes"]
    assert one["macs"] == profiler.profile("resnet18", input_size=(3, 224, 224)).total["macs"]


def test_native_input_uses_the_published_crop_size():
    frame = compare(["efficientnet_b1"], input_sizes=["native"])
    assert list(frame["input"]) == ["3x240x240"]


def test_a_bad_name_is_listed_and_the_others_still_run():
    seen = []
    frame = compare(["nope_net", "alexnet_homework"], progress=lambda label, error: seen.append((label, error)))
    assert list(frame["model"]) == ["alexnet_homework"]
    [failure] = frame.attrs["failures"]
    assert failure["model"] == "nope_net" and "unknown model 'nope_net'" in failure["error"]
    assert [error is None for _, error in seen] == [False, True]


def test_strict_raises_before_profiling_anything():
    seen = []
    with pytest.raises(ProfilerError, match="unknown model 'nope_net'"):
        compare(["alexnet_homework", "nope_net"], strict=True, progress=lambda *a: seen.append(a))
    assert seen == []


def test_worker_processes_give_the_same_table_as_one_process():
    names = ["alexnet", "nope_net", "resnet18", "squeezenet1_0"]
    here = compare(names, batches=[1, 2])
    seen = []
    workers = compare(names, batches=[1, 2], jobs=2, progress=lambda label, error: seen.append((label, error)))
    pd.testing.assert_frame_equal(workers, here, check_exact=True)
    assert workers.attrs == here.attrs and len(workers.attrs["failures"]) == 2
    assert sorted(seen) == sorted([(f"{name} · default · batch {batch}", None if name != "nope_net" else
                                    here.attrs["failures"][0]["error"]) for name in names for batch in (1, 2)])


def test_worker_processes_leave_a_given_module_in_this_process():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frame = compare([model, "alexnet_homework", "squeezenet1_0"], jobs=2)
    assert list(frame["model"]) == ["Sequential", "alexnet_homework", "squeezenet1_0"]
    assert frame["params"].iloc[0] == 4 * 3 * 3 * 3 + 4
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_strict_failure_in_a_worker_is_a_profiler_error():
    with pytest.raises(ProfilerError, match=r"^(alexnet_homework|squeezenet1_0): forward failed"):
        compare(["alexnet_homework", "squeezenet1_0"], input_sizes=["3x8x8"], strict=True, jobs=2)


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True])
def test_bad_jobs_is_a_usage_error(jobs):
    with pytest.raises(ProfilerError, match="jobs must be a positive integer"):
        compare(["alexnet_homework"], jobs=jobs)


@pytest.mark.parametrize("batches", [[0], [-2]])
def test_bad_batch_is_a_usage_error(batches):
    with pytest.raises(ProfilerError, match="batch must be a positive integer"):
        compare(["alexnet_homework"], batches=batches)


def test_markdown_table_parses_with_one_row_per_profile(two):
    text = markdown(two, plot="cmp.png")
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    assert sum(t.type == "table_open" for t in tokens) == 1
    assert sum(t.type == "tr_open" for t in tokens) == 1 + len(two)
    assert sum(t.type == "th_open" for t in tokens) == len(COLUMNS)
    assert "![MACs against parameters, log-log](cmp.png)" in text
    assert "None: every model was profiled." in text
