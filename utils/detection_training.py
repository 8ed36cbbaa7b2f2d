"""Training and inference for the detectors of chapter 4 (notebook 4 trains a small FCOS with them).

A detector here has the interface of :class:`utils.fcos.FCOS`: ``model(images)`` returns a dict of raw
outputs (``cls_logits`` ``(N, L, K)``, ``points`` ``(L, 2)``, ``strides`` ``(L,)``, ...),
``model.compute_loss(outputs, targets)`` a dict of named losses, and
``model.postprocess(outputs, image_size)`` one dict of detections per image. Images are a float tensor
``(N, C, H, W)``; targets are torchvision's dicts ``{"boxes": (M, 4) xyxy, "labels": (M,)}``.

* :func:`flip_horizontal`: mirror images left to right, with their boxes (and masks);
* :func:`warmup_cosine`: the learning-rate factor of a linear warm-up followed by a cosine decay to 0;
* :func:`fit_detector`: AdamW, that schedule (set at every step), random horizontal flips, a progress bar
  (:func:`utils.training.train_epochs`) and every loss recorded at every step (:class:`DetectionHistory`);
* :func:`detect`: the detections of a trained model on a batch of images, in chunks, on the CPU.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .config import get_device, model_device
from .fcos import assign_targets
from .training import History, train_epochs


def _check_images(images, name: str = "images") -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{name} must be a float tensor (N, C, H, W), got {got}")


def _check_targets(targets, n: int) -> None:
    if isinstance(targets, dict) or not isinstance(targets, (list, tuple)) or len(targets) != n:
        raise ValueError(f"targets must be a list of {n} dicts (one per image) with 'boxes' and 'labels'")
    for i, t in enumerate(targets):
        if not isinstance(t, dict) or "boxes" not in t or "labels" not in t:
            raise ValueError(f"targets[{i}] must be a dict with 'boxes' (M, 4) and 'labels' (M,)")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_detector(model) -> None:
    missing = [name for name in ("compute_loss", "postprocess") if not callable(getattr(model, name, None))]
    if not isinstance(model, nn.Module) or missing:
        raise ValueError(
            "model must be an nn.Module with compute_loss(outputs, targets) and postprocess(outputs, "
            f"image_size), as utils.fcos.FCOS; got {type(model).__name__}"
        )


def flip_horizontal(images: torch.Tensor, targets: list[dict], which=None) -> tuple[torch.Tensor, list[dict]]:
    """Mirror images left to right, and their targets with them.

    ``images`` ``(N, C, H, W)``; ``targets`` one dict per image with ``"boxes"`` ``(M, 4)`` xyxy in pixels
    (and any other keys: ``"masks"`` ``(M, H, W)`` are mirrored too, the rest is kept). ``which`` is a
    boolean tensor ``(N,)`` choosing the images to flip (default: all). A box ``(x1, y1, x2, y2)`` of an
    image ``W`` pixels wide becomes ``(W - x2, y1, W - x1, y2)``: pixel column ``c`` covers ``[c, c + 1)``
    and goes to column ``W - 1 - c``. Returns new tensors and dicts; the inputs are not changed.
    """
    _check_images(images)
    _check_targets(targets, len(images))
    n, width = len(images), images.shape[-1]
    which = torch.ones(n, dtype=torch.bool) if which is None else which
    if not isinstance(which, torch.Tensor) or which.dtype != torch.bool or which.shape != (n,):
        raise ValueError(f"which must be a boolean tensor of shape ({n},), one entry per image")
    flipped = which.to(images.device)[:, None, None, None]
    out_images = torch.where(flipped, images.flip(-1), images)
    out_targets = []
    for t, f in zip(targets, which.tolist()):
        t = dict(t)
        if f:
            b = t["boxes"]
            t["boxes"] = torch.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]], dim=1)
            if "masks" in t:
                t["masks"] = t["masks"].flip(-1)
        out_targets.append(t)
    return out_images, out_targets


def warmup_cosine(step: int, total_steps: int, warmup_steps: int) -> float:
    """The factor of the learning rate at ``step`` (0-based) of ``total_steps``.

    A linear warm-up, ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps (reaching 1 at
    step ``warmup_steps - 1``), then a cosine decay from 1 towards 0 over the remaining steps:
    $\\frac12 (1 + \\cos(\\pi\\, t / T))$ with $t$ the steps since the warm-up and $T$ their number, as
    ``torch.optim.lr_scheduler.CosineAnnealingLR``. ``warmup_steps=0``: the cosine alone.
    """
    for name, value in (("step", step), ("total_steps", total_steps), ("warmup_steps", warmup_steps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if total_steps < 1 or warmup_steps > total_steps or step >= total_steps:
        raise ValueError(
            f"expected 0 <= step < total_steps and warmup_steps <= total_steps, got step={step}, "
            f"total_steps={total_steps}, warmup_steps={warmup_steps}"
        )
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    t, span = step - warmup_steps, total_steps - warmup_steps
    return 0.5 * (1 + math.cos(math.pi * t / span))


@dataclass
class DetectionHistory:
    """What :func:`fit_detector` recorded: every loss, the accuracy and the learning rate at every step.

    ``losses``: ``{name: [value per step]}`` for the names ``compute_loss`` returns; ``accuracy``: per step,
    the share of the batch's positive locations whose highest class score is their object's class;
    ``lr``: the learning rate of each step; ``steps_per_epoch``; ``epochs``: the
    :class:`utils.training.History` of the loop (mean total loss per image and the positives' accuracy per
    epoch, and the seconds it took).
    """

    losses: dict[str, list[float]] = field(default_factory=dict)
    accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    steps_per_epoch: int = 0
    epochs: History = field(default_factory=History)

    @property
    def seconds(self) -> float:
        return self.epochs.seconds

    @property
    def total(self) -> np.ndarray:
        """The sum of the losses, per step."""
        return np.sum([v for v in self.losses.values()], axis=0)

    def smoothed(self, name: str, window: int | None = None) -> np.ndarray:
        """The moving average of loss ``name`` (or ``"total"``, or ``"accuracy"``) over ``window`` steps
        (default: one epoch), one value per full window: ``len - window + 1`` values."""
        if name not in (*self.losses, "total", "accuracy"):
            raise ValueError(f"name must be one of {[*self.losses, 'total', 'accuracy']}, got {name!r}")
        if name == "total":
            values = self.total
        else:
            values = np.asarray(self.accuracy if name == "accuracy" else self.losses[name])
        window = self.steps_per_epoch if window is None else window
        if not _is_int(window) or not 1 <= window <= len(values):
            raise ValueError(f"window must be between 1 and {len(values)} steps, got {window}")
        return np.convolve(values, np.ones(window) / window, mode="valid")

    def plot(self, title: str | None = None, window: int | None = None):
        """One panel per loss: the value at every step (light) and its moving average over ``window``
        steps (default: one epoch); returns the matplotlib figure."""
        import matplotlib.pyplot as plt

        names = list(self.losses)
        fig, axes = plt.subplots(1, len(names), figsize=(3.3 * len(names), 3), squeeze=False)
        window = window or self.steps_per_epoch
        for ax, name in zip(axes[0], names):
            values = np.asarray(self.losses[name])
            ax.plot(values, color="0.75", lw=0.7, label="every step")
            smooth = self.smoothed(name, window)
            ax.plot(np.arange(window - 1, len(values)), smooth, color="C0", label=f"mean of {window} steps")
            ax.set_title(name.replace("_", " "))
            ax.set_xlabel("step")
            ax.set_ylim(bottom=0)
        axes[0, 0].set_ylabel("loss")
        axes[0, 0].legend(fontsize=8)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig

    def __str__(self) -> str:
        steps = len(self.lr)
        if not steps:
            return "DetectionHistory(no steps)"
        last = ", ".join(f"{k} {self.smoothed(k)[-1]:.3f}" for k in self.losses)
        return f"DetectionHistory({steps} steps in {self.seconds:.1f} s; last epoch's mean: {last})"


def fit_detector(
    model: nn.Module,
    images: torch.Tensor,
    targets: list[dict],
    epochs: int = 10,
    batch_size: int = 8,
    lr: float = 5e-3,
    weight_decay: float = 1e-4,
    warmup: float = 0.1,
    flip: bool = True,
    seed: int = 0,
    device=None,
    progress: bool = True,
    desc: str = "training",
) -> DetectionHistory:
    """Train a detector with the interface of :class:`utils.fcos.FCOS`; return its :class:`DetectionHistory`.

    AdamW (``lr``, ``weight_decay``) on the sum of the losses of ``model.compute_loss``, in batches of
    ``batch_size`` images drawn in a random order each epoch (``seed``). The learning rate follows
    :func:`warmup_cosine`, with a warm-up over the first ``warmup`` fraction of the steps, set before every
    step. With ``flip``, each image of a batch is mirrored (:func:`flip_horizontal`) with probability 1/2.
    The progress bar (:func:`utils.training.train_epochs`) shows the mean loss per image and ``acc``, the
    share of the positive locations of the epoch (those :func:`utils.fcos.assign_targets` gives an
    object) whose highest class score is their object's class.

    The model is moved (in place) to ``device``, or with ``device=None`` to :func:`utils.get_device`, and
    stays there, in eval mode; the images and targets may live anywhere, each batch follows the model.
    """
    _check_detector(model)
    _check_images(images)
    _check_targets(targets, len(images))
    if not _is_int(batch_size) or not 1 <= batch_size <= len(images):
        raise ValueError(f"batch_size must be an integer between 1 and {len(images)} (the images), got {batch_size!r}")
    if not _is_int(epochs) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not _is_real(lr) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not _is_real(weight_decay) or not weight_decay >= 0:
        raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
    if not _is_real(warmup) or not 0 <= warmup <= 1:
        raise ValueError(f"warmup must be the fraction of the steps spent warming up, in [0, 1], got {warmup!r}")
    batch_size, epochs, lr, weight_decay = int(batch_size), int(epochs), float(lr), float(weight_decay)
    device = get_device() if device is None else torch.device(device)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(images) / batch_size)
    total_steps = epochs * steps_per_epoch
    warmup_steps = round(warmup * total_steps)
    history = DetectionHistory(steps_per_epoch=steps_per_epoch)

    def step(idx):
        rate = lr * warmup_cosine(len(history.lr), total_steps, warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = rate
        x, t = images[idx], [targets[i] for i in idx.tolist()]
        if flip:
            x, t = flip_horizontal(x, t, torch.rand(len(idx), generator=gen) < 0.5)
        outputs = model(x.to(device))
        losses = model.compute_loss(outputs, t)
        for name, value in losses.items():
            history.losses.setdefault(name, []).append(value.item())
        history.lr.append(rate)
        correct, counted = _positives_right(model, outputs, t)
        history.accuracy.append(correct / counted)
        return sum(losses.values()), correct, counted, len(idx)

    history.epochs = train_epochs(
        model,
        optimizer,
        lambda: torch.randperm(len(images), generator=gen).split(batch_size),
        step,
        epochs,
        progress=progress,
        desc=desc,
    )
    model.eval()
    return history


@torch.no_grad()
def _positives_right(model, outputs, targets) -> tuple[int, int]:
    """How many positive locations have their object's class as their highest class score, of how many
    (at least 1 counted, so that an image without objects does not divide by 0)."""
    points, strides = outputs["points"], outputs["strides"]
    radius = getattr(model, "center_sampling_radius", 1.5)
    correct, counted = 0, 0
    for logits, t in zip(outputs["cls_logits"], targets):
        boxes = t["boxes"].to(points.device, points.dtype)
        matched = assign_targets(points, strides, boxes, radius)
        positive = matched >= 0
        labels = t["labels"].to(points.device)[matched[positive]]
        correct += int((logits[positive].argmax(1) == labels).sum())
        counted += int(positive.sum())
    return correct, max(counted, 1)


def detect(
    model: nn.Module, images: torch.Tensor, batch_size: int = 64, score_thresh: float | None = None
) -> list[dict]:
    """The detections of ``model`` on ``images`` ``(N, C, H, W)``: one dict ``{"boxes", "scores",
    "labels"}`` per image, on the CPU.

    Runs in eval mode on the model's device (:func:`utils.model_device`), ``batch_size`` images at a time,
    then ``model.postprocess``. ``score_thresh`` replaces the model's ``score_thresh`` for this call only
    (the model keeps its own; a model without a ``score_thresh`` attribute cannot take one). Leaves the
    model in eval mode.
    """
    _check_detector(model)
    _check_images(images)
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if score_thresh is not None and (not _is_real(score_thresh) or not 0 <= score_thresh <= 1):
        raise ValueError(f"score_thresh must be in [0, 1] or None, got {score_thresh!r}")
    if score_thresh is not None and not hasattr(model, "score_thresh"):
        raise ValueError(f"{type(model).__name__} has no score_thresh to replace; call detect without one")
    batch_size = int(batch_size)
    device = model_device(model)
    model.eval()
    kept = getattr(model, "score_thresh", None)
    if score_thresh is not None:
        model.score_thresh = score_thresh
    detections = []
    try:
        with torch.no_grad():
            for chunk in images.split(batch_size):
                outputs = model(chunk.to(device))
                found = model.postprocess(outputs, image_size=tuple(chunk.shape[-2:]))
                detections += [{k: v.cpu() for k, v in d.items()} for d in found]
    finally:
        if score_thresh is not None:
            model.score_thresh = kept
    return detections
