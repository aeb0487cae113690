"""profiler.models.resolve: a model's name to its ModelSpec: torchvision names built without
weights, built-ins and the old name kept for one release, user code from a file or a package, the family of a name, the suggestions
for an unknown one, overrides only for hf:/timm:, and native builds."""
from __future__ import annotations

import textwrap

import pytest
import torchvision
from torch import nn

from profiler.errors import ProfilerError
from profiler.models.resolve import DEFAULT_IMAGE, family_of, resolve
from profiler.models.zoo import AlexNet2012, AlexNetHomework

NET = textwrap.dedent("""
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc(x)

    NOT_CALLABLE = 3
""")


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_a_torchvision_name_builds_its_model_without_weights():
    spec = resolve("resnet18")
    assert (spec.name, spec.family, spec.build_kwargs) == ("resnet18", "classification", {"weights": None})
    assert spec.builder is torchvision.models.resnet18
    assert _params(spec.build(meta=True)) == _params(torchvision.models.resnet18()) == 11_689_512


def test_a_builder_that_takes_a_backbone_gets_no_backbone_weights_either():
    assert resolve("fasterrcnn_resnet50_fpn").build_kwargs == {"weights": None, "weights_backbone": None}
    assert resolve("fcn_resnet50").build_kwargs == {"weights": None, "weights_backbone": None}


@pytest.mark.parametrize("name,family", [
    ("alexnet", "classification"), ("deeplabv3_resnet50", "segmentation"), ("ssd300_vgg16", "detection"),
    ("r3d_18", "video"), ("raft_small", "optical_flow"), ("quantized_resnet18", "quantized"),
])
def test_family_of_a_torchvision_name(name, family):
    assert family_of(name) == family
    assert resolve(name).family == family


def test_the_builtin_alexnet_homework():
    spec = resolve("alexnet_homework")
    assert spec.family == "classification" and isinstance(spec.build(meta=False), AlexNetHomework)
    assert DEFAULT_IMAGE == (3, 227, 227)          # the paper's input (224 in its text, 227 in its arithmetic)


def test_the_builtin_alexnet2012():
    spec = resolve("alexnet2012")
    assert spec.family == "classification" and isinstance(spec.build(meta=False), AlexNet2012)
    assert spec.notes == []


def test_the_old_name_alexnet_paper_is_alexnet_homework_with_a_note():
    import profiler
    spec = resolve("alexnet_paper")
    note = ("alexnet_paper is renamed alexnet_homework; the 2012 paper's network is alexnet2012; "
            "the alias goes in the next release")
    assert spec.name == "alexnet_paper" and spec.notes == [note] and resolve("alexnet_homework").notes == []
    assert isinstance(spec.build(meta=True), AlexNetHomework)
    old, new = profiler.profile("alexnet_paper"), profiler.profile("alexnet_homework")
    assert old.notes == [note] and new.notes == []
    assert old.layers.equals(new.layers) and old.total.equals(new.total)
    assert f"note: {note}" in old.to_string().splitlines()


def test_an_unknown_name_suggests_close_ones_or_the_list():
    with pytest.raises(ProfilerError, match=r"^unknown model 'resnet5'; did you mean resnet50"):
        resolve("resnet5")
    with pytest.raises(ProfilerError, match=r"^unknown model 'qqqzzz'; see 'profiler list' for the models$"):
        resolve("qqqzzz")


@pytest.mark.parametrize("name", ["alexnet", "alexnet_homework", "alexnet_paper", "torch.nn:ReLU"])
def test_config_overrides_are_refused_for_models_that_are_not_hf_or_timm(name):
    with pytest.raises(ProfilerError, match=r"config overrides \(depth\) apply to hf: and timm: models only"):
        resolve(name, {"depth": 2})


def test_user_code_from_a_file_and_from_a_package(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(NET)
    spec = resolve(f"{path}:Net")
    assert spec.family == "custom" and spec.builder.__name__ == "Net"
    assert _params(spec.build(meta=True)) == 3 * 2 + 2
    relu = resolve("torch.nn:ReLU")
    assert relu.family == "custom" and relu.builder is nn.ReLU


@pytest.mark.parametrize("target,message", [
    ("{dir}/missing.py:Net", "no such file '{dir}/missing.py'"),
    ("{dir}/net.py:Missing", "'{dir}/net.py' has no callable 'Missing'"),
    ("{dir}/net.py:NOT_CALLABLE", "'{dir}/net.py' has no callable 'NOT_CALLABLE'"),
    ("no_such_package_xyz.models:Net", "cannot import 'no_such_package_xyz.models': ModuleNotFoundError"),
])
def test_user_code_that_cannot_be_loaded_is_a_profiler_error(tmp_path, target, message):
    (tmp_path / "net.py").write_text(NET)
    with pytest.raises(ProfilerError) as info:
        resolve(target.format(dir=tmp_path))
    assert str(info.value).startswith(message.format(dir=tmp_path))


def test_native_adds_what_the_weights_imply_except_for_user_code(tmp_path):
    assert resolve("googlenet", native=True).build_kwargs == {"weights": None, "transform_input": True,
                                                              "aux_logits": False}
    assert resolve("vit_h_14", native=True).build(meta=True).image_size == 518
    (tmp_path / "net.py").write_text(NET)
    assert resolve(f"{tmp_path / 'net.py'}:Net", native=True).build_kwargs == {}
