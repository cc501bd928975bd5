"""Benchmark targets (bench/figures.py, issue 22 "Also"): the bound a target's text states is
checked against the value or the ratio, and the entry point marks the misses."""

import pytest

from bench import __main__ as entry
from bench.figures import Figure


@pytest.mark.parametrize("target, value, baseline, verdict", [
    ("<= 8 MiB", 7.9, None, "ok"),
    ("<= 8 MiB", 8.1, None, "MISS"),
    ("≤ 64 MiB", 64.0, 10.0, "ok"),
    ("ratio <= 2", 3.0, 1.0, "MISS"),
    ("ratio <= 2", 1.9, 1.0, "ok"),
    ("ratio >= 0.5 vs copyfile (median of 5)", 0.4, 1.0, "MISS"),
    ("ratio < 1 (du adds directories)", 1.0, 1.0, "MISS"),
    ("p99 <= 20 ms", 12.0, 30.0, "ok"),
    ("workers <= 3 %", 3.4, 20.0, "MISS"),
    (">= 0.7", 0.69, None, "MISS"),
])
def test_a_stated_bound_is_checked(target, value, baseline, verdict):
    assert Figure("f", value, baseline, target=target).verdict() == verdict


@pytest.mark.parametrize("target", [None, "", "bounded", "~0", "(context)", "all finish"])
def test_a_target_without_a_bound_is_shown_not_checked(target):
    figure = Figure("f", 1.0, 2.0, target=target)
    assert figure.met is None and figure.verdict() == ""
    assert figure.as_dict()["met"] is None


def test_a_ratio_target_without_a_baseline_is_not_checked():
    assert Figure("f", 1.0, None, target="ratio <= 2").met is None


def test_the_table_marks_misses_and_lists_them_at_the_end(capsys):
    figures = [Figure("worker USS, MiB", 9.5, 40.0, target="<= 7 MiB"),
               Figure("boot, s", 1.0, 0.8, unit="s", target="ratio <= 2")]
    entry.print_table("memory", figures)
    entry.print_misses([("memory", f) for f in figures if f.met is False])
    out = capsys.readouterr().out
    assert "9.5 " in out and "MISS <= 7 MiB" in out and "ok   ratio <= 2" in out
    assert out.rstrip().endswith("memory: worker USS, MiB = 9.5 (ratio 0.24), target <= 7 MiB")
