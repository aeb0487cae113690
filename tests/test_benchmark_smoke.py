"""The benchmark harness runs one tiny case end to end (no timing assertions)."""
import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_one_small_case_gives_times_memory_and_agreeing_macs():
    run = load("run")
    from bench_tools import Case
    case = Case("resnet18@64", "resnet18", 64)
    result = run.bench_case(case, tools=("ours", "fcm", "fvcore"), repeats=1)
    for tool in ("ours", "fcm", "fvcore"):
        row = result[tool]
        assert row["runs"] == 1 and row["median_s"] > 0 and len(row["times"]) == 1
        assert row["macs"] > 0
    # on meta, FlopCounterMode sees the same conv and addmm calls we count
    assert result["fcm"]["macs"] == result["ours"]["macs"]
    # fvcore adds batch_norm and pooling elementwise work on top of the same dot products
    by_op = result["fvcore"]["breakdown"]["by op"]
    assert by_op["conv"] + by_op["linear"] == result["ours"]["macs"]


def test_report_renders_the_claims_and_tables_from_figures():
    run = load("run")
    from bench_report import claims, render
    case = run.make_case("alexnet@227")
    figures = run.bench_case(case, tools=("ours", "fcm"), repeats=1)   # no cap: no added rounds
    assert figures["_rounds"]["rounds"] == 1 and figures["ours"]["rounds"] == [0]
    data = {"results": {"alexnet@227": figures}, "probes": {"profiler --help": {"times": [0.1], "median_s": 0.1}},
            "machine": {"cores": 2, "versions": {}, "total_s": 1.0},
            "settings": {"repeats": 1, "budget_s": 20.0, "quick": True}}
    text = render(data)
    assert "## Claims" in text and "alexnet@227" in text and "FlopCounterMode no_grad" in text
    assert any(claim.startswith("`profiler --help`") for claim, _, _ in claims(data))


def test_absent_peer_is_reported_not_raised():
    load("run")
    from bench_tools import Absent, _import
    try:
        _import("no_such_profiler_package")
    except Absent as exc:
        assert "not installed" in str(exc)
    else:
        raise AssertionError("expected Absent")


def test_our_timed_call_builds_no_frame_and_its_total_is_the_frames():
    """The timed call ends at Report.totals["macs"] (what a peer's call returns); the
    frames are built later, on first access, and sum to the same totals."""
    load("run")
    from bench_tools import Case, prepare
    from profiler.columns import COUNT_COLUMNS
    case = Case("resnet18@64", "resnet18", 64)
    prepared = prepare("ours", case, case.build(meta=True))
    report = prepared.call()
    assert report._layers is None  # nothing has asked for a frame yet
    totals = report.totals
    cheap_total = report.total  # built from the rows' sums
    assert report._layers is None
    frame_total = report.layers[COUNT_COLUMNS].sum().astype("int64")
    assert cheap_total.equals(frame_total) and cheap_total.index.equals(frame_total.index)
    assert report.totals == totals == {c: int(v) for c, v in frame_total.items()}
    assert prepared.macs(report) == totals["macs"] > 0
    # a replaced frame (as --fold-bn does) is what the totals follow from then on
    report.layers = report.layers[report.layers["kind"] == "conv"]
    assert report.totals["macs"] == int(report.layers["macs"].sum()) < totals["macs"]


def test_real_weight_case_runs_every_tool_on_the_real_model():
    """The real-weight case, kept short: resnet18 at 32 px, one timed call per tool and
    its warm-up as the memory figure (a tiny budget), one thread (no timing is checked,
    and two threads' spin-waits on a busy shared machine make a 2 ms forward take 1 s).
    Every tool runs on a seeded CPU model with a real input, ours also on a meta build,
    and the counts that must agree do."""
    import torch
    run = load("run")
    from bench_report import REAL, claims, render
    from bench_tools import Case
    assert list(run.REAL_CASES) == REAL  # the run's cases are the ones the report shows
    case = Case("resnet18@32:real", "resnet18", 32, real_weights=True)
    model = case.model()
    assert not model.training and not next(model.parameters()).is_meta
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run.bench_case(case, tools=run.REAL_TOOLS, repeats=1, budget_s=1e-6)
    finally:
        torch.set_num_threads(threads)
    for tool in run.REAL_TOOLS:
        row = result[tool]
        assert "error" not in row, (tool, row.get("error"))
        assert row["runs"] == 1 and row["median_s"] > 0 and row["macs"] > 0
    ours = result["ours"]["macs"]
    assert result["ours_meta"]["macs"] == ours and result["ours_meta"]["mode"] == "meta"
    assert result["ours"]["mode"] in ("meta", "fake", "real")
    # a real no_grad forward of a CNN takes no fused path: FlopCounterMode sees our conv and addmm
    assert result["fcm"]["macs"] == result["fcm_grad"]["macs"] == ours
    by_op = result["fvcore"]["breakdown"]["by op"]
    assert by_op["conv"] + by_op["linear"] == ours
    aten = result["ptflops_aten"]
    assert aten["macs"] - ours == aten["breakdown"]["bias outputs (addmm, convolution)"]
    data = {"results": {case.key: result}, "probes": {},
            "machine": {"cores": 2, "versions": {}, "total_s": 1.0},
            "settings": {"repeats": 1, "budget_s": 20.0, "quick": True}}
    found = {claim: (met, fig) for claim, met, fig in claims(data)}
    ratio_claim = "resnet18@32:real: ours on real weights ≤ 1.5× ours on a meta build"
    assert ratio_claim in found and " rounds; real " in found[ratio_claim][1]   # the figure, its interval
    assert found["real-weight cases: ours counts the same MACs on real weights as on a meta build"][0]
    text = render(data)
    assert "## User model with real weights" in text and "ours, meta build" in text
    assert ratio_claim in text


def test_a_claim_not_met_makes_the_run_exit_non_zero(tmp_path):
    """The exit status comes from the claims table: one claim not met (a `--help` of
    0.9 s against its 0.5 s) gives 1, from the function and from the script itself."""
    import subprocess
    import json
    run = load("run")
    from bench_report import claims

    def data(help_s):
        return {"results": {}, "probes": {"profiler --help": {"times": [help_s], "median_s": help_s}},
                "machine": {"cores": 2, "versions": {}, "total_s": 1.0},
                "settings": {"repeats": 1, "budget_s": 20.0, "quick": True}}
    assert run.exit_status(claims(data(0.1))) == 0
    assert run.exit_status(claims(data(0.9))) == 1
    assert run.exit_status([]) == 0
    saved = tmp_path / "figures.json"
    saved.write_text(json.dumps(data(0.9)))
    report = tmp_path / "b.md"
    assert run.main(["--from-json", str(saved), "--report", str(report)]) == 1
    assert "| `profiler --help` < 0.5 s | no | 0.90 s |" in report.read_text()
    done = subprocess.run([sys.executable, str(BENCH / "run.py"), "--from-json", str(saved),
                           "--report", str(report)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "[NOT met] `profiler --help` < 0.5 s" in done.stdout
    saved.write_text(json.dumps(data(0.1)))
    assert run.main(["--from-json", str(saved), "--report", str(report)]) == 0


# a tiny LLaMA (2 layers, hidden 64) for the language-model cases: the run's cases are
# LLaMA-7B, the same code with LlamaConfig's defaults
TINY_LLAMA = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=1000)


def _installed(module):
    return importlib.util.find_spec(module) is not None


def test_language_model_cases_run_every_tool_on_a_tiny_llama():
    """Prefill, decode after a KV cache and the two-length sweep, each tool once (no
    timing is checked): ours by name and on the built model, FlopCounterMode with and
    without the math attention backend count the same MACs; DeepSpeed and calflops
    run where installed and are skipped otherwise; the report's section and claims
    come out of the figures."""
    import pytest
    import torch
    pytest.importorskip("transformers")
    run = load("run")
    from bench_report import LM, claims, render
    from bench_tools import LMCase
    assert list(run.LM_CASES) == LM   # the run's cases are the ones the report shows
    peers = [t for t, module in (("deepspeed", "deepspeed"), ("calflops", "calflops")) if _installed(module)]
    tools = ("ours_name", "ours", "fcm_math", "fcm", *peers)
    cases = [LMCase("tiny@tokens32", "tokens", (32,), TINY_LLAMA),
             LMCase("tiny@decode32", "decode", (32,), TINY_LLAMA),
             LMCase("tiny@tokens8+16", "tokens", (8, 16), TINY_LLAMA)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = {case.key: run.bench_lm_case(case, tools, repeats=1, budget_s=1e-6) for case in cases}
    finally:
        torch.set_num_threads(threads)
    for case in cases:
        rows = results[case.key]
        assert rows["_case"]["labels"] == case.labels and rows["_case"]["config"] == TINY_LLAMA
        for tool in ("ours_name", "ours", "fcm_math", "fcm", "deepspeed"):
            if tool not in tools:
                continue
            row = rows[tool]
            assert "error" not in row, (case.key, tool, row.get("error"))
            assert row["runs"] == 1 and row["median_s"] > 0
            assert row["macs"] == rows["fcm_math"]["macs"] > 0, (case.key, tool)
            assert list(row["breakdown"]["by input"]) == case.labels
        attention = rows["ours"]["breakdown"]["attention kind"]
        assert all(v > 0 for v in attention.values())
        if "calflops" in tools and case.mode == "tokens":
            # no rule for scaled_dot_product_attention: short by exactly the attention matmuls
            assert rows["calflops"]["macs"] == rows["ours"]["macs"] - sum(attention.values())
        if "calflops" in tools and case.mode == "decode":
            assert "has no attribute 'to'" in rows["calflops"]["error"]   # its kwargs path cannot take a cache
    # a decode step reads the whole cache: the attention sees 33 keys for one query
    assert results["tiny@decode32"]["ours"]["macs"] < results["tiny@tokens32"]["ours"]["macs"]
    # the sweep's by-name call (profiler.compare) gives the per-length counts of the built model
    sweep = results["tiny@tokens8+16"]
    assert sweep["ours_name"]["breakdown"]["by input"] == sweep["ours"]["breakdown"]["by input"]

    probes = {"lm_cli": {"profiler profile hf:llama --tokens 2048": {"times": [9.0, 8.0, 8.5], "median_s": 8.5,
                                                                     "returncode": 0, "lines": 40},
                         "profiler compare hf:llama --tokens 128 --tokens 4096": {"error": "boom", "returncode": 2},
                         "import torch + transformers LLaMA": {"times": [6.0], "median_s": 6.0, "returncode": 0,
                                                               "command": "python -c ..."}}}
    data = {"results": results, "probes": probes, "machine": {"cores": 2, "versions": {}, "total_s": 1.0},
            "settings": {"repeats": 1, "lm_repeats": 1, "budget_s": 20.0, "quick": True}}
    found = {claim: (met, fig) for claim, met, fig in claims(data)}
    for case in cases:
        same = f"{case.key}: ours' MACs = FlopCounterMode's (math SDPA), by name and on the built model"
        assert found[same][0], found[same]
        assert f"{case.key}: ours (built model) faster than each peer that runs" in found
    assert found["`profiler profile hf:llama --tokens 2048` exits 0, each run < 30 s"][0]
    assert not found["`profiler compare hf:llama --tokens 128 --tokens 4096` exits 0, each run < 30 s"][0]
    text = render(data)
    assert "## Language models: LLaMA-7B on meta" in text and "### tiny@decode32" in text
    assert "FlopCounterMode, math SDPA" in text and "### The CLI on hf:llama, end to end" in text
    assert "## Why the counts differ\n\n### fvcore" not in text   # a language-model run has no vision sections
    if "calflops" in tools:
        assert "exactly the gap" in text


def test_llama_7b_claim_holds_ours_to_the_published_count():
    """At LlamaConfig()'s defaults and 2,048 tokens the count claim also names the
    exact figure, 14,630,806,093,824, and a different count of ours misses it."""
    load("run")
    from bench_report import LLAMA_7B_2048_MACS, claims

    def data(ours):
        row = lambda macs: {"macs": macs, "median_s": 0.1, "runs": 1, "breakdown": {}}  # noqa: E731
        results = {"llama-7b@tokens2048": {"ours": row(ours), "ours_name": row(ours), "fcm_math": row(ours),
                                           "_case": {"mode": "tokens", "lengths": [2048], "config": None,
                                                     "labels": ["2048 tokens"]}}}
        return {"results": results, "probes": {}}
    claim = ("llama-7b@tokens2048: ours' MACs = FlopCounterMode's (math SDPA), by name and on the built model, "
             "= 14,630,806,093,824")
    assert dict((c, m) for c, m, _ in claims(data(LLAMA_7B_2048_MACS)))[claim] is True
    assert dict((c, m) for c, m, _ in claims(data(LLAMA_7B_2048_MACS - 1)))[claim] is False


def test_bad_arguments_are_timed_as_refusals_and_claimed_under_half_a_second():
    """The refusal probes run the CLI on a bad --input and an unwritable --csv, each must
    exit 2 with one line on stderr; the claims table holds each at < 0.5 s, the way it
    holds `--help` (no timing asserted here: that is the benchmark's claim)."""
    run = load("run")
    from bench_report import claims, render
    refusals = run.probe_refusals(repeats=1)
    assert sorted(refusals) == sorted(run.refusal_commands())
    assert "profiler profile alexnet --input 3x22a" in refusals
    for probe in refusals.values():
        assert probe["returncode"] == 2 and len(probe["times"]) == 1, probe

    def data(probes):
        return {"results": {}, "probes": {"refusals": probes}, "machine": {"cores": 2, "versions": {}, "total_s": 1.0},
                "settings": {"repeats": 1, "budget_s": 20.0, "quick": True}}
    found = {claim: (met, said) for claim, met, said in claims(data(refusals))}
    for label, probe in refusals.items():
        assert found[f"`{label}` refused in < 0.5 s"][0] is (probe["median_s"] < 0.5)
    slow = {label: {**probe, "times": [0.9], "median_s": 0.9} for label, probe in refusals.items()}
    assert run.exit_status(claims(data(slow))) == 1
    failed = {"profiler profile alexnet --input 3x22a": {"error": "exit code 0", "returncode": 0}}
    assert [met for _, met, _ in claims(data(failed))] == [False]
    assert "refused (exit code 2, one line on stderr)" in render(data(refusals))


def test_measure_repeatability_claim_reads_the_stated_spreads():
    """Two runs agree where, for each kind at 1 % or more, their quartile ranges of the
    per-run share overlap; a busy machine is not evaluated (and is no miss of the run's
    exit status)."""
    repeat = load("bench_repeat")
    run = load("run")

    def found(load, second_conv):
        first = {"kinds": {"conv": [60.0, 58.0, 62.0], "linear": [30.0, 29.0, 31.0], "pool": [0.5, 0.1, 3.0]}}
        second = {"kinds": {"conv": [63.0, *second_conv], "linear": [30.5, 29.5, 31.5], "pool": [0.4, 0.0, 0.9]}}
        return {"runs": {"resnet18": [first, second]}, "cores": 2, "load": [load, load]}
    (_, met, figures), = repeat.claims(found(0.5, (62.0, 65.0)))      # they meet at 62
    assert met is True and "pool" not in figures
    (_, met, figures), = repeat.claims(found(0.5, (62.5, 65.0)))
    assert met is False and "conv 60.0% [58.0, 62.0] / 63.0% [62.5, 65.0] (apart)" in figures
    (_, met, figures), = repeat.claims(found(3.0, (62.5, 65.0)))
    assert met is None and figures.startswith("not evaluated, a busy machine")
    assert run.exit_status(repeat.claims(found(3.0, (62.5, 65.0)))) == 0
    assert run.exit_status(repeat.claims(found(0.5, (62.5, 65.0)))) == 1


# --- the decision of a timed claim (bench_claims): constructed rounds, no clock ----------------

def _claims():
    """benchmarks/bench_claims.py, as run.py imports it (a module of its own: its dataclasses need one)."""
    load("run")
    return sys.modules["bench_claims"]


def _rows(**times):
    """Rows of timed calls, one per round: tool -> seconds per round."""
    return {tool: {"times": list(values), "rounds": list(range(len(values)))} for tool, values in times.items()}


def _noisy(base, n, spread, seed):
    import random
    rng = random.Random(seed)
    return [base * (1 + rng.uniform(-spread, spread)) for _ in range(n)]


def test_a_timed_claim_is_met_not_met_or_inconclusive_by_its_interval():
    """Met when the whole 95 % interval clears the threshold, not met when it lies wholly on
    the other side, inconclusive when it straddles it; for both directions of a claim."""
    claims = _claims()
    ours = _noisy(1e-3, 40, 0.05, 1)
    at_least_two = claims.Spec("peer ≥ 2× ours", ("peer",), "ours", ">=", 2.0)
    cases = {3.0: claims.MET, 1.5: claims.NOT_MET, 2.0: claims.INCONCLUSIVE}
    for factor, expected in cases.items():
        d = claims.decide(at_least_two, _rows(ours=ours, peer=_noisy(factor * 1e-3, 40, 0.05, 2)))
        assert d.verdict == expected, (factor, d)
        assert d.low <= d.point <= d.high and d.rounds == 40
        assert d.met is {claims.MET: True, claims.NOT_MET: False, claims.INCONCLUSIVE: None}[expected]
    at_most = claims.Spec("real ≤ 1.5× meta", ("real",), "meta", "<=", 1.5)
    meta = _noisy(10e-3, 30, 0.05, 3)
    assert claims.decide(at_most, _rows(real=_noisy(11e-3, 30, 0.05, 4), meta=meta)).verdict == claims.MET
    assert claims.decide(at_most, _rows(real=_noisy(20e-3, 30, 0.05, 4), meta=meta)).verdict == claims.NOT_MET
    assert claims.decide(at_most, _rows(real=_noisy(15e-3, 30, 0.05, 4), meta=meta)).verdict == claims.INCONCLUSIVE
    # the verdict alone, at the edges: an interval touching the threshold from the right side clears it
    assert claims.verdict(">=", 2.0, 2.0, 2.5) == claims.MET and claims.verdict(">=", 2.0, 1.5, 1.99) == claims.NOT_MET
    assert claims.verdict("<=", 1.2, 1.0, 1.2) == claims.MET and claims.verdict("<=", 1.2, 1.21, 1.3) == claims.NOT_MET
    assert claims.verdict("<=", 1.2, 1.1, 1.3) == claims.INCONCLUSIVE


def test_the_interval_is_over_whole_rounds_seeded_and_its_width_decides_more_rounds():
    """A busy spell that slows every tool of a round alike leaves the ratio's interval
    narrow (rounds are resampled whole); the same times give the same interval; a claim
    with an interval wider than WIDTH of its figure is decided but not settled (the run
    adds rounds); the statistic is the smallest ratio over the numerator tools."""
    claims = _claims()
    load_factor = [1.0, 3.0, 1.2, 5.0, 1.1, 2.0, 1.0, 4.0, 1.3, 1.0] * 3   # a very busy machine, round by round
    ours = [f * 1e-3 for f in load_factor]
    peers = {"slow": [f * 4e-3 for f in load_factor], "fast": [f * 2.5e-3 for f in load_factor]}
    spec = claims.Spec("every peer ≥ 2× ours", ("slow", "fast"), "ours", ">=", 2.0)
    d = claims.decide(spec, _rows(ours=ours, **peers))
    import pytest
    assert d.point == pytest.approx(2.5) and d.low == pytest.approx(2.5) and d.high == pytest.approx(2.5)
    assert d.argmin == "fast" and d.verdict == claims.MET and d.settled
    # unpaired, the same calls would give a wide interval: shuffle the peer's rounds
    shuffled = {"slow": peers["slow"], "fast": peers["fast"][5:] + peers["fast"][:5]}
    wide = claims.decide(spec, _rows(ours=ours, **shuffled))
    assert wide.high - wide.low > 0.5 and not wide.narrow and not wide.settled
    assert claims.decide(spec, _rows(ours=ours, **shuffled)) == wide   # seeded
    # a slow tool with a single call is resampled alone: the interval is ours' spread only
    once = claims.decide(claims.Spec("fvcore ≥ 10×", ("fvcore",), "ours", ">=", 10.0),
                         {"fvcore": {"times": [9.0]}, "ours": {"times": _noisy(0.06, 15, 0.02, 5)}})
    assert once.verdict == claims.MET and 145 < once.low <= once.point <= once.high < 155
    # no timed call of a tool: no decision
    assert claims.decide(spec, {"ours": {"times": [1.0]}, "slow": {"times": [2.0]}, "fast": {"error": "x"}}) is None
    # an absolute claim: the median seconds of one tool
    fixed = claims.Spec("≤ 0.135 ms", ("linear@4",), None, "<=", 0.135e-3)
    d = claims.decide(fixed, _rows(**{"linear@4": _noisy(0.27e-3, 60, 0.05, 6)}))
    assert d.verdict == claims.NOT_MET and "ms [" in claims.describe(d) and "over 60 calls" in claims.describe(d)


def test_the_cases_claims_and_thresholds_come_from_one_table():
    """bench_claims.specs gives each case its timed claims with the thresholds of
    FASTEST_PEER / PEER_FLOOR / THRESHOLDS: nn.Linear(4, 4) at 2× every peer, fvcore too, the alexnet resolution
    ratio from ours at 227 in the 2270 case's rounds, the fixed cost at half its baseline."""
    claims = _claims()
    row = {"times": [1.0]}
    linear = claims.specs("linear@4", {"ours": row, "fcm": row, "thop": row, "fvcore": row,
                                       "ptflops": {"error": "x"}})
    assert [(s.kind, s.num, s.threshold) for s in linear] == [("fastest_peer", ("fcm", "thop", "fvcore"), 2.0)]
    assert linear[0].claim == "linear@4: ours ≥ 2× faster than every peer"
    # a peer held to a level of its own (PEER_FLOOR, empty now) gets a claim of its own
    floored = dict(claims.PEER_FLOOR, **{"linear@4": {"fvcore": 1.5}})
    original, claims.PEER_FLOOR = claims.PEER_FLOOR, floored
    try:
        held = claims.specs("linear@4", {"ours": row, "fcm": row, "fvcore": row})
        assert [(s.kind, s.num, s.threshold) for s in held] == [("fastest_peer", ("fcm",), 2.0),
                                                                ("peer_floor", ("fvcore",), 1.5)]
        assert held[0].claim == "linear@4: ours ≥ 2× faster than every peer but fvcore"
        assert "fvcore / ours on linear@4, at least 1.5" in claims.threshold_lines()[1]
    finally:
        claims.PEER_FLOOR = original
    alex = claims.specs("alexnet@2270", {"ours": row, "ours_227": row, "fcm": row})
    assert [(s.kind, s.num, s.den) for s in alex] == [("fastest_peer", ("fcm",), "ours"),
                                                      ("alexnet_resolution", ("ours",), "ours_227")]
    assert alex[0].claim == "alexnet@2270: ours ≥ 1.3× faster than every peer"
    alex227 = claims.specs("alexnet@227", {"ours": row, "fcm": row})
    assert [(s.kind, s.threshold) for s in alex227] == [("fastest_peer", 1.3)]
    assert alex227[0].claim == "alexnet@227: ours ≥ 1.3× faster than every peer"
    assert claims.specs("resnet50@224", {"ours": row, "fcm": row})[0].threshold == 1.0
    # issue 24's levels on the real-weight ResNet-50; the others keep THRESHOLDS'
    real = claims.specs("resnet50@224:real", {"ours": row, "ours_meta": row, "fvcore": row})
    assert [(s.kind, s.op, s.threshold) for s in real] == [("real_over_meta", "<=", 1.25),
                                                           ("real_fvcore", ">=", 15.0)]
    assert real[1].claim == "resnet50@224:real: ours on real weights ≥ 15× faster than fvcore on them"
    vit = claims.specs("vit_b_16@224:real", {"ours": row, "ours_meta": row, "fvcore": row})
    assert [(s.kind, s.threshold) for s in vit] == [("real_over_meta", 1.5), ("real_fvcore", 10.0)]
    fixed = claims.fixed_cost_specs({"linear@4": row, "alexnet@227": row})
    assert [s.threshold for s in fixed] == [0.135e-3, 0.79e-3]
    lines = claims.threshold_lines()
    assert len(lines) == 9 and not any("PEER_FLOOR" in line for line in lines) and "linear@4: 25" in lines[1]
    assert "0.27 ms" in lines[-1] and "resnet50@224:real: real_over_meta 1.25, real_fvcore 15" in lines[-2]


def test_only_a_claim_not_met_fails_the_run_and_the_report_says_inconclusive(tmp_path):
    """Round data rendered through the report: a met, a not met and an inconclusive claim
    appear with their intervals; the run's exit status is 1 only for the not met one."""
    import json
    run = load("run")
    from bench_report import claims

    def case(peer_factor):
        ours = _noisy(1e-3, 30, 0.05, 7)
        rows = _rows(ours=ours, fcm=_noisy(peer_factor * 1e-3, 30, 0.05, 8))
        for row in rows.values():
            row.update(median_s=sorted(row["times"])[15], runs=30)
        rows["_rounds"] = {"rounds": 30, "capped": True, "cap_s": 5.0}
        return rows

    def data(linear_factor):
        fixed = _rows(**{"linear@4": _noisy(0.1e-3, 60, 0.05, 9), "alexnet@227": _noisy(0.7e-3, 60, 0.05, 10)})
        return {"results": {"linear@4": case(linear_factor), "alexnet@227": case(3.0)},
                "probes": {"fixed-cost": fixed}, "machine": {"cores": 2, "versions": {}, "total_s": 1.0},
                "settings": {"repeats": 30, "budget_s": 20.0, "quick": True, "cap_s": 5.0}}
    found = {claim: (met, fig) for claim, met, fig in claims(data(2.0))}
    met, fig = found["linear@4: ours ≥ 2× faster than every peer"]
    assert met is None and fig.startswith("inconclusive: ") and "the cap of 5 s of added rounds ran out" in fig
    assert found["alexnet@227: ours ≥ 1.3× faster than every peer"][0] is True
    assert all(found[c][0] is True for c in found if c.startswith("fixed cost per call"))
    assert run.exit_status(claims(data(2.0))) == 0          # inconclusive is no miss
    assert run.exit_status(claims(data(1.2))) == 1          # not met is
    saved, report = tmp_path / "figures.json", tmp_path / "b.md"
    saved.write_text(json.dumps(data(2.0)))
    assert run.main(["--from-json", str(saved), "--report", str(report)]) == 0
    text = report.read_text()
    assert "| linear@4: ours ≥ 2× faster than every peer | inconclusive | inconclusive: " in text
    assert "3 met, 0 not met, 1 inconclusive" in text
    assert "### Thresholds" in text and "## Fixed cost per call" in text and "FASTEST_PEER" in text
    assert "ms per call (median) [95 % interval]" in text


def test_the_linear_case_adds_rounds_only_while_its_claim_is_open_and_the_fixed_cost_runs():
    """nn.Linear(4, 4) (linear@4): every tool gets the model and a 1×4 input, the counts
    agree (16 MACs; ptflops' aten backend adds the 4 bias outputs); with a cap, rounds are
    added after the first ones (its 2× claim is far from met or wide on 2 rounds), each
    timed call keeping its round; the fixed-cost probe times ours alone on linear@4 and
    alexnet.  No timing is asserted."""
    run = load("run")
    claims = _claims()
    case = run.make_case("linear@4")
    assert case.shape == (4,) and tuple(case.input("meta").shape) == (1, 4)
    result = run.bench_case(case, tools=("ours", "fcm", "ptflops_aten"), repeats=2, cap_s=0.5)
    assert result["ours"]["macs"] == result["fcm"]["macs"] == 16
    assert result["ptflops_aten"]["macs"] - 16 == result["ptflops_aten"]["breakdown"][
        "bias outputs (addmm, convolution)"] == 4
    rounds = result["_rounds"]
    for tool in ("ours", "fcm", "ptflops_aten"):
        row = result[tool]
        assert row["rounds"] == sorted(set(row["rounds"])) and len(row["rounds"]) == row["runs"] == len(row["times"])
        assert row["rounds"][:2] == [0, 1] and row["rounds"][-1] < rounds["rounds"]
    spec, = claims.specs("linear@4", result)
    decision = claims.decide(spec, result)
    assert rounds["rounds"] > 2 or decision.settled   # an open claim got more rounds
    assert rounds["capped"] or decision.settled
    fixed = run.bench_fixed_cost(rounds=3)
    assert fixed["linear@4"]["macs"] == 16 and fixed["alexnet@227"]["macs"] > 0
    assert fixed["linear@4"]["runs"] == fixed["alexnet@227"]["runs"] == 3 == fixed["_rounds"]["rounds"]
    assert [s.num for s in claims.fixed_cost_specs(fixed)] == [("linear@4",), ("alexnet@227",)]


def test_zoo_sample_claim_is_decided_on_its_interval():
    """The transformers zoo sample's time claim (median over the types of ours /
    FlopCounterMode) is met, not met or inconclusive by its bootstrap interval; its section
    says which (constructed rounds, no model is built)."""
    zoo = load("bench_zoo")
    run = load("run")

    def data(factor):
        types = {}
        for i, name in enumerate(("llama", "bert", "vit", "t5", "gpt2")):
            fcm = _noisy(10e-3, 8, 0.05, i)
            types[name] = {"ours": {"macs": 5, "times": [f * factor for f in _noisy(10e-3, 8, 0.05, 50 + i)]},
                           "fcm": {"macs": 5, "times": fcm}}
            for row in types[name].values():
                row["median_s"] = sorted(row["times"])[4]
        return {"types": types, "repeats": 8, "seconds": 1.0, "versions": {"transformers": "x", "torch": "y"}}
    for factor, met in ((0.6, True), (1.6, False), (1.0, None)):
        (claim, ok, figures), (_, same, _) = zoo.claims(data(factor))
        assert ok is met, (factor, figures)
        assert same and "over 8 rounds of each type" in figures and ("[" in figures)
        assert figures.startswith("inconclusive: ") == (met is None)
    text = "\n".join(zoo.section(data(1.0)))
    assert "| inconclusive | inconclusive: " in text
    assert run.exit_status(zoo.claims(data(1.0))) == 0 and run.exit_status(zoo.claims(data(1.6))) == 1


def test_the_memory_bench_renders_its_table_and_claims_from_figures():
    """benchmarks/bench_memory.py: each tool's error against MemTracker, and the overhead claim."""
    bench = load("bench_memory")
    data = {"mlp": {"memtracker": {"Total": 1000}, "tools": {"ours": {"bytes": 1000}, "kitsune": {"bytes": 780},
                                                             "deepspeed": {"error": "ImportError: absent"}}},
            "resnet18": {"memtracker": {"Total": 2000},
                         "tools": {"ours": {"bytes": 2010}, "kitsune": {"bytes": 4100}, "deepspeed": {"bytes": 1800}},
                         "overhead": {"plain_s": 0.1, "liveness_s": 0.12, "memory_s": 0.14, "ratio": 1.4,
                                      "liveness_ratio": 1.2}}}
    text = "\n".join(bench.section(data))
    assert "| mlp | 0.00 MB | 0.00 MB (+0.0%) | 0.00 MB (-22.0%) | fails: ImportError: absent |" in text
    assert "| resnet18 | 100 ms | 120 ms (1.20×) | 140 ms | 1.40× |" in text
    assert [ok for _, ok, _ in bench.claims(data)] == [True, True, True]
