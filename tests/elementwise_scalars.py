"""Scalar operations that tests/bruteforce.py's ``Num`` lacks, tallied by its rules:
comparisons, abs, rounding, erf, sin, cos, sqrt and pow are ``other``, one each.

Free functions rather than a subclass of Num: Num's operators build plain Num
results, so methods added by a subclass would be gone after the first operation."""
from __future__ import annotations

import math

from bruteforce import Num


def _tally_of(*xs):
    return next(x.t for x in xs if isinstance(x, Num))


def _v(x) -> float:
    return x.v if isinstance(x, Num) else float(x)


def _other(x: Num, value: float) -> Num:
    x.t.other += 1
    return Num(value, x.t)


def greater(x, y) -> bool:
    """x > y: one comparison, whose outcome picks a branch."""
    _tally_of(x, y).other += 1
    return _v(x) > _v(y)


def less(x, y) -> bool:
    _tally_of(x, y).other += 1
    return _v(x) < _v(y)


def equal(x, y) -> bool:
    _tally_of(x, y).other += 1
    return _v(x) == _v(y)


def maximum(x, y) -> Num:
    """max(x, y): one comparison (Num.max, as in bruteforce's max-pool)."""
    return x.max(y) if isinstance(x, Num) else y.max(x)


def minimum(x, y) -> Num:
    t = _tally_of(x, y)
    t.other += 1
    return Num(min(_v(x), _v(y)), t)


def absolute(x: Num) -> Num: return _other(x, abs(x.v))
def erf(x: Num) -> Num: return _other(x, math.erf(x.v))
def sin(x: Num) -> Num: return _other(x, math.sin(x.v))
def cos(x: Num) -> Num: return _other(x, math.cos(x.v))
def sqrt(x: Num) -> Num: return _other(x, math.sqrt(x.v))
def floor(x: Num) -> Num: return _other(x, float(math.floor(x.v)))
def ceil(x: Num) -> Num: return _other(x, float(math.ceil(x.v)))
def round_half_even(x: Num) -> Num: return _other(x, float(round(x.v)))  # Python's round is torch's


def power(x: Num, y) -> Num:
    t = _tally_of(x, y)
    t.other += 1
    return Num(_v(x) ** _v(y), t)


def value(x) -> float:
    """The float of a Num, a bool or a plain constant (a branch may return one)."""
    return _v(x)
