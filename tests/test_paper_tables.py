"""Tables 2-6 and RewardBench 2 as the router paper prints them, from hand-written results files:
its 12 rows, its 0.02 rule, components that add up, pair shares, seconds per step."""
from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import pytest

from rm_lab.cli import methods as methods_command
from rm_lab.eval.timing import EpochTimer, InferenceClock
from rm_lab.report.paper_tables import build_tables
from rm_lab.report.render import to_csv, to_markdown
from rm_lab.rundir.results import load_runs

LABELS = {"baseline": "Baseline", "rodos": "RODOS", "more": "MoRE"}
PAPER = [("baseline", "deberta-v3-large"), ("baseline", "deberta-v3-base"), ("base_lora", "deberta-v3-base")] + [
    (m, f"deberta-v3-{size}") for m in ("more", "rodos", "arliss") for size in ("base", "small", "xsmall")]


def _run(method, model, seed, acc, params, epoch_s, validation_s=None, per_step=0.02, composition=None):
    per = {d: {"accuracy": a, "won": 0, "tied": 0, "lost": 0, "n": 10, "loss": 0.6} for d, a in acc.items()}
    composition = composition or {"hh_rlhf": {"train": {"hub a": 30, "hub b": 10}, "test": {"hub a": 8}},
                                  "oasst": {"train": {"hub c": 10}, "test": {"hub c": 2}}}
    return {
        "status": "completed", "method": method, "model": model, "dataset": "five", "seed": seed,
        "config": {"trainer": {"max_epochs": 1}, "method": {"name": method}},
        "labels": {"method": LABELS[method], "components": {"router": "Router", "reward_model": "RM"}},
        "data": {d: {"absent": None, "composition": c, "pairs": {s: sum(v.values()) for s, v in c.items()}}
                 for d, c in composition.items()},
        "params": {"total": params, "trainable": params, "by_component": {}},
        "accuracy": {"per_domain": per, "average": sum(acc.values()) / len(acc)},
        "train_time": {"total_s": 99.0, "per_epoch_s": list(epoch_s.values()), "by_component": {k: 99.0 for k in epoch_s},
                       "epoch_s_by_component": epoch_s,
                       "validation_s_by_component": validation_s or {k: 1.0 for k in epoch_s}},
        "inference": {"seconds_per_input": per_step / 2, "inputs": 100,
                      "per_input": {"seconds_per_input": per_step / 2, "inputs": 40, "steps": 20,
                                    "seconds_per_step": per_step, "samples": 20}},
    }


@pytest.fixture
def sweep(tmp_path, write_run):
    root = tmp_path / "sweep"
    for seed in (0, 1):
        write_run(root / f"b_l_{seed}" / "results.json",
                  **_run("baseline", "deberta-v3-large", seed, {"hh_rlhf": 0.70 + seed / 100, "oasst": 0.60},
                         400e6, {"reward_model": 10.0 + seed}))
        write_run(root / f"r_s_{seed}" / "results.json",
                  **_run("rodos", "deberta-v3-small", seed, {"hh_rlhf": 0.69 + seed / 100, "oasst": 0.50},
                         800e6, {"router": 2.0, "reward_model/hh_rlhf": 4.0 + seed, "reward_model/oasst": 1.0},
                         per_step=0.03))
        write_run(root / f"m_x_{seed}" / "results.json",  # MoRE on a backbone the paper does not print it on
                  **_run("more", "tiny-deberta", seed, {"hh_rlhf": 0.5, "oasst": 0.5}, 1e6, {"reward_model": 1.0}))
    return root


def test_table2_holds_the_papers_twelve_rows_and_its_similar_rule(sweep):
    t2, = build_tables(load_runs(sweep), ["2"], paper_rows=True, similar=0.02)
    assert [(r.method, r.model) for r in t2.rows] == PAPER  # MoRE on tiny-deberta is not a paper row
    status = {(r.method, r.model): r.status for r in t2.rows}
    assert status[("baseline", "deberta-v3-large")] == "ok" and status[("arliss", "deberta-v3-base")] == "missing"
    pct = next(c for c in t2.columns if c.key == "params/percent_of_largest_baseline")
    assert pct.label == "% of Baseline-large"
    rodos = next(r for r in t2.rows if r.model == "deberta-v3-small" and r.method == "rodos").cells
    assert rodos["params/percent_of_largest_baseline"].summary.mean == pytest.approx(200.0)
    assert rodos["accuracy/hh_rlhf"].similar is True       # 0.695 vs 0.705: within 0.02
    assert rodos["accuracy/oasst"].similar is False        # 0.50 vs 0.60
    md = to_markdown(t2)
    assert "0.695 ± 0.007 †" in md and " ≈" in md and "within 0.02 of the column's best" in md
    row = next(r for r in csv.DictReader(io.StringIO(to_csv(t2))) if r["method"] == "rodos" and r["status"] == "ok")
    assert row["accuracy/hh_rlhf_similar"] == "true" and row["accuracy/oasst_similar"] == "false"
    plain, = build_tables(load_runs(sweep), ["2"])
    assert ("more", "tiny-deberta") in [(r.method, r.model) for r in plain.rows] and "≈" not in to_markdown(plain)


def test_table3_components_add_up_to_the_total_and_validation_stays_apart(sweep):
    t3, = build_tables(load_runs(sweep), ["3"], paper_rows=True)
    rodos = next(r for r in t3.rows if r.method == "rodos" and r.status == "ok").cells
    parts = [c.key for c in t3.columns if c.key.startswith("train_epoch_s/") and c.key != "train_epoch_s/total"]
    assert {"train_epoch_s/router", "train_epoch_s/reward_model/hh_rlhf"} <= set(parts)
    total = sum(rodos[k].summary.mean for k in parts if k in rodos)
    assert rodos["train_epoch_s/total"].summary.mean == pytest.approx(total) == pytest.approx(2.0 + 4.5 + 1.0)
    assert rodos["validation_epoch_s"].summary.mean == pytest.approx(3.0)  # 1 s per component, not in Total
    labels = [c.label for c in t3.columns]
    assert labels[-2:] == ["Total (s)", "Validation (s)"] and "RM Anthropic HH (s)" in labels


def test_tables_4_and_5_count_pairs_and_shares_from_the_composition(sweep):
    t4, t5 = build_tables(load_runs(sweep), ["4", "5"])
    rows = {r.part: r.cells for r in t4.rows}
    assert list(rows) == ["hh_rlhf", "oasst", "total"]
    assert rows["hh_rlhf"]["pairs"].summary.mean == 40 and rows["hh_rlhf"]["share"].summary.mean == pytest.approx(80.0)
    assert rows["total"]["pairs"].summary.mean == 50 and rows["total"]["share"].summary.mean == pytest.approx(100.0)
    md = to_markdown(t4)
    assert "| Anthropic HH | 40 | 80.0% |" in md and "| Total | 50 | 100.0% |" in md
    assert "Anthropic HH: hub a 30, hub b 10." in md and "6 runs of five" in md
    assert {r.part: r.cells["share"].summary.mean for r in t5.rows}["oasst"] == pytest.approx(20.0)


def test_table6_seconds_per_step_with_the_per_input_figure_beside(sweep):
    t6, = build_tables(load_runs(sweep), ["6"], paper_rows=True)
    rodos = next(r for r in t6.rows if r.method == "rodos" and r.status == "ok").cells
    assert rodos["inference_s_per_step"].summary.mean == pytest.approx(0.03)
    assert rodos["inference_ms"].summary.mean == pytest.approx(15.0)
    assert rodos["inference_steps"].summary.mean == 20
    assert [c.label for c in t6.columns][1:3] == ["Inference (s / step)", "Inference (ms / input)"]


def test_rewardbench2_table_only_for_runs_that_scored_it(sweep, write_run):
    run = _run("baseline", "deberta-v3-base", 0, {"hh_rlhf": 0.7}, 1e8, {"reward_model": 1.0})
    run["rewardbench2"] = {"score": 0.6, "subsets": {"Math": 0.7, "Ties": 0.5}, "complete": False,
                           "missing_subsets": ["Factuality"]}
    write_run(sweep / "rb2" / "results.json", **run)
    table, = build_tables(load_runs(sweep), ["rb2"])
    assert [(r.method, r.model) for r in table.rows] == [("baseline", "deberta-v3-base")]
    assert [c.label for c in table.columns] == ["Math", "Ties", "Score"]
    assert table.rows[0].cells["rewardbench2/score"].summary.mean == pytest.approx(0.6)
    assert any("Subsets missing" in n for n in table.notes)


def test_methods_runs_lists_the_papers_sixty_runs(capsys):
    assert methods_command(["--table", "2", "--runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "baseline deberta-v3-large,deberta-v3-base" and len(lines) == 5
    assert methods_command(["--table", "2", "--runs", "--seeds", "0,1,2,3,4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "60 runs: 12 rows x 5 seeds" and len(out) == 61
    assert [tuple(x.split("=")[1] for x in line.split()[:2]) for line in out[:-1:5]] == PAPER


def test_epoch_timer_tags_each_epoch_with_its_component_and_leaves_validation_out():
    timer, module = EpochTimer(), SimpleNamespace(device="cpu")
    for component in ("router", "reward_model/hh_rlhf", "reward_model/hh_rlhf"):
        timer.component = component
        timer.on_train_epoch_start(None, module)
        timer.on_validation_start(None, module)
        timer.on_validation_end(None, module)
        timer.on_train_epoch_end(None, module)
    train, validation = timer.by_component()
    assert list(train) == ["router", "reward_model/hh_rlhf"] and timer.components[-1] == "reward_model/hh_rlhf"
    assert train["reward_model/hh_rlhf"] == pytest.approx(sum(timer.per_epoch[1:]) / 2)
    resumed = EpochTimer()
    resumed.load_state_dict(timer.state_dict())
    assert resumed.by_component() == (train, validation)


def test_inference_clock_reports_steps_and_the_configured_samples():
    clock = InferenceClock(per_input_pairs=3)
    for _ in range(3):
        clock.add_single(0.5, 2)
    summary = clock.summary()["per_input"]
    assert summary["seconds_per_step"] == 0.5 and summary["seconds_per_input"] == 0.25
    assert summary["steps"] == 3 and summary["samples"] == 3 and clock.wants_single == 0
    other = InferenceClock()
    other.load(clock.state())
    assert other.summary()["per_input"]["steps"] == 3
