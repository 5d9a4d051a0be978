"""Builders: config -> data, backbone, method, trainer and loggers, in one place.

The runner (`rm_lab.runner.run`), the tools (param_table, inference_compare, add_domain) and the
studies build everything through these functions and share nothing else:

    cfg = rm_lab.core.config.compose(["model=tiny-deberta", "method=embedding"])
    data, backbone = build_data(cfg)                 # pairs loaded and tokenized
    data = build_inputs(cfg, data, backbone)         # cached vectors when the method wants them
    method = build_method(cfg.method, backbone=backbone, domains=data.domain_names, data=data)
    trainer = build_trainer(cfg, loggers=build_loggers(cfg))

Data comes first, so an unreachable dataset fails before any model is touched. The config is
the user's own (composed from conf/ and the command line) or a stored run's, which reaches these
builders only through `rm_lab.rundir.finished.run_config`: every `_target_` in it checked
against rm_lab's allowlist first (rm_lab/core/safe_config.py). Turning texts
into vectors (the embedding-based methods' input) is a data build step here, not a method's.
"""
from __future__ import annotations

from pathlib import Path

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint

from rm_lab.data.datamodule import PreferenceDataModule
from rm_lab.data.embedding_cache import EmbeddingCache
from rm_lab.data.protocol import PairData
from rm_lab.data.vector_pairs import VectorPairsDataModule
from rm_lab.data.vectorize import vectorize
from rm_lab.eval.params import count
from rm_lab.methods.base import LOSS_OPTIONS
from rm_lab.methods.optim import OptimChoice, attach
from rm_lab.models.backbone import Backbone
from rm_lab.models.embedder import Embedder
from rm_lab.runner.callbacks import configured_callbacks

# keys of a method node that describe the run, not the method's constructor
METHOD_META = ("name", "embed")
LOSS_KEYS = LOSS_OPTIONS  # the pairwise loss options, applied to the built module (build_method)


def build_backbone(cfg: DictConfig) -> Backbone:
    return instantiate(cfg.model, _convert_="all")


def build_data(cfg: DictConfig, backbone: Backbone | None = None) -> tuple[PreferenceDataModule, Backbone]:
    """The run's datamodule (pairs loaded, tokenized) and backbone factory."""
    datamodule = instantiate(cfg.dataset, _convert_="all")
    datamodule.load_pairs()
    backbone = backbone or build_backbone(cfg)
    datamodule.attach_tokenizer(backbone.tokenizer(), backbone.max_length, backbone.input_format)
    datamodule.setup("fit")
    return datamodule, backbone


def method_class(node: DictConfig) -> type:
    return get_class(node._target_)


def stores_whole(node: DictConfig) -> bool:
    """Whether the method stores one whole checkpoint (`checkpoint_whole`), else its components."""
    return getattr(method_class(node), "checkpoint_whole", True)


def build_inputs(cfg: DictConfig, datamodule: PreferenceDataModule, backbone: Backbone) -> PairData:
    """What the configured method trains on: the token datamodule itself, or (for a method with
    `inputs = "vectors"`) its pairs embedded once by the frozen backbone and cached."""
    if getattr(method_class(cfg.method), "inputs", "tokens") != "vectors":
        return datamodule
    return embed_data(datamodule, backbone, cfg.method.get("embed") or {},
                      batch_size=cfg.method.get("batch_size", 256),
                      eval_batch_size=cfg.method.get("eval_batch_size", 1024))


def embed_data(datamodule: PreferenceDataModule, backbone: Backbone, options, batch_size: int = 256,
               eval_batch_size: int = 1024) -> VectorPairsDataModule:
    """Every distinct (prompt, response) embedded with `backbone` (cached under the dataset's
    cache_dir); options: batch_size, init_seed, progress (`method.embed`)."""
    options = dict(options)
    embedder = Embedder(backbone, batch_size=options.get("batch_size", 32),
                        init_seed=options.get("init_seed", 0), progress=options.get("progress", True))
    cache = EmbeddingCache(datamodule.cache_dir, embedder.key, datamodule.name, datamodule.max_length,
                           backbone.pooling)
    describe = {"model_key": embedder.key, "dim": backbone.hidden_size, "pooling": backbone.pooling,
                "max_length": datamodule.max_length}
    vectors = vectorize(datamodule, embedder.embed, cache, backbone.hidden_size, batch_size, eval_batch_size,
                        describe)
    if embedder.built:
        vectors.stats["embedder_params"] = count(embedder.encoder)["total"]
    return vectors


def build_method(node: DictConfig, data: PairData | None = None, **kwargs):
    """instantiate() the method node (its descriptive keys left out); with `data`, the method
    is prepared for it (`prepare(data)`) and, for vector inputs, sized by it. The loss options
    (`LOSS_KEYS`: center_rewards_coefficient, use_margin) are not constructor arguments: they
    are applied to the built module (`set_loss_options`), so every method takes them."""
    loss = {k: node[k] for k in LOSS_KEYS if k in node}
    spec = OmegaConf.masked_copy(node, [k for k in node.keys() if k not in METHOD_META + LOSS_KEYS])
    if getattr(method_class(node), "inputs", "tokens") == "vectors":
        kwargs.pop("backbone", None)
        if isinstance(data, VectorPairsDataModule):
            kwargs.setdefault("input_dim", data.dim)
    module = instantiate(spec, **kwargs)
    if loss:
        if not hasattr(module, "set_loss_options"):
            raise ValueError(f"method {node.get('name')} does not train with the pairwise loss: remove "
                             f"{sorted(loss)} from its config")
        module.set_loss_options(**loss)
    if data is not None:
        module.prepare(data)
    return module


def build_loggers(cfg: DictConfig) -> list:
    return [instantiate(spec) for spec in (cfg.get("logger") or {}).values() if spec and "_target_" in spec]


def keep_uninitialized_memory() -> None:
    """Deterministic algorithms without filling every new tensor with NaN. `trainer.deterministic`
    (the CPU default) calls `torch.use_deterministic_algorithms(True)`, which also turns on
    `torch.utils.deterministic.fill_uninitialized_memory`: a write over every `torch.empty`
    (matrix-product outputs, gradient buffers), of use only against a kernel that reads memory it
    never wrote. On MiniLM's bf16 training steps on a CPU those fills took ~17% of the step (profiled:
    690 ms of fill_ in 4 steps); the algorithms stay deterministic (same seed, same results: tests/test_train.py)."""
    import torch.utils.deterministic

    if torch.are_deterministic_algorithms_enabled():
        torch.utils.deterministic.fill_uninitialized_memory = False


def build_trainer(cfg: DictConfig, loggers: list | None = None, callbacks: list | None = None,
                  resume_from: str | Path | None = None, component: str | None = None, **overrides):
    """A Lightning Trainer from `cfg.trainer`, writing under the run's output directory; its
    `fit` continues from `resume_from` when that checkpoint exists (`ResumableTrainer`). Every fit
    it runs builds its optimizer and scheduler from `cfg.optimizer` and `cfg.scheduler`
    (rm_lab.methods.optim; the defaults where the config has none). `callbacks` (rm_lab's own)
    come first, then the config's (`callbacks=[...]`, `trainer.callbacks`; rm_lab/runner/callbacks.py),
    built for the fit of `component`."""
    optim = OptimChoice.from_config(cfg.get("optimizer"), cfg.get("scheduler"))  # a wrong node fails first
    added = configured_callbacks(cfg, component)
    spec = cfg.trainer
    if spec.get("_target_") in ("pytorch_lightning.Trainer", "lightning.pytorch.Trainer"):
        spec = OmegaConf.merge(spec, {"_target_": "rm_lab.runner.checkpoints.ResumableTrainer"})
    if "callbacks" in spec:  # merged above, never silently replaced
        spec = OmegaConf.masked_copy(spec, [k for k in spec if k != "callbacks"])
    if any(isinstance(c, ModelCheckpoint) for c in added):
        overrides.setdefault("enable_checkpointing", True)
    trainer = instantiate(spec, logger=loggers or False, callbacks=[*(callbacks or []), *added],
                          default_root_dir=str(cfg.paths.output_dir), **overrides)
    keep_uninitialized_memory()
    if resume_from is not None and hasattr(trainer, "resume_from"):
        trainer.resume_from = Path(resume_from)
    attach(trainer, optim)
    return trainer
