"""Model-state memory per device under data parallelism, sharded as ZeRO and FSDP
define it, on paper (no torch; computed, not run).

The ZeRO paper (Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training
Trillion Parameter Models", SC 2020, section 5 and Figure 1) counts the model
states of mixed-precision Adam training of Ψ parameters over N data-parallel
devices as 2Ψ bytes of 16-bit parameters, 2Ψ of 16-bit gradients and KΨ of
optimizer states (K = 12: the fp32 master copy, momentum and variance), and
shards them in three stages:

    data parallel (no sharding)   (2 + 2 + K) Ψ
    ZeRO-1, P_os                  2Ψ + 2Ψ + KΨ / N
    ZeRO-2, P_os+g                2Ψ + (2 + K) Ψ / N
    ZeRO-3, P_os+g+p              (2 + 2 + K) Ψ / N

Here the three terms are the bytes a profile counts (``parameters``,
``gradients``, and ``optimizer``: the states and any fp32 master copy,
profiler.formulas.optimizers), so any optimizer and precision fits the same
formula.  A sharded term of B bytes is ⌈B / N⌉ per device: DeepSpeed and FSDP pad
a flat buffer to a multiple of N so that every device holds an equal part.

PyTorch FSDP's sharding strategies are the same stages: ``FULL_SHARD`` (and FSDP2's
``fully_shard``) shards parameters, gradients and optimizer states, ZeRO-3;
``SHARD_GRAD_OP`` shards gradients and optimizer states, ZeRO-2; ``NO_SHARD`` is
data parallelism.

Activations are not sharded by any stage: each device runs the whole model on its
own micro-batch, so its activations are those of one device at that batch.  Not
counted (as in the paper's figure): the buffers a stage needs in flight, such as
ZeRO-3's and FSDP's gathered parameters of the unit being run and its
reduce-scatter buckets, and communication buffers of any kind.
"""
from __future__ import annotations

from dataclasses import dataclass

from profiler.errors import ProfilerError

# stage: (name, what is sharded, the paper's name)
STAGES = {0: ("data parallel", "nothing", "baseline"),
          1: ("ZeRO-1", "optimizer states", "P_os"),
          2: ("ZeRO-2", "optimizer states and gradients", "P_os+g"),
          3: ("ZeRO-3", "optimizer states, gradients and parameters", "P_os+g+p")}
# the names a stage is given by (``parse_shard``)
STAGE_NAMES = {"ddp": 0, "dp": 0, "zero0": 0, "zero1": 1, "zero2": 2, "zero3": 3, "fsdp": 3,
               "full-shard": 3, "shard-grad-op": 2}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Sharded:
    """Model-state bytes per device of one stage over ``devices`` devices: each
    term ⌈B / N⌉ where the stage shards it, B otherwise; ``formula`` the paper's
    formula with this profile's bytes per parameter."""

    stage: int
    devices: int
    parameters: int
    gradients: int
    optimizer: int
    formula: str

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.optimizer

    @property
    def name(self) -> str:
        return STAGES[self.stage][0]

    def to_dict(self) -> dict:
        return dict(stage=self.stage, name=self.name, devices=self.devices, parameters=self.parameters,
                    gradients=self.gradients, optimizer=self.optimizer, total=self.total, formula=self.formula)


def _per_parameter(nbytes: int, numel: int) -> str:
    """Bytes per parameter as the paper writes a term: "2Ψ", "12Ψ", "4.5Ψ"."""
    if not numel:
        return f"{nbytes} B"
    return f"{nbytes / numel:.3g}Ψ"


def formula(stage: int, parameters: int, gradients: int, optimizer: int, numel: int) -> str:
    """The paper's formula of ``stage`` in this profile's bytes per parameter, e.g.
    "2Ψ + (2Ψ + 12Ψ) / N" for ZeRO-2 of mixed-precision Adam."""
    p, g, o = (_per_parameter(b, numel) for b in (parameters, gradients, optimizer))
    return {0: f"{p} + {g} + {o}", 1: f"{p} + {g} + {o} / N", 2: f"{p} + ({g} + {o}) / N",
            3: f"({p} + {g} + {o}) / N"}[stage]


def shard(parameters: int, gradients: int, optimizer: int, numel: int, stage: int, devices: int) -> Sharded:
    """Model states per device of ``stage`` (0: data parallel, 1-3: ZeRO-1/2/3;
    FSDP FULL_SHARD is 3) over ``devices`` devices, from the whole model's bytes of
    ``parameters``, ``gradients`` and ``optimizer`` (states and master copy) for
    ``numel`` (Ψ) parameters: see the module docstring."""
    if stage not in STAGES:
        raise ProfilerError(f"stage={stage!r}: expected 0 (data parallel), 1, 2 or 3 (ZeRO-1/2/3)")
    if not isinstance(devices, int) or isinstance(devices, bool) or devices < 1:
        raise ProfilerError(f"devices={devices!r}: expected a positive integer")
    cut = lambda b, sharded: _ceil_div(b, devices) if sharded else b   # noqa: E731
    return Sharded(stage, devices, cut(parameters, stage >= 3), cut(gradients, stage >= 2),
                   cut(optimizer, stage >= 1), formula(stage, parameters, gradients, optimizer, numel))


def every_stage(parameters: int, gradients: int, optimizer: int, numel: int, devices: int) -> list[Sharded]:
    """``shard`` at every stage, data parallel first (the paper's Figure 1 row)."""
    return [shard(parameters, gradients, optimizer, numel, s, devices) for s in STAGES]


def parse_shard(text: str) -> tuple[int, int]:
    """'zero3:8' → (3, 8): a stage (ddp, zero1, zero2, zero3, fsdp; or a bare 0-3)
    and a device count after a colon."""
    stage_text, colon, count = str(text).strip().lower().replace("_", "-").partition(":")
    stage = STAGE_NAMES.get(stage_text.replace("-", "") if stage_text.startswith("zero") else stage_text)
    if stage is None and stage_text in ("0", "1", "2", "3"):
        stage = int(stage_text)
    if stage is None or not colon or not count.isdigit() or int(count) < 1:
        raise ProfilerError(f"shard={text!r}: expected STAGE:N, a stage (ddp, zero1, zero2, zero3 or fsdp) and "
                            f"a positive device count, e.g. zero3:8")
    return stage, int(count)
