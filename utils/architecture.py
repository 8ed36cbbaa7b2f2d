"""Architecture tools: how deep a network is, and random weights that make identity proofs meaningful.

:func:`weight_layer_depth` counts layers as the papers do. :func:`calibrate` and :func:`output_spread`
serve the proof that a from-scratch network is torchvision's (``utils.assert_same_model``): with
PyTorch's default initialisation the outputs of many deep networks hardly depend on the input (the
activations shrink layer after layer), so two *different* networks could agree to within any tolerance.
Calibrated weights give outputs of unit scale that change with the input.

How deep is a network? The papers' "N layers" counted from the computation itself.

"VGG-16 has 16 layers", "GoogLeNet is 22 layers deep", "ResNet-152": the papers count the layers
*with weights* (convolutions and fully connected layers) on the longest path from the input to the
output. Branches that run side by side (an Inception module's four branches, a ResNet shortcut) add
width, not depth. :func:`weight_layer_depth` follows the autograd graph of one forward pass, so it sees
every path, including those made by functional operations (``torch.cat``, ``+``) that module hooks miss.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

import torch
from torch import nn

from .stats import (
    _check_model,
    _example_input,
    _first_tensor,
    assert_same_model,
    count_macs,
    count_params,
    eval_mode,
    output_spread_of,
)

# autograd nodes of the operations that apply a weight tensor: convolutions (all kinds) and linear layers
_WEIGHT_OPS = ("Convolution", "Addmm", "Mm", "Linear")
# nodes a weight may pass through between its leaf and the operation (``weight.t()`` in ``F.linear``)
_WEIGHT_VIEWS = ("TBackward", "PermuteBackward", "ViewBackward", "ExpandBackward", "UnsafeViewBackward")


def _is_parameter_leaf(node, params: set[int]) -> bool:
    variable = getattr(node, "variable", None)
    return variable is not None and id(variable) in params


def _applies_weight(node, params: set[int]) -> bool:
    """True for a convolution or matrix product that takes one of the model's parameters as an operand."""
    if not type(node).__name__.startswith(_WEIGHT_OPS):
        return False
    for child, _ in node.next_functions:
        if child is None:
            continue
        if _is_parameter_leaf(child, params):
            return True
        if type(child).__name__.startswith(_WEIGHT_VIEWS):
            if any(g is not None and _is_parameter_leaf(g, params) for g, _ in child.next_functions):
                return True
    return False


def weight_layer_depth(model: nn.Module, input_size: Sequence[int] | torch.Tensor = (1, 3, 224, 224)) -> int:
    """Number of layers with weights (convolutions and linear layers) on the longest input-to-output path.

    Runs one forward pass in eval mode with gradients on, then finds the longest path in the autograd
    graph, counting the nodes that apply one of ``model``'s parameters as a convolution kernel or a
    matrix. Parallel branches count once (the deepest one); normalisation layers do not count, as in the
    papers. For a model that returns a tuple (e.g. with auxiliary heads) the first output is followed.
    The input (a random batch of ``input_size`` or the tensor itself) is fed on the model's device.
    """
    _check_model(model)
    params = {id(p) for p in model.parameters()}
    if not params:
        raise ValueError("the model has no parameters, so it has no layers with weights")
    x = _example_input(model, input_size)
    with eval_mode(model), torch.enable_grad():
        out = _first_tensor(model(x))
    if out.grad_fn is None:
        raise ValueError("the output does not depend on any parameter (no autograd graph); is requires_grad off?")

    # longest path by an iterative post-order walk (graphs of deep networks overflow Python's recursion)
    depth: dict = {}
    stack = [(out.grad_fn, False)]
    while stack:
        node, children_done = stack.pop()
        if node in depth:
            continue
        children = [c for c, _ in node.next_functions if c is not None]
        if children_done:
            own = 1 if _applies_weight(node, params) else 0
            depth[node] = own + max((depth[c] for c in children), default=0)
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in children if c not in depth)
    return depth[out.grad_fn]


_WEIGHT_LAYERS = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Linear,
)


def calibrate(
    model: nn.Module, input_size: Sequence[int] | torch.Tensor = (8, 3, 224, 224), seed: int = 0
) -> nn.Module:
    """Rescale a randomly initialised network so that its activations keep unit scale; returns the model.

    One forward pass on a random batch (``input_size``, at least 2 samples, or the tensor itself; fed on the
    model's device, where the model stays) visits the layers in order:
    every convolution's and linear layer's weight and bias are divided by the standard deviation of its
    output (so that output has standard deviation 1, a one-pass version of LSUV, Mishkin and Matas 2016),
    and every BatchNorm's running mean and (biased) variance are set to the statistics of that batch, so that
    in eval mode the network computes on that batch exactly what it computed during calibration. Only the
    BatchNorm layers run in training mode; everything else runs as in evaluation (no dropout, no stochastic
    depth), so the calibrated statistics are those the network sees in eval mode. The model's modes and the
    BatchNorm momenta are restored afterwards. Use it on the reference *before* the comparison, so that both
    networks get the calibrated weights.
    """
    _check_model(model)
    x = _example_input(model, input_size, seed)
    if x.shape[0] < 2:
        raise ValueError(f"calibrate needs a batch of at least 2 samples, got input_size {tuple(x.shape)}")
    layers = [m for m in model.modules() if isinstance(m, _WEIGHT_LAYERS)]
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not layers and not norms:
        raise ValueError("the model has no convolution, linear or BatchNorm layer to calibrate")

    def rescale(module, inputs, output):
        std = output.detach().float().std().clamp_min(1e-12)
        module.weight.mul_(1.0 / std)
        if module.bias is not None:
            module.bias.mul_(1.0 / std)
        return output / std

    counts = {}  # values per channel that each BatchNorm normalises over

    def count(module, inputs, output):
        counts[module] = inputs[0].numel() // inputs[0].shape[1]

    momenta = [bn.momentum for bn in norms]
    modes = {m: m.training for m in model.modules()}
    hooks = [m.register_forward_hook(rescale) for m in layers] + [bn.register_forward_hook(count) for bn in norms]
    try:
        model.eval()
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
            bn.train()  # normalise with the batch's statistics and record them
        with torch.no_grad():
            model(x)
            for bn, n in counts.items():  # PyTorch records the unbiased variance; normalisation used the biased one
                bn.running_var.mul_((n - 1) / n)
    finally:
        for h in hooks:
            h.remove()
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
        for m, training in modes.items():
            m.training = training
    return model


def output_spread(
    model: nn.Module, input_size: Sequence[int] | torch.Tensor = (4, 3, 224, 224), seed: int = 0
) -> float:
    """How much the output depends on the input: the largest difference between two samples' outputs.

    Runs a batch (``input_size`` with at least 2 samples, or the tensor itself) in eval mode on the
    model's device and returns
    $\\max_k \\big(\\max_i y_{ik} - \\min_i y_{ik}\\big)$ over the samples $i$ and output entries $k$. A
    comparison of two networks' outputs to within a tolerance ``atol`` only proves something if the spread
    is much larger than ``atol``. Use the same batch as :func:`calibrate` and the comparison. The model's
    mode is restored.
    """
    _check_model(model)
    x = _example_input(model, input_size, seed)
    if x.shape[0] < 2:
        raise ValueError(f"output_spread needs a batch of at least 2 samples, got input of shape {tuple(x.shape)}")
    with eval_mode(model), torch.no_grad():
        y = _first_tensor(model(x))
    return output_spread_of(y)


def prove_identical(
    build,
    reference,
    batch: torch.Tensor,
    *,
    params: int | None = None,
    gmacs: float | None = None,
    macs_input: Sequence[int] = (1, 3, 224, 224),
    layers: int | None = None,
    atol: float = 1e-4,
) -> dict:
    """Prove that the network ``build()`` makes is ``reference``, and check its documented numbers.

    The whole proof of chapter 2, in one call per network:

    1. ``reference`` (a module, or a function that makes one, e.g. ``torchvision.models.resnet50``) is
       :func:`calibrate`\\ d on ``batch``, so that its outputs depend on the input.
    2. ``build()`` runs on the ``meta`` device: the network's structure without memory or random
       initialisation. The reference's tensors are then loaded into it *strictly* with ``assign=True``
       (every name and shape must match; the tensors are borrowed, not copied, so a 138-million-parameter
       VGG does not need twice its memory).
    3. :func:`utils.assert_same_model` runs both on ``batch`` and raises ``AssertionError`` when the outputs
       differ by more than ``atol`` or when the comparison is INCONCLUSIVE (the reference's outputs vary
       less than 1000 × ``atol`` across the batch).
    4. The parameter count, the multiply-adds for one input of shape ``macs_input`` (counted on a second
       ``meta`` copy: shapes only, no arithmetic) and the layers with weights (:func:`weight_layer_depth`)
       are measured; ``params``, ``gmacs`` (giga multiply-adds, compared rounded to 3 decimals, as
       torchvision documents them) and ``layers``, when given, must equal them.

    Returns one row for a table: ``parameters``, ``GMACs``, ``layers with weights``, ``max |difference|``
    and ``output spread``. Both networks are released before returning.
    """
    if not callable(build) or isinstance(build, nn.Module):
        raise TypeError("build must be a function that returns a new network (e.g. lambda: resnet(50))")
    if not isinstance(batch, torch.Tensor) or batch.dim() < 2 or batch.shape[0] < 2:
        raise ValueError("batch must be a tensor holding at least 2 inputs, e.g. torch.randn(4, 3, 64, 64)")
    ref = reference if isinstance(reference, nn.Module) else reference()
    _check_model(ref)
    calibrate(ref, batch)
    with torch.device("meta"):
        ours = build()
    _check_model(ours)
    try:
        ours.load_state_dict(ref.state_dict(), strict=True, assign=True)
    except RuntimeError as err:
        raise ValueError(
            "the network's parameter names or shapes differ from the reference's, so it is not the same "
            f"network (rename layers to the reference's names):\n{err}"
        ) from err
    left = [name for name, t in [*ours.named_parameters(), *ours.named_buffers()] if t.is_meta]
    if left:
        raise ValueError(
            f"tensors the reference's state dict does not hold stayed on the meta device: {left[:5]}; "
            "register them as persistent buffers or build the network outside the meta device"
        )
    result = assert_same_model(ours, ref, batch, atol=atol)
    row = {
        "parameters": count_params(ours),
        "GMACs": None,
        "layers with weights": weight_layer_depth(ours, batch[:1]),
        "max |difference|": result.max_abs_diff,
        "output spread": round(result.spread, 3),
    }
    del ours, ref
    gc.collect()
    with torch.device("meta"):
        row["GMACs"] = round(count_macs(build(), tuple(macs_input)) / 1e9, 3)
    expected = {"parameters": params, "GMACs": gmacs, "layers with weights": layers}
    wrong = {k: (row[k], v) for k, v in expected.items() if v is not None and row[k] != v}
    if wrong:
        raise AssertionError(
            "the network is the reference, but its numbers differ from the documented ones: "
            + "; ".join(f"{k}: measured {got}, documented {want}" for k, (got, want) in wrong.items())
        )
    return row
