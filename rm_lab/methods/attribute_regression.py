"""Attribute regression: a reward model that predicts HelpSteer2's five attribute ratings.

    python -m rm_lab method=attribute_regression dataset=helpsteer2_attributes
    python -m rm_lab method=attribute_regression dataset=helpsteer2_attributes model=tiny-deberta \
        dataset.domains.helpsteer2_attributes.path=tests/fixtures/helpsteer2_attributes.jsonl trainer.max_epochs=1

The model is a backbone, pooling and a linear head with one output per attribute (helpfulness,
correctness, coherence, complexity, verbosity), trained with the mean squared error against
each response's ratings (a pair's chosen and rejected texts both count; `PairBatch["attributes"]`,
which `dataset=helpsteer2_attributes` provides). The reward of a response is w . predicted
attributes. The weights w are searched on the validation pairs after every validation pass
(`rm_lab.methods.attribute_search`: a grid over the signed simplex, best validation pairwise
accuracy), so the epoch kept by validation selection is kept with its weights; once training
ends they are searched again on the kept model's validation predictions and stored in the
module (a buffer, so checkpoints hold them). Test accuracy per domain is then w . predicted
attributes, like any method's. results.json: `attribute_weights` ({attribute: weight}) and
`attribute_search` (validation accuracy, loss, grid, per-attribute validation RMSE). The head's
bias starts at `initial_rating` (the middle of the 0..4 scale). The search reads every
validation pair, so the method runs in one process (trainer.devices=1).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rm_lab.data.batch import PairBatch, split_rewards
from rm_lab.data.domains.helpsteer2 import ATTRIBUTES
from rm_lab.data.protocol import PairData
from rm_lab.eval.timing import clock
from rm_lab.methods.attribute_search import WeightSearch, search_weights, weight_grid
from rm_lab.methods.base import VAL_MONITOR, RewardModule
from rm_lab.methods.capabilities import Capabilities
from rm_lab.models.backbone import Backbone
from rm_lab.models.heads import LinearHead, reward_encoder

NO_RATINGS = ("method=attribute_regression trains on each response's attribute ratings, and this batch has "
              "none: use dataset=helpsteer2_attributes (or a domain whose pairs carry `attributes`)")


def initial_weights(attributes: Sequence[str]) -> torch.Tensor:
    """Before any search: helpfulness alone when it is predicted, else equal weights."""
    if "helpfulness" in attributes:
        return torch.tensor([float(a == "helpfulness") for a in attributes])
    return torch.full((len(attributes),), 1.0 / len(attributes))


class AttributeRegressionRM(RewardModule):
    """Backbone, pooling and a K-output regression head; reward = searched weights . predictions."""

    label = "Attribute regression"
    capabilities = Capabilities(components=("backbone", "head"))

    def __init__(self, backbone: Backbone, domains: list[str], attributes: Sequence[str] = ATTRIBUTES,
                 lr: float = 2e-5, weight_decay: float = 0.0, warmup_steps: int = 0, head_dropout: float = 0.0,
                 weight_step: float = 0.1, nonnegative_weights: bool = False, initial_rating: float = 2.0):
        super().__init__(domains, lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps)
        self.attributes = list(attributes)
        if not self.attributes or len(set(self.attributes)) != len(self.attributes):
            raise ValueError(f"method.attributes must be distinct attribute names, got {self.attributes}")
        weight_grid(len(self.attributes), weight_step, nonnegative_weights)  # a bad grid fails before training
        self.weight_step, self.nonnegative_weights = weight_step, bool(nonnegative_weights)
        self.encoder = reward_encoder(backbone)
        self.head = LinearHead(backbone.hidden_size, classes=len(self.attributes), dropout=head_dropout)
        with torch.no_grad():  # start at the scale's centre: rewards ignore the bias, the squared error does not
            self.head.linear.bias.fill_(float(initial_rating))
        self.register_buffer("attribute_weights", initial_weights(self.attributes))
        self.search: WeightSearch | None = None
        self.validation_rmse: list[float] | None = None
        self._predictions: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []

    # -- the model ----------------------------------------------------------------------------
    def predict(self, batch: PairBatch) -> torch.Tensor:
        """(2B, K) predicted ratings of the batch's texts (chosen rows, then rejected rows)."""
        return self.head(self.encoder(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")))

    def score(self, batch: PairBatch) -> torch.Tensor:
        return self.predict(batch) @ self.attribute_weights.to(torch.float32)

    def components(self) -> dict[str, nn.Module]:
        return {"backbone": self.encoder, "head": self.head}

    def _ratings(self, batch: PairBatch) -> torch.Tensor:
        ratings = batch.get("attributes")
        if ratings is None:
            raise ValueError(NO_RATINGS)
        if ratings.shape[-1] != len(self.attributes):
            raise ValueError(f"the data rates {ratings.shape[-1]} attributes and method.attributes names "
                             f"{len(self.attributes)} ({self.attributes}): make them the same list, in the "
                             "same order (dataset.domains.<domain>.attributes)")
        return ratings

    # -- training: mean squared error on the ratings ------------------------------------------
    def training_step(self, batch: PairBatch, batch_idx: int) -> torch.Tensor:
        ratings = self._ratings(batch)
        predicted = self.predict(batch)
        rated = ~torch.isnan(ratings).any(-1)
        n = int(rated.sum())
        loss = F.mse_loss(predicted[rated], ratings[rated].to(predicted)) if n else predicted.sum() * 0.0
        self.log("train/loss", loss, prog_bar=True, batch_size=max(n, 1))
        return loss

    def prepare(self, data: PairData) -> None:
        """Training needs validation pairs: the weights are searched on them."""
        if data.num_pairs("train") and not data.num_pairs("validation"):
            raise ValueError("method=attribute_regression searches its attribute weights on validation pairs, "
                             f"and dataset {data.name!r} has none: set dataset.domains.<domain>.validation_fraction")

    # -- validation: predictions -> weight search -> accuracy with the searched weights -------
    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self._predictions = []

    def validation_step(self, batch: PairBatch, batch_idx: int) -> None:
        ratings = batch.get("attributes")
        self._predictions.append((self.predict(batch).detach().float().cpu(), batch["domain"].detach().cpu(),
                                  None if ratings is None else ratings.detach().float().cpu()))

    def on_validation_epoch_end(self) -> None:
        if (self._trainer is not None and self.trainer.sanity_checking) or not self._predictions:
            return
        if self._trainer is not None and self.trainer.world_size > 1:
            raise ValueError("method=attribute_regression searches its weights over all validation pairs in one "
                             "process: run it on one device (trainer.devices=1)")
        self.search_on_validation()
        predicted, domains, _ = self._stacked()
        chosen, rejected = split_rewards(predicted @ self.attribute_weights.float().cpu())
        self.val_accuracy.update(chosen, rejected, domains)
        super().on_validation_epoch_end()
        if self.validation_rmse is not None:
            for name, value in zip(self.attributes, self.validation_rmse):
                self.log(f"val/rmse/{name}", value)

    def _stacked(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The pass's predictions (2N, K) (every chosen text, then every rejected one), pair
        domains (N,) and ratings (2N, K) or None."""
        halves = [split_rewards(p.T) for p, _, _ in self._predictions]
        predicted = torch.cat([torch.cat([c for c, _ in halves], 1), torch.cat([r for _, r in halves], 1)], 1).T
        domains = torch.cat([d for _, d, _ in self._predictions])
        if any(r is None for _, _, r in self._predictions):
            return predicted, domains, None
        rated = [split_rewards(r.T) for _, _, r in self._predictions]
        ratings = torch.cat([torch.cat([c for c, _ in rated], 1), torch.cat([r for _, r in rated], 1)], 1).T
        return predicted, domains, ratings

    def search_on_validation(self) -> WeightSearch:
        """Search the weights on the collected validation predictions and keep them."""
        predicted, domains, ratings = self._stacked()
        chosen, rejected = split_rewards(predicted.T)
        self.search = search_weights((chosen - rejected).T, domains, self.weight_step, self.nonnegative_weights)
        self.attribute_weights.copy_(self.search.weights.to(self.attribute_weights))
        if ratings is not None:
            rated = ~torch.isnan(ratings).any(-1)
            self.validation_rmse = ((predicted[rated] - ratings[rated]) ** 2).mean(0).sqrt().tolist()
        return self.search

    def run_training(self, make_trainer, data: PairData) -> dict[str, float]:
        """One fit selected on validation accuracy with each epoch's searched weights; then the
        weights are searched once more on the kept (restored) model's validation predictions."""
        start = clock(self.device)
        make_trainer(monitor=VAL_MONITOR, component="reward_model").fit(self, datamodule=data)
        self.eval()
        self._predictions = []
        with torch.no_grad():
            for batch in data.val_dataloader():
                batch = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in batch.items()}
                self.validation_step(batch, 0)
        if self._predictions:
            self.search_on_validation()
        self._predictions = []
        return {"reward_model": clock(self.device) - start}

    # -- the method's figures -----------------------------------------------------------------
    def extra_results(self) -> dict:
        weights = dict(zip(self.attributes, (round(float(w), 6) for w in self.attribute_weights)))
        search = None if self.search is None else {
            "validation_accuracy": self.search.accuracy, "validation_loss": self.search.loss,
            "candidates": self.search.candidates, "tied_best": self.search.tied_best,
        }
        return {"attribute_weights": weights,
                "attribute_search": {"step": self.weight_step, "nonnegative": self.nonnegative_weights,
                                     "searched": self.search is not None, **(search or {}),
                                     "validation_rmse": None if self.validation_rmse is None else
                                     dict(zip(self.attributes, self.validation_rmse)),
                                     "note": "reward = sum of weight x predicted rating; weights searched on a "
                                             "grid (sum of |w| = 1) for validation pairwise accuracy"}}

    def summary_lines(self, results: dict) -> list[str]:
        weights = results.get("attribute_weights") or {}
        search = results.get("attribute_search") or {}
        if not weights:
            return []
        line = "attribute weights: " + ", ".join(f"{name} {w:+.2f}" for name, w in weights.items())
        if search.get("validation_accuracy") is not None:
            line += f" (validation accuracy {search['validation_accuracy']:.3f})"
        else:
            line += " (not searched: no validation pass)"
        return [line]

    def component_labels(self) -> dict[str, str]:
        return {"reward_model": "Attribute RM"}
