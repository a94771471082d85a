"""scripts/bench-pipeline's arguments and report, without the lab (the runs themselves need it)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from types import ModuleType

import pytest

from conftest import ROOT


def load_bench() -> ModuleType:
    """The script has no .py suffix: load it with an explicit source loader."""
    path = ROOT / "scripts" / "bench-pipeline"
    loader = importlib.machinery.SourceFileLoader("bench_pipeline", str(path))
    spec = importlib.util.spec_from_loader("bench_pipeline", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pipeline"] = module
    loader.exec_module(module)
    return module


bench = load_bench()

# What Kafka 4.3.1's EndToEndLatency printed against a local broker (tools/bench_latency.py --java),
# less its progress lines ("<i>\t<ms>" every 1000 records).
E2E_OUTPUT = """\
Avg latency: 4.1230 ms
Percentiles: 50th = 2, 99th = 22, 99.9th = 61
"""


def test_the_full_speed_mode_is_the_default() -> None:
    args = bench.parse_args([])
    assert not args.steady
    assert args.records == 20000


def test_seconds_alone_selects_the_steady_mode_at_the_default_rates() -> None:
    args = bench.parse_args(["--seconds", "5"])
    assert args.steady
    assert args.rates == [10.0, 100.0, 1000.0]
    assert args.seconds == 5.0


def test_rates_repeat_and_have_a_default_length() -> None:
    args = bench.parse_args(["--rate", "50", "--rate", "500"])
    assert args.steady
    assert args.rates == [50.0, 500.0]
    assert args.seconds == bench.DEFAULT_SECONDS


@pytest.mark.parametrize("argv", [["--rate", "0"], ["--seconds", "-1"]])
def test_a_rate_or_length_that_is_not_positive_is_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(argv)


def test_end_to_end_latency_figures_are_read() -> None:
    java = bench.parse_end_to_end_latency(E2E_OUTPUT)
    assert (java.p50, java.p99, java.p999, java.average) == (2.0, 22.0, 61.0, 4.123)


def test_output_without_figures_stops_the_benchmark() -> None:
    with pytest.raises(SystemExit, match="no latency figures"):
        bench.parse_end_to_end_latency("Exception in thread main")


def test_the_steady_report_puts_kafkas_p99_beside_ours() -> None:
    java = bench.parse_end_to_end_latency(E2E_OUTPUT)
    results = [
        bench.SteadyResult(10.0, 100, [float(v) for v in range(1, 101)]),
        bench.SteadyResult(1000.0, 3, []),
    ]
    lines = bench.steady_report(results, java).splitlines()
    assert lines[0].split() == ["rate/s", "arrived", "p50", "ms", "p99", "ms", "max", "ms",
                                "java", "e2e", "p99", "ms"]
    assert lines[1].split() == ["10", "100/100", "51", "99", "100", "22"]
    assert lines[2].split() == ["1000", "0/3", "-", "-", "-", "22"]
    assert lines[3].startswith("java EndToEndLatency (one record at a time): p50 2 ms, p99 22 ms")
