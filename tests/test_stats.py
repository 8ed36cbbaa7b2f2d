"""Model statistics against independent references: torchvision's documented figures
(../shared/REFERENCE.md, section 1) and hand-computed counts."""

import pytest
import torch
import torchvision
from torch import nn

import utils
from utils.architecture import calibrate

# (builder, params, GMACs) from torchvision's weights metadata ("GFLOPS" there are multiply-adds)
TORCHVISION = [
    (torchvision.models.alexnet, 61_100_840, 0.714),
    (torchvision.models.resnet18, 11_689_512, 1.814),
    (torchvision.models.resnet50, 25_557_032, 4.089),
    (torchvision.models.mobilenet_v2, 3_504_872, 0.301),
    (torchvision.models.efficientnet_b0, 5_288_548, 0.386),
    (torchvision.models.densenet121, 7_978_856, 2.834),
]


@pytest.mark.parametrize("builder, params, gmacs", TORCHVISION, ids=lambda v: getattr(v, "__name__", ""))
def test_params_and_macs_match_torchvision_metadata(builder, params, gmacs):
    model = builder(weights=None)
    assert utils.count_params(model) == params
    macs = utils.count_macs(model, (1, 3, 224, 224))
    assert round(macs / 1e9, 3) == gmacs
    assert utils.count_flops(model, (1, 3, 224, 224)) == pytest.approx(2 * macs, abs=1)


def test_hand_computed_counts():
    conv = nn.Conv2d(3, 8, kernel_size=5, padding=2)
    assert utils.count_params(conv) == 8 * 3 * 25 + 8
    # one multiply-add per weight per output pixel
    assert utils.count_macs(conv, (1, 3, 10, 10)) == 8 * 3 * 25 * 10 * 10
    lin = nn.Linear(20, 7)
    assert utils.count_macs(lin, (4, 20)) == 4 * 20 * 7
    frozen = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    frozen[0].requires_grad_(False)
    assert utils.count_params(frozen) == 12 and utils.count_params(frozen, trainable_only=True) == 6


def test_buffers_are_not_parameters():
    bn = nn.BatchNorm2d(16)
    assert utils.count_params(bn) == 32  # weight and bias; running mean/var are buffers


def test_layer_table_rows_shapes_and_total():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 13 * 13, 10))
    table = utils.layer_table(model, (2, 1, 28, 28))
    assert list(table["type"]) == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert list(table["output shape"]) == [(2, 4, 26, 26), (2, 4, 26, 26), (2, 4, 13, 13), (2, 676), (2, 10)]
    assert list(table["params"]) == [40, 0, 0, 0, 6770]
    resnet = torchvision.models.resnet18()
    assert utils.layer_table(resnet, (1, 3, 64, 64))["params"].sum() == 11_689_512


def test_layer_table_counts_a_shared_layer_once():
    shared = nn.Linear(3, 3)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = shared

        def forward(self, x):
            return self.f(self.f(x))

    table = utils.layer_table(Twice(), (1, 3))
    assert len(table) == 2 and table["params"].sum() == 12


def test_compare_models_proves_identity_and_detects_differences():
    reference = torchvision.models.resnet18(num_classes=10)
    ours = torchvision.models.resnet18(num_classes=10)
    result = utils.compare_models(ours, reference, (2, 3, 64, 64))
    assert result.same and result.max_abs_diff == 0.0 and result.params == 11_181_642
    assert "identical" in str(result)

    class Shifted(torchvision.models.ResNet):
        def forward(self, x):
            return super().forward(x) + 1e-2

    shifted = Shifted(torchvision.models.resnet.BasicBlock, [2, 2, 2, 2], num_classes=10)
    result = utils.compare_models(shifted, reference, (2, 3, 64, 64))
    assert not result.same and result.max_abs_diff == pytest.approx(1e-2, rel=1e-3)
    with pytest.raises(AssertionError, match="DIFFERENT"):
        utils.assert_same_model(shifted, reference, (2, 3, 64, 64))


def test_compare_models_refuses_a_proof_from_outputs_that_ignore_the_input():
    def flat():  # small weights: the outputs shrink layer after layer, as with default init in deep networks
        net = nn.Sequential(nn.Linear(4, 8, bias=False), nn.Tanh(), nn.Linear(8, 8, bias=False), nn.Tanh())
        net.append(nn.Linear(8, 2, bias=False))
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(0.01)
        return net

    class Other(nn.Module):  # a different network with the same parameter names and shapes
        def __init__(self):
            super().__init__()
            self.net = flat()

        def forward(self, x):
            return -self.net(x.flip(1)) + 1e-6

        def load_state_dict(self, state, strict=True, assign=False):
            return self.net.load_state_dict(state, strict, assign)

    torch.manual_seed(0)
    reference = flat()
    result = utils.compare_models(Other(), reference, (8, 4))
    assert result.max_abs_diff < result.atol and result.spread < 1e-4  # "agree", yet different networks
    assert not result.conclusive and not result.same and "INCONCLUSIVE" in str(result) and "calibrate" in str(result)
    with pytest.raises(AssertionError, match="INCONCLUSIVE"):
        utils.assert_same_model(Other(), reference, (8, 4))
    # with weights that keep the outputs at unit scale, the comparison tells the two apart ...
    calibrate(reference, (8, 4))
    with pytest.raises(AssertionError, match="DIFFERENT"):
        utils.assert_same_model(Other(), reference, (8, 4))
    # ... and proves the same network the same
    result = utils.assert_same_model(flat(), reference, (8, 4))
    assert result.spread > 1000 * result.atol and result.conclusive and str(result).startswith("identical")


def test_compare_models_spread_is_that_of_the_reference_outputs():
    lin = nn.Linear(3, 2)
    x = torch.randn(5, 3)
    result = utils.compare_models(nn.Linear(3, 2), lin, x)
    with torch.no_grad():
        y = lin(x)
    assert result.spread == pytest.approx((y.max(0).values - y.min(0).values).max().item(), rel=1e-6)
    assert result.min_spread == pytest.approx(1000 * result.atol)


def test_compare_models_needs_a_batch_of_two():
    with pytest.raises(ValueError, match="at least 2 inputs"):
        utils.compare_models(nn.Linear(3, 2), nn.Linear(3, 2), (1, 3))
    with pytest.raises(ValueError, match="atol"):
        utils.compare_models(nn.Linear(3, 2), nn.Linear(3, 2), (2, 3), atol=0)


def test_compare_models_names_mismatched_layers():
    a = nn.Sequential(nn.Linear(4, 4))
    b = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="parameter names or shapes differ"):
        utils.compare_models(a, b, (2, 4))


@pytest.mark.parametrize("bad", [(3, 224, 224, 0), (224,), "1x3"])
def test_bad_input_size(bad):
    with pytest.raises(ValueError, match="input_size"):
        utils.count_macs(nn.Linear(2, 2), bad)


def test_not_a_model():
    with pytest.raises(ValueError, match="torch.nn.Module"):
        utils.count_params(torch.zeros(3))


def test_eval_mode_restores_each_models_own_mode_even_after_an_error():
    a, b = nn.Dropout().train(), nn.Dropout().eval()
    with pytest.raises(RuntimeError):
        with utils.stats.eval_mode(a, b):
            assert not a.training and not b.training
            raise RuntimeError("inside")
    assert a.training and not b.training
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout()).train()
    utils.count_macs(model, (1, 3))
    utils.layer_table(model, (1, 3))
    assert model.training and model[1].training


def test_wilson_interval_equals_scipys():
    from scipy.stats import binomtest

    for k, n in [(0, 10), (3, 10), (10, 10), (412, 900), (1, 1)]:
        ours = utils.stats.wilson_interval(k, n)
        ci = binomtest(k, n).proportion_ci(method="wilson")
        assert abs(ours[0] - ci.low) < 1e-12 and abs(ours[1] - ci.high) < 1e-12, (k, n)
        ci90 = binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
        assert abs(utils.stats.wilson_interval(k, n, level=0.9)[0] - ci90.low) < 1e-12
    correct = torch.tensor([True] * 30 + [False] * 70)
    assert utils.stats.accuracy_interval(correct) == utils.stats.wilson_interval(30, 100)
    low, high = utils.stats.accuracy_interval(correct)
    assert low < 0.3 < high and 0.08 < high - low < 0.2


def test_mcnemar_test_against_the_binomial_sum():
    from math import comb

    a = torch.tensor([True] * 50 + [True] * 12 + [False] * 3 + [False] * 35)
    b = torch.tensor([True] * 50 + [False] * 12 + [True] * 3 + [False] * 35)
    # 15 disagreements, 3 of them for b: two-sided exact p = 2 P(X <= 3), X ~ Binomial(15, 1/2)
    expected = 2 * sum(comb(15, i) for i in range(4)) / 2**15
    assert abs(utils.stats.mcnemar_test(a, b) - expected) < 1e-12
    assert utils.stats.mcnemar_test(a, b) == utils.stats.mcnemar_test(b, a)
    assert utils.stats.mcnemar_test(a, a) == 1.0
    balanced = torch.tensor([True, False] * 10)
    assert utils.stats.mcnemar_test(balanced, ~balanced) == 1.0  # 10 against 10: capped at 1


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: utils.stats.wilson_interval(5, 3), "0 <= k <= n"),
        (lambda: utils.stats.wilson_interval(1, 0), "0 <= k <= n"),
        (lambda: utils.stats.wilson_interval(1, 2, level=95), "level"),
        (lambda: utils.stats.accuracy_interval(torch.tensor([1, 0])), "boolean"),
        (lambda: utils.stats.accuracy_interval(torch.tensor([], dtype=torch.bool)), "non-empty"),
        (lambda: utils.stats.mcnemar_test(torch.tensor([True]), torch.tensor([True, False])), "same examples"),
    ],
)
def test_accuracy_statistics_refuse_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
