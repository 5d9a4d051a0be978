"""Embedding-based reward models: small heads trained on cached, frozen embeddings.

Every distinct (prompt, response) is embedded once by the configured model (`conf/model`) and
cached under `paths.cache_dir` (a data build step: rm_lab/runner/build.py, rm_lab/data/vectorize.py,
options under `method.embed`); K heads then train on the vectors on a CPU in seconds:

    python -m rm_lab method=embedding                          # BT MLP on the packaged MiniLM
    python -m rm_lab method=embedding method.head=clf          # classification MLP (winner/loser labels)
    python -m rm_lab method=embedding method.head=linear method.ensemble_size=5 method.rule=min
    python -m rm_lab method=embedding model=smollm2-135m       # decoder LLM, last-token pooling

Heads: `bt` (an MLP trained with the Bradley-Terry loss), `clf` (the same MLP as a classifier:
each response labelled winner or loser, binary cross-entropy, its logit is the reward) and
`linear` (a linear Bradley-Terry head). An ensemble of K heads has one seed per head and trains
each head on its own share of the pairs, `resample` (rm_lab/models/resample.py): `bootstrap` (a
bootstrap resample per head), `split` (the reference code's random 80% per head, seed 42 + i) or
`none` (every pair); `rule` combines the heads at scoring time (mean, min, mean_minus_var,
mean_minus_std with `lam`, single `member`). Accuracy under every rule and of every member lands
in results.json (`ensemble`). The former `bootstrap: true|false` option still builds (it means
`resample: bootstrap|none`, with a warning), so stored runs load.
"""
from __future__ import annotations

import contextlib
import warnings

import torch
from torch import nn

from rm_lab.data.batch import VectorBatch
from rm_lab.data.protocol import PairData
from rm_lab.eval.metrics import PairwiseAccuracy
from rm_lab.eval.timing import clock
from rm_lab.methods.base import VAL_MONITOR, RewardModule, pairwise_step
from rm_lab.methods.capabilities import Capabilities
from rm_lab.models.ensemble_heads import RULES, HeadEnsemble, combine
from rm_lab.models.losses import bradley_terry_losses, classification_losses
from rm_lab.models.resample import RESAMPLES, member_weights

HEADS = ("bt", "clf", "linear")
HEAD_LABELS = {"bt": "Embedding BT", "clf": "Embedding CLF", "linear": "Embedding linear"}


@contextlib.contextmanager
def intra_op_threads(n: int | None):
    """Run with n torch threads (small heads train fastest on one thread of a busy CPU)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def resample_option(resample: str, bootstrap: bool | None = None) -> str:
    """The ensemble's `resample` scheme; the former `bootstrap: true|false` maps to
    `bootstrap|none` (with a warning naming method.resample)."""
    if bootstrap is not None:
        old = "bootstrap" if bootstrap else "none"
        if resample not in ("bootstrap", old):
            raise ValueError(f"method.bootstrap={bootstrap} contradicts method.resample={resample!r}: drop "
                             "method.bootstrap (replaced by method.resample: bootstrap|split|none)")
        warnings.warn(f"method.bootstrap is replaced by method.resample; bootstrap={bootstrap} runs as "
                      f"resample={old}", FutureWarning, stacklevel=3)
        resample = old
    if resample not in RESAMPLES:
        raise ValueError(f"method.resample must be one of {list(RESAMPLES)}, got {resample!r}")
    return resample


class EmbeddingRM(RewardModule):
    """K small heads over cached embeddings of a frozen model (labelled by head: HEAD_LABELS)."""

    label = "Embedding heads"
    capabilities = Capabilities(components=("heads",))
    inputs = "vectors"

    def __init__(self, domains: list[str], input_dim: int, head: str = "bt", hidden: list[int] = (256, 128),
                 ensemble_size: int = 1, rule: str = "mean", lam: float = 1.0, member: int = 0,
                 resample: str = "bootstrap", seed: int | None = None, lr: float = 1e-3, weight_decay: float = 0.0,
                 warmup_steps: int = 0, epochs: int = 30, batch_size: int = 256, eval_batch_size: int = 1024,
                 num_threads: int | None = 1, bootstrap: bool | None = None):
        super().__init__(domains, lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps)
        if head not in HEADS:
            raise ValueError(f"method.head must be one of {list(HEADS)}, got {head!r}")
        if rule not in RULES:
            raise ValueError(f"method.rule must be one of {list(RULES)}, got {rule!r}")
        if not 0 <= member < ensemble_size:
            raise ValueError(f"method.member={member} is not a head of an ensemble of {ensemble_size}")
        resample = resample_option(resample, bootstrap)
        self.label = HEAD_LABELS[head]
        self.head, self.rule, self.lam, self.member = head, rule, float(lam), int(member)
        seed = torch.initial_seed() % 2**31 if seed is None else seed  # None: the run's seed
        self.resample, self.seed, self.epochs = resample, int(seed), int(epochs)
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_threads = num_threads
        self.heads = HeadEnsemble(input_dim, () if head == "linear" else tuple(hidden), k=ensemble_size,
                                  seeds=[self.seed * 1000 + k for k in range(ensemble_size)])
        self.register_buffer("pair_weights", torch.ones(ensemble_size, 0), persistent=False)
        self.rule_accuracy = {r: PairwiseAccuracy(self.domains) for r in RULES}
        self.member_accuracy = [PairwiseAccuracy(self.domains) for _ in range(ensemble_size)]

    def set_loss_options(self, center_rewards_coefficient: float | None = None, use_margin: bool = False) -> None:
        if use_margin:
            raise ValueError("method.use_margin: embedding heads train on cached vectors, which carry no pair "
                             "margins; use a fine-tuned method (baseline, base_lora, more, rodos, arliss)")
        super().set_loss_options(center_rewards_coefficient, use_margin)

    def components(self) -> dict[str, nn.Module]:
        return {"heads": self.heads}

    def component_labels(self) -> dict[str, str]:
        return {"heads": "Heads"}

    def prepare(self, data: PairData) -> None:
        self.set_member_weights(data.num_pairs("train"))

    def set_member_weights(self, n_train: int) -> None:
        """Per-head weights over the training pairs, by `resample`: bootstrap counts, the 80%
        split's 0/1 mask, or all ones (a single head, or `none`)."""
        self.pair_weights = member_weights(self.resample, n_train, self.heads.k, self.seed)

    # -- training ---------------------------------------------------------------------------
    def run_training(self, make_trainer, data: PairData) -> dict[str, float]:
        start = clock(self.device)
        with intra_op_threads(self.num_threads):
            make_trainer(max_epochs=self.epochs, monitor=VAL_MONITOR, component="heads").fit(self, datamodule=data)
        return {"heads": clock(self.device) - start}

    def training_step(self, batch: VectorBatch, batch_idx: int) -> torch.Tensor:
        rewards = self.heads(batch["embeddings"])  # (K, 2B)
        weights = self.pair_weights[:, batch["index"]] if self.pair_weights.shape[1] else None
        loss = classification_losses if self.head == "clf" else bradley_terry_losses
        return pairwise_step(self, rewards, pair_loss=loss, weights=weights)

    # -- scoring and evaluation -----------------------------------------------------------
    def score(self, batch: VectorBatch) -> torch.Tensor:
        return combine(self.heads(batch["embeddings"]), self.rule, self.lam, self.member)

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        for acc in [*self.rule_accuracy.values(), *self.member_accuracy]:
            acc.reset()

    def test_state(self) -> dict:
        return {**super().test_state(), **{f"rule/{r}": a for r, a in self.rule_accuracy.items()},
                **{f"member/{k}": a for k, a in enumerate(self.member_accuracy)}}

    def test_step(self, batch: VectorBatch, batch_idx: int) -> None:
        self.time_single_inputs(batch)
        start = clock(self.device)
        scores = self.heads(batch["embeddings"])
        rewards = combine(scores, self.rule, self.lam, self.member)
        self.inference.add(clock(self.device) - start, int(rewards.shape[0]))
        self.test_accuracy.update(*self.split_rewards(rewards), batch["domain"])
        for rule, acc in self.rule_accuracy.items():
            acc.update(*self.split_rewards(combine(scores, rule, self.lam, self.member)), batch["domain"])
        for k, acc in enumerate(self.member_accuracy):
            acc.update(*self.split_rewards(scores[k]), batch["domain"])

    def extra_results(self) -> dict:
        def brief(acc: PairwiseAccuracy) -> dict:
            res = acc.compute()
            return {"average": res["average"], "ties": res["ties"],
                    "per_domain": {d: r["accuracy"] for d, r in res["per_domain"].items()}}

        return {"ensemble": {"head": self.head, "size": self.heads.k, "rule": self.rule, "lambda": self.lam,
                             "member": self.member,
                             "resample": self.resample if self.heads.k > 1 else "none",
                             "by_rule": {r: brief(a) for r, a in self.rule_accuracy.items()},
                             "members": [brief(a)["average"] for a in self.member_accuracy]}}

    def summary_lines(self, results: dict) -> list[str]:
        lines = []
        emb = results.get("embedding") or {}
        if emb:
            lines.append(f"embeddings: {emb.get('computed')} computed, {emb.get('reused')} reused "
                         f"({emb.get('dim')}-dim, {emb.get('pooling')} pooling)")
        ens = results.get("ensemble") or {}
        if ens.get("size", 1) > 1:
            lines.append(f"ensemble of {ens['size']} {ens['head']} heads, average accuracy by rule: "
                         + ", ".join(f"{r} {v['average']:.3f}" for r, v in ens["by_rule"].items()
                                     if v.get("average") is not None))
        return lines
