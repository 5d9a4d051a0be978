"""ARLISS: one frozen backbone, a LoRA adapter per domain reward model plus a router adapter.

The router adapter with a classification head reads the prompt and predicts the domain; the
matching reward adapter (and its head) scores the pair. Inputs are grouped by predicted
domain and the active adapter is switched once per group, starting with the adapter already
active, never once per input (`adapter_switches` in results.json counts them). At inference
(`merge_at_inference`) a switch writes the adapter into the backbone's weights, restored from
a pristine copy each time (no drift), so every forward pass runs at the plain backbone's speed.
The per-input inference time is measured both ways (`inference_time_per_input_merged` and
`_unmerged` in results.json); the run's own figure follows `merge_at_inference`.

    python -m rm_lab method=arliss model=tiny-deberta
    python -m rm_lab experiment=paper_arliss model=deberta-v3-base
    python -m rm_lab method=arliss method.lora.target_modules=[query,key,value,dense]
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from rm_lab.data.batch import PairBatch
from rm_lab.eval.timing import InferenceClock
from rm_lab.methods.capabilities import Capabilities, PaperRow
from rm_lab.methods.fitting import RewardFit, RouterFit
from rm_lab.methods.routed import PREFIX, ROUTER, RoutedRewardModule
from rm_lab.models.backbone import Backbone
from rm_lab.models.heads import LinearHead, reward_encoder, reward_head
from rm_lab.models.lora import (
    ParameterView,
    adapter_parameters,
    base_parameters,
    lora_config,
)

BACKBONE = "backbone"


def adapter_name(component: str) -> str:
    """peft adapter name of a component ('router' or 'reward_model/<domain>')."""
    return ROUTER if component == ROUTER else "rm_" + component[len(PREFIX):]


class ARLISS(RoutedRewardModule):
    method_name = "arliss"
    label = "ARLISS"
    capabilities = Capabilities(
        components=("backbone", "router", "reward_model/*"), routes=True, stores_components=True,
        adds_domains=True, inference_compare=True, tables=("2", "3", "6"), order=50,
        paper_rows=(PaperRow("deberta-v3-base", 197), PaperRow("deberta-v3-small", 147),
                    PaperRow("deberta-v3-xsmall", 76)))

    def __init__(self, backbone: Backbone, domains: list[str], lora: dict | None = None,
                 head_dropout: float = 0.0, router_dropout: float = 0.1, merge_at_inference: bool = True,
                 **options):
        super().__init__(domains, backbone_name=backbone.name, **options)
        from peft import get_peft_model

        model = backbone.build()
        config = lora_config(model, **(lora or {}))
        peft_model = get_peft_model(model, config, adapter_name=ROUTER)
        for d in self.domains:
            peft_model.add_adapter(adapter_name(PREFIX + d), config)
        self.encoder = reward_encoder(backbone, model=peft_model)
        self.router_head = LinearHead(backbone.hidden_size, len(self.domains), router_dropout)
        self.reward_heads = nn.ModuleDict({d: reward_head(backbone, head_dropout)
                                           for d in self.domains})
        self.store_backbone = not backbone.pretrained  # random weights cannot be rebuilt from source
        self.active: str | None = None
        self.switches = 0
        self.inference_batches = 0
        self.merge_at_inference = merge_at_inference
        self.inference_other = InferenceClock()  # the per-input protocol with the other merge setting
        self._pristine: dict[int, torch.Tensor] = {}
        self._set_trainable(None)

    # -- adapters ------------------------------------------------------------------------------
    @property
    def peft_model(self):
        return self.encoder.model

    def head_of(self, name: str) -> nn.Module:
        return self.router_head if name == ROUTER else self.reward_heads[name[len(PREFIX):]]

    def activate(self, name: str) -> None:
        """Make a component's adapter the active one (a no-op when it already is)."""
        adapter = adapter_name(name)
        merge = self.merge_at_inference and not torch.is_grad_enabled() and not self.encoder.training
        if self.active == adapter and merge == bool(self._pristine):
            return  # already active, in the right form (merged for inference, unmerged for training)
        if merge:
            self._merge(adapter)
        else:
            self.unmerge()
            self.peft_model.base_model.set_adapter(adapter, inference_mode=not torch.is_grad_enabled())
        self.active = adapter
        self.switches += 1

    def _lora_layers(self) -> list:
        from peft.tuners.lora import LoraLayer

        return [m for m in self.peft_model.modules() if isinstance(m, LoraLayer)]

    @torch.no_grad()
    def _merge(self, adapter: str) -> None:
        """Base weights (from the pristine copy) plus this adapter's delta; peft then runs the
        plain base layer (`merged_adapters`)."""
        for layer in self._lora_layers():
            weight = layer.get_base_layer().weight
            if id(layer) not in self._pristine:
                self._pristine[id(layer)] = weight.detach().clone()
            if adapter in layer.lora_A:  # one pass over the weight: pristine + delta
                torch.add(self._pristine[id(layer)], layer.get_delta_weight(adapter).to(weight.dtype), out=weight)
            else:
                weight.copy_(self._pristine[id(layer)])
            layer.merged_adapters = [adapter]

    @torch.no_grad()
    def unmerge(self) -> None:
        """Restore the pristine base weights (a no-op unless an adapter is merged)."""
        if not self._pristine:
            return
        for layer in self._lora_layers():
            if id(layer) in self._pristine:
                layer.get_base_layer().weight.copy_(self._pristine[id(layer)])
            layer.merged_adapters = []
        self._pristine = {}
        self.active = None

    def _set_trainable(self, only: str | None) -> None:
        """Freeze the backbone; train one component's adapter and head (all of them for None)."""
        frozen = set(self.plan.reused)
        names = [n for n in self.stored_names() if n not in frozen] if only is None else [only]
        for p in self.parameters():
            p.requires_grad_(False)
        for name in names:
            for p in adapter_parameters(self.peft_model, adapter_name(name)).values():
                p.requires_grad_(True)
            self.head_of(name).requires_grad_(True)

    def group_order(self, routes: list[int]) -> list[int]:
        """Start with the domain whose adapter is active, so no switch is wasted."""
        first = [d for d in routes if self.active == adapter_name(PREFIX + self.domains[d])]
        return first + [d for d in sorted(routes) if d not in first]

    # -- scoring -------------------------------------------------------------------------------
    def router_logits(self, input_ids, attention_mask) -> torch.Tensor:
        self.activate(ROUTER)
        return self.router_head(self.encoder(input_ids, attention_mask))

    def score_with(self, domain, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        self.activate(PREFIX + domain)
        pooled = self.encoder(input_ids, attention_mask, token_type_ids)
        return self.reward_heads[domain](pooled)

    def score(self, batch: PairBatch) -> torch.Tensor:
        if not torch.is_grad_enabled():
            self.inference_batches += 1
        return super().score(batch)

    @contextlib.contextmanager
    def timing_only(self):
        switches, batches = self.switches, self.inference_batches
        try:
            yield
        finally:
            self.switches, self.inference_batches = switches, batches

    def score_oracle(self, batch, routes):
        switches = self.switches
        rewards = super().score_oracle(batch, routes)
        self.switches = switches  # only the routed pass counts
        return rewards

    def time_single_inputs(self, batch: PairBatch) -> None:
        """The per-input protocol as configured (`merge_at_inference`), then again on the same
        pairs with the other setting into `inference_other`, so both figures are reported."""
        super().time_single_inputs(batch)
        own, self.inference = self.inference, self.inference_other
        self.merge_at_inference = not self.merge_at_inference
        try:
            super().time_single_inputs(batch)
        finally:
            self.merge_at_inference = not self.merge_at_inference
            self.inference = own

    def test_state(self) -> dict:
        return {**super().test_state(), "inference_other": self.inference_other}

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        self.inference_other.reset()
        self.switches = 0
        self.inference_batches = 0

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self.unmerge()  # checkpoints and stored components hold the pristine backbone

    def extra_results(self) -> dict:
        out = super().extra_results()
        batches = self.inference_batches or 1
        out["adapter_switches"] = {"total": self.switches, "per_batch": self.switches / batches,
                                   "inputs_per_switch": self.inference.inputs / self.switches if self.switches else None}
        # seconds per input, per-input protocol, adapters merged on switch and unmerged (peft's LoRA layers)
        clocks = {self.merge_at_inference: self.inference, not self.merge_at_inference: self.inference_other}
        for merged, name in ((True, "merged"), (False, "unmerged")):
            out[f"inference_time_per_input_{name}"] = clocks[merged].summary()["per_input"]["seconds_per_input"]
        return out

    def summary_lines(self, results: dict) -> list[str]:
        lines = super().summary_lines(results)
        switches = results.get("adapter_switches")
        if switches:
            lines.append(f"adapter switches: {switches['total']} ({switches['per_batch']:.2f} per test batch)")
        merged, unmerged = (results.get(f"inference_time_per_input_{k}") for k in ("merged", "unmerged"))
        if merged is not None and unmerged is not None:
            lines.append(f"inference per input: adapters merged {1000 * merged:.2f} ms, unmerged {1000 * unmerged:.2f} ms")
        return lines

    # -- components ----------------------------------------------------------------------------
    def components(self) -> dict[str, nn.Module]:
        out = {BACKBONE: ParameterView(base_parameters(self.peft_model))}
        for name in self.stored_names():
            out[name] = ParameterView(adapter_parameters(self.peft_model, adapter_name(name)), self.head_of(name))
        return out

    def shared_names(self) -> list[str]:
        return [BACKBONE]

    def drop_domains(self, names: list[str]) -> None:
        for d in names:
            if d in self.reward_heads:
                self.peft_model.delete_adapter(adapter_name(PREFIX + d))
                del self.reward_heads[d]
        self.active = None

    def _fit_net(self, name: str) -> nn.Module:
        self.unmerge()
        self.active = None
        self.activate(name)
        self._set_trainable(name)
        return nn.ModuleList([self.encoder, self.head_of(name)])

    def router_fit(self) -> RouterFit:
        net = self._fit_net(ROUTER)

        def logits(batch):
            self.activate(ROUTER)
            return self.route_logits(batch)

        return RouterFit(net, logits, lr=self.router_lr, weight_decay=self.weight_decay,
                         warmup_steps=self.warmup_steps)

    def reward_fit(self, domain: str) -> RewardFit:
        name = PREFIX + domain
        net = self._fit_net(name)

        def score(batch):
            return self.score_with(domain, batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))

        return RewardFit(name, net, score, lr=self.lr, weight_decay=self.weight_decay,
                         warmup_steps=self.warmup_steps, **self.loss_options())

    def after_training(self) -> None:
        self.unmerge()  # a validation pass may have merged an adapter before its best weights came back
        self._set_trainable(None)
        self.active = None

    def component_state(self, name: str) -> dict[str, torch.Tensor] | None:
        self.unmerge()
        if name == BACKBONE:
            return dict(base_parameters(self.peft_model)) if self.store_backbone else None
        state = {f"adapter.{k}": v for k, v in adapter_parameters(self.peft_model, adapter_name(name)).items()}
        state.update({f"head.{k}": v for k, v in self.head_of(name).state_dict().items()})
        return state

    def load_component_state(self, name: str, state: dict[str, torch.Tensor]) -> None:
        if name == BACKBONE:
            own = base_parameters(self.peft_model)
        else:
            self.head_of(name).load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})
            own = adapter_parameters(self.peft_model, adapter_name(name))
            state = {k[8:]: v for k, v in state.items() if k.startswith("adapter.")}
        if set(own) != set(state):
            raise ValueError(f"stored {name} does not fit this model: {len(set(own) ^ set(state))} tensors "
                             "differ (another backbone or LoRA configuration?)")
        with torch.no_grad():
            for key, param in own.items():
                param.copy_(state[key])

    def freeze_component(self, name: str) -> None:
        if name == BACKBONE:
            return
        for p in adapter_parameters(self.peft_model, adapter_name(name)).values():
            p.requires_grad_(False)
        self.head_of(name).requires_grad_(False)
