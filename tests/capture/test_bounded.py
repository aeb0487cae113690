"""Detection models on shapes (profiler.capture.bounded): the count is an upper bound
fixed by a stated assumption, the same at any thread count and in every run; each
answer the assumption gives equals what the real op gives on an example where the
assumption holds; and where it holds for a whole model, the bound equals a real
forward.
"""
from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
import torchvision
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator, DefaultBoxGenerator
from torchvision.models.detection.roi_heads import paste_masks_in_image
from torchvision.models.detection.ssd import SSD, SSDHead
from torchvision.ops import MultiScaleRoIAlign, batched_nms, nms

import profiler
from profiler.capture import bounded
from profiler.api import BOUND_NOTE, REAL_NOTE

DETECTION = sorted(torchvision.models.list_models(module=torchvision.models.detection))
COUNTS = ["params", "mults", "adds", "other", "macs", "flops"]


def _totals(report) -> dict:
    return {c: int(report.total[c]) for c in COUNTS}


def _rows(report) -> list[dict]:
    return report.layers[["name", "mults", "adds", "other", "macs", "params"]].to_dict("records")


def _meta(*shape, dtype=torch.float32) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="meta")


class _Calls(TorchDispatchMode):
    """Records the ops named in ``watch`` with their output shapes (entered inside
    ``bounded.bounded``, it sees each op with the answer given below it)."""

    def __init__(self, *watch):
        super().__init__()
        self.watch = watch
        self.seen: list[tuple[str, tuple]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name in self.watch:
            self.seen.append((name, tuple(out.shape)))
        return out


def _no_modes_left() -> bool:
    return torch._C._len_torch_function_stack() == 0 and torch._C._len_torch_dispatch_stack() == 0


# --- the twelve torchvision models --------------------------------------------


@pytest.mark.parametrize("name", DETECTION)
def test_detection_model_profiles_on_meta_with_nothing_uncounted_and_its_note(name):
    report = profiler.profile(name)
    assert report.execution == "meta"
    assert report.uncounted.empty, report.uncounted[["name", "ops"]].to_string()
    assert report.total["macs"] > 0
    assert report.notes.count(BOUND_NOTE) == 1 and REAL_NOTE not in report.notes
    assert not any(note.startswith("ran on") for note in report.notes)


def test_the_note_is_one_short_line_that_names_the_assumption():
    for note in (BOUND_NOTE, REAL_NOTE):
        assert "\n" not in note and len(note) <= 120
    for words in ("every candidate passes", "NMS keeps every box", "boxes cover the image", "caps"):
        assert words in BOUND_NOTE


def test_counts_do_not_depend_on_the_thread_count_or_the_run():
    # 388,710,337,105 mults with 2 threads against 388,710,339,785 with 1 on real tensors
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = profiler.profile("maskrcnn_resnet50_fpn_v2")
        torch.set_num_threads(2)
        two = profiler.profile("maskrcnn_resnet50_fpn_v2")
        again = profiler.profile("maskrcnn_resnet50_fpn_v2")
    finally:
        torch.set_num_threads(threads)
    assert _totals(one) == _totals(two) == _totals(again)
    assert _rows(one) == _rows(two) == _rows(again)


def test_the_bound_is_the_models_caps():
    """Faster R-CNN at 3x480x640: 1,000 proposals (rpn_post_nms_top_n_test) through
    the box head, 100 detections (box_detections_per_img) out."""
    layers = profiler.profile("fasterrcnn_resnet50_fpn").layers
    box_head = layers[layers["name"] == "roi_heads.box_head"].iloc[0]
    roi_heads = layers[layers["name"] == "roi_heads"].iloc[0]
    assert box_head["input_shapes"] == "1000x256x7x7"
    assert roi_heads["output_shape"].startswith("100x4")


def test_detections_is_checked():
    for bad in ("fake", "", None, True, 1):
        with pytest.raises(profiler.ProfilerError, match="detections=.*expected 'bound'"):
            profiler.profile("alexnet", detections=bad)
    assert profiler.profile("alexnet", detections="real").notes == []   # no detection model: no effect


def test_an_unknown_model_is_a_detection_model_by_its_class():
    assert bounded.is_detection_model(_tiny_models()["faster"])
    assert not bounded.is_detection_model(nn.Linear(2, 2))


# --- whole models where the assumption holds: bound == real ---------------------


class _Body(nn.Module):
    """Two feature maps of 32 channels, at strides 4 and 8."""

    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(3, 32, 3, stride=4, padding=1), nn.ReLU())
        self.b = nn.Sequential(nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU())
        self.out_channels = 32

    def forward(self, x):
        a = self.a(x)
        return OrderedDict([("0", a), ("1", self.b(a))])


def _tiny_models() -> dict[str, nn.Module]:
    """Small detectors whose every score test passes (thresholds -1) and whose NMS
    keeps every box (IoU threshold 1.0), with at most 1,000 boxes per NMS call (where
    torchvision's batched NMS takes the same strategy on the CPU and on meta)."""
    torch.manual_seed(0)
    anchors = AnchorGenerator(((16,), (32,)), ((0.5, 1.0),) * 2)
    faster = FasterRCNN(_Body(), num_classes=3, min_size=64, max_size=64, rpn_anchor_generator=anchors,
                        box_roi_pool=MultiScaleRoIAlign(["0", "1"], 7, 2), rpn_pre_nms_top_n_test=50,
                        rpn_post_nms_top_n_test=60, rpn_nms_thresh=1.0, box_score_thresh=-1.0, box_nms_thresh=1.0,
                        box_detections_per_img=30)
    faster.rpn.min_size = -1.0   # its size test passes too
    retina = RetinaNet(_Body(), num_classes=3, min_size=64, max_size=64, anchor_generator=anchors,
                       score_thresh=-1.0, nms_thresh=1.0, topk_candidates=40, detections_per_img=50)
    fcos = FCOS(_Body(), num_classes=3, min_size=64, max_size=64,
                anchor_generator=AnchorGenerator(((8,), (16,)), ((1.0,),) * 2), score_thresh=-1.0, nms_thresh=1.0,
                topk_candidates=40, detections_per_img=50)
    ssd = SSD(_Body(), DefaultBoxGenerator([[2], [2]]), (64, 64), num_classes=3, head=SSDHead([32, 32], [4, 4], 3),
              score_thresh=-1.0, nms_thresh=1.0, topk_candidates=20, detections_per_img=50)
    return {"faster": faster.eval(), "retina": retina.eval(), "fcos": fcos.eval(), "ssd": ssd.eval()}


@pytest.mark.parametrize("kind", ["faster", "retina", "fcos", "ssd"])
def test_bound_equals_a_real_forward_where_the_assumption_holds(kind):
    model = _tiny_models()[kind]
    real = profiler.profile(model, inputs=([(3, 64, 64)],), detections="real")
    bound = profiler.profile(model, inputs=([(3, 64, 64)],))
    assert (real.execution, bound.execution) == ("real", "meta")
    assert _totals(bound) == _totals(real)
    assert _rows(bound) == _rows(real)
    assert REAL_NOTE in real.notes and BOUND_NOTE in bound.notes
    assert _no_modes_left()


def test_real_detections_still_run_on_real_tensors_with_their_note():
    report = profiler.profile("ssdlite320_mobilenet_v3_large", input_size=(3, 96, 96), detections="real")
    assert report.execution == "real"
    assert report.notes[-1] == REAL_NOTE
    assert any(note.startswith("ran on real CPU tensors") for note in report.notes)


def test_a_model_with_real_weights_is_left_as_it_was():
    model = _tiny_models()["faster"]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hooks = [(dict(m._forward_pre_hooks), dict(m._forward_hooks)) for m in model.modules()]
    profiler.profile(model, inputs=([(3, 64, 64)],))
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert hooks == [(dict(m._forward_pre_hooks), dict(m._forward_hooks)) for m in model.modules()]
    assert _no_modes_left()


# --- each answer against the real op ----------------------------------------------


def test_nonzero_of_an_unknown_mask_is_every_element_as_for_an_all_true_mask():
    real = torch.ones(4, 3, dtype=torch.bool)
    with bounded.bounded(nn.Module()) as d:
        mask = _meta(4, 3, dtype=torch.bool)
        found = torch.nonzero(mask)
        assert found.is_meta and found.shape == real.nonzero().shape
        assert torch.equal(d.value(found), real.nonzero())
        rows, cols = torch.where(_meta(4, 3, dtype=torch.bool))
        assert torch.equal(d.value(rows), torch.where(real)[0]) and torch.equal(d.value(cols), torch.where(real)[1])
        # the same mask asked twice answers the same
        assert torch.equal(d.value(torch.nonzero(mask)), d.value(found))
    assert _no_modes_left()


def test_boolean_indexing_and_masked_select_take_every_element():
    x_real, m_real = torch.randn(5, 3), torch.ones(5, 3, dtype=torch.bool)
    with bounded.bounded(nn.Module()):
        x = _meta(5, 3)
        assert x[_meta(5, 3, dtype=torch.bool)].shape == x_real[m_real].shape
        assert x[_meta(5, dtype=torch.bool)].shape == x_real[m_real[:, 0]].shape
        assert torch.masked_select(x, _meta(5, 3, dtype=torch.bool)).shape == torch.masked_select(x_real, m_real).shape
        x[_meta(5, dtype=torch.bool)] = 0.0   # index_put with a mask
    assert _no_modes_left()


def _separate_boxes(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n boxes that do not overlap, with scores falling in index order: real NMS
    keeps them all, in order."""
    x = torch.arange(n, dtype=torch.float32) * 10
    boxes = torch.stack([x, torch.zeros(n), x + 5, torch.full((n,), 5.0)], dim=1)
    return boxes, torch.linspace(1, 0, n)


def test_nms_keeps_every_box_in_order_as_real_nms_of_separate_boxes():
    boxes, scores = _separate_boxes(7)
    real = nms(boxes, scores, 0.5)
    assert torch.equal(real, torch.arange(7))
    with bounded.bounded(nn.Module()) as d:
        kept = nms(_meta(7, 4), _meta(7), 0.5)
        assert kept.shape == real.shape and torch.equal(d.value(kept), real)


@pytest.mark.parametrize("n, per_class", [(600, 100), (26_000, 100)])
def test_batched_nms_runs_one_nms_per_class_of_known_labels_as_the_real_one(n, per_class):
    """26,000 boxes: torchvision's per-class loop on the CPU and on meta alike
    (labels made from an arange, known); the NMS calls and their sizes are the
    real ones.  600: one NMS over all the classes' boxes, both ways."""
    boxes, scores = _separate_boxes(n)
    labels = torch.arange(n) // per_class
    with _Calls("nms") as real_calls:
        real = batched_nms(boxes, scores, labels, 0.5)
    with bounded.bounded(nn.Module()):
        with _Calls("nms") as calls:
            kept = batched_nms(_meta(n, 4), _meta(n), torch.arange(n, device="meta") // per_class, 0.5)
    assert kept.shape == real.shape == (n,)
    assert calls.seen == real_calls.seen
    assert len(calls.seen) == (n // per_class if n > 25_000 else 1)


def test_unique_of_unknown_labels_is_one_value_as_for_constant_labels():
    real = torch.unique(torch.zeros(9, dtype=torch.int64), return_inverse=True, return_counts=True)
    with bounded.bounded(nn.Module()) as d:
        labels = _meta(9, dtype=torch.int64)
        values, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
        assert [t.shape for t in (values, inverse, counts)] == [t.shape for t in real]
        assert all(torch.equal(d.value(t), r) for t, r in zip((values, inverse, counts), real))


def test_a_value_the_shapes_decide_is_read_as_the_real_one():
    real = torch.arange(6).reshape(2, 3) * 2 + 1
    with bounded.bounded(nn.Module()):
        t = torch.arange(6, device="meta").reshape(2, 3) * 2 + 1
        assert t[1, 2].item() == real[1, 2].item() == 11
        assert int(t[0, 1]) == 3 and bool(t[0, 0] == 1) and t.tolist() == real.tolist()
        assert torch.zeros(3, dtype=torch.int64, device="meta")[torch.tensor(1):].shape == (2,)


def test_reading_a_value_the_data_decides_fails_naming_the_line():
    with bounded.bounded(nn.Module()):
        score = _meta(3)
        with pytest.raises(bounded.UnstatedValue, match=r"test_bounded\.py:\d+ .*detections='real'"):
            score[0].item()


def test_an_unknown_level_compared_with_levels_is_the_first_level_as_for_constant_levels():
    """MultiScaleRoIAlign's loop ``torch.where(levels == level)``: the boxes are
    split over the levels once, all to the first asked, as with constant levels."""
    real = [torch.where(torch.zeros(10, dtype=torch.int64) == k)[0].shape[0] for k in range(4)]
    with bounded.bounded(nn.Module()):
        levels = _meta(10, dtype=torch.int64)
        ours = [torch.where(levels == k)[0].shape[0] for k in range(4)]
    assert ours == real == [10, 0, 0, 0]


def test_boxes_given_to_roi_pooling_cover_the_image_as_real_whole_image_boxes():
    pool = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
    sizes = [(2, 8, 64, 96), (2, 8, 32, 48), (2, 8, 16, 24), (2, 8, 8, 12)]
    image_shapes = [(256, 384), (250, 300)]
    whole = [torch.tensor([[0.0, 0.0, w, h]] * n) for n, (h, w) in zip((5, 3), image_shapes)]
    with _Calls("roi_align") as real_calls:
        pool(OrderedDict((str(i), torch.randn(s)) for i, s in enumerate(sizes)), whole, image_shapes)
    pool = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
    with bounded.bounded(pool):
        with _Calls("roi_align") as calls:
            pool(OrderedDict((str(i), _meta(*s)) for i, s in enumerate(sizes)), [_meta(5, 4), _meta(3, 4)],
                 image_shapes)
    assert calls.seen == real_calls.seen
    assert sum(shape[0] for _, shape in calls.seen) == 8
    assert not pool._forward_pre_hooks   # the hook that decides the boxes is gone


def test_masks_are_pasted_at_the_size_of_whole_image_boxes():
    masks_real = torch.rand(2, 1, 28, 28)
    boxes_real = torch.tensor([[0.0, 0.0, 64.0, 48.0]] * 2)
    with _Calls("upsample_bilinear2d") as real_calls:
        real = paste_masks_in_image(masks_real, boxes_real, (48, 64))
    with bounded.bounded(nn.Module()) as d:
        boxes = _meta(2, 4)
        d.whole_image_boxes([boxes], [(48, 64)])
        with _Calls("upsample_bilinear2d") as calls:
            pasted = paste_masks_in_image(_meta(2, 1, 28, 28), boxes, (48, 64))
    assert pasted.shape == real.shape and calls.seen == real_calls.seen


def test_values_are_forgotten_when_unknown_data_is_written():
    with bounded.bounded(nn.Module()) as d:
        known = torch.zeros(4, dtype=torch.int64, device="meta")
        view = known[1:]
        assert d.value(known) is not None and d.value(view) is not None
        view.add_(_meta(3, dtype=torch.int64))
        assert d.value(known) is None and d.value(view) is None
        kept = torch.zeros(4, dtype=torch.bool, device="meta")
        kept[torch.arange(2, device="meta")] = True   # known data: the same write on the value
        assert d.value(kept).tolist() == [True, True, False, False]
