"""Semantic segmentation helpers shared by chapter 3's notebooks: a U-Net, its loss, a training loop and IoU.

* :class:`UNet` is the network that ``notebooks/ch03_segmentation/02_unet.ipynb`` builds from scratch
  (same parameter names; that notebook proves them identical). ``padding=0`` is the paper's valid
  network, ``padding=1`` the variant that keeps the input size.
* :func:`weighted_cross_entropy` is the pixel-wise softmax cross-entropy with a per-pixel weight.
* :func:`fit_segmentation` trains a segmentation network on tensors of images, masks and weights.
* :func:`iou_per_class` and :func:`mean_iou` are the intersection over union of label images.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .config import get_device, model_device
from .training import History, train_epochs


class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions, each followed by a ReLU: the block at every level of the U-Net."""

    def __init__(self, in_channels: int, out_channels: int, padding: int):
        super().__init__(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=padding),
                relu1=nn.ReLU(inplace=True),
                conv2=nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=padding),
                relu2=nn.ReLU(inplace=True),
            )
        )


def center_crop(x: torch.Tensor, size) -> torch.Tensor:
    """The central ``size = (h, w)`` window of a batch ``(N, C, H, W)``."""
    h, w = size
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    if top < 0 or left < 0:
        raise ValueError(f"cannot crop {tuple(x.shape[-2:])} to a larger size {tuple(size)}")
    return x[..., top : top + h, left : left + w]


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015): a contracting path, an expanding path and skip connections.

    ``width`` channels at the first level, doubled at each of the ``depth`` max-pools. ``padding=0``
    gives the paper's valid convolutions (output smaller than input, skips centre-cropped);
    ``padding=1`` keeps the input size (H and W must be multiples of ``2**depth``).
    ``skip_connections=False`` drops the concatenations (for the ablation). The paper's network is
    ``UNet(1, 2, width=64, depth=4, padding=0)``: 31,030,658 parameters.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        width: int = 64,
        depth: int = 4,
        padding: int = 1,
        skip_connections: bool = True,
    ):
        super().__init__()
        if padding not in (0, 1):
            raise ValueError(f"padding must be 0 (valid, as in the paper) or 1 (same size), got {padding!r}")
        if depth < 1 or width < 1 or in_channels < 1 or num_classes < 1:
            raise ValueError(
                f"in_channels, num_classes, width and depth must be >= 1, got "
                f"{in_channels}, {num_classes}, {width}, {depth}"
            )
        self.depth, self.padding, self.skip_connections = depth, padding, skip_connections
        channels = [width * 2**i for i in range(depth + 1)]  # e.g. 64, 128, 256, 512, 1024
        self.encoder = nn.ModuleList(
            DoubleConv(in_channels if i == 0 else channels[i - 1], channels[i], padding) for i in range(depth)
        )
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(channels[depth - 1], channels[depth], padding)
        levels = list(reversed(range(depth)))  # decoder levels, deepest first
        self.upconvs = nn.ModuleList(nn.ConvTranspose2d(channels[i + 1], channels[i], 2, stride=2) for i in levels)
        factor = 2 if skip_connections else 1
        self.decoder = nn.ModuleList(DoubleConv(factor * channels[i], channels[i], padding) for i in levels)
        self.head = nn.Conv2d(channels[0], num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"expected images (N, C, H, W), got shape {tuple(x.shape)}")
        if self.padding == 1 and (x.shape[-2] % 2**self.depth or x.shape[-1] % 2**self.depth):
            raise ValueError(f"H and W must be multiples of {2**self.depth}, got {tuple(x.shape[-2:])}")
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            if x.shape[-2] % 2 or x.shape[-1] % 2:
                raise ValueError(f"a 2x2 max-pool got an odd size {tuple(x.shape[-2:])}: choose another tile size")
            x = self.pool(x)  # (N, C, H, W) -> (N, C, H/2, W/2)
        x = self.bottleneck(x)
        for up, block, skip in zip(self.upconvs, self.decoder, reversed(skips)):
            x = up(x)  # (N, 2C, H, W) -> (N, C, 2H, 2W)
            if self.skip_connections:
                x = torch.cat([center_crop(skip, x.shape[-2:]), x], dim=1)  # (N, C, h, w) -> (N, 2C, h, w)
            x = block(x)
        return self.head(x)  # (N, num_classes, H_out, W_out)


def weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None):
    """Pixel-wise softmax cross-entropy, weighted per pixel and averaged over all pixels.

    $E = -\\frac{1}{|\\Omega|} \\sum_{x \\in \\Omega} w(x) \\log p_{\\ell(x)}(x)$ with
    $p_k(x) = \\exp(a_k(x)) / \\sum_{k'} \\exp(a_{k'}(x))$. ``logits`` ``(N, K, H, W)``, ``target``
    ``(N, H, W)`` class indices, ``weight`` ``(N, H, W)`` or ``None`` (all ones: plain cross-entropy).
    """
    if logits.ndim != 4:
        raise ValueError(f"logits must be (N, K, H, W), got {tuple(logits.shape)}")
    if target.shape != logits.shape[:1] + logits.shape[2:] or target.dtype != torch.long:
        raise ValueError(
            f"target must be class indices (torch.long) of shape {tuple(logits.shape[:1] + logits.shape[2:])}, "
            f"got {target.dtype} {tuple(target.shape)}"
        )
    per_pixel = F.cross_entropy(logits, target, reduction="none")  # (N, H, W): -log p_{l(x)}(x)
    if weight is None:
        return per_pixel.mean()
    if weight.shape != target.shape:
        raise ValueError(f"weight must have the target's shape {tuple(target.shape)}, got {tuple(weight.shape)}")
    return (weight * per_pixel).mean()


def _check_tensors(images, masks, weights) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor (N, C, H, W), got {getattr(images, 'shape', type(images).__name__)}")
    if not isinstance(masks, torch.Tensor) or masks.dtype != torch.long:
        raise ValueError("masks must be a torch.long tensor of class indices (N, H, W)")
    if masks.shape != images.shape[:1] + images.shape[2:]:
        raise ValueError(
            f"masks must have shape {tuple(images.shape[:1] + images.shape[2:])}, got {tuple(masks.shape)}"
        )
    if weights is not None and weights.shape != masks.shape:
        raise ValueError(f"weights must have the masks' shape {tuple(masks.shape)}, got {tuple(weights.shape)}")


def _crop_targets(logits, masks, weights):
    """Crop targets to the logits' size (a valid U-Net's output is the centre of its input)."""
    size = logits.shape[-2:]
    if masks.shape[-2:] == size:
        return masks, weights
    masks = center_crop(masks, size)
    return masks, None if weights is None else center_crop(weights, size)


def fit_segmentation(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    weights: torch.Tensor | None = None,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    epochs: int = 10,
    batch_size: int = 8,
    lr: float = 1e-3,
    seed: int = 0,
    device=None,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train a segmentation network with Adam and :func:`weighted_cross_entropy`; return its History.

    ``images`` ``(N, C, H, W)``, ``masks`` ``(N, H, W)`` class indices, ``weights`` ``(N, H, W)`` per-pixel
    loss weights or ``None``. ``val = (images, masks)`` adds validation loss and pixel accuracy per
    epoch (unweighted). If the model's output is smaller than its input (valid convolutions), the
    targets are centre-cropped to it. The accuracy recorded is the pixel accuracy.

    The model is moved (in place) to ``device``, or with ``device=None`` to :func:`utils.get_device`
    (``$DLCV_DEVICE`` or the best available), and stays there after training. The tensors may live on
    any device: each batch is moved to the model's, and so is the validation after each epoch.
    """
    _check_tensors(images, masks, weights)
    if val is not None:
        _check_tensors(val[0], val[1], None)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    device = get_device() if device is None else torch.device(device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)

    def step(idx):
        x, y = images[idx].to(device), masks[idx].to(device)
        w = None if weights is None else weights[idx].to(device)
        logits = model(x)
        y, w = _crop_targets(logits, y, w)
        return weighted_cross_entropy(logits, y, w), (logits.argmax(1) == y).sum().item(), y.numel(), len(idx)

    return train_epochs(
        model,
        optimizer,
        lambda: torch.randperm(len(images), generator=gen).split(batch_size),
        step,
        epochs,
        validate=None if val is None else lambda: _evaluate(model, val[0], val[1], batch_size),
        progress=progress,
        desc=desc,
    )


def _evaluate(model, images, masks, batch_size) -> tuple[float, float]:
    """Mean pixel cross-entropy and pixel accuracy (unweighted), computed in batches on the model's device."""
    device = model_device(model)
    model.eval()
    loss_sum, correct, total = 0.0, 0, 0
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            logits = model(images[i : i + batch_size].to(device))
            y, _ = _crop_targets(logits, masks[i : i + batch_size].to(device), None)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            total += y.numel()
    return loss_sum / total, correct / total


def _check_labels(pred, target, num_classes) -> None:
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise ValueError("pred and target must be tensors of class indices")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.is_floating_point() or target.is_floating_point():
        raise ValueError("pred and target must hold integer class indices; take logits.argmax(1) first")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    for name, t in (("pred", pred), ("target", target)):
        if t.numel() and (t.min() < 0 or t.max() >= num_classes):
            raise ValueError(f"{name} holds labels outside 0..{num_classes - 1}")


def iou_per_class(pred: torch.Tensor, target: torch.Tensor, num_classes: int = 2) -> torch.Tensor:
    """IoU of each class over all pixels of ``pred`` and ``target`` (label tensors of the same shape).

    $\\mathrm{IoU}_c = |P_c \\cap T_c| / |P_c \\cup T_c|$, counted over every pixel of the batch.
    A class absent from both (empty union) has no IoU: ``nan``. Returns float64 ``(num_classes,)``.
    """
    _check_labels(pred, target, num_classes)
    ious = torch.full((num_classes,), float("nan"), dtype=torch.float64)
    for c in range(num_classes):
        p, t = pred == c, target == c
        union = (p | t).sum().item()
        if union:
            ious[c] = (p & t).sum().item() / union
    return ious


def mean_iou(pred: torch.Tensor, target: torch.Tensor, num_classes: int = 2) -> float:
    """Mean of :func:`iou_per_class` over the classes present in ``pred`` or ``target`` (``nan`` ignored)."""
    return float(torch.nanmean(iou_per_class(pred, target, num_classes)))
