import pytest
import torch

import utils


def test_lenet5_counts_and_shapes():
    model = utils.models.LeNet5()
    # by hand: C1 6*(25+1), C3 16*(150+1), C5 120*(400+1), F6 84*(120+1), output 10*(84+1)
    assert utils.count_params(model) == 156 + 2_416 + 48_120 + 10_164 + 850 == 61_706
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert utils.models.LeNet5(num_classes=4)(torch.zeros(1, 1, 28, 28)).shape == (1, 4)


def test_lenet5_bad_input():
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        utils.models.LeNet5()(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="num_classes"):
        utils.models.LeNet5(num_classes=0)


# ------------------------------------------------------------------------------------------------ ResNet
@pytest.mark.parametrize("depth,params", [(18, 11_689_512), (50, 25_557_032)])
def test_resnet_is_torchvisions(depth, params):
    """Strict load of torchvision's weights, the same outputs on calibrated weights, the documented count."""
    import torchvision

    from utils.architecture import prove_identical

    row = prove_identical(
        lambda: utils.models.resnet(depth),
        getattr(torchvision.models, f"resnet{depth}"),
        torch.randn(4, 3, 64, 64),
        params=params,
        layers=depth,
    )
    assert row["max |difference|"] <= 1e-4 and row["output spread"] > 0.1


def test_resnet_with_frozen_batchnorm_is_torchvisions():
    """Detection's backbone: FrozenBatchNorm2d holds its affine parameters as buffers, not parameters."""
    import torchvision
    from torchvision.ops.misc import FrozenBatchNorm2d

    from utils.architecture import calibrate

    batch = torch.randn(4, 3, 64, 64)
    reference = calibrate(torchvision.models.resnet50(norm_layer=FrozenBatchNorm2d), batch)
    ours = utils.models.resnet(50, norm_layer=FrozenBatchNorm2d)
    result = utils.assert_same_model(ours, reference, batch)
    # the 26,560 channels of the 53 BatchNorm layers, each with a weight and a bias
    assert result.params == 25_557_032 - 53_120
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in ours.modules())


def test_resnet_stages_and_init():
    torch.manual_seed(0)
    model = utils.models.resnet(18, num_classes=5)
    stages = model.stages(torch.zeros(2, 3, 64, 64))
    assert [tuple(s.shape[1:]) for s in stages] == [(64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2)]
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 5)
    # He-normal, fan_out, as torchvision: std sqrt(2 / (64 * 3 * 3)) for layer1's convolutions
    w = model.layer1[0].conv1.weight
    assert abs(w.std().item() / (2 / (64 * 9)) ** 0.5 - 1) < 0.05


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: utils.models.resnet(20), "depth"),
        (lambda: utils.models.resnet(18, num_classes=0), "num_classes"),
        (lambda: utils.models.resnet(18, norm_layer="batchnorm"), "norm_layer"),
        (lambda: utils.models.ResNet(utils.models.BasicBlock, [2, 2, 2]), "layers"),
        (lambda: utils.models.ResNet(torch.nn.Conv2d, [2, 2, 2, 2]), "block"),
        (lambda: utils.models.resnet(18)(torch.zeros(1, 1, 32, 32)), r"\(N, 3, H, W\)"),
    ],
)
def test_resnet_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
