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
    figures = run.bench_case(case, tools=("ours", "fcm"), repeats=1)
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
    from profiler.rows import COUNT_COLUMNS
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
