"""The small video classifiers of chapter 8, for the notebook that compares them all.

Each is written from scratch, with these parameter names, in the notebook that teaches it, and proved
identical to this copy there (strict state-dict load, the same outputs); chapter 8's last notebook trains
them all on the same clips (:func:`utils.actions.make_action_clips`) with the same budget.

All take clips ``(N, C, T, H, W)`` (channels before time, as torchvision's video models) and return logits
``(N, num_classes)``. ``width`` sets the channels of the first layer; later layers double it.

* :class:`FrameCNN`: the 2D network that sees one frame ``(N, C, H, W)`` and returns ``features`` numbers
  (three 3 × 3 convolutions of stride 2 with batch norm and ReLU, the map flattened into a linear layer).
* :class:`SingleFrame`: a :class:`FrameCNN` on the middle frame (Karpathy et al. 2014).
* :class:`TemporalAverage`: a :class:`FrameCNN` on every frame, features averaged over time: blind to the
  order of frames, so a clip and its time reversal get the same output (chapter 8, notebook 1).
* :class:`LateFusion`: the first and last frames through one shared :class:`FrameCNN`, features
  concatenated (Karpathy et al. 2014).
* :class:`EarlyFusion`: a first convolution whose kernel spans all ``T`` frames, then 2D layers.
* :class:`SlowFusion`: 3D convolutions whose temporal extent grows layer by layer (4, then 2 and 2 frames,
  stride 2 in time, valid in time), until time is used up. These are the paper's kernels, which fit its
  10-frame clips: the top layer sees 10 frames. On 16 frames the layers' valid, strided convolutions
  leave frames 10 to 15 unread (notebook 2 shows it and lets the reader fix it).
* :class:`C3D`: 3 × 3 × 3 convolutions throughout (Tran et al. 2015), in three stages.
* :class:`R2Plus1D`: the same stages with each 3 × 3 × 3 convolution factorised into a 1 × 3 × 3 spatial
  one and a 3 × 1 × 1 temporal one (Tran et al. 2018), the middle channels chosen by
  :func:`midplanes` so that the parameters match.
* :class:`TwoStream`: an appearance stream (:class:`FrameCNN` on the middle frame) and a motion stream
  (:class:`FrameCNN` on a stack of optical-flow fields) whose class probabilities are averaged (Simonyan &
  Zisserman 2014). Its input has ``3 + 2`` channels per frame: RGB, then the flow (u, v) from that frame
  to the next (zero at the last frame), as :func:`with_flow` makes it.
* :class:`CNNLSTM`: a :class:`FrameCNN` on every frame and an LSTM over the sequence of features, the last
  hidden state classified (Donahue et al. 2015).
"""

from __future__ import annotations

import torch
from torch import nn


def _check_clips(x: torch.Tensor, channels: int) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 5 or x.shape[1] < channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected clips (N, C, T, H, W) with at least {channels} channels, got {shape}")


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 8 or size % 8:
        raise ValueError(f"the frame side must be a multiple of 8, got {size!r}")


def _conv_bn(conv: nn.Module, channels: int, bn=nn.BatchNorm2d) -> list[nn.Module]:
    return [conv, bn(channels), nn.ReLU(inplace=True)]


def midplanes(in_planes: int, out_planes: int, kt: int = 3, k: int = 3) -> int:
    """Middle channels of a (2+1)D convolution with as many parameters as a ``kt × k × k`` 3D one:
    ``floor(kt k² in out / (k² in + kt out))``. torchvision's ``BasicBlock`` for ``r2plus1d_18`` computes it
    once per block, from the block's input and output planes, and uses it for both of its convolutions."""
    for name, v in (("in_planes", in_planes), ("out_planes", out_planes), ("kt", kt), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return (kt * k * k * in_planes * out_planes) // (k * k * in_planes + kt * out_planes)


class FrameCNN(nn.Module):
    """One frame ``(N, in_channels, H, W)`` -> features ``(N, features)``.

    Three 3 × 3 convolutions of stride 2 (``width``, ``2 * width``, ``4 * width`` channels, batch norm,
    ReLU), then the feature map *flattened* into a linear layer: unlike global average pooling, flattening
    keeps where things are in the frame, which a model that compares frames needs. The frame side must be
    a multiple of 8 (``size // 8`` squared cells are flattened).
    """

    def __init__(self, in_channels: int = 3, width: int = 16, size: int = 32, features: int = 128):
        super().__init__()
        _check_size(size)
        w = width
        self.features = nn.Sequential(
            *_conv_bn(nn.Conv2d(in_channels, w, 3, stride=2, padding=1, bias=False), w),
            *_conv_bn(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1, bias=False), 2 * w),
            *_conv_bn(nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1, bias=False), 4 * w),
            nn.Flatten(),
            nn.Linear(4 * w * (size // 8) ** 2, features),
            nn.ReLU(inplace=True),
        )
        self.out_features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _frames(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(N, C, T, H, W) -> (N * T, C, H, W), frames of a clip consecutive."""
    n, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(n * t, c, h, w), t


class _PerFrame(nn.Module):
    """A :class:`FrameCNN` (``self.frame``) applied to frames of the clip, and a linear classifier
    (``self.classifier``) on the features of ``frames_fused`` frames concatenated."""

    frames_fused = 1

    def __init__(self, num_classes: int, size: int = 32, in_channels: int = 3, width: int = 16):
        super().__init__()
        self.in_channels = in_channels
        self.frame = FrameCNN(in_channels, width, size)
        self.classifier = nn.Linear(self.frames_fused * self.frame.out_features, num_classes)

    def _rgb(self, x: torch.Tensor) -> torch.Tensor:
        _check_clips(x, self.in_channels)
        return x[:, : self.in_channels]


class SingleFrame(_PerFrame):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._rgb(x)
        return self.classifier(self.frame(x[:, :, x.shape[2] // 2]))


class TemporalAverage(_PerFrame):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames, t = _frames(self._rgb(x))
        features = self.frame(frames).reshape(x.shape[0], t, -1)
        return self.classifier(features.mean(dim=1))


class LateFusion(_PerFrame):
    frames_fused = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._rgb(x)
        return self.classifier(torch.cat([self.frame(x[:, :, 0]), self.frame(x[:, :, -1])], dim=1))


def _conv3d_bn(in_planes, out_planes, kernel, stride, padding) -> list[nn.Module]:
    conv = nn.Conv3d(in_planes, out_planes, kernel, stride=stride, padding=padding, bias=False)
    return _conv_bn(conv, out_planes, nn.BatchNorm3d)


def _head(channels: int, size: int, features: int = 128) -> list[nn.Module]:
    """Flatten a (channels, size // 8, size // 8) map into ``features`` numbers, as :class:`FrameCNN`."""
    return [nn.Flatten(), nn.Linear(channels * (size // 8) ** 2, features), nn.ReLU(inplace=True)]


class EarlyFusion(nn.Module):
    def __init__(self, num_classes: int, size: int = 32, n_frames: int = 16, in_channels: int = 3, width: int = 16):
        super().__init__()
        _check_size(size)
        w = width
        self.in_channels = in_channels
        self.n_frames = n_frames
        # the first kernel spans every frame: after it, time is gone
        self.fuse = nn.Sequential(*_conv3d_bn(in_channels, w, (n_frames, 3, 3), (1, 2, 2), (0, 1, 1)))
        self.features = nn.Sequential(
            *_conv_bn(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1, bias=False), 2 * w),
            *_conv_bn(nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1, bias=False), 4 * w),
            *_head(4 * w, size),
        )
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_clips(x, self.in_channels)
        if x.shape[2] != self.n_frames:
            raise ValueError(f"EarlyFusion was built for {self.n_frames} frames, got clips of {x.shape[2]}")
        fused = self.fuse(x[:, : self.in_channels]).squeeze(2)
        return self.classifier(self.features(fused))


class SlowFusion(nn.Module):
    def __init__(self, num_classes: int, size: int = 32, n_frames: int = 16, in_channels: int = 3, width: int = 16):
        super().__init__()
        _check_size(size)
        w = width
        self.in_channels = in_channels
        # temporal extents 4, 2, 2 with stride 2: 16 frames -> 7 -> 3 -> 1
        t = n_frames
        for k in (4, 2, 2):
            t = (t - k) // 2 + 1
        if t < 1:
            raise ValueError(f"SlowFusion needs at least 10 frames, got {n_frames}")
        self.features = nn.Sequential(
            *_conv3d_bn(in_channels, w, (4, 3, 3), 2, (0, 1, 1)),
            *_conv3d_bn(w, 2 * w, (2, 3, 3), 2, (0, 1, 1)),
            *_conv3d_bn(2 * w, 4 * w, (2, 3, 3), 2, (0, 1, 1)),
            nn.AdaptiveAvgPool3d((1, None, None)),  # whatever time is left, averaged
            *_head(4 * w, size),
        )
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_clips(x, self.in_channels)
        return self.classifier(self.features(x[:, : self.in_channels]))


def _conv3x3x3(in_planes: int, out_planes: int, stride, factorised: bool) -> list[nn.Module]:
    """A 3 × 3 × 3 convolution of stride ``(temporal, spatial)`` with batch norm and ReLU, or its (2+1)D
    factorisation: 1 × 3 × 3 in space (with the spatial stride), then 3 × 1 × 1 in time (with the temporal
    stride), batch norm and ReLU after each."""
    st, ss = stride
    if not factorised:
        return _conv3d_bn(in_planes, out_planes, 3, (st, ss, ss), 1)
    mid = midplanes(in_planes, out_planes)
    return [
        *_conv3d_bn(in_planes, mid, (1, 3, 3), (1, ss, ss), (0, 1, 1)),
        *_conv3d_bn(mid, out_planes, (3, 1, 1), (st, 1, 1), (1, 0, 0)),
    ]


class C3D(nn.Module):
    factorised = False

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 16):
        super().__init__()
        w = width
        self.in_channels = in_channels
        f = self.factorised
        self.features = nn.Sequential(
            *_conv3x3x3(in_channels, w, (1, 2), f),
            *_conv3x3x3(w, 2 * w, (2, 2), f),
            *_conv3x3x3(2 * w, 4 * w, (2, 2), f),
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_clips(x, self.in_channels)
        return self.classifier(self.features(x[:, : self.in_channels]))


class R2Plus1D(C3D):
    factorised = True


class TwoStream(nn.Module):
    def __init__(self, num_classes: int, size: int = 32, n_flows: int = 10, width: int = 16):
        super().__init__()
        self.n_flows = n_flows
        self.appearance = FrameCNN(3, width, size)
        self.appearance_classifier = nn.Linear(self.appearance.out_features, num_classes)
        self.motion = FrameCNN(2 * n_flows, width, size)
        self.motion_classifier = nn.Linear(self.motion.out_features, num_classes)

    def streams(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two streams' logits, appearance then motion."""
        _check_clips(x, 5)
        n, _, t, h, w = x.shape
        if t <= self.n_flows:
            raise ValueError(f"TwoStream stacks {self.n_flows} flows: clips need more frames, got {t}")
        start = (t - 1 - self.n_flows) // 2  # the flows around the middle of the clip
        flows = x[:, 3:5, start : start + self.n_flows]  # (N, 2, L, H, W)
        stacked = flows.transpose(1, 2).reshape(n, 2 * self.n_flows, h, w)  # u1, v1, u2, v2, ...
        appearance = self.appearance_classifier(self.appearance(x[:, :3, t // 2]))
        motion = self.motion_classifier(self.motion(stacked))
        return appearance, motion

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        appearance, motion = self.streams(x)
        # late fusion: the mean of the two streams' probabilities, returned as log-probabilities
        return torch.log((appearance.softmax(1) + motion.softmax(1)) / 2)


class CNNLSTM(nn.Module):
    def __init__(self, num_classes: int, size: int = 32, in_channels: int = 3, width: int = 16, hidden: int = 128):
        super().__init__()
        self.in_channels = in_channels
        self.frame = FrameCNN(in_channels, width, size)
        self.lstm = nn.LSTM(self.frame.out_features, hidden, batch_first=True)
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_clips(x, self.in_channels)
        frames, t = _frames(x[:, : self.in_channels])
        features = self.frame(frames).reshape(x.shape[0], t, -1)
        outputs, _ = self.lstm(features)
        return self.classifier(outputs[:, -1])


def with_flow(clips: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
    """Clips ``(N, 3, T, H, W)`` and flows ``(N, T - 1, 2, H, W)`` (frame t to t + 1, as
    :func:`utils.flow.classical_flow` gives them) -> ``(N, 5, T, H, W)``: RGB then (u, v), zero flow at the
    last frame. The input of :class:`TwoStream`; the other models read the first 3 channels."""
    if clips.ndim != 5 or clips.shape[1] != 3:
        raise ValueError(f"clips must have shape (N, 3, T, H, W), got {tuple(clips.shape)}")
    n, _, t, h, w = clips.shape
    if tuple(flows.shape) != (n, t - 1, 2, h, w):
        raise ValueError(f"flows must have shape {(n, t - 1, 2, h, w)} (N, T - 1, 2, H, W), got {tuple(flows.shape)}")
    flow = torch.zeros(n, 2, t, h, w, dtype=clips.dtype)
    flow[:, :, :-1] = flows.transpose(1, 2).to(clips.dtype)
    return torch.cat([clips, flow], dim=1)
