"""Wall-clock latency of a model's forward pass, measured the same way in every notebook.

Latency depends on the machine, the number of threads and whatever else runs at the same time, so
treat the numbers as a comparison between models measured together, never as constants.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .stats import _check_model, _example_input, eval_mode


def _synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits until ``device`` has finished its queued work (GPUs run asynchronously)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    if device.type == "mps":
        return torch.mps.synchronize
    return lambda: None


def measure_latency(
    model: nn.Module,
    input_size: Sequence[int] | torch.Tensor = (1, 3, 224, 224),
    repeats: int = 20,
    warmup: int = 3,
) -> float:
    """Median seconds of one forward pass of ``model`` in eval mode, without gradients.

    The input is a random tensor of ``input_size`` (or the given tensor), moved to the model's device;
    the model is not moved.
    ``warmup`` untimed passes come first (the first calls allocate memory and pick kernels), then
    ``repeats`` timed passes; the median is robust to the odd slow pass caused by other processes.
    On a GPU (CUDA or Apple MPS) the device is synchronised before each clock reading, so that the time
    includes the queued work. The model's train/eval mode is
    restored afterwards.
    """
    _check_model(model)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
    x = _example_input(model, input_size)
    sync = _synchronizer(x.device)
    times = []
    with eval_mode(model), torch.inference_mode():
        for _ in range(warmup):
            model(x)
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - start)
    return statistics.median(times)
