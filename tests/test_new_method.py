"""Adding a method is one .py and one .yaml: a test-only method runs, summarises itself and
appears in Table 2 under its own label, with no edit to rm_lab. What it can do is declared once,
beside its class (`capabilities`), and every consumer reads it through the method registry."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rm_lab.cli import methods as methods_command
from rm_lab.cli.report import main as report_main
from rm_lab.core.config import compose
from rm_lab.methods.capabilities import Capabilities, methods, registry
from rm_lab.report.paper_tables import build_tables
from rm_lab.report.render import to_markdown
from rm_lab.rundir.results import load_runs
from rm_lab.runner.run import run
from rm_lab.studies.param_table import count_method, markdown, paper, rows

TEST_CONF = Path(__file__).parent / "conf"
PAPER = ["baseline", "base_lora", "more", "rodos", "arliss"]  # the router paper's rows, in its order


@pytest.mark.slow
def test_a_test_only_method_runs_and_shows_in_the_summary_and_table_2(tmp_path, capsys):
    cfg = compose(["model=tiny-deberta", "method=toy", f"hydra.searchpath=[file://{TEST_CONF}]",
                   "dataset.max_pairs.train=16", "dataset.max_pairs.test=8", "dataset.batch_size=8",
                   "logger=csv"])
    cfg.paths.output_dir = str(tmp_path / "runs" / "toy" / "seed_0")
    cfg.paths.cache_dir = str(tmp_path / "cache")
    OmegaConf.resolve(cfg)
    results = run(cfg)
    assert results["status"] == "completed" and results["method"] == "toy"
    assert results["labels"]["method"] == "Bag of tokens"
    assert set(results["params"]["by_component"]) == {"bag", "head"}
    printed = capsys.readouterr().out
    assert "bag of tokens: " in printed and " ids x 8 dims" in printed  # the method's own summary line

    (table2,) = build_tables(load_runs(tmp_path / "runs"), ["2"])
    text = to_markdown(table2)
    row = next(line for line in text.splitlines() if "Bag of tokens" in line)
    assert f"{results['accuracy']['average']:.3f}" in row, (row, text)  # its accuracy, in its own row


# -- capabilities: declared beside each method, read through the registry ---------------------------
def test_the_registry_finds_every_conf_method_and_reads_what_each_declares():
    found = registry()
    assert set(found) >= {*PAPER, "embedding", "attribute_regression"}
    assert [m.choice for m in methods(table="2")] == PAPER          # the paper's row order
    assert [m.choice for m in methods(table="7")] == ["baseline"]
    assert [m.choice for m in methods(adds_domains=True)] == ["rodos", "arliss"]
    assert [m.choice for m in methods(inference_compare=True)] == ["rodos", "arliss"]
    assert [m.choice for m in methods(reference=True)] == ["baseline"]
    assert found["embedding"].name == "embedding_bt" and found["rodos"].label == "RODOS"
    assert paper()[("baseline", "deberta-v3-large")] == 435 and paper()[("arliss", "deberta-v3-xsmall")] == 76
    with pytest.raises(ValueError, match="unknown tables"):
        Capabilities(tables=("5",))


@pytest.mark.parametrize("choice", ["baseline", "base_lora", "more", "rodos", "arliss", "attribute_regression"])
def test_declared_components_and_routing_match_the_built_method(choice):
    from rm_lab.methods.routed import RoutedRewardModule

    method = registry()[choice]
    caps = method.capabilities
    built = count_method(choice, "tiny-deberta")["by_component"]  # five domains, meta device
    domains = list(compose(["dataset=five_domains"]).dataset.domains)
    assert list(built) == caps.component_names(domains)
    assert caps.routes == issubclass(method.cls, RoutedRewardModule)
    assert caps.stores_components == (not method.cls.checkpoint_whole)


# -- a new method in a temporary folder: one .py and one .yaml, no other file touched ---------------
POCKET_PY = """
    \"\"\"A method written by one test into a temporary folder: mean-pooled token embeddings, a linear head.\"\"\"
    import torch
    from torch import nn

    from rm_lab.methods.base import RewardModule
    from rm_lab.methods.capabilities import Capabilities, PaperRow


    class PocketRM(RewardModule):
        \"\"\"Bag of token embeddings, mean-pooled, and a linear reward head.\"\"\"

        label = "Pocket bag"
        capabilities = Capabilities(components=("bag", "head"), tables=("2", "3", "6"), order=60,
                                    paper_rows=(PaperRow("tiny-deberta"),))

        def __init__(self, backbone, domains, dim: int = 4, lr: float = 1e-2):
            super().__init__(domains, lr=lr)
            self.bag = nn.Embedding(len(backbone.tokenizer()), dim)
            self.head = nn.Linear(dim, 1)

        def score(self, batch):
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (self.bag(batch["input_ids"]) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

        def components(self):
            return {"bag": self.bag, "head": self.head}
"""
POCKET_YAML = """
    # python -m rm_lab method=pocket hydra.searchpath=[file://THIS_FOLDER]   (PYTHONPATH=THIS_FOLDER)
    _target_: pocket_method.PocketRM
    name: pocket
    dim: 4
    lr: 1.0e-02
"""


@pytest.fixture
def pocket(tmp_path, monkeypatch):
    """A folder holding pocket_method.py and method/pocket.yaml, importable and on no searchpath yet."""
    folder = tmp_path / "pocket"
    (folder / "method").mkdir(parents=True)
    (folder / "pocket_method.py").write_text(textwrap.dedent(POCKET_PY).lstrip())
    (folder / "method" / "pocket.yaml").write_text(textwrap.dedent(POCKET_YAML).lstrip())
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.mark.slow
def test_a_new_method_in_a_temporary_folder_appears_in_help_tables_and_param_table(pocket, tmp_path, capsys,
                                                                                    write_run):
    searchpath = f"hydra.searchpath=[file://{pocket}]"
    files = sorted(p.relative_to(pocket).as_posix() for p in pocket.rglob("*") if p.is_file())
    assert files == ["method/pocket.yaml", "pocket_method.py"]  # one .py and one .yaml, nothing else
    assert "pocket" not in registry()  # rm_lab itself does not know it

    # the registry and its command find it through the searchpath, with what it declares
    (found,) = [m for m in methods([searchpath], table="2") if m.choice == "pocket"]
    assert found.label == "Pocket bag" and found.capabilities.components == ("bag", "head")
    assert [m.choice for m in methods([searchpath], table="2")] == [*PAPER, "pocket"]  # by its `order`
    assert methods_command(["--table", "2", searchpath]) == 0
    assert capsys.readouterr().out.split() == [*PAPER, "pocket"]
    assert methods_command(["--long", searchpath]) == 0
    assert "| pocket | pocket | Pocket bag | 2 3 6 |" in capsys.readouterr().out

    # Hydra's help lists the method group's choices. It lists them from its config search path,
    # which --config-dir extends; a hydra.searchpath override reaches composition only (Hydra 1.3).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pocket), os.environ.get("PYTHONPATH", "")])}
    helped = subprocess.run([sys.executable, "-m", "rm_lab", "--help", "--config-dir", str(pocket), searchpath],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert helped.returncode == 0, helped.stderr[-3000:]
    (group,) = [line for line in helped.stdout.splitlines() if line.startswith("method: ")]
    assert "pocket" in group.split(": ", 1)[1].split(", "), group

    # trained for two steps on the tiny model, then the sweep's report puts it in Tables 2, 3 and 6
    sweep = tmp_path / "multirun" / "pocket_check"
    cfg = compose(["model=tiny-deberta", "method=pocket", searchpath, "dataset.max_pairs.train=16",
                   "dataset.max_pairs.validation=8", "dataset.max_pairs.test=8", "dataset.batch_size=8",
                   "logger=none", "trainer.max_epochs=1"])
    cfg.paths.output_dir = str(sweep / "pocket" / "tiny-deberta" / "five_domains_sample" / "seed_0")
    cfg.paths.cache_dir = str(tmp_path / "cache")
    OmegaConf.resolve(cfg)
    results = run(cfg)
    assert results["status"] == "completed" and results["method"] == "pocket"
    assert set(results["params"]["by_component"]) == {"bag", "head"}
    out = tmp_path / "reports"
    assert report_main([str(sweep), "--out", str(out), "--tables", "2", "3", "6", "--no-plots",
                        "--searchpath", str(pocket)]) == 0
    table2 = (out / "table2.md").read_text()
    lines = [line for line in table2.splitlines() if line.startswith("| ") and "tiny DeBERTa" in line]
    assert [line.split(" | ")[0] for line in lines] == ["| Baseline", "| BaseLoRA", "| MoRE", "| RODOS", "| ARLISS",
                                                        "| Pocket bag"]  # the paper's rows, then its own
    assert f"{results['accuracy']['average']:.3f}" in lines[-1], table2
    assert "| Pocket bag |" in (out / "table3.md").read_text() and "| Pocket bag |" in (out / "table6.md").read_text()

    # a sweep that did not run it still expects it (its declared tables), as a marked row
    other = tmp_path / "other"
    write_run(other / "baseline" / "m" / "d" / "seed_0" / "results.json")
    (t2,) = build_tables(load_runs(other), ["2"], searchpath=[str(pocket)])
    assert "| Pocket bag | m | — |" in to_markdown(t2)
    (t2,) = build_tables(load_runs(other), ["2"])
    assert "Pocket bag" not in to_markdown(t2)

    # the parameter table: its declared paper row, counted from config on the meta device
    assert paper([searchpath])[("pocket", "tiny-deberta")] is None
    (row,) = rows(["pocket"], ["tiny-deberta"], [searchpath])
    vocabulary = results["params"]["by_component"]["bag"]["total"] // 4
    assert row["total_m"] * 1e6 == pytest.approx(vocabulary * 4 + 4 + 1)
    assert row["paper_m"] is None and "| pocket | tiny-deberta |" in markdown([row])
