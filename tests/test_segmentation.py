import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import jaccard_score
from torch import nn

import utils
from utils.segmentation import UNet, center_crop, fit_segmentation, iou_per_class, mean_iou, weighted_cross_entropy


@pytest.mark.parametrize(
    "kwargs,size,out",
    [
        (dict(width=4, depth=4, padding=0), 572, 388),  # the paper's tile
        (dict(width=4, depth=4, padding=0), 188, 4),  # the smallest legal tile
        (dict(width=4, depth=3, padding=1), 64, 64),
        (dict(width=4, depth=2, padding=1, skip_connections=False), 32, 32),
        (dict(in_channels=3, num_classes=5, width=4, depth=1, padding=1), 8, 8),
    ],
)
def test_unet_output_shapes(kwargs, size, out):
    model = UNet(**kwargs).eval()
    x = torch.randn(2, kwargs.get("in_channels", 1), size, size)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, kwargs.get("num_classes", 2), out, out)
    assert torch.isfinite(y).all()


def test_unet_parameter_count_of_the_paper():
    assert utils.count_params(UNet(1, 2, width=64, depth=4, padding=0)) == 31_030_658
    assert utils.count_params(UNet(1, 2, width=64, depth=4, padding=1)) == 31_030_658
    convs = [m for m in UNet(1, 2, 64, 4).modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert len(convs) == 23


def test_unet_errors():
    with pytest.raises(ValueError, match="padding"):
        UNet(padding=2)
    with pytest.raises(ValueError, match="multiples of 8"):
        UNet(width=2, depth=3, padding=1)(torch.zeros(1, 1, 60, 60))
    with pytest.raises(ValueError, match="odd size"):
        UNet(width=2, depth=4, padding=0)(torch.zeros(1, 1, 570, 570))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        UNet(width=2, depth=1)(torch.zeros(1, 8, 8))


def test_center_crop():
    x = torch.arange(36.0).view(1, 1, 6, 6)
    assert torch.equal(center_crop(x, (2, 4)), x[..., 2:4, 1:5])
    with pytest.raises(ValueError, match="larger"):
        center_crop(x, (8, 8))


def test_weighted_cross_entropy_against_a_direct_computation():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, generator=gen)
    target = torch.randint(0, 3, (2, 4, 5), generator=gen)
    weight = torch.rand(2, 4, 5, generator=gen)
    p = torch.softmax(logits, dim=1).gather(1, target[:, None])[:, 0]
    assert torch.allclose(weighted_cross_entropy(logits, target, weight), -(weight * p.log()).mean())
    assert torch.allclose(weighted_cross_entropy(logits, target), F.cross_entropy(logits, target))
    with pytest.raises(ValueError, match="torch.long"):
        weighted_cross_entropy(logits, target.float())
    with pytest.raises(ValueError, match="weight must have"):
        weighted_cross_entropy(logits, target, weight[0])
    with pytest.raises(ValueError, match=r"\(N, K, H, W\)"):
        weighted_cross_entropy(logits[0], target[0])


def test_iou_against_sklearn_and_edge_cases():
    gen = torch.Generator().manual_seed(1)
    pred, target = torch.randint(0, 4, (3, 9, 9), generator=gen), torch.randint(0, 4, (3, 9, 9), generator=gen)
    expected = jaccard_score(target.flatten(), pred.flatten(), average=None, labels=[0, 1, 2, 3])
    assert np.allclose(iou_per_class(pred, target, 4).numpy(), expected)
    assert mean_iou(pred, target, 4) == pytest.approx(expected.mean())

    empty = torch.zeros(1, 4, 4, dtype=torch.long)
    iou = iou_per_class(empty, empty, 2)
    assert iou[0] == 1.0 and torch.isnan(iou[1])  # class 1 absent from both: undefined
    assert mean_iou(empty, empty, 2) == 1.0  # the undefined class is left out of the mean
    full = torch.ones(1, 4, 4, dtype=torch.long)
    assert iou_per_class(empty, full, 2).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="same shape"):
        iou_per_class(empty, full[0])
    with pytest.raises(ValueError, match="integer class indices"):
        iou_per_class(empty.float(), full)
    with pytest.raises(ValueError, match="outside"):
        iou_per_class(empty + 2, full, 2)


def _stripes(n=16, size=16, seed=0):
    """Images whose label is a bright vertical stripe: learnable by any segmentation network."""
    gen = torch.Generator().manual_seed(seed)
    masks = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        left = int(torch.randint(0, size - 4, (1,), generator=gen))
        masks[i, :, left : left + 4] = 1
    images = masks[:, None].float() * 0.6 + 0.2 + 0.05 * torch.randn(n, 1, size, size, generator=gen)
    return images, masks


def test_fit_segmentation_learns_and_records_history():
    images, masks = _stripes()
    torch.manual_seed(0)
    model = UNet(1, 2, width=4, depth=2, padding=1)
    history = fit_segmentation(
        model, images, masks, val=(images, masks), epochs=30, batch_size=4, lr=1e-2, device="cpu", progress=False
    )
    assert history.epochs == 30 and len(history.val_acc) == 30
    assert history.train_loss[-1] < history.train_loss[0]
    pred = utils.predict(model, images, device="cpu").argmax(1)
    assert iou_per_class(pred, masks)[1] > 0.8


def test_fit_segmentation_uses_the_weights_and_crops_for_valid_networks():
    images, masks = _stripes(n=4, size=188)
    torch.manual_seed(0)
    valid = UNet(1, 2, width=2, depth=4, padding=0)
    history = fit_segmentation(valid, images, masks, epochs=1, device="cpu", progress=False)  # 188 -> 4: cropped
    assert history.epochs == 1
    # zero weights give zero loss: the weights really multiply the per-pixel loss
    images, masks = _stripes(n=4)
    zero = fit_segmentation(
        UNet(1, 2, 4, 2), images, masks, torch.zeros(4, 16, 16), epochs=1, device="cpu", progress=False
    )
    assert zero.train_loss == [0.0]


def test_fit_segmentation_errors():
    images, masks = _stripes(n=4)
    model = UNet(1, 2, 4, 2)
    with pytest.raises(ValueError, match=r"images must be a tensor \(N, C, H, W\)"):
        fit_segmentation(model, images[:, 0], masks, device="cpu")
    with pytest.raises(ValueError, match="torch.long"):
        fit_segmentation(model, images, masks.float(), device="cpu")
    with pytest.raises(ValueError, match="masks must have shape"):
        fit_segmentation(model, images, masks[:, :8], device="cpu")
    with pytest.raises(ValueError, match="weights must have"):
        fit_segmentation(model, images, masks, torch.ones(4, 8, 8), device="cpu")
    with pytest.raises(ValueError, match="epochs"):
        fit_segmentation(model, images, masks, epochs=0, device="cpu")
    with pytest.raises(ValueError, match="batch_size"):
        fit_segmentation(model, images, masks, batch_size=0, device="cpu")
