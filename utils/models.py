"""Networks that a chapter teaches and a later notebook reuses.

Each network here is written from scratch, with its explanation, in the notebook that teaches it; that
notebook proves its own cell and this copy the same network with :func:`utils.assert_same_model`, so later
notebooks can import it instead of repeating the cell. (The segmentation U-Net lives in
:mod:`utils.segmentation` with its training helpers.)
"""

from __future__ import annotations

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
