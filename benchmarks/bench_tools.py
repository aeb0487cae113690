"""The profilers under test, each behind the same small interface.

A tool is prepared once per model (model already built, input already made) and
gives back a ``Prepared``: ``call()`` is the one profile call that is timed,
``macs(result)`` reads the MAC total out of its result, ``breakdown(result)``
says where the tool's count comes from (used to explain differences, untimed).

Every tool gets its own copy of the model, so one tool's hooks or buffers can
never reach another's run.  Peers that are not installed are reported as absent.

A case is either meta (the default: every tool but fvcore gets a meta-built model)
or real-weight (``Case.real_weights``): every tool, ours included, gets a normally
built, seeded CPU model in eval mode and a real input, the way a user profiles the
model they already hold; ``ours_meta`` then times ours on the same model built on
meta, in the same process, for the real / meta ratio.
"""
from __future__ import annotations

import contextlib
import copy
import io
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

# tool name -> (label shown in tables, device it runs on, how it runs)
TOOLS = {
    "ours": ("profiler (ours)", "meta", "profiler.profile(module, input_size=...).totals['macs']"),
    "fvcore": ("fvcore", "cpu", "FlopCountAnalysis(model, x).total(); real tensors (it traces with torch.jit)"),
    "fcm": ("FlopCounterMode no_grad", "meta", "with torch.no_grad(), FlopCounterMode(): model(x); flops/2"),
    "fcm_grad": ("FlopCounterMode grad", "meta", "with FlopCounterMode(): model(x) with grad enabled; flops/2"),
    "ptflops": ("ptflops", "meta", "get_model_complexity_info(model, res), default pytorch backend"),
    "ptflops_aten": ("ptflops aten", "meta", "get_model_complexity_info(..., backend='aten')"),
    "thop": ("thop", "meta", "thop.profile(model, inputs=(x,))"),
    "torchinfo": ("torchinfo", "meta", "torchinfo.summary(model, input_size, device='meta').total_mult_adds"),
}
# the real-weight cases: how each tool is called on the user's CPU model (x: a real input)
REAL_TOOLS = {
    "ours": ("ours, real weights", "profiler.profile(model, input_size=(3, H, W)).totals['macs']"),
    "ours_meta": ("ours, meta build", "the same call on the model built under torch.device('meta')"),
    "fvcore": ("fvcore", "FlopCountAnalysis(model, x).total()"),
    "fcm": ("FlopCounterMode no_grad", "with torch.no_grad(), FlopCounterMode(): model(x); flops/2"),
    "fcm_grad": ("FlopCounterMode grad", "with FlopCounterMode(): model(x) with grad enabled; flops/2"),
    "ptflops": ("ptflops", "get_model_complexity_info(model, (3, H, W)), default pytorch backend"),
    "ptflops_aten": ("ptflops aten", "get_model_complexity_info(model, (3, H, W), backend='aten')"),
    "thop": ("thop", "thop.profile(model, inputs=(x,))"),
    "torchinfo": ("torchinfo", "torchinfo.summary(model, input_size=(1, 3, H, W)).total_mult_adds"),
}


# models that are not torchvision's: name -> builder (the case's size is the input's one dimension)
SMALL_MODELS: dict[str, Callable[[], nn.Module]] = {"linear": lambda: nn.Linear(4, 4)}


class Absent(Exception):
    """The tool is not installed."""


@dataclass
class Case:
    """One model at one input: a meta-built module and, on demand, a real one.
    With ``real_weights`` every tool gets the real one (a real-weight case)."""

    key: str                               # e.g. "vit_h_14@518"
    name: str                              # torchvision builder name
    size: int                              # image side
    build_kwargs: dict[str, Any] = field(default_factory=dict)
    real_weights: bool = False
    _real: nn.Module | None = None

    def build(self, meta: bool) -> nn.Module:
        if self.name in SMALL_MODELS:
            make = SMALL_MODELS[self.name]
        else:
            from torchvision.models import get_model

            def make():
                return get_model(self.name, weights=None, **self.build_kwargs)
        if meta:
            with torch.device("meta"):
                return make().eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return make().eval()

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's input shape (no batch): (3, size, size), or (size,) for a small model."""
        return (self.size,) if self.name in SMALL_MODELS else (3, self.size, self.size)

    def real(self) -> nn.Module:
        if self._real is None:
            self._real = self.build(meta=False)
        return self._real

    def input(self, device: str) -> torch.Tensor:
        if device == "meta":
            return torch.empty(1, *self.shape, device="meta")
        return torch.randn(1, *self.shape, generator=torch.Generator().manual_seed(0))

    @property
    def device(self) -> str:
        """Where the tools' model and input live (fvcore is always real)."""
        return "cpu" if self.real_weights else "meta"

    def model(self) -> nn.Module:
        """The model the tools get (each a deep copy of it)."""
        return self.real() if self.real_weights else self.build(meta=True)


@dataclass
class Prepared:
    call: Callable[[], Any]
    macs: Callable[[Any], int]
    breakdown: Callable[[Any], dict[str, Any]]
    # run before every call, outside the clock: fresh inputs for a tool whose call
    # mutates them (a forward appends to the KV cache it is given)
    setup: Callable[[], None] | None = None


@contextlib.contextmanager
def quiet():
    """Peers print and warn freely; keep the benchmark's output readable."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _import(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as exc:
        raise Absent(f"{module} is not installed (pip install '.[bench]')") from exc


def prepare(tool: str, case: Case, model: nn.Module) -> Prepared:
    """``model`` is the case's model (``Case.model()``); the tool gets its own copy.
    ``ours_meta`` builds its own on meta: ours on a meta build, next to ours on the
    real weights of a real-weight case.  A language-model case (``LMCase``) takes
    the tools of ``LM_TOOLS``; ``ours_name`` builds its own model, by name."""
    if isinstance(case, LMCase):
        if tool == "ours_name":
            return _lm_ours_name(case)
        return _LM_PREPARERS[tool](case, copy.deepcopy(model))
    if tool == "ours_meta":
        return _ours(case, case.build(meta=True))
    if tool == "ours_227":  # ours on alexnet at 227, timed in the rounds of another case (alexnet at 2270)
        low = Case("alexnet@227", "alexnet", 227)
        return _ours(low, low.build(meta=True))
    return _PREPARERS[tool](case, copy.deepcopy(model))


def _ours(case: Case, model: nn.Module) -> Prepared:
    import profiler
    size = case.shape

    def by_kind(report):
        kinds = report.by_kind.set_index("kind")["macs"]
        return {"by kind": {k: int(v) for k, v in kinds.items() if v}}
    def call():
        report = profiler.profile(model, input_size=size)
        report.totals["macs"]  # the total, read in the timed call as every peer's call returns one
        return report
    return Prepared(call, lambda r: int(r.totals["macs"]), by_kind)


def _fcm(grad: bool):
    def prep(case: Case, model: nn.Module) -> Prepared:
        from torch.utils.flop_counter import FlopCounterMode
        x = case.input(case.device)

        def call():
            with torch.set_grad_enabled(grad), FlopCounterMode(display=False) as counter:
                model(x)
            return counter

        def by_op(counter):
            return {"by op (MACs = flops/2)": {str(op): int(n) // 2 for op, n in
                                                counter.get_flop_counts()["Global"].items()}}
        return Prepared(call, lambda c: c.get_total_flops() // 2, by_op)
    return prep


def _fvcore(case: Case, model: nn.Module) -> Prepared:
    from fvcore.nn import FlopCountAnalysis
    if not case.real_weights:  # a meta case's model: fvcore needs the real one
        model = case.real()
    x = case.input("cpu")

    def call():
        analysis = FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.total()  # the analysis runs lazily: the timed call must include it
        return analysis

    def by_op(analysis):
        return {"by op": dict(analysis.by_operator()),
                "unsupported (not counted)": dict(analysis.unsupported_ops())}
    return Prepared(call, lambda a: int(a.total()), by_op)


def _ptflops(backend: str):
    def prep(case: Case, model: nn.Module) -> Prepared:
        ptflops = _import("ptflops")
        res = case.shape

        def run(config=None):
            macs, _params = ptflops.get_model_complexity_info(
                model, res, as_strings=False, print_per_layer_stat=False, backend=backend,
                backend_specific_config=config or {})
            return macs

        def detail(total):
            if backend != "pytorch":
                return {"bias outputs (addmm, convolution)": bias_outputs(model, case.input(case.device))}
            module_only = run({"count_functional": False})
            return {"module hooks alone": module_only,
                    "functional calls (torch.nn.functional / tensor ops)": total - module_only}
        return Prepared(run, int, detail)
    return prep


def _thop(case: Case, model: nn.Module) -> Prepared:
    thop = _import("thop")
    x = case.input(case.device)

    def call():
        return thop.profile(model, inputs=(x,), verbose=False, ret_layer_info=True)

    def by_type(result):
        counts: Counter = Counter()

        def walk(module, info):
            for name, (ops, _params, children) in info.items():
                child = module.get_submodule(name)
                if children:
                    walk(child, children)
                elif ops:
                    counts[type(child).__name__] += int(ops)
        walk(model, result[2])
        return {"by leaf module type": dict(counts)}
    return Prepared(call, lambda r: int(r[0]), by_type)


def _torchinfo(case: Case, model: nn.Module) -> Prepared:
    torchinfo = _import("torchinfo")
    size = (1, *case.shape)
    # on a real model, as its users call it: torchinfo makes the input on the model's device
    where = {} if case.real_weights else {"device": "meta"}

    def call():
        return torchinfo.summary(model, input_size=size, verbose=0, **where)

    def by_type(summary):
        leaf: Counter = Counter()
        skipped: Counter = Counter()
        for layer in summary.summary_list:
            (leaf if layer.is_leaf_layer else skipped)[layer.class_name] += layer.macs
        return {"leaf layers (summed)": {k: v for k, v in leaf.items() if v},
                "containers (not summed)": {k: v for k, v in skipped.items() if v}}
    return Prepared(call, lambda s: int(s.total_mult_adds), by_type)


_PREPARERS = {
    "ours": _ours,
    "fvcore": _fvcore,
    "fcm": _fcm(grad=False),
    "fcm_grad": _fcm(grad=True),
    "ptflops": _ptflops("pytorch"),
    "ptflops_aten": _ptflops("aten"),
    "thop": _thop,
    "torchinfo": _torchinfo,
}


def bias_outputs(model: nn.Module, x: torch.Tensor) -> int:
    """Output elements of the aten addmm and biased convolution calls of one forward:
    the bias additions that a count of "one MAC per bias add" puts on top of ours."""
    from torch.utils._python_dispatch import TorchDispatchMode
    aten = torch.ops.aten
    total = 0

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            nonlocal total
            out = func(*args, **(kwargs or {}))
            if func is aten.addmm.default or (func is aten.convolution.default and args[2] is not None):
                total += out.numel()
            return out
    with torch.no_grad(), Count():
        model(x)
    return total


def fcm_on_real_tensors(case: Case) -> dict[str, Any]:
    """FlopCounterMode on real CPU tensors, no_grad and grad (untimed): there the
    attention takes the fused CPU paths that it does not count."""
    from torch.utils.flop_counter import FlopCounterMode
    model, x = case.real(), case.input("cpu")
    out = {}
    for grad in (False, True):
        with torch.set_grad_enabled(grad), FlopCounterMode(display=False) as counter:
            model(x)
        out["grad" if grad else "no_grad"] = {
            "macs": counter.get_total_flops() // 2,
            "by op": {str(op): int(n) // 2 for op, n in counter.get_flop_counts()["Global"].items()}}
    return out


# --- language models --------------------------------------------------------------
#
# LLaMA-7B (transformers' LlamaConfig() defaults) built on the meta device, as
# ``with torch.device("meta"): LlamaForCausalLM(LlamaConfig())`` in eval mode, and
# its inputs made by profiler.models.hf.example_inputs (the inputs ``profile("hf:llama",
# tokens=N)`` and ``decode=N`` use): meta ``input_ids`` 1×N for a prefill; for one
# decode step, ``input_ids`` 1×1, a DynamicCache holding N tokens (from the model's
# own meta prefill), ``position_ids`` and ``use_cache``.  A forward appends to the
# cache it is given, so every call of every tool gets a fresh deep copy of the
# inputs, made outside the clock (``Prepared.setup``).

# tool name -> (label shown in tables, how it runs)
LM_TOOLS = {
    "ours_name": ("ours, by name", 'profiler.profile("hf:llama", tokens=N) (or decode=N; the sweep: '
                  'profiler.compare(["hf:llama"], tokens=[128, 4096])): config, meta build, inputs and profile'),
    "ours": ("ours, built model", "profiler.profile(model, kwargs=inputs).totals['macs'] on the prebuilt meta model"),
    "fcm_math": ("FlopCounterMode, math SDPA", "with no_grad(), sdpa_kernel(SDPBackend.MATH), "
                 "FlopCounterMode(): model(**inputs); flops/2"),
    "fcm": ("FlopCounterMode", "with no_grad(), FlopCounterMode(): model(**inputs); flops/2"),
    "deepspeed": ("DeepSpeed", "with no_grad(): get_model_profile(model, kwargs=inputs, warm_up=0, "
                  "print_profile=False, as_string=False); its MACs"),
    "calflops": ("calflops", "with no_grad(): calculate_flops(model, kwargs=inputs, print_results=False, "
                 "output_as_string=False); its MACs"),
}
LLAMA = "hf:llama"


@dataclass
class LMCase:
    """LLaMA at one or more input lengths: a prefill of N tokens each (mode "tokens")
    or one new token after a KV cache of N (mode "decode").  ``config`` overrides
    LlamaConfig's defaults (None: LLaMA-7B); a case of several lengths is the
    compare sweep, which ours by name runs through ``profiler.compare``."""

    key: str
    mode: str                              # "tokens" or "decode"
    lengths: tuple[int, ...]
    config: dict[str, Any] | None = None

    @property
    def sweep(self) -> bool:
        return len(self.lengths) > 1

    def label(self, n: int) -> str:
        return f"{n} tokens" if self.mode == "tokens" else f"decode after {n}"

    @property
    def labels(self) -> list[str]:
        return [self.label(n) for n in self.lengths]

    def llama_config(self):
        from transformers import LlamaConfig
        return LlamaConfig(**(self.config or {}))

    def model(self) -> nn.Module:
        from transformers import LlamaForCausalLM
        with torch.device("meta"):
            return LlamaForCausalLM(self.llama_config()).eval()

    def inputs(self, model: nn.Module) -> list[tuple[str, dict[str, Any]]]:
        """(label, keyword arguments) per length, made as profile(..., tokens=/decode=) makes them."""
        from profiler.capture.known import run_forward
        from profiler.models.hf import example_inputs
        out = []
        for n in self.lengths:
            _args, kwargs, _desc = example_inputs(model, model.config, 1, run=run_forward, **{self.mode: n})
            out.append((self.label(n), _on_device_of(model, kwargs)))
        return out


def _on_device_of(model: nn.Module, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The inputs on the model's device: example_inputs makes token ids and masks
    on the CPU (ours carries their values through a meta forward), which a peer
    cannot mix with a meta model's weights.  A KV cache is made on the model's
    device already."""
    device = next(model.parameters()).device
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}


def _lm_inputs(case: LMCase, model: nn.Module):
    """A holder of the inputs of the next call and the setup that refreshes it."""
    templates = case.inputs(model)
    held: dict[str, Any] = {}

    def setup():
        held["inputs"] = [(label, copy.deepcopy(kwargs)) for label, kwargs in templates]
    setup()
    return held, setup


def _by_input(case: LMCase, values) -> dict[str, int]:
    return {label: int(v) for label, v in zip(case.labels, values)}


def _patched_state():
    """What a patching peer changes (torch.nn.functional, torch, Tensor methods), to
    put back if its call fails halfway: calflops patches them before it reads its
    inputs, and a failure there would leave them patched for the next tool."""
    import torch.nn.functional as F
    return [(obj, dict(vars(obj))) for obj in (F, torch, torch.Tensor)]


def _restore(saved) -> None:
    for obj, names in saved:
        current = vars(obj)
        for name, value in names.items():
            if current.get(name) is not value:
                try:
                    setattr(obj, name, value)
                except (AttributeError, TypeError):
                    pass


def _lm_ours_name(case: LMCase) -> Prepared:
    import profiler
    overrides = dict(case.config) if case.config else None

    if case.sweep:
        from profiler.compare import compare

        def call():
            return compare([LLAMA], strict=True, config=overrides, **{case.mode: list(case.lengths)})
        return Prepared(call, lambda f: int(f["macs"].sum()),
                        lambda f: {"by input": _by_input(case, f["macs"]), "inputs": list(f["input"])})

    def call():
        report = profiler.profile(LLAMA, config=overrides, **{case.mode: case.lengths[0]})
        report.totals["macs"]
        return [report]
    return Prepared(call, _sum_reports, lambda rs: _ours_detail(case, rs))


def _sum_reports(reports) -> int:
    return sum(int(r.totals["macs"]) for r in reports)


def _ours_detail(case: LMCase, reports) -> dict[str, Any]:
    def kind_macs(report, kind):
        frame = report.by_kind.set_index("kind")["macs"]
        return int(frame.get(kind, 0))
    return {"by input": _by_input(case, [r.totals["macs"] for r in reports]),
            "attention kind": _by_input(case, [kind_macs(r, "attention") for r in reports]),
            "linear kind": _by_input(case, [kind_macs(r, "linear") for r in reports]),
            "inputs": [r.input_desc for r in reports], "mode": reports[0].execution}


def _lm_ours(case: LMCase, model: nn.Module) -> Prepared:
    import profiler
    held, setup = _lm_inputs(case, model)

    def call():
        reports = [profiler.profile(model, kwargs=kwargs) for _, kwargs in held["inputs"]]
        for report in reports:
            report.totals["macs"]
        return reports
    return Prepared(call, _sum_reports, lambda rs: _ours_detail(case, rs), setup)


def _lm_fcm(math: bool):
    def prep(case: LMCase, model: nn.Module) -> Prepared:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        from torch.utils.flop_counter import FlopCounterMode
        held, setup = _lm_inputs(case, model)

        def call():
            counters = []
            for _, kwargs in held["inputs"]:
                backend = sdpa_kernel(SDPBackend.MATH) if math else contextlib.nullcontext()
                with torch.no_grad(), backend, FlopCounterMode(display=False) as counter:
                    model(**kwargs)
                counters.append(counter)
            return counters

        def detail(counters):
            ops: Counter = Counter()
            for counter in counters:
                for op, n in counter.get_flop_counts()["Global"].items():
                    ops[str(op)] += int(n) // 2
            return {"by input": _by_input(case, [c.get_total_flops() // 2 for c in counters]),
                    "by op (MACs = flops/2)": dict(ops)}
        return Prepared(call, lambda cs: sum(c.get_total_flops() // 2 for c in cs), detail, setup)
    return prep


def _import_peer(module: str, attr: str):
    """A peer's entry point; Absent (with the reason) when it is not installed or
    does not import here (DeepSpeed without a GPU: DS_ACCELERATOR=cpu)."""
    import os
    if module.startswith("deepspeed"):
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
        os.environ.setdefault("DS_BUILD_OPS", "0")
    try:
        return getattr(__import__(module, fromlist=[attr]), attr)
    except ImportError as exc:
        raise Absent(f"{module.split('.')[0]} is not installed (pip install '.[bench]')") from exc
    except Exception as exc:  # installed, but does not import on this machine
        raise Absent(f"{module.split('.')[0]} does not import here: "
                     f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}") from exc


def _lm_peer(module: str, attr: str, run: Callable[[Any, nn.Module, dict], tuple[int, int]]):
    """A peer called once per input under no_grad; ``run(entry, model, kwargs)``
    gives back (flops, macs) as the peer reports them."""
    def prep(case: LMCase, model: nn.Module) -> Prepared:
        entry = _import_peer(module, attr)
        held, setup = _lm_inputs(case, model)
        saved = _patched_state()

        def call():
            try:
                with torch.no_grad():
                    return [run(entry, model, kwargs) for _, kwargs in held["inputs"]]
            except BaseException:
                _restore(saved)
                raise

        def detail(results):
            return {"by input": _by_input(case, [m for _, m in results]),
                    "flops reported": _by_input(case, [f for f, _ in results])}
        return Prepared(call, lambda rs: sum(int(m) for _, m in rs), detail, setup)
    return prep


def _run_deepspeed(get_model_profile, model, kwargs):
    # warm_up=0: its default runs one unprofiled forward first, which would also
    # append the decode step to the cache before the profiled forward sees it
    flops, macs, _params = get_model_profile(model, kwargs=kwargs, print_profile=False, detailed=False,
                                             warm_up=0, as_string=False)
    return int(flops), int(macs)


def _run_calflops(calculate_flops, model, kwargs):
    flops, macs, _params = calculate_flops(model, kwargs=dict(kwargs), print_results=False,
                                           print_detailed=False, output_as_string=False)
    return int(flops), int(macs)


_LM_PREPARERS = {
    "ours": _lm_ours,
    "fcm_math": _lm_fcm(math=True),
    "fcm": _lm_fcm(math=False),
    "deepspeed": _lm_peer("deepspeed.profiling.flops_profiler", "get_model_profile", _run_deepspeed),
    "calflops": _lm_peer("calflops", "calculate_flops", _run_calflops),
}
