"""Run configuration shared by every notebook: quick/full mode, device choice and seeding.

The mode is read from one environment variable, ``DLCV_MODE``:

* ``quick`` (the default): small data and few epochs, so that every notebook runs in about a
  minute on a laptop CPU. This is what CI, Binder and the website run.
* ``full``: more data, more epochs, larger inputs. Meant for a GPU; gives numbers worth quoting.
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


def get_device(prefer: str | None = None) -> torch.device:
    """Choose the device to compute on.

    With ``prefer=None`` the best available is taken: CUDA, then Apple's MPS, then the CPU.
    Naming a device that is not available raises ``ValueError`` instead of silently falling back.
    """
    if prefer is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    name = str(prefer).lower()
    if name not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES} or None, got {prefer!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available; use None or 'cpu'")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was requested but Apple MPS is not available; use None or 'cpu'")
    return torch.device(name)


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


def setup(seed: int = 0, device: str | None = None) -> torch.device:
    """Start a notebook: read the mode, seed everything, choose the device and print all three.

    Returns the chosen device.
    """
    mode = get_mode()
    seed_everything(seed)
    dev = get_device(device)
    hint = "set DLCV_MODE=full for the full run" if mode == "quick" else "set DLCV_MODE=quick for a fast run"
    print(f"Mode: {mode} ({hint}) | device: {dev} | torch {torch.__version__} | seed {seed}")
    return dev
