"""Bytes an optimizer holds for the parameters it updates, and the fp32 master
weights of mixed precision (no torch: shapes and element sizes in, bytes out).

Conventions, each as ``torch.optim`` defines it (torch 2.14), for one parameter
tensor of shape ``shape`` whose elements are ``itemsize`` bytes, after the first
``step()`` (states are made lazily, at the first step, at the dtype and shape of
the parameter's gradient):

- ``sgd``: ``SGD(momentum=0)`` keeps nothing (its ``momentum_buffer`` is None).
- ``sgd-momentum``: ``SGD(momentum>0)``: one ``momentum_buffer``, a copy of the
  gradient: numel × itemsize.
- ``adam`` / ``adamw``: ``exp_avg`` and ``exp_avg_sq`` (numel × itemsize each),
  with ``amsgrad=True`` a third, ``max_exp_avg_sq``; and ``step``, a 0-d float32
  tensor (float64 when torch's default dtype is float64) per parameter tensor,
  kept on the CPU unless ``capturable`` or ``fused`` (``STEP_BYTES``).
- ``adafactor``: ``torch.optim.Adafactor``: for a parameter of 2 or more
  dimensions, the factored second moment: ``row_var`` (the shape with its last
  dimension set to 1) and ``col_var`` (the shape with its second-to-last
  dimension set to 1); for a 0-d or 1-d parameter, a full ``variance``
  (numel × itemsize); and ``step`` as Adam's.  No first moment (torch's Adafactor
  has no beta1).

Mixed precision, two recipes (``PRECISIONS``), named by what holds the weights:

- ``"master"`` (DeepSpeed's and Megatron's recipe, the ZeRO paper's count):
  parameters and gradients held in 16 bits (bf16 or fp16: 2 + 2 bytes per
  parameter), and the optimizer holds an fp32 master copy of each parameter
  (4 bytes) and its states in fp32: Adam's K = 12 bytes per parameter of the ZeRO
  paper (master 4, exp_avg 4, exp_avg_sq 4), 16 bytes per parameter in all.
  The forward and backward run at the 16-bit dtype.
- ``"autocast"`` (``torch.autocast``'s recipe): parameters, gradients and states in
  fp32 (4 + 4 + states at 4 bytes); the ops autocast lists run in 16 bits on
  16-bit copies of their fp32 inputs.  No master copy: the fp32 parameters are
  the master.  (Autocast also caches the 16-bit copy of each weight for the
  autocast region: 2 bytes per parameter held through the forward and
  backward; ``autocast_weight_cache_bytes``.)
- ``None``: no mixed precision: everything at the parameters' own dtype.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

from profiler.errors import ProfilerError

Shape = tuple[int, ...]

OPTIMIZERS = ("sgd", "sgd-momentum", "adam", "adamw", "adafactor")
PRECISIONS = ("master", "autocast")
STEP_BYTES = 4          # Adam's and Adafactor's ``step``: a 0-d float32 tensor per parameter tensor
MASTER_ITEMSIZE = 4     # fp32 master weights and states under mixed precision

# the state tensors each optimizer keeps per parameter tensor (torch.optim's names), and whether a ``step``
STATE_NAMES = {"sgd": (), "sgd-momentum": ("momentum_buffer",), "adam": ("exp_avg", "exp_avg_sq"),
               "adamw": ("exp_avg", "exp_avg_sq"), "adafactor": ("row_var", "col_var")}
HAS_STEP = {"sgd": False, "sgd-momentum": False, "adam": True, "adamw": True, "adafactor": True}


def check_optimizer(name: str) -> str:
    """``name`` lower-cased if it is one of ``OPTIMIZERS`` ("AdamW" → "adamw"), else ProfilerError."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in OPTIMIZERS:
        raise ProfilerError(f"optimizer={name!r}: expected one of {', '.join(OPTIMIZERS)}")
    return key


def check_precision(name: str | None) -> str | None:
    if name is not None and name not in PRECISIONS:
        raise ProfilerError(f"precision={name!r}: expected one of {', '.join(PRECISIONS)} or None")
    return name


def sgd_momentum_bytes(shape: Shape, itemsize: int) -> int:
    """``momentum_buffer``: ``torch.clone(grad).detach()`` at the first step, the
    gradient's shape and dtype: numel × itemsize."""
    return prod(shape) * itemsize


def adam_bytes(shape: Shape, itemsize: int, amsgrad: bool = False, step: bool = True) -> int:
    """Adam's and AdamW's states of one parameter tensor: ``exp_avg`` and
    ``exp_avg_sq`` (``zeros_like(p)``: numel × itemsize each), ``max_exp_avg_sq`` too
    with ``amsgrad``, and ``step`` (``STEP_BYTES``) unless ``step=False`` (a count
    of device memory where ``step`` sits on the CPU: CUDA parameters, neither
    ``capturable`` nor ``fused``)."""
    return (3 if amsgrad else 2) * prod(shape) * itemsize + (STEP_BYTES if step else 0)


def adafactor_bytes(shape: Shape, itemsize: int, step: bool = True) -> int:
    """torch.optim.Adafactor's states of one parameter tensor.  Two or more
    dimensions: ``row_var``, of the shape with the last dimension set to 1
    (numel / shape[-1] elements), and ``col_var``, of the shape with the
    second-to-last dimension set to 1 (numel / shape[-2] elements), at the
    gradient's dtype.  Fewer: ``variance``, numel × itemsize.  Plus ``step``
    (``STEP_BYTES``) unless ``step=False``."""
    shape = tuple(shape)
    if len(shape) > 1:
        rows = prod(shape[:-1])
        cols = prod(shape[:-2]) * shape[-1]
        elements = rows + cols
    else:
        elements = prod(shape)
    return elements * itemsize + (STEP_BYTES if step else 0)


def state_bytes(optimizer: str, shape: Shape, itemsize: int, amsgrad: bool = False, step: bool = True) -> int:
    """Bytes ``optimizer`` (one of ``OPTIMIZERS``) keeps for one parameter tensor of
    ``shape`` at ``itemsize`` bytes per element, after its first step (see the
    module docstring for each); ``itemsize`` is that of the tensors the optimizer
    updates (the fp32 master copy under the ``"master"`` recipe)."""
    optimizer = check_optimizer(optimizer)
    if optimizer == "sgd":
        return 0
    if optimizer == "sgd-momentum":
        return sgd_momentum_bytes(shape, itemsize)
    if optimizer == "adafactor":
        return adafactor_bytes(shape, itemsize, step)
    return adam_bytes(shape, itemsize, amsgrad, step)


def master_bytes(shape: Shape, precision: str | None) -> int:
    """The fp32 master copy of one parameter tensor: numel × 4 under the
    ``"master"`` recipe, nothing otherwise (under ``"autocast"`` the fp32
    parameters are the master; without mixed precision there is none)."""
    return prod(shape) * MASTER_ITEMSIZE if check_precision(precision) == "master" else 0


def autocast_weight_cache_bytes(shape: Shape, half_itemsize: int = 2) -> int:
    """torch.autocast's cached 16-bit copy of a leaf fp32 weight that requires grad,
    made at its first use in the autocast region and held until the region ends:
    numel × 2."""
    return prod(shape) * half_itemsize


@dataclass(frozen=True)
class ModelStates:
    """Model-state bytes of a set of trainable parameters under one optimizer and
    precision: ``parameters`` (as held: 16-bit under ``"master"``), ``gradients``
    (at the parameters' dtype), ``optimizer`` (the states, ``step`` included) and
    ``master`` (fp32 copies).  ``numel`` is the parameter count Ψ."""

    numel: int
    parameters: int
    gradients: int
    optimizer: int
    master: int

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.optimizer + self.master


def model_states(shapes: list[Shape], optimizer: str, itemsize: int, precision: str | None = None,
                 half_itemsize: int = 2, amsgrad: bool = False, step: bool = True) -> ModelStates:
    """The model states of trainable parameter tensors of ``shapes``.  Without
    mixed precision, parameters, gradients and states are at ``itemsize``.  Under
    ``"master"``: parameters and gradients at ``half_itemsize``, an fp32 master and
    fp32 states.  Under ``"autocast"``: parameters, gradients and states at fp32
    (autocast's cached 16-bit weights are activations of the step, not states)."""
    precision = check_precision(precision)
    held = {None: itemsize, "master": half_itemsize, "autocast": MASTER_ITEMSIZE}[precision]
    states = MASTER_ITEMSIZE if precision else itemsize
    numel = sum(prod(s) for s in shapes)
    return ModelStates(numel=numel, parameters=numel * held, gradients=numel * held,
                       optimizer=sum(state_bytes(optimizer, s, states, amsgrad, step) for s in shapes),
                       master=sum(master_bytes(s, precision) for s in shapes))
