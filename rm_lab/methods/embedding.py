"""Embedding-based reward models: small heads trained on cached, frozen embeddings.

Every distinct (prompt, response) is embedded once by the configured model (`conf/model`),
cached under `paths.cache_dir`, and K heads train on the vectors on a CPU in seconds:

    python -m rm_lab method=embedding                          # BT MLP on the packaged MiniLM
    python -m rm_lab method=embedding method.head=clf          # classification MLP (winner/loser labels)
    python -m rm_lab method=embedding method.head=linear method.ensemble_size=5 method.rule=min
    python -m rm_lab method=embedding model=smollm2-135m       # decoder LLM, last-token pooling

Heads: `bt` (an MLP trained with the Bradley-Terry loss), `clf` (the same MLP as a classifier:
each response labelled winner or loser, binary cross-entropy, its logit is the reward) and
`linear` (a linear Bradley-Terry head). An ensemble of K heads has one seed per head and, with
`bootstrap`, one bootstrap resample of the training pairs per head; `rule` combines the heads
at scoring time (mean, min, mean_minus_var, mean_minus_std with `lam`, single `member`).
Accuracy under every rule and of every member lands in results.json (`ensemble`).
"""
from __future__ import annotations

import contextlib
import time

import torch
import torch.nn.functional as F
from torch import nn

from rm_lab.data.embedding_cache import EmbeddingCache
from rm_lab.data.vector_pairs import VectorPairs, VectorPairsDataModule
from rm_lab.eval.metrics import PairwiseAccuracy
from rm_lab.eval.params import count
from rm_lab.methods.base import RewardModule
from rm_lab.models.backbone import Backbone
from rm_lab.models.embedder import Embedder, embed_splits
from rm_lab.models.reward_heads import RULES, HeadEnsemble, combine

HEADS = ("bt", "clf", "linear")


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


class EmbeddingRM(RewardModule):
    def __init__(self, domains: list[str], backbone: Backbone | None = None, input_dim: int | None = None,
                 head: str = "bt", hidden: list[int] = (256, 128), ensemble_size: int = 1,
                 rule: str = "mean", lam: float = 1.0, member: int = 0, bootstrap: bool = True,
                 seed: int | None = None, lr: float = 1e-3, weight_decay: float = 0.0, warmup_steps: int = 0,
                 epochs: int = 30, batch_size: int = 256, eval_batch_size: int = 1024,
                 embed_batch_size: int = 32, init_seed: int = 0, progress: bool = True,
                 num_threads: int | None = 1):
        super().__init__(domains, lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps)
        if head not in HEADS:
            raise ValueError(f"method.head must be one of {list(HEADS)}, got {head!r}")
        if rule not in RULES:
            raise ValueError(f"method.rule must be one of {list(RULES)}, got {rule!r}")
        if not 0 <= member < ensemble_size:
            raise ValueError(f"method.member={member} is not a head of an ensemble of {ensemble_size}")
        if input_dim is None:
            if backbone is None:
                raise ValueError("EmbeddingRM needs a backbone (to embed texts) or input_dim (for given vectors)")
            input_dim = backbone.hidden_size
        self.backbone = backbone
        self.head, self.rule, self.lam, self.member = head, rule, float(lam), int(member)
        seed = torch.initial_seed() % 2**31 if seed is None else seed  # None: the run's seed
        self.bootstrap, self.seed, self.epochs = bool(bootstrap), int(seed), int(epochs)
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.embed_batch_size, self.init_seed, self.progress = embed_batch_size, init_seed, progress
        self.num_threads = num_threads
        self.heads = HeadEnsemble(input_dim, () if head == "linear" else tuple(hidden), k=ensemble_size,
                                  seeds=[self.seed * 1000 + k for k in range(ensemble_size)])
        self.register_buffer("boot_weights", torch.ones(ensemble_size, 0), persistent=False)
        self.embedding_stats: dict = {}
        self.rule_accuracy = {r: PairwiseAccuracy(self.domains) for r in RULES}
        self.member_accuracy = [PairwiseAccuracy(self.domains) for _ in range(ensemble_size)]

    def components(self) -> dict[str, nn.Module]:
        return {"heads": self.heads}

    # -- data: texts -> cached vectors ----------------------------------------------------
    def adapt_datamodule(self, datamodule):
        if isinstance(datamodule, VectorPairsDataModule):
            self.set_bootstrap(len(datamodule.tokenized["train"]))
            return datamodule
        embedder = Embedder(self.backbone, batch_size=self.embed_batch_size, init_seed=self.init_seed,
                            progress=self.progress)
        cache = EmbeddingCache(datamodule.cache_dir, embedder.key, datamodule.name,
                               datamodule.max_length, self.backbone.pooling)
        vectors, stats = embed_splits(embedder, datamodule.tokenized, cache)
        splits = {}
        for split, (chosen, rejected) in vectors.items():
            table = datamodule.tokenized[split]
            splits[split] = VectorPairs(chosen, rejected, torch.tensor(table["domain_idx"], dtype=torch.long),
                                        list(table["id"]))
        self.embedding_stats = {"model_key": embedder.key, "dim": self.heads.input_dim,
                                "pooling": self.backbone.pooling, "max_length": datamodule.max_length, **stats}
        if embedder._encoder is not None:
            self.embedding_stats["embedder_params"] = count(embedder._encoder)["total"]
        self.set_bootstrap(len(splits["train"]))
        return VectorPairsDataModule(splits, datamodule.domain_names, self.batch_size, self.eval_batch_size,
                                     name=datamodule.name)

    def set_bootstrap(self, n_train: int) -> None:
        """Per-head weights over the training pairs: how often each pair is drawn in that head's
        bootstrap resample (all ones for a single head or without bootstrap)."""
        k = self.heads.k
        if k == 1 or not self.bootstrap or n_train == 0:
            self.boot_weights = torch.ones(k, n_train)
            return
        rows = []
        for i in range(k):
            g = torch.Generator().manual_seed(self.seed * 1000 + 500 + i)
            rows.append(torch.bincount(torch.randint(n_train, (n_train,), generator=g), minlength=n_train))
        self.boot_weights = torch.stack(rows).float()

    # -- training ---------------------------------------------------------------------------
    def run_training(self, make_trainer, datamodule) -> dict[str, float]:
        start = time.perf_counter()
        with intra_op_threads(self.num_threads):
            make_trainer(max_epochs=self.epochs).fit(self, datamodule=datamodule)
        return {"heads": time.perf_counter() - start}

    def pair_losses(self, chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
        """(K, B) rewards of chosen and rejected -> (K, B) per-pair losses."""
        if self.head == "clf":
            return 0.5 * (F.binary_cross_entropy_with_logits(chosen, torch.ones_like(chosen), reduction="none")
                          + F.binary_cross_entropy_with_logits(rejected, torch.zeros_like(rejected), reduction="none"))
        return -F.logsigmoid(chosen - rejected)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        chosen, rejected = self.split_rewards(self.heads(batch["embeddings"]).T)
        chosen, rejected = chosen.T, rejected.T
        losses = self.pair_losses(chosen, rejected)
        if self.boot_weights.shape[1]:
            weights = self.boot_weights[:, batch["index"]].to(losses)
        else:
            weights = torch.ones_like(losses)
        per_head = (losses * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        loss = per_head.sum()  # each head descends its own resample's mean loss
        size = chosen.shape[1]
        self.log("train/loss", per_head.mean(), prog_bar=True, batch_size=size)
        self.log("train/accuracy", (chosen > rejected).float().mean(), batch_size=size)
        return loss

    # -- scoring and evaluation -----------------------------------------------------------
    def score(self, batch: dict) -> torch.Tensor:
        return combine(self.heads(batch["embeddings"]), self.rule, self.lam, self.member)

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        for acc in [*self.rule_accuracy.values(), *self.member_accuracy]:
            acc.reset()

    def test_step(self, batch: dict, batch_idx: int) -> None:
        start = time.perf_counter()
        scores = self.heads(batch["embeddings"])
        rewards = combine(scores, self.rule, self.lam, self.member)
        self.inference.add(time.perf_counter() - start, int(rewards.shape[0]))
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

        return {"embedding": self.embedding_stats,
                "ensemble": {"head": self.head, "size": self.heads.k, "rule": self.rule, "lambda": self.lam,
                             "member": self.member, "bootstrap": self.bootstrap and self.heads.k > 1,
                             "by_rule": {r: brief(a) for r, a in self.rule_accuracy.items()},
                             "members": [brief(a)["average"] for a in self.member_accuracy]}}
