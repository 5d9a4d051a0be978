"""Mixed precision (bf16-mixed, CPU autocast): every method trains and tests; rewards, gates
and losses stay in fp32, so bf16 rounding does not turn close pairs into ties."""
from __future__ import annotations

import pytest
import torch

from rm_lab.models.ensemble_heads import HeadEnsemble
from rm_lab.models.heads import LinearHead
from rm_lab.models.moe import NoisyTopKMoE
from rm_lab.runner.run import run

SMALL = ["dataset.max_pairs.train=8", "dataset.max_pairs.test=6", "dataset.batch_size=4",
         "trainer.precision=bf16-mixed"]


def test_heads_and_gates_compute_in_fp32_under_autocast():
    torch.manual_seed(0)
    x = torch.randn(6, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.nn.Linear(16, 1)(x).dtype == torch.bfloat16  # what autocast does to a plain layer
        assert LinearHead(16)(x).dtype == torch.float32
        assert LinearHead(16, classes=3)(x).dtype == torch.float32
        assert HeadEnsemble(16, (8,), k=2)(x).dtype == torch.float32
        moe = NoisyTopKMoE(16, num_experts=4, hidden=8, k=2).eval()
        gates, _ = moe.gates(x)
        assert gates.dtype == torch.float32 and torch.allclose(gates.sum(1), torch.ones(6))
        assert moe(x).shape == x.shape  # expert outputs (bf16) gathered into the input's dtype


@pytest.mark.slow
@pytest.mark.parametrize("method", ["baseline", "base_lora", "more", "rodos", "arliss", "embedding"])
def test_every_method_trains_and_tests_under_bf16_mixed(make_cfg, method):
    overrides = [f"method={method}", *SMALL]
    if method == "embedding":
        overrides += ["method.epochs=2", "method.embed.progress=false"]
    results = run(make_cfg(*overrides))
    assert results["status"] == "completed"
    assert results["config"]["trainer"]["precision"] == "bf16-mixed"
    acc = results["accuracy"]
    assert acc["n"] == 18 and 0.0 <= acc["average"] <= 1.0
    assert sum(r["won"] + r["tied"] + r["lost"] for r in acc["per_domain"].values()) == 18
