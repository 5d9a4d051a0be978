"""The router paper's methods end to end on the tiny model, routing, parameter counts, adding a domain."""
from __future__ import annotations

import json

import pytest
import torch

from rm_lab.cli.add_domain import main as add_domain
from rm_lab.core.config import sample_path
from rm_lab.runner.build import build_data, build_method
from rm_lab.runner.run import run
from rm_lab.studies.param_table import count_method, markdown, rows

SMALL = ["dataset.max_pairs.train=8", "dataset.max_pairs.test=6", "dataset.batch_size=4"]
COVERED = ["hh_rlhf", "hellaswag", "oasst"]
HOLD_OUT_OASST = ["dataset.domains.oasst.path=null", "+dataset.domains.oasst.absent_reason=held out"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["base_lora", "more"])
def test_single_model_methods_train_and_evaluate(make_cfg, method, capsys):
    results = run(make_cfg(f"method={method}", *SMALL))
    assert results["status"] == "completed" and results["method"] == method
    assert set(results["accuracy"]["per_domain"]) == set(COVERED)
    assert results["inference"]["inputs"] == 2 * 18
    params = results["params"]
    if method == "base_lora":
        assert params["by_component"]["backbone"]["trainable"] == 0
        assert 0 < params["trainable"] < params["total"] / 10
    else:
        load = results["expert_load"]
        assert load["experts"] == 5 and load["k"] == 2
        assert sum(load["overall"]) == pytest.approx(1.0)
        assert set(load["by_domain"]) == set(COVERED)
        assert "experts' load (top-2" in capsys.readouterr().out  # the method's own summary line


@pytest.mark.slow
def test_rodos_trains_each_component_and_reports_router_figures(make_cfg, tmp_path, capsys):
    results = run(make_cfg("method=rodos", *SMALL))
    assert results["status"] == "completed"
    assert set(results["train_time"]["by_component"]) == {"router", *(f"reward_model/{d}" for d in COVERED)}
    assert set(results["params"]["by_component"]) == {"router", *(f"reward_model/{d}" for d in COVERED)}
    router = results["router"]
    assert router["covered_domains"] == COVERED and router["uncovered_domains"] == ["shp", "dahoas"]
    assert router["confusion"]["labels"] == COVERED
    matrix = torch.tensor(router["confusion"]["matrix"])
    assert matrix.sum() == 18 and matrix.sum(1).tolist() == [6, 6, 6]
    assert router["accuracy"] == pytest.approx(matrix.trace().item() / 18)
    assert results["oracle_accuracy"]["n"] == 18
    assert set(results["components"]["epoch_s"]) == set(results["train_time"]["by_component"])
    peaks = results["components"]["peak_memory_bytes"]  # each component's fit, measured
    assert set(peaks) == set(results["train_time"]["by_component"]) and all(v > 0 for v in peaks.values())
    assert results["train_time"]["peak_memory_bytes"] >= max(peaks.values())
    table = capsys.readouterr().out
    assert "router accuracy" in table and "| gold \\ routed | hh_rlhf | hellaswag | oasst |" in table
    manifest = json.loads((tmp_path / "run" / "components" / "manifest.json").read_text())
    assert manifest["covered"] == COVERED and len(manifest["components"]) == 4


def _built(make_cfg, method):
    """A method built like the runner builds it, with its data, untrained."""
    cfg = make_cfg(f"method={method}", *SMALL)
    dm, backbone = build_data(cfg)
    module = build_method(cfg.method, data=dm, backbone=backbone, domains=dm.domain_names)
    return module.eval(), next(iter(dm.test_dataloader()))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["rodos", "arliss"])
def test_routing_sends_each_pair_to_the_routed_component(make_cfg, method):
    module, batch = _built(make_cfg, method)
    heads = ({d: m.head.linear for d, m in module.reward_models.items()} if method == "rodos"
             else {d: h.linear for d, h in module.reward_heads.items()})
    router_head = (module.router.head if method == "rodos" else module.router_head).linear
    with torch.no_grad():
        for i, d in enumerate(module.domains):  # each domain's model returns its own marker
            if d in heads:
                heads[d].weight.zero_()
                heads[d].bias.fill_(10.0 * (i + 1))
        marker = lambda idx: 10.0 * (idx + 1)  # noqa: E731
        # the router forced to the gold answer: every pair scored by its own domain's model
        module.forced_routes = lambda b: b["domain"]
        rewards = module.score(batch)
        gold = batch["domain"].repeat(2)
        assert torch.equal(rewards, torch.tensor([marker(d) for d in gold.tolist()]))
        # the router's head forced to shp (absent, masked out), then hellaswag: all go to hellaswag
        module.forced_routes = None
        router_head.weight.zero_()
        router_head.bias.zero_()
        router_head.bias[module.domains.index("shp")] = 100.0
        router_head.bias[module.domains.index("hellaswag")] = 50.0
        rewards = module.score(batch)
        assert torch.all(rewards == marker(module.domains.index("hellaswag")))
    if method == "arliss":  # one switch to the router, one to hellaswag's adapter, then none
        assert module.active == "rm_hellaswag"
        before = module.switches
        with torch.no_grad():
            module.score(batch)
        assert module.switches - before == 2


@pytest.mark.slow
def test_arliss_merged_switching_scores_like_peft_lora_and_restores_the_backbone(make_cfg):
    module, batch = _built(make_cfg, "arliss")
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in module.peft_model.named_parameters():
            if "lora_B" in name:  # adapters start as zero deltas; make them matter
                p.normal_(0, 1e-3)
        weights = {n: p.clone() for n, p in module.peft_model.named_parameters() if "lora_" not in n}
        module.forced_routes = lambda b: b["domain"]
        merged = module.score(batch)
        assert module._pristine  # the active adapter is written into the weights
        module.unmerge()
        module.merge_at_inference = False
        plain = module.score(batch)
        module.peft_model.base_model.disable_adapter_layers()
        bare = module.score(batch)
    assert torch.allclose(merged, plain, atol=1e-5)
    assert not torch.allclose(plain, bare, atol=1e-3)
    assert all(torch.equal(p, weights[n]) for n, p in module.peft_model.named_parameters() if n in weights)


def _tiny_backbone_params() -> int:
    """tiny-deberta (conf/model/tiny-deberta.yaml) by hand: vocab 30522, hidden 32, 2 layers,
    intermediate 64, 32 position buckets, shared attention keys, no absolute positions."""
    h, ff, layers = 32, 64, 2
    embeddings = 30522 * h + 2 * h                     # word embeddings + layer norm
    relative = 2 * 32 * h + 2 * h                      # relative position embeddings + their layer norm
    attention = 3 * (h * h + h) + (h * h + h) + 2 * h  # q, k, v, output dense, layer norm
    ffn = (h * ff + ff) + (ff * h + h) + 2 * h         # intermediate, output dense, layer norm
    return embeddings + relative + layers * (attention + ffn)


def _lora_params(r=12) -> int:
    h, ff, layers = 32, 64, 2
    return layers * r * (4 * (h + h) + (h + ff) + (ff + h))  # q, k, v, attn-out; intermediate; output


@pytest.mark.slow
def test_parameter_counts_match_a_hand_computation_on_the_tiny_model():
    b, lora, h, domains = _tiny_backbone_params(), _lora_params(), 32, 5
    head, router_head = h + 1, h * domains + domains
    expert = (h * 64 + 64) + (64 * h + h)  # expert hidden = the backbone's intermediate size
    expected = {
        "baseline": (b + head, b + head),
        "base_lora": (b + lora + head, lora + head),
        "more": (b + 2 * 2 * h + domains * expert + 2 * h * domains + head,) * 2,
        "rodos": ((domains + 1) * b + router_head + domains * head,) * 2,
        "arliss": (b + (domains + 1) * lora + router_head + domains * head, (domains + 1) * lora + router_head
                   + domains * head),
    }
    for method, (total, trainable) in expected.items():
        counts = count_method(method, "tiny-deberta")
        assert (counts["total"], counts["trainable"]) == (total, trainable), method


def test_param_table_row_is_within_three_percent_of_the_paper():
    table = rows(["arliss"], ["deberta-v3-xsmall"])
    assert abs(table[0]["diff_pct"]) < 3
    assert "| arliss | deberta-v3-xsmall |" in markdown(table)


def _tensors(path):
    return torch.load(path, weights_only=True)


@pytest.mark.slow
def test_arliss_adds_a_domain_leaving_stored_components_unchanged(make_cfg, tmp_path):
    stored = run(make_cfg("method=arliss", *SMALL, *HOLD_OUT_OASST))
    assert stored["router"]["covered_domains"] == ["hh_rlhf", "hellaswag"]
    assert stored["adapter_switches"]["total"] >= 2
    old = tmp_path / "run" / "components"
    before = {f.name: _tensors(f) for f in old.glob("*.pt")}
    assert set(before) == {"backbone.pt", "router.pt", "reward_model-hh_rlhf.pt", "reward_model-hellaswag.pt"}

    with pytest.raises(SystemExit) as stop:  # the new domain's data was not given: one line, status 2
        add_domain([str(tmp_path / "run"), "oasst"])
    assert stop.value.code == 2
    results = add_domain([str(tmp_path / "run"), "oasst",
                          f"dataset.domains.oasst.path={sample_path('oasst/oasst_en_80_trees.jsonl')}"])
    assert results["status"] == "completed"
    assert set(results["train_time"]["by_component"]) == {"router", "reward_model/oasst"}
    assert set(results["components"]["reused"]) == {"backbone", "reward_model/hh_rlhf", "reward_model/hellaswag"}
    assert results["router"]["covered_domains"] == COVERED
    assert set(results["accuracy"]["per_domain"]) == set(COVERED)
    new = tmp_path / "run+oasst" / "components"  # beside the run: its folder is never written again
    assert not (tmp_path / "run" / "add_oasst").exists()
    with pytest.raises(SystemExit) as stop:  # added twice: said before anything loads, naming --out
        add_domain([str(tmp_path / "run"), "oasst",
                    f"dataset.domains.oasst.path={sample_path('oasst/oasst_en_80_trees.jsonl')}"])
    assert stop.value.code == 2
    for name, state in before.items():
        again = _tensors(old / name)
        assert all(torch.equal(state[k], again[k]) for k in state)
        if name != "router.pt":  # reused unchanged in the new run; the router was retrained
            copied = _tensors(new / name)
            assert all(torch.equal(state[k], copied[k]) for k in state), name
    assert not all(torch.equal(v, _tensors(new / "router.pt")[k]) for k, v in before["router.pt"].items())
    assert (new / "reward_model-oasst.pt").exists()


@pytest.mark.slow
def test_add_domain_refuses_a_run_without_a_router(make_cfg, tmp_path, capsys):
    cfg = make_cfg("method=baseline", "train=false", *SMALL)
    run(cfg)
    with pytest.raises(SystemExit) as stop:  # a clear message and status 2, no traceback
        add_domain([str(tmp_path / "run"), "oasst"])
    assert stop.value.code == 2 and "needs one of" in capsys.readouterr().err
