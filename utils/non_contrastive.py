"""Non-contrastive learning of chapter 9: SimSiam (a predictor and a stop-gradient) and its collapse.

Taught from scratch in ``notebooks/ch09_self_supervised/04_simsiam``; notebook 5 reuses these copies.

* :class:`Projector`: the projection MLP on the encoder's features (linear without bias, batch norm, ReLU,
  linear), ``h -> z``.
* :class:`Predictor`: SimSiam's bottleneck MLP (linear without bias, batch norm, ReLU, linear), ``z -> p``.
* :func:`negative_cosine` and :func:`simsiam_loss`: the symmetric negative-cosine loss
  ``D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2``, with the stop-gradient ``sg`` (``Tensor.detach``) optional.
* :func:`embedding_std`: the mean over dimensions of the standard deviation of the L2-normalised
  embeddings, the collapse statistic of Chen and He (2021): 0 for a collapsed encoder (every image
  mapped to the same direction), about ``1 / sqrt(d)`` for embeddings spread over the sphere.
* :func:`train_simsiam`: trains an encoder with SimSiam, in place, with ``utils.training.train_epochs``,
  recording the collapse statistic per epoch and per step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .contrastive import view_batches
from .training import train_epochs


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class Projector(nn.Module):
    """SimSiam's projection MLP for a small encoder: ``features -> hidden -> out``.

    Linear (no bias: batch norm follows), batch norm, ReLU, linear (with bias). Unlike the paper's
    ImageNet projector, the output has no batch norm: a batch norm there would force every output
    dimension to unit variance over the batch, so that the collapse it is meant to show could not reach
    the embedding standard deviation (notebook 4 measures this).
    """

    def __init__(self, features: int = 128, hidden: int = 128, out: int = 128):
        super().__init__()
        for name, v in (("features", features), ("hidden", hidden), ("out", out)):
            _positive_int(name, v)
        self.net = nn.Sequential(
            nn.Linear(features, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, out),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class Predictor(nn.Module):
    """SimSiam's predictor: a bottleneck MLP ``dim -> hidden -> dim`` (the paper: 2048 -> 512 -> 2048).

    Linear (no bias), batch norm, ReLU, linear (with bias, no batch norm at the output). Default
    ``hidden = dim // 4``, the paper's ratio.
    """

    def __init__(self, dim: int = 128, hidden: int | None = None):
        super().__init__()
        _positive_int("dim", dim)
        hidden = max(dim // 4, 1) if hidden is None else _positive_int("hidden", hidden)
        self.net = nn.Sequential(
            nn.Linear(dim, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, dim),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def _check_pair(p, z):
    if not (isinstance(p, torch.Tensor) and isinstance(z, torch.Tensor)) or p.ndim != 2 or p.shape != z.shape:
        raise ValueError("p and z must be tensors of the same shape (N, D)")


def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``D(p, z)``: minus the cosine similarity of each row of ``p`` with the same row of ``z``, averaged.
    No stop-gradient here: :func:`simsiam_loss` applies it."""
    _check_pair(p, z)
    return -F.cosine_similarity(p, z, dim=1).mean()


def simsiam_loss(p1, p2, z1, z2, stop_gradient: bool = True) -> torch.Tensor:
    """SimSiam's symmetric loss ``D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2`` (between -1 and 1).

    ``z1, z2``: the projector's outputs for the two views; ``p1, p2``: the predictor's outputs on them.
    With ``stop_gradient`` the targets ``z`` are detached: no gradient reaches them through the loss.
    """
    _check_pair(p1, z2)
    _check_pair(p2, z1)
    if stop_gradient:
        z1, z2 = z1.detach(), z2.detach()
    return negative_cosine(p1, z2) / 2 + negative_cosine(p2, z1) / 2


def embedding_std(z: torch.Tensor) -> float:
    """The collapse statistic of SimSiam (Chen and He 2021, figure 2): each row of ``z`` (N, D) is
    L2-normalised, the standard deviation of each of the D dimensions is taken over the N rows (population
    standard deviation, divisor N), and the D values are averaged. 0 when every row has the same
    direction (collapse); about ``1 / sqrt(D)`` for directions spread uniformly over the sphere."""
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or not z.is_floating_point() or len(z) < 2:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"z must be a float tensor (N, D) with N >= 2, got {shape}")
    if not torch.isfinite(z).all():
        raise ValueError("z contains NaN or infinite values")
    z = F.normalize(z.detach().double(), dim=1)
    return z.std(dim=0, correction=0).mean().item()


def train_simsiam(
    encoder: nn.Module,
    images: torch.Tensor,
    *,
    epochs: int = 5,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    stop_gradient: bool = True,
    weight_decay: float = 0.0,
    progress: bool = True,
    desc: str = "SimSiam",
):
    """Train ``encoder`` (e.g. ``DigitEncoder``, with ``out_features``) with SimSiam, in place.

    ``torch.manual_seed(seed)`` initialises a :class:`Projector` (``out_features -> out_features ->
    out_features``) and then a :class:`Predictor` (``out_features -> out_features // 4 -> out_features``),
    both on the encoder's device. A ``torch.Generator`` seeded with ``seed`` draws, each epoch, the order
    of ``images`` (CPU float tensor (N, C, H, W) in [0, 1]; the last incomplete batch is dropped) and,
    for each batch (moved to the encoder's device), two views with ``utils.self_supervised.two_views``:
    notebook 3's ``utils.contrastive.view_batches``. The step computes ``z = projector(encoder(view))`` and
    ``p = predictor(z)`` for both views and the loss :func:`simsiam_loss`; Adam (``lr``,
    ``weight_decay``) updates the encoder, projector and predictor.

    Returns ``(history, projector, predictor)``. ``history`` (a ``utils.training.History``) has the mean
    loss per epoch (``train_loss``), as ``train_acc`` the fraction of first views whose prediction ``p1``
    is most similar to their own partner's ``z2`` among the batch's, and two additions:
    ``embedding_std`` (per epoch, the mean over its steps of :func:`embedding_std` of ``z1``) and
    ``step_embedding_std`` (the same, per step).
    """
    if not isinstance(encoder, nn.Module) or not isinstance(getattr(encoder, "out_features", None), int):
        raise ValueError("encoder must be a torch.nn.Module with an integer out_features (e.g. DigitEncoder)")
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a float tensor (N, C, H, W), got {shape}")
    channels = getattr(encoder, "in_channels", images.shape[1])
    if images.shape[1] != channels:
        raise ValueError(f"images have {images.shape[1]} channels, the encoder expects {channels}")
    _positive_int("epochs", epochs)
    _positive_int("batch_size", batch_size)
    if batch_size < 2 or batch_size > len(images):
        raise ValueError(f"batch_size must be between 2 and the number of images ({len(images)}), got {batch_size}")
    if len(images) and (images.min() < 0 or images.max() > 1):
        raise ValueError("images must have values in [0, 1]")
    for name, v in (("lr", lr), ("weight_decay", weight_decay)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    if lr == 0:
        raise ValueError("lr must be positive")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    device = next(encoder.parameters()).device
    d = encoder.out_features
    torch.manual_seed(seed)
    projector = Projector(d, d, d).to(device)
    predictor = Predictor(d).to(device)
    parameters = [*encoder.parameters(), *projector.parameters(), *predictor.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    batches = view_batches(images, batch_size, torch.Generator().manual_seed(seed), device=device)
    step_std = []

    def step(batch):
        v1, v2 = batch
        z1, z2 = projector(encoder(v1)), projector(encoder(v2))
        p1, p2 = predictor(z1), predictor(z2)
        loss = simsiam_loss(p1, p2, z1, z2, stop_gradient=stop_gradient)
        with torch.no_grad():
            similarity = F.normalize(p1, dim=1) @ F.normalize(z2, dim=1).T
            found = (similarity.argmax(1) == torch.arange(len(v1), device=similarity.device)).sum().item()
        step_std.append(embedding_std(z1))
        return loss, found, len(v1), len(v1)

    model = nn.ModuleList([encoder, projector, predictor])  # train() for all three each epoch
    history = train_epochs(model, optimizer, batches, step, epochs, progress=progress, desc=desc)
    per_epoch = len(step_std) // epochs
    history.step_embedding_std = step_std
    history.embedding_std = [sum(step_std[i : i + per_epoch]) / per_epoch for i in range(0, len(step_std), per_epoch)]
    return history, projector, predictor
