"""Learning a face embedding (chapter 5): the network, the four losses, the training loop, the evaluation.

Chapter 5, notebook 03 writes each piece from scratch and proves it equal to the copy here; notebook 04
(fairness) and later chapters import them.

* :class:`EmbeddingNet`: a ResNet with torchvision's parameter names (``conv1``, ``bn1``, ``layer1`` ...
  ``layer4``, ``fc``) whose ``fc`` outputs an embedding. :func:`embedding_resnet18` is torchvision's
  ``resnet18`` with a new ``fc``; the small configuration (the default) takes 32 x 32 grey images.
* Losses, each called as ``loss(embeddings, labels)``: :func:`contrastive_loss` (Hadsell, Chopra and
  LeCun 2006, over every pair of the batch), :func:`batch_hard_triplet_loss` (Hermans, Beyer and Leibe
  2017), :class:`SoftmaxHead` (a classifier over the training identities) and :class:`ArcFaceHead`
  (Deng et al. 2019, additive angular margin). The two heads hold parameters (one vector per training
  identity) that are trained with the network and thrown away afterwards.
* :func:`pk_batch`: ``P`` identities, ``K`` images each, the batches metric learning needs.
* :func:`fit_embedding`: AdamW with a warm-up and a cosine decay, a progress bar, the loss per step.
* :func:`embed` and :func:`evaluate_embeddings`: unit-length embeddings, then the equal error rate, the
  true accept rate at a fixed false accept rate and the rank-1 identification rate
  (:mod:`utils.biometrics`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import biometrics
from .config import get_device
from .detection_training import warmup_cosine
from .models import BasicBlock, conv1x1
from .training import predict


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


class EmbeddingNet(nn.Module):
    """A ResNet of :class:`utils.models.BasicBlock` stages whose last layer ``fc`` gives a ``dim``-vector.

    ``widths``/``blocks``: channels and number of blocks of ``layer1`` ... ``layer4`` (strides 1, 2, 2, 2);
    ``stem="imagenet"``: a 7 x 7 convolution of stride 2 and a max-pool (torchvision's ResNet);
    ``stem="small"``: a 3 x 3 convolution of stride 1 and no pooling, for images of 32 x 32 pixels.
    Initialised as torchvision's ResNet (He-normal convolutions, ``mode="fan_out"``).
    """

    def __init__(self, widths=(8, 16, 32, 64), blocks=(1, 1, 1, 1), dim=64, in_channels=1, stem="small"):
        super().__init__()
        if len(widths) != 4 or len(blocks) != 4 or not all(_is_int(v) and v >= 1 for v in (*widths, *blocks)):
            raise ValueError(f"widths and blocks must be 4 positive integers each, got {widths!r} and {blocks!r}")
        if not _is_int(dim) or dim < 1 or not _is_int(in_channels) or in_channels < 1:
            raise ValueError(f"dim and in_channels must be positive integers, got {dim!r} and {in_channels!r}")
        if stem not in ("small", "imagenet"):
            raise ValueError(f"stem must be 'small' or 'imagenet', got {stem!r}")
        self.in_channels = int(in_channels)
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        inplanes = widths[0]
        for i, (width, count) in enumerate(zip(widths, blocks)):
            stride = 1 if i == 0 else 2
            downsample = None
            if stride != 1 or inplanes != width:
                downsample = nn.Sequential(conv1x1(inplanes, width, stride), nn.BatchNorm2d(width))
            layer = [BasicBlock(inplanes, width, stride, downsample)]
            layer += [BasicBlock(width, width) for _ in range(1, count)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
            inplanes = width
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, dim)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected images (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def embedding_resnet18(dim: int = 128) -> EmbeddingNet:
    """torchvision's ``resnet18()`` with ``fc = nn.Linear(512, dim)``: RGB images, a ``dim``-vector out."""
    return EmbeddingNet((64, 128, 256, 512), (2, 2, 2, 2), dim, in_channels=3, stem="imagenet")


def _check_batch(embeddings, labels) -> None:
    if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 2 or len(embeddings) < 2:
        raise ValueError(f"embeddings must be a tensor (N, D) with N >= 2, got {getattr(embeddings, 'shape', None)}")
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(embeddings),):
        raise ValueError(f"labels must be a tensor of shape ({len(embeddings)},), got {getattr(labels, 'shape', None)}")
    if labels.dtype.is_floating_point:
        raise ValueError(f"labels must be integers (identities), got {labels.dtype}")
    if labels.device != embeddings.device:
        raise ValueError(f"labels are on {labels.device} but the embeddings on {embeddings.device}")


def _check_margin(margin) -> float:
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin > 0:
        raise ValueError(f"margin must be a positive number, got {margin!r}")
    return float(margin)


def pairwise_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """Euclidean distances ``(N, N)`` between the rows; the square root is taken of at least 1e-12, so the
    gradient stays finite where two embeddings coincide (the diagonal)."""
    squared = (embeddings[:, None, :] - embeddings[None, :, :]).pow(2).sum(-1)
    return squared.clamp_min(1e-12).sqrt()


def contrastive_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """The contrastive loss of Hadsell, Chopra and LeCun (2006), averaged over every pair ``i < j``.

    The embeddings are L2-normalised first; with ``d`` their distance, a genuine pair (same label) costs
    ``d^2 / 2``, an impostor pair ``max(0, margin - d)^2 / 2``.
    """
    _check_batch(embeddings, labels)
    margin = _check_margin(margin)
    d = pairwise_distances(F.normalize(embeddings, dim=1))
    i, j = torch.triu_indices(len(labels), len(labels), offset=1, device=labels.device)
    d, same = d[i, j], labels[i] == labels[j]
    return torch.where(same, d.pow(2), F.relu(margin - d).pow(2)).mean() / 2


def batch_hard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """The batch-hard triplet loss of Hermans, Beyer and Leibe (2017) on L2-normalised embeddings.

    Every image of the batch is an anchor; its hardest positive is the farthest image of its identity, its
    hardest negative the nearest image of another identity; the loss is the mean over anchors of
    ``max(0, margin + d(anchor, hardest positive) - d(anchor, hardest negative))``. Every identity of the
    batch needs at least two images, and the batch two identities (see :func:`pk_batch`).
    """
    _check_batch(embeddings, labels)
    margin = _check_margin(margin)
    same = labels[:, None] == labels[None, :]
    if (same.sum(1) < 2).any() or same.all():
        raise ValueError("batch-hard mining needs every identity twice or more and at least two identities")
    d = pairwise_distances(F.normalize(embeddings, dim=1))
    hardest_positive = d.masked_fill(~same, 0).max(dim=1).values
    hardest_negative = d.masked_fill(same, float("inf")).min(dim=1).values
    return F.relu(margin + hardest_positive - hardest_negative).mean()


class _Head(nn.Module):
    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        if not _is_int(dim) or dim < 1 or not _is_int(n_classes) or n_classes < 2:
            raise ValueError(f"need dim >= 1 and n_classes >= 2 (integers), got {dim!r} and {n_classes!r}")
        self.n_classes = int(n_classes)

    def _check(self, embeddings, labels) -> None:
        _check_batch(embeddings, labels)
        if labels.min() < 0 or labels.max() >= self.n_classes:
            raise ValueError(
                f"labels must be training identities 0..{self.n_classes - 1}, got {int(labels.min())}.."
                f"{int(labels.max())}"
            )


class SoftmaxHead(_Head):
    """A linear classifier over the ``n_classes`` training identities, trained with cross-entropy; the
    network's output (before this head) is the embedding. ``head(embeddings, labels)`` is the loss."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__(dim, n_classes)
        self.fc = nn.Linear(dim, n_classes)

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.fc(embeddings)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self._check(embeddings, labels)
        return F.cross_entropy(self.logits(embeddings), labels)


class ArcFaceHead(_Head):
    """The additive angular margin loss of ArcFace (Deng et al. 2019).

    ``weight`` holds one vector per training identity. The logits are ``scale * cos(theta_j)``, with
    ``theta_j`` the angle between the normalised embedding and the normalised ``weight[j]``, except the
    true identity's, ``scale * cos(theta_y + margin)``; the loss is their cross-entropy. Where
    ``theta_y + margin`` would pass pi (there ``cos`` would rise again), the official implementation's
    replacement ``cos(theta_y) - margin * sin(margin)`` is used, as in insightface. The paper uses
    ``scale=64, margin=0.5`` for 85,742 identities; the defaults suit a few hundred.
    """

    def __init__(self, dim: int, n_classes: int, scale: float = 16.0, margin: float = 0.3):
        super().__init__(dim, n_classes)
        self.scale = _check_margin(scale)
        self.margin = _check_margin(margin)
        if self.margin >= np.pi / 2:
            raise ValueError(f"margin is an angle in radians below pi/2, got {margin!r}")
        self.weight = nn.Parameter(torch.empty(n_classes, dim))
        nn.init.xavier_uniform_(self.weight)

    def cosines(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.normalize(embeddings, dim=1) @ F.normalize(self.weight, dim=1).T

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = self.cosines(embeddings)
        target = cos.gather(1, labels[:, None])
        sin = (1 - target.pow(2)).clamp_min(1e-12).sqrt()
        m = self.margin
        shifted = target * np.cos(m) - sin * np.sin(m)  # cos(theta + m)
        shifted = torch.where(target > np.cos(np.pi - m), shifted, target - m * np.sin(m))
        return self.scale * cos.scatter(1, labels[:, None], shifted)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self._check(embeddings, labels)
        return F.cross_entropy(self.logits(embeddings, labels), labels)


def pk_batch(labels, identities: int, per_identity: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of a batch of ``identities`` identities (P) with ``per_identity`` images each (K), drawn
    without replacement among the identities of ``labels`` that have at least K images: ``(P * K,)``,
    identity by identity."""
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.dtype.is_floating_point:
        raise ValueError(f"labels must be a 1-D tensor of integer identities, got {labels.dtype} {tuple(labels.shape)}")
    if not _is_int(identities) or identities < 2 or not _is_int(per_identity) or per_identity < 1:
        raise ValueError(f"need identities >= 2 and per_identity >= 1, got {identities!r} and {per_identity!r}")
    values, counts = labels.unique(return_counts=True)
    eligible = values[counts >= per_identity]
    if len(eligible) < identities:
        raise ValueError(
            f"only {len(eligible)} identities have {per_identity} or more images; a batch needs {identities}"
        )
    chosen = eligible[torch.randperm(len(eligible), generator=generator)[:identities]]
    rows = []
    for identity in chosen:
        where = torch.nonzero(labels == identity).flatten()
        rows.append(where[torch.randperm(len(where), generator=generator)[:per_identity]])
    return torch.cat(rows)


@dataclass
class EmbeddingHistory:
    """What :func:`fit_embedding` recorded: the loss and the learning rate at every step, and the time."""

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def smoothed(self, window: int = 20) -> np.ndarray:
        """The moving average of the loss over ``window`` steps (shorter at the start)."""
        loss = np.asarray(self.loss, dtype=float)
        sums = np.cumsum(np.r_[0.0, loss])
        lo = np.maximum(np.arange(1, len(loss) + 1) - window, 0)
        return (sums[1:] - sums[lo]) / (np.arange(1, len(loss) + 1) - lo)


def fit_embedding(
    net: nn.Module,
    loss,
    images: torch.Tensor,
    labels: torch.Tensor,
    steps: int,
    identities: int = 16,
    per_identity: int = 4,
    lr: float = 3e-3,
    weight_decay: float = 5e-4,
    warmup: int | None = None,
    seed: int = 0,
    device=None,
    progress: bool = True,
    desc: str = "training",
) -> EmbeddingHistory:
    """Train ``net`` for ``steps`` steps on batches of ``identities`` x ``per_identity`` images (:func:`pk_batch`).

    ``loss(net(x), y)`` is the loss: a function (:func:`contrastive_loss`, :func:`batch_hard_triplet_loss`)
    or a head with parameters (:class:`SoftmaxHead`, :class:`ArcFaceHead`), trained with the network.
    AdamW (``lr``, ``weight_decay``), a linear warm-up of ``warmup`` steps (default a tenth) then a cosine
    decay. The network (and the head) move to ``device`` (default :func:`utils.get_device`) and stay there;
    the batches follow.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor (N, C, H, W), got {getattr(images, 'shape', None)}")
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(images),):
        raise ValueError(f"labels must be a tensor of shape ({len(images)},), got {getattr(labels, 'shape', None)}")
    if not _is_int(steps) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    warmup = max(1, steps // 10) if warmup is None else warmup
    device = get_device() if device is None else torch.device(device)
    net.to(device)
    params = list(net.parameters())
    if isinstance(loss, nn.Module):
        loss.to(device)
        params += list(loss.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(min(step, steps - 1), steps, warmup)
    )
    generator = torch.Generator().manual_seed(int(seed))
    history = EmbeddingHistory()
    start = time.perf_counter()
    net.train()
    bar = tqdm(range(steps), desc=desc, unit="step", disable=not progress)
    for _ in bar:
        idx = pk_batch(labels, identities, per_identity, generator)
        x, y = images[idx].to(device), labels[idx].to(device)
        value = loss(net(x), y)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        history.lr.append(optimizer.param_groups[0]["lr"])
        schedule.step()
        history.loss.append(value.item())
        if len(history.loss) % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(history.loss[-20:]):.3f}")
    history.seconds = time.perf_counter() - start
    net.eval()
    return history


def embed(net: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The unit-length embeddings ``(N, D)`` of ``images``, computed on the network's device in eval mode,
    returned on the CPU."""
    return F.normalize(predict(net, images, batch_size=batch_size), dim=1)


def evaluate_embeddings(embeddings, labels, far: float = 1e-3, gallery_per_identity: int = 1) -> dict[str, float]:
    """Verification and closed-set identification on ``embeddings`` (N, D) of identities ``labels``.

    ``EER`` and ``TAR@FAR`` (the genuine pairs accepted at the threshold that lets a share ``far`` of
    impostor pairs through) over every pair of images, by cosine similarity; ``rank-1``: each identity's
    first ``gallery_per_identity`` images form the gallery, the others are probes, and a probe is
    identified when its most similar gallery image is of its identity.
    """
    embeddings = np.asarray(torch.as_tensor(embeddings).detach().cpu(), dtype=np.float64)
    labels = np.asarray(torch.as_tensor(labels).cpu())
    if embeddings.ndim != 2 or labels.shape != (len(embeddings),):
        raise ValueError(f"need embeddings (N, D) and labels (N,), got {embeddings.shape} and {labels.shape}")
    if not _is_int(gallery_per_identity) or gallery_per_identity < 1:
        raise ValueError(f"gallery_per_identity must be a positive integer, got {gallery_per_identity!r}")
    genuine, impostor = biometrics.pair_scores(embeddings, labels)
    gallery = np.zeros(len(labels), dtype=bool)
    for identity in np.unique(labels):
        where = np.flatnonzero(labels == identity)
        if len(where) <= gallery_per_identity:
            raise ValueError(f"identity {identity} has {len(where)} images: none left as a probe")
        gallery[where[:gallery_per_identity]] = True
    similarity = biometrics.cosine_similarity(embeddings[~gallery], embeddings[gallery])
    rank1 = biometrics.cmc(similarity, labels[~gallery], labels[gallery], max_rank=1)[0]
    return {
        "EER": biometrics.eer(genuine, impostor)[0],
        "TAR@FAR": biometrics.tar_at_far(genuine, impostor, far),
        "rank-1": float(rank1),
    }
