"""`interspect bench` on a tiny synthetic task: files, columns, metrics recomputed independently."""

from __future__ import annotations

import csv
import math

import pytest

from interspect import games
from interspect.engines.registry import run_method, seed_of_test_masks
from interspect.evaluation import bench
from interspect.evaluation.metrics import faithfulness, removal_curve
from interspect.interface.cli import bench_config, build_parser
from interspect.interface.cli import main as cli_main


def parse(argv):
    """The BenchConfig the CLI builds from ``interspect bench ARGV``."""
    return bench_config(build_parser().parse_args(["bench", *argv]))


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


ARGS = ["--task", "synthetic", "--synthetic-n", "8,10", "--limit", "2", "--methods", "lime,banzhaf,fbii2",
        "--budget", "60", "256", "--n-test", "50", "--cache", "none"]  # fmt: skip


def test_synthetic_bench_writes_results_plots_and_summary(tmp_path, capsys):
    out = tmp_path / "b"
    print(bench.run_bench(parse([*ARGS, "--out", str(out)])))
    rows = read(out / "results.csv")
    with open(out / "results.csv") as fh:
        header = fh.readline().strip().split(",")
    assert header == ["task", "item", "n", "method", "budget", "n_queries", "r2",
                      "removal_r1", "removal_r2", "removal_r3", "removal_r4", "removal_r5", "seconds"]  # fmt: skip
    assert len(rows) == 2 * 3 * 2  # items x methods x budgets
    assert {(r["item"], r["n"]) for r in rows} == {("synthetic-0", "8"), ("synthetic-1", "10")}
    for name in ("r2_vs_queries.png", "r2_vs_n.png", "summary.md"):
        assert (out / name).stat().st_size > 0
    printed = capsys.readouterr().out
    assert "R² n 8-15" in printed and "| fbii2 | 256 |" in printed

    # Every metric in the file is what the evaluate functions give on the same game and method.
    game = games.HierarchicalGame(10, n_top=3, min_degree=2, max_degree=4, squash="tanh", seed=1)
    for method, budget in (("banzhaf", 60), ("fbii2", 256)):
        row = next(r for r in rows if r["item"] == "synthetic-1" and r["method"] == method and r["budget"] == str(budget))
        spectrum = run_method(method, game, 10, budget, seed=0)
        assert int(row["n_queries"]) == spectrum.n_queries == budget
        assert float(row["r2"]) == pytest.approx(faithfulness(spectrum, game, n_test=50, seed=seed_of_test_masks(0)), abs=1e-5)
        kind = "marginal" if spectrum.degree <= 1 else "milp"
        curve = removal_curve(spectrum, game, method=kind)
        for r in range(1, 6):
            assert float(row[f"removal_r{r}"]) == pytest.approx(curve[r], rel=1e-5)

    # fbii2 at n=10 has 56 coefficients <= 60 queries, so every row ran.
    assert all(not math.isnan(float(r["r2"])) for r in rows)


def test_too_small_budget_is_recorded_not_fatal(tmp_path, capsys):
    out = tmp_path / "b"
    argv = ["--task", "synthetic", "--synthetic-n", "12", "--limit", "1", "--methods", "fbii2,banzhaf",
            "--budget", "40", "--n-test", "20", "--no-removal", "--cache", "none", "--out", str(out)]  # fmt: skip
    bench.run_bench(parse(argv))
    rows = {r["method"]: r for r in read(out / "results.csv")}
    assert math.isnan(float(rows["fbii2"]["r2"]))  # 79 coefficients > 40 queries
    assert not math.isnan(float(rows["banzhaf"]["r2"]))
    assert "needs budget >= 79" in capsys.readouterr().err
    # --resume keeps the finished rows and does not run them again.
    bench.run_bench(parse([*argv, "--resume"]))
    assert len(read(out / "results.csv")) == 2


def test_summary_buckets_by_n():
    rows = [
        {"method": "lime", "budget": 100, "n": n, "n_queries": 100, "r2": r2, "seconds": 1.0,
         **{f"removal_r{x}": 0.5 for x in range(1, 6)}}
        for n, r2 in ((8, 0.9), (15, 0.7), (40, 0.2), (200, float("nan")))
    ]  # fmt: skip
    table = bench.summarise(rows)
    line = next(s for s in table.splitlines() if s.startswith("| lime"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:5] == ["lime", "100", "100", "0.800 (2)", "0.200 (1)"]
    assert cells[5] == "–"  # the 128+ bucket only holds a failed row
    assert cells[6] == "0.200"


def test_bad_options(capsys):
    assert cli_main(["bench", "--task", "synthetic", "--methods", "lime,shap", "--out", "/tmp/unused-bench"]) == 2
    assert "unknown method 'shap'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["--task", "images"])
    with pytest.raises(ValueError, match="needs data=PATH"):
        bench.BenchConfig(task="sentiment")


def test_algorithms_run_through_the_bench(tmp_path):
    out = tmp_path / "b"
    argv = ["--task", "synthetic", "--synthetic-n", "12", "--limit", "1", "--methods", "spex,proxyspex",
            "--budget", "700", "--n-test", "100", "--cache", "none", "--out", str(out)]  # fmt: skip
    bench.run_bench(parse(argv))
    rows = {r["method"]: r for r in read(out / "results.csv")}
    assert set(rows) == {"spex", "proxyspex"}
    for r in rows.values():
        assert 0 < int(r["n_queries"]) <= 700
        assert float(r["r2"]) > 0.5  # a 12-feature hierarchical game is easy at 700 queries


def test_method_auto_runs_through_the_bench_as_explain_would_run_it(tmp_path, capsys):
    from interspect.engines.auto import auto_method

    out = tmp_path / "b"
    argv = ["--task", "synthetic", "--synthetic-n", "12", "--limit", "1", "--methods", "auto,banzhaf",
            "--budget", "400", "--n-test", "60", "--no-removal", "--cache", "none", "--out", str(out)]  # fmt: skip
    table = bench.run_bench(parse(argv))
    row = next(r for r in read(out / "results.csv") if r["method"] == "auto")
    game = games.HierarchicalGame(12, n_top=3, min_degree=2, max_degree=4, squash="tanh", seed=0)
    spectrum, info = auto_method(game, 12, 400, seed=0)
    assert int(row["n_queries"]) == spectrum.n_queries <= 400
    assert float(row["r2"]) == pytest.approx(faithfulness(spectrum, game, n_test=60, seed=seed_of_test_masks(0)), abs=1e-5)
    assert f"chose {info['method']}" in capsys.readouterr().err
    assert "| auto | 400 |" in table
    # A budget that holds all 2^n masks buys the exact spectrum, as explain(method="auto") does.
    small = tmp_path / "s"
    bench.run_bench(parse(["--task", "synthetic", "--synthetic-n", "8", "--limit", "1", "--methods", "auto",
                           "--budget", "300", "--n-test", "40", "--no-removal", "--cache", "none", "--out", str(small)]))  # fmt: skip
    (row,) = read(small / "results.csv")
    assert int(row["n_queries"]) == 256 and float(row["r2"]) == pytest.approx(1.0)
    assert "chose exact" in capsys.readouterr().err
