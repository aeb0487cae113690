"""The checks of arguments that need no model, and no torch.

The CLI runs them before it imports torch, so that a bad argument is refused at
once, not after the seconds torch takes to import; the library runs the same ones
(profiler.capture.inputs, profiler.models.hf.config, profiler.api), so that both say
the same thing.  Errors are one-line ProfilerErrors naming the Python argument
(``batch=``) or the environment variable, and the fix; the CLI rewords argument
names into its flags (profiler.cli.flags).

Sizes: a tensor holds at most 2**63 - 1 bytes (torch computes its storage size in
int64), so a dummy input of batch × the per-sample sizes × the element size must
fit that; a larger one is refused here, by name, instead of failing inside torch.
"""
from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Mapping

from profiler.errors import ProfilerError

INT64_MAX = 2**63 - 1   # the most elements, and the most bytes, a tensor holds
REAL_LIMIT_VARIABLE = "PROFILER_REAL_LIMIT_GB"
REAL_LIMIT_DEFAULT_GB = 4   # the most memory a real-tensor fallback takes when the variable is unset
MEASURE_LIMIT_VARIABLE = "PROFILER_MEASURE_LIMIT_GB"   # a cap on a measured run's memory (--measure)


def _size_text(size) -> str:
    return "x".join(map(str, size))


def parse_input_size(text: str, argument: str = "input_size") -> tuple[int, ...]:
    """'3x224x224' → (3, 224, 224), every dimension a positive integer: a size given
    as text (the CLI's, compare()'s).  Errors name ``argument``."""
    parts = text.lower().split("x")
    if not all(p.isdigit() for p in parts) or not parts:
        raise ProfilerError(f"{argument}={text!r}: expected sizes like 3x224x224")
    dims = tuple(int(p) for p in parts)
    if any(d <= 0 for d in dims):
        raise ProfilerError(f"{argument}={text!r}: every size must be positive")
    return dims


def check_batch(batch: Any) -> int:
    """A positive integer that a tensor's leading dimension can hold (at most 2**63 - 1)."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ProfilerError(f"batch={batch!r}: expected a positive integer, such as batch=8")
    if batch > INT64_MAX:
        raise ProfilerError(f"batch={batch!r}: more than 2**63 - 1, the most elements a tensor holds: "
                            "give a smaller batch=")
    return batch


def check_input_fits(batch: int, size: tuple[int, ...], itemsize: int = 1, argument: str = "input_size") -> None:
    """The dummy input of ``batch`` × ``size`` elements of ``itemsize`` bytes fits a
    tensor (at most 2**63 - 1 bytes).  ``itemsize`` 1 checks the element count alone
    (the CLI, before the model's dtype is known)."""
    total = batch * math.prod(size) * itemsize
    if total > INT64_MAX:
        what = f"{total:,} bytes" if itemsize > 1 else f"{total:,} elements"
        raise ProfilerError(f"batch={batch} with {argument}={_size_text(size)}: the dummy input would hold {what}, "
                            f"more than a tensor can (2**63 - 1): lower batch= or {argument}=")


def check_positive(name: str, value: Any, allow_none: bool = True) -> int | None:
    """``value`` a positive integer at most 2**63 - 1 (None passes when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProfilerError(f"{name}={value!r}: expected a positive integer")
    if value > INT64_MAX:
        raise ProfilerError(f"{name}={value!r}: more than 2**63 - 1, the most a tensor dimension holds: "
                            f"give a smaller {name}=")
    return value


def check_tokens(tokens: Any, decode: Any, input_size_given: bool = False, inputs_given: bool = False,
                 native: bool = False, batch: int = 1) -> None:
    """``tokens=`` and ``decode=``: positive integers that make the inputs themselves,
    so neither goes with input_size=, inputs= or native=; batch × tokens token ids
    (int64) fit a tensor."""
    for name, value in (("tokens", tokens), ("decode", decode)):
        if value is None:
            continue
        check_positive(name, value)
        for other, given in (("input_size=", input_size_given), ("inputs=", inputs_given), ("native=True", native)):
            if given:
                raise ProfilerError(f"{name}= makes the inputs, and {other} is given too: pass one or the other")
        if batch * value * 8 > INT64_MAX:
            raise ProfilerError(f"{name}={value} with batch={batch}: the token ids would take more than "
                                f"2**63 - 1 bytes, the most a tensor holds: lower {name}= or batch=")


# --- config overrides (NAME=VALUE) --------------------------------------------------

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def parse_value(text: str) -> Any:
    """'2' → 2, '1e6' → 1000000.0, 'true' → True, 'none'/'null' → None, JSON for
    lists, dicts and quoted strings, anything else the text itself."""
    stripped = text.strip()
    lower = stripped.lower()
    if lower in ("none", "null"):
        return None
    if lower in ("true", "false"):
        return lower == "true"
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        pass
    if stripped[:1] in ("[", "{", '"'):
        try:
            return json.loads(stripped)
        except ValueError as exc:
            raise ProfilerError(f"config value {text!r} is not valid JSON: {exc}") from exc
    return text


def parse_config_overrides(texts: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """``["num_hidden_layers=2", "rope_theta=1e6"]`` → ``{"num_hidden_layers": 2,
    "rope_theta": 1000000.0}``: NAME=VALUE each (the last of a repeated NAME wins);
    values as ``parse_value``.  Field names are checked when the model resolves
    (profiler.models.hf.config)."""
    overrides: dict[str, Any] = {}
    for text in texts or ():
        name, eq, value = str(text).partition("=")
        name = name.strip()
        if not eq or not _NAME.match(name):
            raise ProfilerError(f"config={text!r}: expected NAME=VALUE, such as num_hidden_layers=2")
        overrides[name] = parse_value(value)
    return overrides


# --- named inputs (NAME=SHAPE[:dtype]) and the sizes of made inputs ----------------------

DTYPE_NAMES = ("float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")
_INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_named_input(text: str) -> tuple[str, tuple[int, ...], str | None]:
    """'pixel_values=1x3x336x336' → ("pixel_values", (1, 3, 336, 336), None);
    'input_ids=1x600:int64' → ("input_ids", (1, 600), "int64").  The shape is the
    whole tensor's, batch included; the dtype one of DTYPE_NAMES (default: the
    model's floating dtype)."""
    name, eq, rest = str(text).partition("=")
    name = name.strip()
    if not eq or not _INPUT_NAME.match(name):
        raise ProfilerError(f"arg={text!r}: expected NAME=SHAPE[:dtype], such as pixel_values=1x3x336x336 "
                            "or input_ids=1x600:int64")
    size, colon, dtype = rest.partition(":")
    dtype = dtype.strip().lower() or None
    if colon and dtype not in DTYPE_NAMES:
        raise ProfilerError(f"arg={text!r}: unknown dtype {dtype!r}; expected one of {', '.join(DTYPE_NAMES)}")
    shape = parse_input_size(size.strip(), "arg") if size.strip() != "scalar" else ()
    return name, shape, dtype


def parse_named_inputs(texts: list[str] | tuple[str, ...] | None) -> dict[str, tuple[tuple[int, ...], str | None]]:
    """Every NAME=SHAPE[:dtype] (``parse_named_input``), by name; a name given twice is refused."""
    named: dict[str, tuple[tuple[int, ...], str | None]] = {}
    for text in texts or ():
        name, shape, dtype = parse_named_input(text)
        if name in named:
            raise ProfilerError(f"arg: '{name}' is given twice: give each input once")
        check_input_fits(1, shape or (1,), 8, argument=f"arg {name}")
        named[name] = (shape, dtype)
    return named


def check_made_sizes(image: Any = None, frames: Any = None, seconds: Any = None) -> None:
    """The sizes of made inputs: ``image`` (pixels a side) and ``frames`` positive
    integers, ``seconds`` a positive finite number."""
    check_positive("image", image)
    check_positive("frames", frames)
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not math.isfinite(seconds) or seconds <= 0):
        raise ProfilerError(f"seconds={seconds!r}: expected a positive number of seconds, such as seconds=2.5")


# --- environment variables -----------------------------------------------------------


def _gib(variable: str, environ: Mapping[str, str] | None, unset: str) -> int | None:
    """Environment variable ``variable`` read as GiB, in bytes: a positive finite
    number, or None when it is unset (or set to nothing); anything else is a
    one-line error naming the variable and the fix (``unset``: what unsetting it does)."""
    text = (os.environ if environ is None else environ).get(variable)
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ProfilerError(f"{variable}={text!r}: expected a positive number of GiB, such as "
                            f"{variable}=8; unset it {unset}")
    return int(value * 2**30)


def real_limit_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The most memory a real-tensor fallback may take (profiler.api), in bytes:
    PROFILER_REAL_LIMIT_GB GiB, a positive finite number, or REAL_LIMIT_DEFAULT_GB
    when it is unset (or set to nothing); anything else is a one-line error naming
    the variable and the fix."""
    found = _gib(REAL_LIMIT_VARIABLE, environ, f"for the default ({REAL_LIMIT_DEFAULT_GB})")
    return REAL_LIMIT_DEFAULT_GB << 30 if found is None else found


def measure_limit_bytes(environ: Mapping[str, str] | None = None) -> int | None:
    """The cap on a measured run's memory (profiler.measure.timing) that the user
    set: PROFILER_MEASURE_LIMIT_GB GiB, a positive finite number; None when it is
    unset (or set to nothing): the run is then capped by the memory available
    alone (``available_memory_bytes``).  Anything else is a one-line error naming
    the variable and the fix."""
    return _gib(MEASURE_LIMIT_VARIABLE, environ, "to be limited by the memory available alone")


def available_memory_bytes(meminfo: str = "/proc/meminfo", cgroup: str = "/sys/fs/cgroup") -> int | None:
    """Bytes this process can still allocate without swapping, as the kernel
    estimates it: ``MemAvailable`` of /proc/meminfo (free memory plus the page
    cache it can drop), less where a cgroup v2 memory limit (``memory.max``, less
    its ``memory.current``) is tighter, as in a container.  None where neither can
    be read (not Linux): only PROFILER_MEASURE_LIMIT_GB limits a measured run there."""
    found = []
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)   # stated in kB (KiB)
                    break
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(os.path.join(cgroup, "memory.max")) as f:
            cap = f.read().strip()
        if cap != "max":
            with open(os.path.join(cgroup, "memory.current")) as f:
                found.append(max(0, int(cap) - int(f.read().strip())))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Every number the profiler reads from the environment, checked (the CLI calls
    this before anything is imported or profiled)."""
    real_limit_bytes(environ)
    measure_limit_bytes(environ)
