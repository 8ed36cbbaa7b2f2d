"""Device handling without a GPU: the ``meta`` device stands in for an accelerator.

A helper that feeds a CPU tensor to a model on ``meta`` must move the tensor to ``meta`` first, exactly as
it must move it to ``cuda`` or ``mps`` for a model there. Forward pre-hooks record the device of what
the model receives. ``DLCV_DEVICE`` is tested with the devices that exist (or not) on this machine.
"""

import pytest
import torch
from torch import nn

import utils
from utils import architecture, benchmark, segmentation, training

META = torch.device("meta")
CPU = torch.device("cpu")


class Reached(Exception):
    """Raised by a probe to stop a forward pass on ``meta`` whose results could not be read."""


def probe(model: nn.Module, stop: bool = False) -> list[torch.device]:
    """Record the device of the first input of every forward pass of ``model``; optionally stop there."""
    seen = []

    def hook(module, args):
        seen.append(args[0].device)
        if stop:
            raise Reached

    model.register_forward_pre_hook(hook)
    return seen


def small_cnn() -> nn.Module:
    # convolutions on meta weights silently accept a CPU input (and return a CPU tensor), so only the
    # recorded device can tell whether the input was moved
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))


# --- DLCV_DEVICE ---------------------------------------------------------------------------------------


@pytest.fixture
def cuda_present(monkeypatch):
    """Pretend a CUDA GPU is present, so that the automatic choice is ``cuda`` (nothing runs on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


@pytest.mark.parametrize("value", ["cpu", "CPU", " cpu "])
def test_env_overrides_the_automatic_choice(monkeypatch, cuda_present, value):
    monkeypatch.setenv(utils.DEVICE_ENV, value)
    assert utils.DEVICE_ENV == "DLCV_DEVICE"
    assert utils.get_device() == CPU


@pytest.mark.parametrize("value", [None, "", "  "])
def test_unset_or_empty_env_is_automatic(monkeypatch, cuda_present, value):
    if value is None:
        monkeypatch.delenv("DLCV_DEVICE", raising=False)
    else:
        monkeypatch.setenv("DLCV_DEVICE", value)
    assert utils.get_device() == torch.device("cuda")


def test_unknown_env_device_is_a_helpful_error(monkeypatch):
    monkeypatch.setenv("DLCV_DEVICE", "tpu")
    with pytest.raises(ValueError, match="DLCV_DEVICE must be one of") as err:
        utils.get_device()
    message = str(err.value)
    assert "'tpu'" in message and all(name in message for name in ("cpu", "cuda", "mps"))
    assert "Unset DLCV_DEVICE" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_env_device_is_an_error(monkeypatch):
    monkeypatch.setenv("DLCV_DEVICE", "cuda")
    with pytest.raises(ValueError, match="DLCV_DEVICE=cuda was set but no CUDA GPU.*unset DLCV_DEVICE"):
        utils.get_device()
    with pytest.raises(ValueError, match="DLCV_DEVICE"):
        utils.setup(seed=0)


def test_explicit_device_wins_over_env(monkeypatch):
    monkeypatch.setenv("DLCV_DEVICE", "tpu")  # would raise if it were read
    assert utils.get_device("cpu") == CPU
    if not torch.cuda.is_available():
        monkeypatch.setenv("DLCV_DEVICE", "cuda")
        assert utils.get_device("cpu") == CPU


def test_setup_uses_env(monkeypatch, cuda_present, capsys):
    monkeypatch.setenv("DLCV_DEVICE", "cpu")
    assert utils.setup(seed=0) == CPU
    assert "device: cpu" in capsys.readouterr().out


# --- model_device --------------------------------------------------------------------------------------


def test_model_device_parameters_buffers_or_cpu():
    assert utils.model_device(nn.Linear(2, 2)) == CPU
    assert utils.model_device(nn.Linear(2, 2).to(META)) == META
    assert utils.model_device(nn.BatchNorm2d(3, affine=False).to(META)) == META  # buffers only
    assert utils.model_device(nn.ReLU()) == CPU  # neither
    with pytest.raises(ValueError, match="torch.nn.Module"):
        utils.model_device(torch.zeros(2))


# --- helpers feed inputs on the model's device ---------------------------------------------------------


def test_count_macs_and_layer_table_move_a_given_input_to_the_model():
    model = small_cnn().to(META)
    seen = probe(model)
    x = torch.randn(1, 3, 8, 8)  # on the CPU
    assert utils.count_macs(model, x) == 3 * 4 * 9 * 64 + 256 * 2
    table = utils.layer_table(model, x)
    assert list(table["output shape"])[-1] == (1, 2)
    assert seen == [META, META]


def test_architecture_helpers_move_a_given_input_to_the_model():
    model = small_cnn().to(META)
    seen = probe(model)
    assert architecture.weight_layer_depth(model, torch.randn(1, 3, 8, 8)) == 2
    architecture.calibrate(model, torch.randn(2, 3, 8, 8))
    assert seen == [META, META]


@pytest.mark.filterwarnings("ignore:.*copying from a non-meta parameter:UserWarning")  # meta holds no values
def test_compare_models_feeds_each_model_on_its_own_device():
    # our model on the "accelerator", the reference on the CPU: each must get the batch on its own device
    reference = small_cnn()
    model = small_cnn().to(META)
    seen_by_model = probe(model)
    seen_by_reference = probe(reference, stop=True)  # outputs on meta hold no numbers to compare
    with pytest.raises(Reached):
        utils.compare_models(model, reference, torch.randn(2, 3, 8, 8))
    assert seen_by_model == [META] and seen_by_reference == [CPU]


def test_measure_latency_moves_a_given_input_to_the_model():
    model = small_cnn().to(META)
    seen = probe(model)
    assert benchmark.measure_latency(model, torch.randn(1, 3, 8, 8), repeats=2, warmup=1) >= 0
    assert seen == [META] * 3


def test_synchronizer_per_device(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(("cuda", device)))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append(("mps", None)))
    for device in (torch.device("cuda", 1), torch.device("mps"), CPU, META):
        benchmark._synchronizer(device)()
    assert calls == [("cuda", torch.device("cuda", 1)), ("mps", None)]


# --- evaluate and predict compute where the model is ---------------------------------------------------


def _loader(n=8):
    data = torch.utils.data.TensorDataset(torch.randn(n, 3, 8, 8), torch.randint(0, 2, (n,)))
    return torch.utils.data.DataLoader(data, batch_size=4)


def test_evaluate_and_predict_use_the_model_device():
    model = small_cnn().to(META)
    seen = probe(model, stop=True)  # results on meta cannot be read
    with pytest.raises(Reached):
        utils.evaluate(model, _loader())
    with pytest.raises(Reached):
        utils.predict(model, torch.randn(5, 3, 8, 8))
    assert seen == [META, META]
    assert utils.model_device(model) == META  # not moved


def test_cpu_model_stays_on_the_cpu_when_an_accelerator_is_preferred(monkeypatch):
    # the situation of a notebook that evaluates a CPU model on a machine with a GPU
    monkeypatch.setattr(training, "get_device", lambda prefer=None: META)
    model = small_cnn()
    seen = probe(model)
    result = utils.evaluate(model, _loader())
    assert 0 <= result["accuracy"] <= 1
    out = utils.predict(model, torch.randn(5, 3, 8, 8), batch_size=2)
    assert out.shape == (5, 2) and out.device == CPU
    assert set(seen) == {CPU} and utils.model_device(model) == CPU


def test_explicit_device_moves_the_model():
    for run in (
        lambda m: utils.evaluate(m, _loader(), device="meta"),
        lambda m: utils.predict(m, torch.randn(3, 3, 8, 8), device=META),
    ):
        model = small_cnn()
        seen = probe(model, stop=True)
        with pytest.raises(Reached):
            run(model)
        assert seen == [META] and utils.model_device(model) == META


def test_predict_rejects_a_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        utils.predict(small_cnn(), torch.randn(3, 3, 8, 8), batch_size=0)


def test_segmentation_evaluation_uses_the_model_device():
    model = nn.Conv2d(1, 2, 1).to(META)
    seen = probe(model, stop=True)
    with pytest.raises(Reached):
        segmentation._evaluate(model, torch.randn(2, 1, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long), 2)
    assert seen == [META]


def test_training_loops_default_to_get_device(monkeypatch):
    monkeypatch.setenv("DLCV_DEVICE", "tpu")  # fit and fit_segmentation must ask get_device, which refuses
    with pytest.raises(ValueError, match="DLCV_DEVICE"):
        utils.fit(small_cnn(), _loader(), epochs=1, progress=False)
    images, masks = torch.randn(2, 1, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="DLCV_DEVICE"):
        segmentation.fit_segmentation(nn.Conv2d(1, 2, 1), images, masks, epochs=1, progress=False)
    monkeypatch.setenv("DLCV_DEVICE", "cpu")
    model = small_cnn()
    seen = probe(model)
    history = utils.fit(model, _loader(), _loader(), epochs=1, progress=False)
    assert history.epochs == 1 and len(history.val_acc) == 1
    assert set(seen) == {CPU} and utils.model_device(model) == CPU
