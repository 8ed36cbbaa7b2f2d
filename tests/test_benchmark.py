"""Tests of utils.benchmark against a model whose forward pass takes a known time."""

import time

import pytest
import torch
from torch import nn

from utils.benchmark import measure_latency


class Sleeper(nn.Module):
    """Sleeps ``seconds`` in every forward pass; counts its calls and records whether grad was on."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.lin = nn.Linear(2, 2)
        self.calls = 0
        self.grad_enabled = []

    def forward(self, x):
        self.calls += 1
        self.grad_enabled.append(torch.is_grad_enabled())
        time.sleep(self.seconds)
        return self.lin(x)


def test_latency_of_a_known_delay():
    model = Sleeper(0.02)
    seconds = measure_latency(model, (1, 2), repeats=5, warmup=2)
    assert 0.02 <= seconds < 0.06
    assert model.calls == 7  # warm-up passes run but are not timed
    assert not any(model.grad_enabled)


def test_longer_delay_measures_longer():
    fast = measure_latency(Sleeper(0.005), (1, 2), repeats=3, warmup=0)
    slow = measure_latency(Sleeper(0.03), (1, 2), repeats=3, warmup=0)
    assert slow > fast + 0.015


def test_mode_restored_and_tensor_input():
    model = Sleeper(0.0).train()
    assert measure_latency(model, torch.zeros(4, 2), repeats=2, warmup=1) >= 0
    assert model.training


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"repeats": 0}, "repeats"),
        ({"repeats": 2.5}, "repeats"),
        ({"warmup": -1}, "warmup"),
        ({"input_size": (0, 2)}, "input_size"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"input_size": (1, 2), **kwargs}
    with pytest.raises(ValueError, match=match):
        measure_latency(Sleeper(0.0), **args)


def test_not_a_model():
    with pytest.raises(ValueError, match="torch.nn.Module"):
        measure_latency(lambda x: x, (1, 2))
