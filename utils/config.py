"""Run configuration shared by every notebook: quick/full mode, device choice and seeding.

The mode is read from one environment variable, ``DLCV_MODE``:

* ``quick`` (the default): small data and few epochs, so that every notebook runs in about a
  minute on a laptop CPU. This is what CI, Binder and the website run.
* ``full``: more data, more epochs, larger inputs. Meant for a GPU; gives numbers worth quoting.

The device is chosen automatically (CUDA, then Apple's MPS, then the CPU) unless the environment variable
``DLCV_DEVICE`` names one: ``cpu``, ``cuda`` or ``mps`` (case-insensitive; empty means automatic), e.g.
``export DLCV_DEVICE=cpu`` to run on the CPU although a GPU is present. A device named there that does not
exist on the machine is an error, not a silent fallback. A device passed to :func:`get_device` or
:func:`setup` in the code wins over the variable. Helpers that take a model compute on the model's own
device (:func:`model_device`); only the training loops move the model, to :func:`get_device`.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

MODE_ENV = "DLCV_MODE"
MODES = ("quick", "full")
DEVICE_ENV = "DLCV_DEVICE"
DEVICES = ("cuda", "mps", "cpu")

T = TypeVar("T")


def get_mode() -> str:
    """Return the run mode, ``"quick"`` (default) or ``"full"``, from ``$DLCV_MODE``.

    Raises ``ValueError`` naming the allowed values when the variable holds anything else.
    """
    value = os.environ.get(MODE_ENV, "quick").strip().lower() or "quick"
    if value not in MODES:
        raise ValueError(
            f"{MODE_ENV} must be one of {MODES}, got {value!r}. "
            f"Unset it for quick mode or run `export {MODE_ENV}=full` for full mode."
        )
    return value


def is_quick() -> bool:
    """True in quick mode (the default)."""
    return get_mode() == "quick"


def pick(quick: T, full: T) -> T:
    """Return ``quick`` in quick mode and ``full`` in full mode.

    >>> epochs = pick(quick=2, full=30)
    """
    return quick if is_quick() else full


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def get_device(prefer: str | None = None) -> torch.device:
    """Choose the device to compute on.

    With ``prefer=None`` the device named by ``$DLCV_DEVICE`` (``cpu``, ``cuda`` or ``mps``) is taken if the
    variable is set and not empty, otherwise the best available: CUDA, then Apple's MPS, then the CPU.
    An explicit ``prefer`` wins over the variable. Naming an unknown device, or one that is not available,
    in either place raises ``ValueError`` instead of silently falling back.
    """
    if prefer is not None:
        name = str(prefer).strip().lower()
        if name not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES} or None, got {prefer!r}")
        source, fix = f"device {name!r} was requested", "use None or 'cpu'"
    else:
        name = os.environ.get(DEVICE_ENV, "").strip().lower()
        if not name:
            if torch.cuda.is_available():
                return torch.device("cuda")
            if _mps_available():
                return torch.device("mps")
            return torch.device("cpu")
        if name not in DEVICES:
            raise ValueError(
                f"{DEVICE_ENV} must be one of {DEVICES} or empty, got {os.environ[DEVICE_ENV]!r}. "
                f"Unset {DEVICE_ENV} to choose the device automatically, or run e.g. `export {DEVICE_ENV}=cpu`."
            )
        source = f"{DEVICE_ENV}={name} was set"
        fix = f"unset {DEVICE_ENV} to choose automatically, or set {DEVICE_ENV}=cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{source} but no CUDA GPU is available; {fix}")
    if name == "mps" and not _mps_available():
        raise ValueError(f"{source} but Apple MPS is not available; {fix}")
    return torch.device(name)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device a model computes on: that of its first parameter, else its first buffer, else the CPU.

    Helpers that feed tensors to a model move them here, so that a model works wherever it lives.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"expected a torch.nn.Module, got {type(model).__name__}")
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and CUDA) for a reproducible run.

    Returns a ``torch.Generator`` seeded with the same value, handy for data loaders.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def data_dir() -> Path:
    """Folder for optional downloaded datasets: ``$DLCV_DATA`` or ``~/.cache/dlcv-book``."""
    root = os.environ.get("DLCV_DATA") or Path.home() / ".cache" / "dlcv-book"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def use_full_float32() -> None:
    """Compute float32 convolutions and matrix products in full float32 on GPUs too.

    NVIDIA GPUs since Ampere run float32 convolutions and cuDNN's recurrent layers in TF32 by default (10
    bits of mantissa), which changes results in the third decimal: the book's identity proofs (to 1e-4)
    would then fail on a GPU and pass on the CPU (an LSTM's cell state, measured on an H200, differed by
    1.2e-3). Full precision costs some speed, not correctness. ``setup()`` calls this.
    """
    if hasattr(torch.backends, "fp32_precision"):  # PyTorch >= 2.9
        torch.backends.cudnn.conv.fp32_precision = "ieee"
        torch.backends.cudnn.rnn.fp32_precision = "ieee"
        torch.backends.cuda.matmul.fp32_precision = "ieee"
    else:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


def setup(seed: int = 0, device: str | None = None, threads: int | None = None) -> torch.device:
    """Start a notebook: read the mode, seed everything, choose the device and print all three.

    The device is :func:`get_device` of ``device``: that device if given, else ``$DLCV_DEVICE`` if set,
    else the best available. ``threads``, if given, is the number of CPU threads PyTorch uses
    (:func:`torch.set_num_threads`): chapter 6's small recurrent networks run one small step after another,
    too small to share between threads, and take one. Returns the chosen device.
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer or None, not {threads!r}")
        torch.set_num_threads(threads)
    from .plotting import use_crisp_inline_figures

    mode = get_mode()
    use_crisp_inline_figures()  # in Jupyter: sharp figures with alt text
    use_full_float32()  # no TF32 on GPUs: the same numbers as on the CPU, to float32 rounding
    seed_everything(seed)
    dev = get_device(device)
    hint = "DLCV_MODE=full for the full run" if mode == "quick" else "DLCV_MODE=quick for a fast run"
    cpu = f" | {threads} CPU thread{'s' * (threads > 1)}" if threads is not None else ""
    print(f"Mode: {mode} | device: {dev} | seed {seed}{cpu} | torch {torch.__version__}\n({hint})")
    return dev
