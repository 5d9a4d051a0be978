"""Tables from hand-written results files: means, stds, noise marks, missing and failed cells."""
from __future__ import annotations

import csv
import io
import statistics

import pytest

from rm_lab.cli.report import main
from rm_lab.report.paper_tables import build_tables
from rm_lab.report.render import to_csv, to_latex, to_markdown
from rm_lab.rundir.results import load_runs

SWEEP = "2026-01-01_00-00-00"
LABELS = {"baseline": "Baseline", "rodos": "RODOS"}  # as the methods write them into results.json


def _result(method, model, seed, accs, params, train_s=10.0, spi=0.002, components=None):
    per = {d: {"accuracy": a, "won": 0, "tied": 0, "lost": 0, "n": 10, "loss": 0.6} for d, a in accs.items()}
    return {
        "status": "completed", "method": method, "model": model, "dataset": "five", "seed": seed,
        "config": {"trainer": {"max_epochs": 2}, "method": {"name": method}},
        "labels": {"method": LABELS[method], "components": {"router": "Router", "reward_model": "RM"}},
        "data": {"hh_rlhf": {"absent": None}, "oasst": {"absent": None},
                 "shp": {"absent": "no offline sample is bundled"}},
        "params": {"total": params, "trainable": params, "by_component": {}},
        "accuracy": {"per_domain": per, "average": sum(accs.values()) / len(accs)},
        "train_time": {"total_s": train_s, "per_epoch_s": [train_s / 2] * 2,
                       "by_component": components or {"reward_model": train_s}},
        "inference": {"seconds_per_input": spi, "inputs": 100},
    }


def _path(root, method, model, seed):
    return root / SWEEP / method / model / "five" / f"seed_{seed}" / "results.json"


BASELINE = {0: (0.70, 0.60), 1: (0.72, 0.64), 2: (0.74, 0.62)}   # seed -> (hh_rlhf, oasst)
RODOS = {0: (0.50, 0.50), 1: (0.52, 0.51), 2: (0.51, 0.49)}


@pytest.fixture
def sweep(tmp_path, write_run):
    root = tmp_path / "multirun" / "hand"
    for seed, (hh, oa) in BASELINE.items():
        write_run(_path(root, "baseline", "small", seed),
                  **_result("baseline", "small", seed, {"hh_rlhf": hh, "oasst": oa}, 1_000_000, train_s=8.0 + seed))
    for seed, (hh, oa) in RODOS.items():
        write_run(_path(root, "rodos", "small", seed),
                  **_result("rodos", "small", seed, {"hh_rlhf": hh, "oasst": oa}, 4_000_000,
                            components={"router": 2.0, "reward_model/hh_rlhf": 4.0, "reward_model/oasst": 6.0}))
    write_run(_path(root, "more", "small", 0), status="failed", error="RuntimeError: out of memory\ntraceback...")
    truncated = _path(root, "more", "small", 1)
    truncated.parent.mkdir(parents=True)
    truncated.write_text("{truncated")
    # a second backbone with a single seed of the Baseline
    write_run(_path(root, "baseline", "large", 0),
              **_result("baseline", "large", 0, {"hh_rlhf": 0.80, "oasst": 0.70}, 3_000_000))
    return root


def _rows(table):
    return {(r.method, r.model): r for r in table.rows}


def test_table2_means_stds_and_missing_rows(sweep):
    t2, = build_tables(load_runs(sweep), ["2"])
    rows = _rows(t2)
    base = rows[("baseline", "small")].cells
    hh = [v[0] for v in BASELINE.values()]
    assert base["accuracy/hh_rlhf"].summary.mean == pytest.approx(statistics.mean(hh))
    assert base["accuracy/hh_rlhf"].summary.std == pytest.approx(statistics.stdev(hh))
    avg = [(a + b) / 2 for a, b in BASELINE.values()]
    assert base["accuracy/average"].summary.mean == pytest.approx(statistics.mean(avg))
    assert base["params/percent_of_largest_baseline"].summary.mean == pytest.approx(100 / 3)
    assert rows[("rodos", "small")].cells["params/percent_of_largest_baseline"].summary.mean == pytest.approx(400 / 3)
    # the paper's methods without runs are kept as missing rows; MoRE's runs both failed
    assert rows[("base_lora", "small")].status == "missing"
    assert rows[("arliss", "large")].status == "missing"
    assert rows[("more", "small")].status == "failed" and len(rows[("more", "small")].failed) == 2
    assert [c.key for c in t2.columns][-3:] == ["accuracy/hh_rlhf", "accuracy/oasst", "accuracy/average"]
    notes = "\n".join(t2.notes)
    assert "base_lora / small / five: not run" in notes and "every run failed" in notes
    assert "more / small / five seed 0: RuntimeError: out of memory (" in notes
    assert "more / small / five seed 1: " in notes and "not valid JSON (JSONDecodeError" in notes
    assert "SHP: no test pairs; no offline sample is bundled." in notes
    assert "Welch" in notes


def test_noise_test_marks_best_within_noise_and_differs(sweep):
    t2, = build_tables(load_runs(sweep), ["2"])
    rows = _rows(t2)
    # Baseline/large has the best hh_rlhf mean but one seed: the others cannot be tested against it
    assert rows[("baseline", "large")].cells["accuracy/hh_rlhf"].verdict == "best"
    assert rows[("baseline", "small")].cells["accuracy/hh_rlhf"].verdict == "untested"
    t2s, = build_tables(load_runs(sweep), ["2"], models=["small"])
    rows = _rows(t2s)
    assert rows[("baseline", "small")].cells["accuracy/hh_rlhf"].verdict == "best"
    rodos = rows[("rodos", "small")].cells["accuracy/hh_rlhf"]
    assert rodos.verdict == "differs" and rodos.p < 0.05
    md = to_markdown(t2s)
    assert "**0.720 ± 0.020**" in md
    # labels come from the runs; a method with no run is labelled by its class (its `label`)
    assert "| RODOS | small |" in md and "| BaseLoRA | small | — |" in md


def test_table3_table6_table7(sweep):
    t3, t6, t7 = build_tables(load_runs(sweep), ["3", "6", "7"])
    r3 = _rows(t3)
    base = r3[("baseline", "small")].cells
    assert base["train_epoch_s/total"].summary.mean == pytest.approx(statistics.mean([4.0, 4.5, 5.0]))
    assert r3[("rodos", "small")].cells["train_epoch_s/reward_model/oasst"].summary.mean == pytest.approx(3.0)
    headers = [c.label for c in t3.columns]
    assert "Router (s)" in headers and "RM OASST (s)" in headers  # the runs' own component labels
    assert "train_epoch_s/router" not in base  # the Baseline has no router: blank, not missing
    assert _rows(t6)[("rodos", "small")].cells["inference_ms"].summary.mean == pytest.approx(2.0)
    assert [r.model for r in t7.rows] == ["small", "large"] and {r.method for r in t7.rows} == {"baseline"}
    assert t7.labels == ("model",)


def test_csv_and_latex_carry_the_numbers(sweep):
    t2, = build_tables(load_runs(sweep), ["2"], models=["small"])
    rows = {(r["method"], r["model"]): r for r in csv.DictReader(io.StringIO(to_csv(t2)))}
    assert float(rows[("baseline", "small")]["accuracy/hh_rlhf_mean"]) == pytest.approx(0.72)
    assert rows[("baseline", "small")]["accuracy/hh_rlhf_n"] == "3"
    assert rows[("rodos", "small")]["accuracy/hh_rlhf_vs_best"] == "differs"
    assert rows[("base_lora", "small")]["status"] == "missing"
    tex = to_latex(t2)
    assert r"\textbf{0.720 $\pm$ 0.020}" in tex and r"\toprule" in tex and r"BaseLoRA & small & --" in tex


def test_cli_writes_every_format_and_reports_bad_paths(sweep, tmp_path, capsys):
    out = tmp_path / "reports"
    assert main([str(sweep), "--out", str(out), "--methods", "baseline,rodos,more"]) == 0
    for n in ("2", "3", "6", "7"):
        for ext in ("md", "csv", "tex"):
            assert (out / f"table{n}.{ext}").stat().st_size > 0
    assert (out / "table2_domain_accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert "base_lora" not in (out / "table2.md").read_text()
    assert main([str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), "--out", str(out)]) == 2
    assert (out / "table2.md").exists()  # an empty sweep loses no report already written
    capsys.readouterr()
    before = (out / "table2.md").read_bytes()
    for flag, typo in (("--methods", "basline"), ("--models", "smal")):  # a typo is said, not an empty table
        assert main([str(sweep), "--out", str(out), flag, typo]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"python -m rm_lab.report: {flag} {typo}: no such ") and "give some of" in err, err
    assert (out / "table2.md").read_bytes() == before
    assert main([str(sweep), "--out", str(tmp_path / "more"), "--models", "small,minilm-l6"]) == 0  # a backbone not run yet


def test_welch_edge_cases():
    from scipy import stats as sps

    from rm_lab.report.stats import verdict, welch_p

    assert welch_p([0.5], [0.6, 0.7]) is None
    assert welch_p([1.0, 1.0], [1.0, 1.0]) == 1.0 and welch_p([1.0, 1.0], [2.0, 2.0]) == 0.0
    a, b = [0.70, 0.72, 0.74], [0.69, 0.73, 0.75]
    assert welch_p(a, b) == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    assert verdict(a, b)[0] == "within_noise"
    assert verdict(a, [0.50, 0.51, 0.52])[0] == "differs"


def test_a_rerun_seed_replaces_its_failure_and_is_noted(tmp_path, write_run):
    root = tmp_path / "multirun"
    first = _result("baseline", "small", 0, {"hh_rlhf": 0.6}, 10)
    first.update(status="failed", error="KeyboardInterrupt")
    write_run(root / "a" / "baseline" / "small" / "five" / "seed_0" / "results.json", **first)
    write_run(root / "b" / "baseline" / "small" / "five" / "seed_0" / "results.json",
              **_result("baseline", "small", 0, {"hh_rlhf": 0.6}, 10))
    t7, = build_tables(load_runs(root), ["7"])
    row, = t7.rows
    assert row.status == "ok" and row.failed == []
    assert any("failed in" in n and "using the completed one" in n for n in t7.notes)


def test_table3_leaves_out_epochs_that_were_cut_short(tmp_path, write_run):
    root = tmp_path / "cut"
    for seed, (steps, trained) in enumerate([(2, 64), (2, 64), (1000, 2 * 300)]):  # 300 train pairs, 2 epochs
        run = _result("baseline", "small", seed, {"hh_rlhf": 0.7, "oasst": 0.6}, 1_000_000)
        run["config"]["trainer"]["max_steps"] = steps
        run["data"]["hh_rlhf"]["pairs"] = {"train": 200, "validation": 10, "test": 10}
        run["data"]["oasst"]["pairs"] = {"train": 100, "validation": 10, "test": 10}
        run["train_time"]["pairs_trained"] = trained
        write_run(root / f"steps{steps}" / "baseline" / "small" / "five" / f"seed_{seed}" / "results.json", **run)
    (t3,) = build_tables(load_runs(root), ["3"])
    rows = {row.setting: row for row in t3.rows if row.runs}
    cut, whole = rows["trainer.max_steps=2"], rows["trainer.max_steps=1000"]
    assert "train_epoch_s/total" not in cut.cells and "train_epoch_s/reward_model" not in cut.cells  # shown as blank
    assert cut.cells["params/total"].summary.n == 2  # the rest of the row stands
    assert whole.cells["train_epoch_s/total"].summary.mean == pytest.approx(5.0)  # max_steps never reached
    assert any(note.startswith("Left out of the training times: runs whose epochs were cut short")
               and "(trainer.max_steps=2)" in note and "1000" not in note for note in t3.notes)
