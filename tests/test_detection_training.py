import matplotlib
import numpy as np
import pytest
import torch

from utils import fcos
from utils.detection_data import make_shapes
from utils.detection_training import (
    DetectionHistory,
    detect,
    fit_detector,
    flip_horizontal,
    warmup_cosine,
)

matplotlib.use("Agg")


def _tight_box(mask: torch.Tensor) -> list[float]:
    rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
    return [cols[0].item(), rows[0].item(), cols[-1].item() + 1, rows[-1].item() + 1]


def _small_fcos(num_classes=3, seed=0):
    torch.manual_seed(seed)
    body = fcos.SmallBody(widths=(8, 16, 32), num_outputs=2)
    return fcos.FCOS(fcos.BackboneWithFPN(body, out_channels=16), num_classes, num_convs=1, norm_groups=4)


def test_flip_moves_boxes_with_the_pixels():
    # independent reference: the tight box of the mirrored mask of every object
    images, targets, _ = make_shapes(6, size=(40, 56), seed=3, return_masks=True)
    which = torch.tensor([True, False, True, True, False, True])
    images_before = images.clone()
    targets_before = [{k: v.clone() for k, v in t.items()} for t in targets]
    flipped, new_targets = flip_horizontal(images, targets, which)
    # the inputs are unchanged (not flipped in place)
    assert torch.equal(images, images_before)
    for t, before in zip(targets, targets_before):
        assert all(torch.equal(t[k], before[k]) for k in before)
    for i, (t, new) in enumerate(zip(targets, new_targets)):
        if which[i]:
            assert torch.equal(flipped[i], images[i].flip(-1))
            assert torch.equal(new["masks"], t["masks"].flip(-1))
        else:
            assert torch.equal(flipped[i], images[i]) and new["boxes"] is t["boxes"]
        for mask, box in zip(new["masks"], new["boxes"]):
            assert box.tolist() == _tight_box(mask.bool())
        assert torch.equal(new["labels"], t["labels"])
    # flipping twice gives the inputs back
    again, back = flip_horizontal(*flip_horizontal(images, targets))
    assert torch.equal(again, images)
    assert all(torch.equal(a["boxes"], b["boxes"]) for a, b in zip(back, targets))


def test_flip_errors():
    images, targets, _ = make_shapes(2, size=32, scales=(8, 16), seed=0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        flip_horizontal(images[0], targets)
    with pytest.raises(ValueError, match="list of 2 dicts"):
        flip_horizontal(images, targets[:1])
    with pytest.raises(ValueError, match="boolean tensor of shape"):
        flip_horizontal(images, targets, torch.tensor([1, 0]))


def test_warmup_cosine_against_torch_schedulers():
    # independent reference: torch's LinearLR for the warm-up, then CosineAnnealingLR, chained by SequentialLR
    total, warm, lr = 50, 10, 0.3
    factors = [warmup_cosine(s, total, warm) for s in range(total)]
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    schedulers = torch.optim.lr_scheduler
    linear = schedulers.LinearLR(opt, start_factor=1 / warm, end_factor=1.0, total_iters=warm - 1)
    cosine = schedulers.CosineAnnealingLR(opt, T_max=total - warm)
    chained = schedulers.SequentialLR(opt, [linear, cosine], milestones=[warm])
    expected = []
    for _ in range(total):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        chained.step()
    assert [lr * f for f in factors] == pytest.approx(expected, abs=1e-12)
    assert max(factors) == 1.0 and factors[-1] < 0.01
    assert warmup_cosine(0, 4, 0) == 1.0  # no warm-up: the cosine alone


@pytest.mark.parametrize(
    "args, match",
    [((5, 5, 0), "step < total_steps"), ((0, 5, 6), "warmup_steps <= total_steps"), ((-1, 5, 0), "non-negative")],
)
def test_warmup_cosine_errors(args, match):
    with pytest.raises(ValueError, match=match):
        warmup_cosine(*args)


def test_fit_detector_learns_and_records_every_step():
    images, targets, names = make_shapes(
        32, size=32, classes=("rectangle", "ellipse"), objects=(1, 2), scales=(8, 16), background="plain", seed=0
    )
    model = _small_fcos(len(names))
    history = fit_detector(model, images, targets, epochs=6, batch_size=8, lr=1e-2, device="cpu", progress=False)
    assert isinstance(history, DetectionHistory)
    assert list(history.losses) == ["classification", "bbox_regression", "bbox_ctrness"]
    steps = 6 * 4
    assert history.steps_per_epoch == 4 and len(history.lr) == steps
    assert all(len(v) == steps for v in history.losses.values()) and len(history.accuracy) == steps
    # the schedule: warm-up to lr, then down to nearly 0
    assert max(history.lr) == pytest.approx(1e-2) and history.lr[-1] < 1e-3
    # the losses fell; the loop's History has one entry per epoch
    assert history.smoothed("total")[-1] < 0.7 * history.smoothed("total")[0]
    assert history.epochs.epochs == 6 and 0 <= history.epochs.train_acc[-1] <= 1
    assert history.epochs.train_acc[-1] > history.epochs.train_acc[0]
    assert history.smoothed("accuracy", 4)[-1] > history.smoothed("accuracy", 4)[0]
    # the learning rate of every step is the schedule's
    assert history.lr == pytest.approx([1e-2 * warmup_cosine(s, steps, round(0.1 * steps)) for s in range(steps)])
    with pytest.raises(ValueError, match="name must be one of"):
        history.smoothed("giou")
    with pytest.raises(ValueError, match="window"):
        history.smoothed("total", steps + 1)
    assert np.allclose(history.total, np.sum(list(history.losses.values()), axis=0))
    assert "24 steps" in str(history)
    fig = history.plot(title="tiny")
    assert len(fig.axes) == 3 and fig.axes[0].get_title() == "classification"


def test_fit_detector_is_reproducible_with_a_seed():
    images, targets, names = make_shapes(16, size=32, objects=(1, 2), scales=(8, 16), seed=1)
    runs = []
    for _ in range(2):
        model = _small_fcos(len(names), seed=0)
        runs.append(fit_detector(model, images, targets, epochs=1, batch_size=4, device="cpu", progress=False))
    assert runs[0].losses == runs[1].losses
    # another seed (another order and other flips), or no flips, gives other losses
    for kw in ({"seed": 1}, {"flip": False}):
        model = _small_fcos(len(names), seed=0)
        other = fit_detector(model, images, targets, epochs=1, batch_size=4, device="cpu", progress=False, **kw)
        assert other.losses != runs[0].losses, kw
    # NumPy integers are integers
    model = _small_fcos(len(names), seed=0)
    same = fit_detector(
        model, images, targets, epochs=np.int64(1), batch_size=np.int64(4), device="cpu", progress=False
    )
    assert same.losses == runs[0].losses


def test_detect_in_chunks_equals_one_pass_and_restores_the_threshold():
    images, _, names = make_shapes(5, size=32, scales=(8, 16), seed=2)
    model = _small_fcos(len(names)).eval()
    model.score_thresh = 0.05  # an untrained model's scores are near sqrt(0.01 * 0.5) = 0.07
    with torch.no_grad():
        expected = model.postprocess(model(images), (32, 32))
    model.score_thresh = 0.2
    found = detect(model, images, batch_size=2, score_thresh=0.05)
    assert model.score_thresh == 0.2 and len(found) == 5 and sum(len(d["boxes"]) for d in found) > 0
    for a, b in zip(found, expected):
        assert set(a) == {"boxes", "scores", "labels"}
        for k in a:
            torch.testing.assert_close(a[k], b[k])
    assert all(len(d["boxes"]) == 0 for d in detect(model, images))  # at 0.2: nothing


def test_clear_errors():
    images, targets, names = make_shapes(4, size=32, scales=(8, 16), seed=0)
    model = _small_fcos(len(names))
    with pytest.raises(ValueError, match="compute_loss"):
        fit_detector(torch.nn.Linear(2, 2), images, targets)
    with pytest.raises(ValueError, match="batch_size"):
        fit_detector(model, images, targets, batch_size=5, device="cpu")
    with pytest.raises(ValueError, match="epochs"):
        fit_detector(model, images, targets, epochs=0, batch_size=2, device="cpu")
    for kw, match in (
        ({"warmup": 2}, "warmup"),
        ({"warmup": None}, "warmup"),
        ({"lr": 0}, "lr"),
        ({"lr": True}, "lr"),
        ({"weight_decay": -1}, "weight_decay"),
        ({"weight_decay": "x"}, "weight_decay"),
    ):
        with pytest.raises(ValueError, match=match):
            fit_detector(model, images, targets, batch_size=2, device="cpu", **kw)
    for bad in (1.5, "a"):
        with pytest.raises(ValueError, match="score_thresh"):
            detect(model, images, score_thresh=bad)
    no_threshold = _small_fcos(len(names))
    del no_threshold.score_thresh
    with pytest.raises(ValueError, match="no score_thresh"):
        detect(no_threshold, images, score_thresh=0.1)
    assert not hasattr(no_threshold, "score_thresh")
    history = DetectionHistory(losses={"a": [1.0, 2.0]}, accuracy=[0.5, 0.5], lr=[1, 1], steps_per_epoch=2)
    with pytest.raises(ValueError, match="window"):
        history.smoothed("a", 0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        detect(model, images[0])


def test_positives_accuracy_against_a_hand_made_case():
    # logits chosen by hand: right at the positives of object 0, wrong at those of object 1
    from utils.detection_training import _positives_right

    model = _small_fcos(num_classes=3)
    points, strides = fcos.locations((32, 32), [(8, 8), (4, 4)], (4, 8))
    boxes = torch.tensor([[2.0, 2, 12, 12], [16, 16, 30, 28]])
    target = {"boxes": boxes, "labels": torch.tensor([1, 2])}
    matched = fcos.assign_targets(points, strides, boxes)
    logits = torch.zeros(1, len(points), 3)
    logits[0, matched == 0, 1] = 5.0  # object 0 is class 1: right
    logits[0, matched == 1, 0] = 5.0  # object 1 is class 2: wrong
    outputs = {"cls_logits": logits, "points": points, "strides": strides}
    n0, n1 = int((matched == 0).sum()), int((matched == 1).sum())
    assert n0 > 0 and n1 > 0
    assert _positives_right(model, outputs, [target]) == (n0, n0 + n1)
    # no object: nothing right, 1 counted (no division by 0)
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    assert _positives_right(model, outputs, [empty]) == (0, 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_and_detect_on_cuda():
    images, targets, names = make_shapes(8, size=32, objects=(1, 2), scales=(8, 16), seed=4)
    model = _small_fcos(len(names))
    history = fit_detector(model, images, targets, epochs=1, batch_size=4, device="cuda", progress=False)
    assert next(model.parameters()).device.type == "cuda" and len(history.lr) == 2
    found = detect(model, images, score_thresh=0.05)
    assert len(found) == 8 and all(d["boxes"].device.type == "cpu" for d in found)
