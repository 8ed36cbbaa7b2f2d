"""Tests of utils.architecture against depths known by construction and the papers' names."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from utils.architecture import calibrate, output_spread, prove_identical, weight_layer_depth


class TwoBranches(nn.Module):
    """A 1-conv branch beside a 3-conv branch, concatenated, then a linear layer: depth 3 + 1."""

    def __init__(self):
        super().__init__()
        self.short = nn.Conv2d(3, 4, 1)
        self.long = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(4, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.Conv2d(4, 4, 3, padding=1),
        )
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        x = torch.cat([self.short(x), self.long(x)], 1)  # functional op: invisible to module hooks
        return self.fc(x.mean((2, 3)))


class Residual(nn.Module):
    """x + conv(conv(x)) repeated: the shortcut adds no depth."""

    def __init__(self, blocks):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)) for _ in range(blocks)
        )

    def forward(self, x):
        for block in self.convs:
            x = x + block(x)
        return x


class NoBiasLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(5, 4))
        self.w2 = nn.Parameter(torch.randn(3, 5))

    def forward(self, x):
        return F.linear(F.linear(x, self.w1), self.w2)  # matrix products without bias: MmBackward


@pytest.mark.parametrize("n", [1, 2, 7])
def test_plain_stack(n):
    model = nn.Sequential(*[m for _ in range(n) for m in (nn.Conv2d(3, 3, 3, padding=1), nn.ReLU())])
    assert weight_layer_depth(model, (1, 3, 8, 8)) == n


def test_branches_count_the_deepest_path():
    assert weight_layer_depth(TwoBranches(), (2, 3, 8, 8)) == 4


def test_shortcuts_add_no_depth():
    assert weight_layer_depth(Residual(5), (1, 2, 6, 6)) == 10


def test_linear_without_bias_and_batch_of_vectors():
    assert weight_layer_depth(NoBiasLinear(), (2, 4)) == 2
    assert weight_layer_depth(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 1)), (3, 4)) == 3


def test_elementwise_product_with_a_parameter_is_not_a_layer():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3)
            self.gain = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return self.conv(x) * self.gain

    assert weight_layer_depth(Scale(), (1, 1, 5, 5)) == 1


@pytest.mark.parametrize("name, depth", [("vgg16", 16), ("resnet18", 18), ("resnet50", 50), ("alexnet", 8)])
def test_torchvision_models_match_their_names(name, depth):
    model = getattr(torchvision.models, name)(weights=None)
    assert weight_layer_depth(model, (1, 3, 64, 64)) == depth


def test_mode_is_restored():
    model = nn.Sequential(nn.Conv2d(1, 1, 1), nn.BatchNorm2d(1)).train()
    weight_layer_depth(model, (2, 1, 4, 4))
    assert model.training


def test_bad_input():
    with pytest.raises(ValueError, match="torch.nn.Module"):
        weight_layer_depth("not a model", (1, 3, 8, 8))
    with pytest.raises(ValueError, match="no parameters"):
        weight_layer_depth(nn.ReLU(), (1, 3, 8, 8))
    with pytest.raises(ValueError, match="input_size"):
        weight_layer_depth(nn.Conv2d(3, 3, 1), (1, 3, -8, 8))
    frozen = nn.Conv2d(1, 1, 1).requires_grad_(False)
    with pytest.raises(ValueError, match="autograd"):
        weight_layer_depth(frozen, (1, 1, 2, 2))


# calibrate and output_spread


def deep_plain(depth=12, bn=False):
    layers = [nn.Conv2d(3, 8, 3, padding=1)]
    for _ in range(depth):
        layers += [nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1)] + ([nn.BatchNorm2d(8)] if bn else [])
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(8 * 6 * 6, 5))


def test_calibrate_gives_unit_scale_outputs_that_depend_on_the_input():
    torch.manual_seed(0)
    model = deep_plain()
    x = torch.randn(16, 3, 6, 6)
    assert model(x).std() < 0.1 and output_spread(model, x) < 0.1  # default init shrinks
    calibrate(model, x)
    with torch.no_grad():
        assert 0.5 < model(x).std() < 2.0
    assert output_spread(model, x) > 0.5


def test_calibrate_sets_batchnorm_statistics_of_the_batch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=0.3)).eval()
    x = torch.randn(8, 3, 5, 5)
    calibrate(model, x)
    with torch.no_grad():
        conv_out = model[0](x)  # already rescaled
    assert torch.allclose(model[1].running_mean, conv_out.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(model[1].running_var, conv_out.var((0, 2, 3), unbiased=False), atol=1e-4)
    assert model[1].momentum == 0.3 and not model.training  # restored


def test_calibrate_rescales_a_linear_layer_exactly():
    lin = nn.Linear(4, 3)
    x = torch.randn(10, 4)
    with torch.no_grad():
        expected_std = lin(x).std()
        w = lin.weight.clone()
    calibrate(lin, x)
    assert torch.allclose(lin.weight, w / expected_std)
    with torch.no_grad():
        assert torch.allclose(lin(x).std(), torch.tensor(1.0), atol=1e-5)


def test_output_spread_of_a_linear_map():
    lin = nn.Linear(3, 2, bias=True)
    x = torch.randn(5, 3)
    with torch.no_grad():
        y = x @ lin.weight.T  # the bias cancels in differences between samples
    expected = max((y[:, k].max() - y[:, k].min()).item() for k in range(2))
    assert abs(output_spread(lin, x) - expected) < 1e-6
    assert output_spread(nn.Linear(3, 2), torch.ones(4, 3)) == 0.0  # identical samples: no spread


def test_calibrate_and_spread_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        calibrate(deep_plain(2), (1, 3, 6, 6))
    with pytest.raises(ValueError, match="no convolution"):
        calibrate(nn.Sequential(nn.ReLU()), (2, 3))
    with pytest.raises(ValueError, match="torch.nn.Module"):
        output_spread(None, (2, 3))
    with pytest.raises(ValueError, match="at least 2"):
        output_spread(nn.Linear(3, 2), (1, 3))


def test_calibrate_runs_dropout_in_eval_mode_and_restores_every_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.9), nn.BatchNorm1d(8), nn.Linear(8, 2)).train()
    model[1].eval()  # a mixed state must come back as it was
    x = torch.randn(64, 4)
    calibrate(model, x)
    assert model.training and not model[1].training and model[2].training
    with torch.no_grad():
        hidden = model[0](x)  # dropout off during calibration: BatchNorm saw exactly these statistics
    assert torch.allclose(model[2].running_mean, hidden.mean(0), atol=1e-5)


def test_eval_mode_reproduces_the_calibration_pass_on_its_batch():
    torch.manual_seed(0)
    model = deep_plain(depth=8, bn=True)
    x = torch.randn(4, 3, 6, 6)
    calibrate(model, x)
    model.eval()
    with torch.no_grad():
        eval_out = model(x)
    for m in model.modules():  # batch statistics, as during calibration
        if isinstance(m, nn.BatchNorm2d):
            m.train()
            m.momentum = 0.0
    with torch.no_grad():
        batch_out = model(x)
    assert torch.allclose(eval_out, batch_out, atol=1e-4)


def small_net(width=8, rename=False):
    net = nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 5),
    )
    if rename:  # same computation, other names: not loadable
        net = nn.Sequential(*[nn.Sequential(m) for m in net])
    return net


def test_prove_identical_gives_the_row_and_checks_documented_numbers():
    torch.manual_seed(0)
    batch = torch.randn(4, 3, 16, 16)
    row = prove_identical(small_net, small_net(), batch, params=8 * 27 + 8 + 16 + 45, layers=2)
    assert row["parameters"] == 285 and row["layers with weights"] == 2
    # 224 x 224 x 8 x 27 for the convolution, 8 x 5 for the linear layer
    assert row["GMACs"] == round((224 * 224 * 8 * 27 + 40) / 1e9, 3)
    assert row["max |difference|"] <= 1e-4 and row["output spread"] > 0.1
    with pytest.raises(AssertionError, match="parameters: measured 285, documented 286"):
        prove_identical(small_net, small_net(), batch, params=286)
    with pytest.raises(AssertionError, match="layers with weights"):
        prove_identical(small_net, small_net, batch, layers=3)


def test_prove_identical_refuses_another_network():
    batch = torch.randn(4, 3, 16, 16)
    with pytest.raises(ValueError, match="names or shapes differ"):
        prove_identical(lambda: small_net(rename=True), small_net(), batch)
    with pytest.raises(ValueError, match="names or shapes differ"):
        prove_identical(lambda: small_net(width=9), small_net(), batch)

    class Doubled(nn.Module):  # same parameters, different computation
        def __init__(self):
            super().__init__()
            self.net = small_net()

        def forward(self, x):
            return 2 * self.net(x)

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = small_net()

        def forward(self, x):
            return self.net(x)

    with pytest.raises(AssertionError):
        prove_identical(Doubled, Wrapped(), batch)


def test_prove_identical_bad_input():
    with pytest.raises(TypeError, match="function that returns"):
        prove_identical(small_net(), small_net(), torch.randn(4, 3, 8, 8))
    with pytest.raises(ValueError, match="at least 2 inputs"):
        prove_identical(small_net, small_net(), torch.randn(1, 3, 8, 8))

    class WithTemporary(nn.Module):  # a non-persistent buffer is not in the state dict
        def __init__(self):
            super().__init__()
            self.net = small_net()
            self.register_buffer("scale", torch.ones(1), persistent=False)

        def forward(self, x):
            return self.net(x) * self.scale

    with pytest.raises(ValueError, match="stayed on the meta device"):
        prove_identical(WithTemporary, WithTemporary(), torch.randn(4, 3, 8, 8))
