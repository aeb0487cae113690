"""Several models, input sizes and batch sizes side by side: one row per profile.

This module runs the profiles (here, or spread over worker processes); the table's
columns and its rendering are profiler.report.profiles_table's (torch-free).
"""
from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any, Callable, Iterable

import pandas as pd

from profiler.errors import ProfilerError, first_line
from profiler.report.profiles_table import COLUMNS, COUNTS

NATIVE = "native"


class Tokens(tuple):
    """A language model's input on the input axis: ("tokens", N) is a prefill of N
    tokens, ("decode", N) one new token after a KV cache of N."""

    def __new__(cls, step: str, n: int):
        return super().__new__(cls, (step, n))

    def __getnewargs__(self):
        return tuple(self)

    def __str__(self) -> str:
        return f"{self[1]} tokens" if self[0] == "tokens" else f"decode after {self[1]}"

Progress = Callable[[str, "str | None"], None]


def _label(model: Any) -> str:
    return model if isinstance(model, str) else type(model).__name__


def _input_label(size: Any) -> str:
    if size is None:
        return "default"
    if isinstance(size, Tokens):
        return str(size)
    return size if isinstance(size, str) else "x".join(map(str, size))


def row_of(report) -> dict[str, Any]:
    """The comparison row of one Report."""
    total = report.total
    return dict(model=report.model, input=report.input_desc, batch=int(report.batch),
                **{c: int(total[c]) for c in COUNTS},
                **{f"{k}_{c}_%": report.share(k, c) for k in ("conv", "linear") for c in ("mults", "params")},
                **{"attention_mults_%": report.share("attention", "mults")},
                intensity=report.intensity, uncounted=len(report.uncounted),
                **(memory_row(report) if report.memory is not None else {}))


MEMORY_COMPARE = ["peak_bytes", "step_peak_bytes"]   # a memory comparison's columns


def memory_row(report) -> dict[str, int]:
    """A memory profile's columns: its peak, and the peak of a step from the second
    on (profiler.report.memory.step_peak: the optimizer's states held throughout)."""
    from profiler.report.memory import step_peak
    return {"peak_bytes": int(report.memory.peak_bytes), "step_peak_bytes": int(step_peak(report.memory))}


def compare(models: Iterable[Any], input_sizes: Iterable[Any] | None = None,
            batches: Iterable[int] | None = None, strict: bool = False,
            progress: Progress | None = None, jobs: int = 1, tokens: Iterable[int] | None = None,
            decode: Iterable[int] | None = None, dtype: Any = None,
            config: dict[str, Any] | None = None, detections: str = "bound", measure: bool = False,
            device: str | None = None,
            peak_flops: float | None = None, peak_bandwidth: float | None = None,
            runs: int | None = None, training: bool = False, memory: bool = False,
            optimizer: str | None = None) -> pd.DataFrame:
    """Profile every model at every input size and batch size; one row each, in
    that nesting order, with the columns in ``COLUMNS``.

    models: names (as for ``profile``) or nn.Modules.
    input_sizes: per-sample sizes like (3, 224, 224) or "3x224x224", or "native" for
        the published crop size; default: each model's own default input.
    batches: batch sizes; default [1].
    strict: raise ProfilerError on the first failure; otherwise a failed profile
        becomes an entry of ``df.attrs["failures"]`` (dicts with model, input,
        batch, error) and the others still run.  Unknown names are checked before
        anything is profiled when strict.
    progress: called as ``progress(label, error_or_None)`` after each profile, in the
        order the profiles finish.
    tokens / decode: language models: prefill lengths and KV-cache lengths, each a
        point on the input axis (with or instead of input_sizes), so attention's
        growth with the context shows in one table.
    dtype, config, detections: passed to every ``profile`` (config: hf:/timm: overrides).
    training, memory, optimizer: passed to every ``profile``: a training step; its
        memory (columns ``MEMORY_COMPARE``: the peak and the step peak in bytes), with
        ``optimizer``'s states (which implies ``memory``).
    measure: time every profile on ``device`` (profiler.measure.measure, with
        ``runs``, ``peak_flops`` and ``peak_bandwidth``), one after the other in this
        process (``jobs`` is then 1), adding the columns of
        ``profiler.report.measured.COMPARE_MEASURED``: the forward's time, the shares of
        the time of conv and linear layers, and linear layers' intensity and regime,
        which shows the batch size where they turn compute-bound.  ``device``
        without ``measure``: the roofline's bounds on that device instead
        (``COMPARE_PREDICTED``).  ``df.attrs["roofline"]`` then describes the device.
    jobs: profiles at a time: this process and ``jobs - 1`` worker processes, which
        take named models only (nn.Modules are always profiled here); 1 profiles
        everything here, one after the other.  The table is the same either way.  The
        workers are spawned, so a script calling this with jobs > 1 needs the usual
        ``if __name__ == "__main__":`` guard.

    Shares are percentages of the model's total; ``intensity`` is FLOPs per byte
    moved (Report.intensity); ``uncounted`` counts rows with no formula.
    """
    from profiler.arguments import parse_input_size
    from profiler.models.resolve import resolve

    models = list(models)
    sizes = [parse_input_size(s, "input_sizes") if isinstance(s, str) and s != NATIVE else s
             for s in input_sizes or []]
    sizes += [Tokens("tokens", n) for n in tokens or []] + [Tokens("decode", n) for n in decode or []]
    sizes = sizes or [None]
    options = {k: v for k, v in (("dtype", dtype), ("config", config)) if v is not None}
    if detections != "bound":
        options["detections"] = detections
    memory = memory or optimizer is not None
    options.update({k: v for k, v in (("training", training), ("memory", memory), ("optimizer", optimizer)) if v})
    measuring = None
    if measure or device is not None or peak_flops is not None or peak_bandwidth is not None:
        if any(isinstance(s, Tokens) for s in sizes):
            raise ProfilerError("measuring does not go with tokens or decode: time a language model from Python "
                                "with profiler.measure.measure(..., inputs=...)")
        measuring = dict(measure=measure, device=device or "cpu", runs=runs, peak_flops=peak_flops,
                         peak_bandwidth=peak_bandwidth)
        jobs = 1   # timings in parallel processes would time each other
    batches = list(batches) if batches else [1]
    for batch in batches:
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise ProfilerError(f"batch must be a positive integer, got {batch!r}")
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ProfilerError(f"jobs must be a positive integer, got {jobs!r}")
    if strict:
        for model in models:
            if isinstance(model, str):
                resolve(model)
    tasks = [(model, size, batch) for model in models for size in sizes for batch in batches]
    results: list[tuple[dict | None, str | None]] = [(None, None)] * len(tasks)

    def finish(i: int, row: dict | None, error: _Error | None) -> None:
        model, size, batch = tasks[i]
        if error is not None and strict:
            raise error.exception
        results[i] = (row, error and error.line)
        if progress is not None:
            progress(f"{_label(model)} · {_input_label(size)} · batch {batch}", error and error.line)

    named = [i for i, (model, _, _) in enumerate(tasks) if isinstance(model, str)]
    roofline: list[str] = []
    if jobs > 1 and len(named) > 1:
        _run_with_workers(tasks, named, min(jobs, len(named)), strict, finish, options)
    else:
        for i in range(len(tasks)):
            finish(i, *_profile_row(*tasks[i], strict=strict, options=options, measuring=measuring,
                                    roofline=roofline))

    rows, failures = [], []
    for (model, size, batch), (row, error) in zip(tasks, results):
        if error is None:
            rows.append(row)
        else:
            failures.append(dict(model=_label(model), input=_input_label(size), batch=batch, error=error))
    extra = []
    if measuring is not None:
        from profiler.report.measured import COMPARE_MEASURED, COMPARE_PREDICTED
        extra = COMPARE_MEASURED if measure else COMPARE_PREDICTED
    extra += MEMORY_COMPARE if memory else []
    frame = pd.DataFrame(rows, columns=COLUMNS + extra)
    ints = COUNTS + ["batch", "uncounted"] + (MEMORY_COMPARE if memory else [])
    frame[ints] = frame[ints].astype("int64")
    frame.attrs["failures"] = failures
    if roofline:
        frame.attrs["roofline"] = roofline
    return frame


class _Error:
    """A failed profile: its one-line entry for the failures list, and what strict
    mode raises.  Plain strings only, so it crosses from a worker process intact."""

    def __init__(self, model: Any, exc: Exception):
        # our own errors are worded for the user already; another's type says what it is
        self.line = first_line(exc, typed=not isinstance(exc, ProfilerError))
        self.message = str(exc) if isinstance(exc, ProfilerError) else f"{_label(model)}: {self.line}"
        self.cause = exc if isinstance(exc, ProfilerError) else None

    def __getstate__(self):
        return {"line": self.line, "message": self.message, "cause": None}

    @property
    def exception(self) -> ProfilerError:
        return self.cause or ProfilerError(self.message)


def _profile_row(model: Any, size: Any, batch: int, strict: bool = False,
                 options: dict | None = None, measuring: dict | None = None,
                 roofline: list | None = None) -> tuple[dict | None, _Error | None]:
    """One profile's comparison row, or why it failed; ``measuring``: profile()'s
    measure, device, runs, peak_flops and peak_bandwidth, whose columns join the row
    (``roofline`` receives the device's lines)."""
    from profiler.api import profile
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # uncounted rows are in the table's own column
            # measured where asked, in the profile itself: on the model and inputs it resolved and made
            if isinstance(size, Tokens):
                report = profile(model, batch=batch, **{size[0]: size[1]}, **(options or {}))
            else:
                report = profile(model, input_size=None if size in (None, NATIVE) else tuple(size),
                                 batch=batch, native=size == NATIVE, **(options or {}), **(measuring or {}))
            if measuring is not None:
                from profiler.report.measured import compare_note, compare_row
                if roofline is not None:
                    roofline[:] = compare_note(report)
                return {**row_of(report), **compare_row(report)}, None
        return row_of(report), None
    except Exception as exc:
        error = _Error(model, exc)
        if strict and error.cause is None:
            # in this process the original exception is still at hand: keep it as the cause
            try:
                raise ProfilerError(error.message) from exc
            except ProfilerError as chained:
                error.cause = chained
        return None, error


def _expected_cost(task: tuple, real_detections: bool = False) -> tuple:
    """A rough sort key for how long a profile takes, to start the long ones first
    (a long one started last would leave the other workers idle at the end).
    Detection models counted on real CPU tensors (``detections="real"``) come first;
    then the larger the published GFLOPs, input and batch, the longer."""
    from profiler.models.resolve import resolve
    from profiler.models.weights import weights_meta
    model, size, batch = task
    if ":" in model:    # user code: no published figures, and importing it here would run it twice
        return (False, 0.0)
    try:
        spec = resolve(model)
    except Exception:
        return (False, 0.0)
    pixels = size[1] if isinstance(size, Tokens) else math.prod(size) if isinstance(size, tuple) else 1
    return (real_detections and spec.family == "detection",
            weights_meta(spec.name).get("_ops", 0.0) * batch * pixels)


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, where the OS has one)."""
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _worker_init(threads: int) -> None:
    import os
    import signal
    # Ctrl-C reaches the whole process group: the parent alone handles it (and stops us).
    # SIGINT is blocked here from the start (see _sigint_blocked); ignore it too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    import torch
    # as many threads as the parent: a profile that falls back to real tensors (detection
    # with detections="real") keeps the boxes its float rounding lets through, and the rounding depends on how
    # many threads split each convolution, so the counts do too
    torch.set_num_threads(threads)
    if hasattr(os, "nice"):
        # a real-tensor forward in the parent splits each op evenly over its threads and
        # waits for the slowest: a core it has to share slows all of it down.  The workers
        # take only the CPU time it leaves over.
        os.nice(WORKER_NICENESS)


WORKER_NICENESS = 19


@contextlib.contextmanager
def _sigint_blocked():
    """SIGINT blocked in this thread while worker processes start: a process inherits
    its parent's signal mask across fork and exec, so a worker starts with SIGINT
    blocked and a Ctrl-C, which the terminal sends to the whole process group, never
    interrupts it, not even while Python starts up and imports torch (before its
    initializer could ignore the signal, a Ctrl-C there printed a worker's
    traceback).  The parent alone handles Ctrl-C, and stops the workers.  In this
    process a SIGINT that arrives meanwhile is delivered when the block ends."""
    import signal
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _died(model: Any, exc: BaseException) -> _Error:
    return _Error(model, RuntimeError(f"a worker process ended abruptly ({type(exc).__name__})"))


def _run_with_workers(tasks: list, named: list[int], jobs: int, strict: bool, finish,
                      options: dict | None = None) -> None:
    """Profile every task, the named ones among them (indices ``named``) spread over
    this process and ``jobs - 1`` worker processes; call ``finish(i, row, error)``
    here as each result arrives.

    This process, at normal priority and with all its torch threads, takes the given
    nn.Modules (never sent to a worker: they stay untouched and unpickled), then the
    profiles expected to run on real tensors (detections="real"), which keep all those threads
    busy, then shapes-only ones.  The workers, at the lowest priority, take only
    shapes-only profiles.  Longest first on both sides, so none is left alone at the
    end; a task is handed to a worker only when it frees up.

    Workers are spawned, not forked: a fork of a process that has already run
    OpenMP-parallel torch ops can hang in the child's first parallel op."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    import torch

    real = (options or {}).get("detections") == "real"
    costs = {i: _expected_cost(tasks[i], real) for i in named}
    order = sorted(named, key=costs.__getitem__, reverse=True)
    mine = [i for i in range(len(tasks)) if i not in costs] + [i for i in order if costs[i][0]]
    shared = [i for i in order if not costs[i][0]]
    with _sigint_blocked():     # the pool starts multiprocessing's resource tracker process
        pool = ProcessPoolExecutor(jobs - 1, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_init, initargs=(torch.get_num_threads(),))
    running: dict = {}   # future -> task index

    def hand_out() -> None:
        while shared and len(running) < jobs - 1:
            i = shared.pop(0)
            try:
                with _sigint_blocked():     # submit starts the worker processes, one at a time
                    running[pool.submit(_profile_row, *tasks[i], strict=strict, options=options)] = i
            except BrokenProcessPool as exc:
                finish(i, None, _died(tasks[i][0], exc))

    def collect(block: bool) -> None:
        finished, _ = wait(running, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in sorted(finished, key=running.__getitem__):
            i = running.pop(future)
            try:
                row, error = future.result()
            except BrokenProcessPool as exc:
                # a worker died (out of memory, a crash in native code): this profile
                # and the others then running fail, each with this reason
                row, error = None, _died(tasks[i][0], exc)
            finish(i, row, error)
        hand_out()

    done = False
    try:
        hand_out()
        while mine or shared:
            i = mine.pop(0) if mine else shared.pop(0)
            finish(i, *_profile_row(*tasks[i], strict=strict, options=options))
            collect(block=False)
        while running:
            collect(block=True)
        done = True
    finally:
        if done:
            pool.shutdown()
        else:
            # strict failure or Ctrl-C: stop the running profiles too (the pool has no
            # public way to stop a busy worker before Python 3.14)
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
