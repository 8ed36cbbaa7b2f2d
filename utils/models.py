"""Networks that a chapter teaches and a later notebook reuses.

Each network here is written from scratch, with its explanation, in the notebook that teaches it; that
notebook proves its own cell and this copy the same network with :func:`utils.assert_same_model`, so later
notebooks can import it instead of repeating the cell. (The segmentation U-Net lives in
:mod:`utils.segmentation` with its training helpers.)
"""

from __future__ import annotations

import torch
from torch import nn


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) for 28×28 grey images, as built in chapter 2, notebook 01.

    Tanh and average pooling as in the paper; C1 is padded by 2 (the paper padded the images to 32×32);
    the paper's sparse C3 connections, trainable subsampling and RBF output are replaced by a dense C3,
    plain pooling and a linear layer. 61,706 parameters for 10 classes.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2),  # C1: (N, 1, 28, 28) -> (N, 6, 28, 28)
            nn.Tanh(),
            nn.AvgPool2d(2),  # S2: -> (N, 6, 14, 14)
            nn.Conv2d(6, 16, kernel_size=5),  # C3: -> (N, 16, 10, 10)
            nn.Tanh(),
            nn.AvgPool2d(2),  # S4: -> (N, 16, 5, 5)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # -> (N, 400)
            nn.Linear(16 * 5 * 5, 120),  # C5
            nn.Tanh(),
            nn.Linear(120, 84),  # F6
            nn.Tanh(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"LeNet5 expects a batch of 28x28 grey images, shape (N, 1, 28, 28); got {tuple(x.shape)}")
        return self.classifier(self.features(x))


# --------------------------------------------------------------------------------------------------- ResNet
# Chapter 2, notebook 03 (ResNet) writes these classes and proves them identical to torchvision's; chapter 4
# reuses them as the backbone of its detectors, with FrozenBatchNorm2d as the normalisation layer.


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """ResNet-18/34's residual block: two 3×3 convolutions, each followed by normalisation, plus the shortcut."""

    expansion = 1  # output channels = planes * expansion

    def __init__(self, inplanes, planes, stride=1, downsample=None, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """ResNet-50/101/152's block: 1×1 (reduce to ``planes``), 3×3 (stride here, as torchvision), 1×1 (expand
    to ``4 * planes``), plus the shortcut."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, norm_layer=nn.BatchNorm2d):
        super().__init__()
        # reduce: (N, 4 * planes, H, W) -> (N, planes, H, W)
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = norm_layer(planes)
        # torchvision strides here (the paper: in conv1)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = norm_layer(planes)
        # expand back to 4 * planes
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


# Table 1 of the paper: block type and number of blocks in conv2_x ... conv5_x
RESNET_CONFIGS = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
    152: (Bottleneck, [3, 8, 36, 3]),
}


class ResNet(nn.Module):
    """ResNet (He et al., 2015) with torchvision's parameter names, as built in chapter 2, notebook 03.

    ``norm_layer`` makes every normalisation layer (default ``nn.BatchNorm2d``; detection backbones use
    ``torchvision.ops.misc.FrozenBatchNorm2d``, whose statistics and affine parameters are fixed buffers).
    The weights are initialised as torchvision's are (He-normal convolutions, ``mode="fan_out"``).
    :meth:`stages` returns the outputs of ``layer1`` ... ``layer4`` (C2 to C5, strides 4 to 32), the
    feature maps a detector's feature pyramid takes.
    """

    def __init__(self, block, layers, num_classes=1000, norm_layer=nn.BatchNorm2d):
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise ValueError(f"block must be BasicBlock or Bottleneck, got {block!r}")
        if len(layers) != 4 or not all(isinstance(n, int) and n >= 1 for n in layers):
            raise ValueError(f"layers must be 4 positive ints (blocks per stage), got {layers!r}")
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if not callable(norm_layer):
            raise ValueError(f"norm_layer must be a class or function that makes a layer, got {norm_layer!r}")
        self.inplanes = 64
        self.norm_layer = norm_layer
        # -> (N, 64, 112, 112)
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)  # -> 56 x 56
        self.layer1 = self._make_layer(block, 64, layers[0])  # 56 x 56
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)  # 28 x 28
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)  # 14 x 14
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)  # 7 x 7
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        # the shortcut must change shape too
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                self.norm_layer(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.norm_layer)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, norm_layer=self.norm_layer) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def stages(self, x):
        """The outputs of ``layer1`` ... ``layer4``: ``[C2, C3, C4, C5]``, strides 4, 8, 16, 32."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"ResNet expects a batch of RGB images, shape (N, 3, H, W); got {tuple(x.shape)}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outputs = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            outputs.append(x)
        return outputs

    def forward(self, x):
        # (N, 512 * expansion, 7, 7) for 224 x 224 images
        x = self.stages(x)[-1]
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet(depth: int, num_classes: int = 1000, norm_layer=nn.BatchNorm2d) -> ResNet:
    """ResNet-18, -34, -50, -101 or -152: ``resnet(50)``, torchvision's ``resnet50()``."""
    if depth not in RESNET_CONFIGS:
        raise ValueError(f"depth must be one of {sorted(RESNET_CONFIGS)}, got {depth!r}")
    block, layers = RESNET_CONFIGS[depth]
    return ResNet(block, layers, num_classes, norm_layer)
