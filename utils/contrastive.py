"""Contrastive learning of chapter 9: SimCLR's projection head and training loop, alignment and uniformity.

Taught from scratch in ``notebooks/ch09_self_supervised/03_simclr`` (which proves its own version equal
to these copies); the loss itself is ``utils.self_supervised.nt_xent`` and the views
``utils.self_supervised.two_views``. Notebooks 4 and 5 reuse them:

* :class:`ProjectionHead`: SimCLR's head g, linear, ReLU, linear (``h -> z``).
* :func:`view_batches`: an epoch of batches of two random views of shuffled images.
* :func:`partner_found`: how many of the ``2N`` views of a batch have their partner as nearest other view.
* :func:`train_simclr`: trains a given encoder (in place) with a new projection head and NT-Xent.
* :func:`alignment` and :func:`uniformity`: Wang and Isola's (2020) two properties of normalised
  embeddings, ``E ‖ẑ − ẑ⁺‖^α`` over positive pairs and ``log E exp(−t ‖ẑ_x − ẑ_y‖²)`` over distinct pairs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .self_supervised import nt_xent, two_views
from .training import History, train_epochs


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _positive_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


class ProjectionHead(nn.Module):
    """SimCLR's projection head ``z = W2 ReLU(W1 h + b1) + b2``: ``features -> hidden -> out`` (biases on).

    The paper's MLP is 2048 -> 2048 -> 128 for a ResNet-50; chapter 9's is 128 -> 128 -> 128 on
    ``DigitEncoder(16)`` (33,024 parameters). Layout as in notebook 3: ``net = Sequential(Linear, ReLU,
    Linear)``, so that state dicts are interchangeable.
    """

    def __init__(self, features: int = 128, hidden: int = 128, out: int = 128):
        super().__init__()
        for name, v in (("features", features), ("hidden", hidden), ("out", out)):
            _positive_int(v, name)
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))
        self.in_features, self.out_features = features, out

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not isinstance(h, torch.Tensor) or h.ndim != 2 or h.shape[1] != self.in_features:
            shape = tuple(h.shape) if isinstance(h, torch.Tensor) else type(h).__name__
            raise ValueError(f"expected features (N, {self.in_features}), got {shape}")
        return self.net(h)


def view_batches(images: torch.Tensor, batch_size: int, generator: torch.Generator, device=None, dtype=None):
    """A function that yields one epoch of ``(view1, view2)`` batches each time it is called.

    Each call draws a new order of ``images`` (``torch.randperm`` with ``generator``) and cuts it into
    batches of ``batch_size`` (the last incomplete batch is dropped, so that every batch has the same
    number of negatives); each batch is moved to ``device`` (and ``dtype``) and given two random views
    (:func:`utils.self_supervised.two_views`, with the same ``generator``).
    """

    def batches():
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images) - batch_size + 1, batch_size):
            x = images[order[start : start + batch_size]]
            yield two_views(x if device is None else x.to(device=device, dtype=dtype), generator)

    return batches


def partner_found(z1: torch.Tensor, z2: torch.Tensor) -> int:
    """Number of the ``2N`` views whose most similar other view (cosine) is their partner: NT-Xent's own
    classification task, a readable training "accuracy" (out of ``2N``)."""
    if not isinstance(z1, torch.Tensor) or not isinstance(z2, torch.Tensor) or z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError("z1 and z2 must be tensors of the same shape (N, D)")
    n = len(z1)
    with torch.no_grad():
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        similarity = (z @ z.T).fill_diagonal_(-2.0)
        partner = (torch.arange(2 * n, device=z.device) + n) % (2 * n)
        return int((similarity.argmax(1) == partner).sum().item())


def train_simclr(
    encoder: nn.Module,
    images: torch.Tensor,
    *,
    epochs: int = 5,
    batch_size: int = 256,
    temperature: float = 0.5,
    lr: float = 1e-3,
    seed: int = 0,
    hidden: int = 128,
    out: int = 128,
    progress: bool = True,
    desc: str = "SimCLR",
) -> tuple[History, ProjectionHead]:
    """Train ``encoder`` in place with SimCLR; returns ``(history, head)``.

    ``torch.manual_seed(seed)``, then a new :class:`ProjectionHead` (``encoder.out_features -> hidden ->
    out``) on the encoder's device, in its dtype; Adam (learning rate ``lr``) on the encoder's and the
    head's parameters;
    ``epochs`` passes over ``images`` (CPU floats ``(N, C, H, W)`` in [0, 1]) in shuffled batches of
    ``batch_size`` (:func:`view_batches`, driven by ``torch.Generator().manual_seed(seed)``; batches go to
    the encoder's device, where the views are computed); the loss is
    ``utils.self_supervised.nt_xent(g(f(v1)), g(f(v2)), temperature)``. The history's ``train_loss`` is
    the loss per epoch and its ``train_acc`` the fraction of views whose nearest other view is their
    partner (:func:`partner_found`). Deterministic for a given ``seed`` on a given device. The encoder and
    the head are left in eval mode. Defaults: notebook 3's quick mode.
    """
    if not isinstance(encoder, nn.Module):
        raise ValueError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
    features = getattr(encoder, "out_features", None)
    if isinstance(features, bool) or not isinstance(features, int) or features < 1:
        raise ValueError("encoder must have an integer attribute out_features (its feature width), as DigitEncoder")
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a float tensor (N, C, H, W), got {shape}")
    if len(images) and (images.min() < 0 or images.max() > 1):
        raise ValueError("images must have values in [0, 1]")
    _positive_int(epochs, "epochs")
    _positive_int(batch_size, "batch_size", minimum=2)  # NT-Xent needs at least one negative pair
    if batch_size > len(images):
        raise ValueError(f"batch_size {batch_size} is larger than the {len(images)} images: no complete batch")
    temperature = _positive_number(temperature, "temperature")
    lr = _positive_number(lr, "lr")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")

    parameter = next(encoder.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.get_default_dtype()
    torch.manual_seed(seed)
    head = ProjectionHead(features, hidden, out).to(device=device, dtype=dtype)
    model = nn.Sequential(encoder, head)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batches = view_batches(images, batch_size, torch.Generator().manual_seed(seed), device, dtype)

    def step(batch):
        v1, v2 = batch
        z1, z2 = model(v1), model(v2)
        return nt_xent(z1, z2, temperature), partner_found(z1, z2), 2 * len(z1), len(z1)

    history = train_epochs(model, optimizer, batches, step, epochs, progress=progress, desc=desc)
    model.eval()
    return history, head


def _unit(z: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or not z.is_floating_point() or len(z) == 0:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"{name} must be a non-empty float tensor (N, D), got {shape}")
    return F.normalize(z, dim=1)


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2) -> torch.Tensor:
    """Wang and Isola's alignment ``E_i ‖ẑ1_i − ẑ2_i‖^alpha`` over the positive pairs ``(z1[i], z2[i])``,
    after L2-normalising every row (lower: the views of an image closer). From 0 (identical directions)
    to ``2^alpha`` (opposite). A differentiable 0-d tensor."""
    a, b = _unit(z1, "z1"), _unit(z2, "z2")
    if a.shape != b.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    alpha = _positive_number(alpha, "alpha")
    return (a - b).pow(2).sum(1).pow(alpha / 2).mean()  # no norm(): its gradient is NaN at 0


def uniformity(z: torch.Tensor, t: float = 2) -> torch.Tensor:
    """Wang and Isola's uniformity ``log E_{i<j} exp(−t ‖ẑ_i − ẑ_j‖²)`` over all pairs of distinct rows,
    after L2-normalising every row (lower: more spread over the sphere). 0 when all rows point the same
    way; ``−t · 2N/(N−1)`` for ``N`` rows at the vertices of a regular simplex; near ``−2t`` for many
    random directions in many dimensions. Computed with a log-sum-exp. A differentiable 0-d tensor."""
    x = _unit(z, "z")
    if len(x) < 2:
        raise ValueError("uniformity needs at least 2 embeddings")
    t = _positive_number(t, "t")
    n = len(x)
    # squared distances of unit vectors, 2 - 2 cos; the mean over i != j equals the mean over i < j
    squared = (2 - 2 * x @ x.T).clamp_min(0)
    exponent = (-t * squared).masked_fill(torch.eye(n, dtype=torch.bool, device=x.device), float("-inf"))
    return torch.logsumexp(exponent.flatten(), 0) - math.log(n * (n - 1))
