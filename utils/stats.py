"""Model statistics: parameters, a per-layer table, multiply-adds and FLOPs, and a proof of identity; and
the statistics of an accuracy measured on a finite test set (:func:`accuracy_interval`,
:func:`mcnemar_test`).

A note on units. One multiply-add (MAC) is two floating-point operations (FLOPs).
``torch.utils.flop_counter.FlopCounterMode`` reports FLOPs (2 per MAC). torchvision's documented
"GFLOPS" and the ResNet and EfficientNet papers' "FLOPs" are in fact multiply-adds, so compare them
with :func:`count_macs`, not :func:`count_flops`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from .config import model_device


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"expected a torch.nn.Module, got {type(model).__name__}")


def _example_input(model: nn.Module, input_size: Sequence[int] | torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The input to feed ``model``, on the model's device: the given tensor, or a seeded random one of that size."""
    if isinstance(input_size, torch.Tensor):
        return input_size.to(model_device(model))
    size = tuple(input_size)
    if len(size) < 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(
            f"input_size must be a batched shape of positive ints such as (1, 3, 224, 224), got {input_size!r}"
        )
    gen = torch.Generator().manual_seed(seed)  # drawn on the CPU: the same numbers on every device
    return torch.randn(size, generator=gen).to(model_device(model))


@contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Run the models in evaluation mode inside the ``with`` block; each gets its own mode back afterwards."""
    was = [m.training for m in models]
    try:
        for m in models:
            m.eval()
        yield
    finally:
        for m, training in zip(models, was):
            m.train(training)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (weights and biases, not buffers such as BatchNorm's running mean)."""
    _check_model(model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def layer_table(model: nn.Module, input_size: Sequence[int] | torch.Tensor):
    """A table (pandas DataFrame) of the layers a forward pass runs: name, type, output shape, parameters.

    Rows are the modules that own parameters directly or have no children, in the order they run;
    a module that runs twice appears twice, its parameters counted once. The ``params`` column sums to
    :func:`count_params` for any model whose parameters are all used in the forward pass.
    ``input_size`` is a batched shape (a random input is drawn) or an input tensor; either is fed on the
    model's device (``torch.device("meta")`` works: shapes without arithmetic).
    """
    import pandas as pd

    _check_model(model)
    x = _example_input(model, input_size)
    rows, hooks, seen = [], [], set()

    def shape_of(out):
        if isinstance(out, torch.Tensor):
            return tuple(out.shape)
        if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
            return tuple(out[0].shape)
        return None

    for name, module in model.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if own == 0 and any(True for _ in module.children()):
            continue

        def hook(mod, inputs, out, name=name, own=own):
            rows.append(
                {
                    "layer": name or type(mod).__name__,
                    "type": type(mod).__name__,
                    "output shape": shape_of(out),
                    "params": 0 if name in seen else own,
                }
            )
            seen.add(name)

        hooks.append(module.register_forward_hook(hook))
    try:
        with eval_mode(model), torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return pd.DataFrame(rows, columns=["layer", "type", "output shape", "params"])


def count_flops(model: nn.Module, input_size: Sequence[int] | torch.Tensor) -> int:
    """Floating-point operations of one forward pass in eval mode, counted by ``FlopCounterMode``.

    Convolutions, matrix products and attention are counted (2 FLOPs per multiply-add); cheap
    element-wise operations (ReLU, BatchNorm, pooling, additions) are not, as in torchvision's figures.
    ``input_size`` is a batched shape or an input tensor; the input is fed on the model's device, so a
    model on ``torch.device("meta")`` is counted without memory or arithmetic.
    """
    from torch.utils.flop_counter import FlopCounterMode

    _check_model(model)
    x = _example_input(model, input_size)
    counter = FlopCounterMode(display=False)
    with eval_mode(model), torch.no_grad(), counter:
        model(x)
    return int(counter.get_total_flops())


def count_macs(model: nn.Module, input_size: Sequence[int] | torch.Tensor) -> int:
    """Multiply-adds (MACs) of one forward pass: :func:`count_flops` / 2.

    This is the unit of torchvision's "GFLOPS" column and of the papers' "FLOPs". ``FlopCounterMode``
    does not see inside ``nn.LSTM``/``nn.GRU`` (fused kernels): they count 0 (run the sequence step by
    step with ``nn.LSTMCell`` to count them).
    """
    return count_flops(model, input_size) // 2


@dataclass(frozen=True)
class ModelComparison:
    """What :func:`compare_models` measured.

    ``spread`` is how much the reference's outputs differ between the samples of the batch (see
    :func:`output_spread_of`). Agreement to within ``atol`` proves the networks equal only when the outputs
    really depend on the input, so the verdict also needs ``spread >= min_spread``.
    """

    params: int
    reference_params: int
    max_abs_diff: float
    atol: float
    spread: float
    min_spread: float

    @property
    def conclusive(self) -> bool:
        return self.spread >= self.min_spread

    @property
    def same(self) -> bool:
        return self.params == self.reference_params and self.max_abs_diff <= self.atol and self.conclusive

    def __str__(self) -> str:
        numbers = (
            f"{self.params:,} parameters (reference {self.reference_params:,}), "
            f"max |difference| of outputs {self.max_abs_diff:.2e} (tolerance {self.atol:.0e}), "
            f"output spread {self.spread:.3g}"
        )
        if self.params != self.reference_params or self.max_abs_diff > self.atol:
            return f"DIFFERENT: {numbers}"
        if not self.conclusive:
            return (
                f"INCONCLUSIVE: {numbers}. The reference's outputs hardly change from one input to the next "
                f"(spread below {self.min_spread:.0e}), so agreeing to within the tolerance proves nothing. "
                "Give the reference weights that keep activations at unit scale first, with "
                "utils.architecture.calibrate(reference, batch), and compare on that batch."
            )
        return f"identical: {numbers}"


def _first_tensor(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise ValueError(f"the model returned {type(out).__name__}; expected a tensor or a tuple of tensors")


def output_spread_of(outputs: torch.Tensor) -> float:
    """Largest difference between samples of a batch of outputs: $\\max_k (\\max_i y_{ik} - \\min_i y_{ik})$."""
    if outputs.ndim < 1 or outputs.shape[0] < 2:
        raise ValueError(
            f"the spread of outputs needs a batch of at least 2 samples, got outputs of shape {tuple(outputs.shape)}"
        )
    y = outputs.detach().double().flatten(1) if outputs.ndim > 1 else outputs.detach().double()[:, None]
    return (y.amax(0) - y.amin(0)).max().item()


def compare_models(
    model: nn.Module,
    reference: nn.Module,
    input_size: Sequence[int] | torch.Tensor = (2, 3, 224, 224),
    atol: float = 1e-4,
    seed: int = 0,
    min_spread_ratio: float = 1000.0,
) -> ModelComparison:
    """Prove that a from-scratch ``model`` is the same network as ``reference`` (e.g. torchvision's).

    Loads the reference's state dict into ``model`` *strictly* (every name and shape must match),
    runs both in eval mode on the same batch (``input_size``: a random batch of that shape or the tensor
    itself, at least 2 samples; each model gets it on its own device, and the outputs are compared on the
    CPU), and reports the parameter counts, the largest absolute difference of the outputs and the
    *spread* of the reference's outputs across the batch. The verdict ``same`` needs equal counts, a
    difference within ``atol``, and a spread of at least ``min_spread_ratio * atol``: with PyTorch's default
    initialisation many deep networks give nearly the same output for every input, and then *any* two
    networks agree to within the tolerance.
    Calibrate such a reference first (:func:`utils.architecture.calibrate`). Use ``assert result.same``
    or :func:`assert_same_model`.
    """
    _check_model(model)
    _check_model(reference)
    if not atol > 0 or not min_spread_ratio >= 0:
        raise ValueError(f"atol must be positive and min_spread_ratio non-negative, got {atol} and {min_spread_ratio}")
    x = _example_input(reference, input_size, seed)
    if x.shape[0] < 2:
        raise ValueError(
            f"compare_models needs a batch of at least 2 inputs, to check that the outputs depend on the input; "
            f"got input of shape {tuple(x.shape)}"
        )
    try:
        model.load_state_dict(reference.state_dict(), strict=True)
    except RuntimeError as err:
        raise ValueError(
            "the model's parameter names or shapes differ from the reference's, so it is not the same "
            f"network (rename layers to the reference's names to compare):\n{err}"
        ) from err
    with eval_mode(model, reference), torch.no_grad():
        ours = _first_tensor(model(x.to(model_device(model))))
        ref = _first_tensor(reference(x.to(model_device(reference))))
    if ours.shape != ref.shape:
        raise ValueError(f"output shapes differ: {tuple(ours.shape)} vs reference {tuple(ref.shape)}")
    diff = (ours.detach().cpu().double() - ref.detach().cpu().double()).abs().max().item()
    spread = output_spread_of(ref.cpu())
    return ModelComparison(count_params(model), count_params(reference), diff, atol, spread, min_spread_ratio * atol)


def assert_same_model(
    model, reference, input_size=(2, 3, 224, 224), atol: float = 1e-4, min_spread_ratio: float = 1000.0
) -> ModelComparison:
    """:func:`compare_models`, raising ``AssertionError`` with the numbers when the models differ
    or when the comparison is inconclusive (outputs that hardly depend on the input)."""
    result = compare_models(model, reference, input_size, atol, min_spread_ratio=min_spread_ratio)
    if not result.same:
        raise AssertionError(str(result))
    return result


# ---------------------------------------------------------------------------------------------------------
# accuracy on a finite test set: intervals and paired tests


def _outcomes(correct, name: str) -> torch.Tensor:
    t = torch.as_tensor(correct)
    if t.dtype != torch.bool or t.ndim != 1 or len(t) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D boolean tensor (one entry per test example)")
    return t.cpu()


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval, at confidence ``level``, for a proportion ``k / n``."""
    if isinstance(n, bool) or int(n) != n or n < 1 or int(k) != k or not 0 <= k <= n:
        raise ValueError(f"need whole numbers 0 <= k <= n with n >= 1, got k={k!r}, n={n!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * (p * (1 - p) / n + z**2 / (4 * n**2)) ** 0.5 / (1 + z**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_interval(correct, level: float = 0.95) -> tuple[float, float]:
    """The (Wilson) interval of an accuracy at confidence ``level``, from ``correct``: one boolean per test
    example, whether the model got it right. It measures the test set's sampling noise only, not what
    another training run would give."""
    correct = _outcomes(correct, "correct")
    return wilson_interval(int(correct.sum()), len(correct), level)


def mcnemar_test(correct_a, correct_b) -> float:
    """Exact McNemar test of two models on the same test examples: the two-sided p-value of the null
    hypothesis that each is as likely to be right where the other is wrong. Only the examples on which they
    disagree count (``b`` right where ``a`` is wrong, and the reverse): under the null the split of those is
    Binomial(disagreements, 1/2). Returns 1.0 when they never disagree."""
    a, b = _outcomes(correct_a, "correct_a"), _outcomes(correct_b, "correct_b")
    if a.shape != b.shape:
        raise ValueError(f"the two models must be scored on the same examples, got {len(a)} and {len(b)}")
    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    from scipy.stats import binom

    return float(min(1.0, 2 * binom.cdf(k, n, 0.5)))
