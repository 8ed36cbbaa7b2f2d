import random

import numpy as np
import pytest
import torch

import utils
from utils import config


def test_mode_defaults_to_quick(monkeypatch):
    monkeypatch.delenv("DLCV_MODE", raising=False)
    assert utils.get_mode() == "quick"
    assert utils.is_quick()
    assert utils.pick(quick=1, full=2) == 1


@pytest.mark.parametrize("value", ["full", "FULL", " Full "])
def test_full_mode(monkeypatch, value):
    monkeypatch.setenv("DLCV_MODE", value)
    assert utils.get_mode() == "full"
    assert utils.pick(quick=1, full=2) == 2


def test_unknown_mode_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DLCV_MODE", "fast")
    with pytest.raises(ValueError, match="DLCV_MODE must be one of"):
        utils.get_mode()


def test_cpu_device_and_errors():
    assert utils.get_device("cpu") == torch.device("cpu")
    assert utils.get_device("CPU") == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be one of"):
        utils.get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            utils.get_device("cuda")
        assert utils.get_device() in (torch.device("cpu"), torch.device("mps"))


def test_seed_everything_reproduces_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    utils.seed_everything(123)
    first = draw()
    utils.seed_everything(123)
    assert draw() == first
    utils.seed_everything(124)
    assert draw() != first
    gen = utils.seed_everything(5)
    assert torch.rand(1, generator=gen).item() == torch.rand(1, generator=torch.Generator().manual_seed(5)).item()


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_seed_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        utils.seed_everything(bad)


def test_setup_prints_mode_and_device(monkeypatch, capsys):
    monkeypatch.delenv("DLCV_MODE", raising=False)
    dev = utils.setup(seed=0, device="cpu")
    out = capsys.readouterr().out
    assert dev == torch.device("cpu")
    assert "Mode: quick" in out and "device: cpu" in out


def test_setup_sets_the_cpu_threads(monkeypatch, capsys):
    before = torch.get_num_threads()
    try:
        utils.setup(seed=0, device="cpu", threads=1)
        assert torch.get_num_threads() == 1
        assert "| 1 CPU thread |" in capsys.readouterr().out
        utils.setup(seed=0, device="cpu")  # without threads= nothing changes
        assert torch.get_num_threads() == 1
        for bad in (0, -2, 1.5, True, "2"):
            with pytest.raises(ValueError, match="threads"):
                utils.setup(seed=0, device="cpu", threads=bad)
    finally:
        torch.set_num_threads(before)


def test_data_dir_respects_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DLCV_DATA", str(tmp_path / "d"))
    assert config.data_dir() == tmp_path / "d"
    assert (tmp_path / "d").is_dir()


def test_setup_turns_tf32_off():
    """On GPUs PyTorch computes float32 convolutions and recurrent layers in TF32 by default; setup() asks
    for full float32."""
    if hasattr(torch.backends, "fp32_precision"):
        knobs = torch.backends.cudnn.conv, torch.backends.cudnn.rnn, torch.backends.cuda.matmul
        before = [k.fp32_precision for k in knobs]
        try:
            for k in knobs:
                k.fp32_precision = "tf32"
            utils.setup(seed=0, device="cpu")
            assert [k.fp32_precision for k in knobs] == ["ieee"] * 3
        finally:
            for k, value in zip(knobs, before):
                k.fp32_precision = value
    else:
        before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        try:
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
            utils.setup(seed=0, device="cpu")
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
