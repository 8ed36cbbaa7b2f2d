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
