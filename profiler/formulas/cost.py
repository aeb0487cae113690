"""The unit every formula returns (separate counts of multiplications, additions
and other ops), and the building blocks formulas of every group and both
directions are made of: dot products, per-element work, broadcast sums."""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Cost:
    """Arithmetic of one layer call.

    ``mults`` and ``adds`` are scalar multiplications and additions (a subtraction
    is an addition).  ``other`` holds every op that is neither: comparisons (ReLU,
    max-pool), divisions, exp, log, sqrt, erf, tanh.  ``macs`` are the
    multiply-accumulates of dot products (conv, linear, matmul family) and are a
    subset of ``mults``, not an extra cost.
    """

    mults: int = 0
    adds: int = 0
    other: int = 0
    macs: int = 0

    def __add__(self, rhs: "Cost") -> "Cost":
        return Cost(self.mults + rhs.mults, self.adds + rhs.adds,
                    self.other + rhs.other, self.macs + rhs.macs)

    def times(self, n: int) -> "Cost":
        return Cost(self.mults * n, self.adds * n, self.other * n, self.macs * n)

    @property
    def flops(self) -> int:
        return self.mults + self.adds + self.other


ZERO = Cost()


def numel(shape: Shape) -> int:
    return prod(shape)


def dot_products(count: int, length: int, bias: bool = False) -> Cost:
    """``count`` dot products of ``length`` terms: length mults and length-1 adds
    each, plus one add each for a bias."""
    if count == 0 or length == 0:
        return ZERO
    return Cost(mults=count * length, adds=count * (length - 1 + int(bias)), macs=count * length)


def per_element(n: int, mults: int = 0, adds: int = 0, other: int = 0) -> Cost:
    """The same small amount of work on each of ``n`` elements."""
    return Cost(mults * n, adds * n, other * n)


def sum_to_cost(n_grad: int, shape: Shape) -> Cost:
    """Reducing a gradient of n_grad elements to a broadcast operand of ``shape``:
    n_grad − numel(shape) additions (none when nothing was broadcast)."""
    return Cost(adds=n_grad - numel(shape)) if n_grad > numel(shape) else ZERO
