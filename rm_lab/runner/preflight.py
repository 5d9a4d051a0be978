"""The plan a run says before any work, and the checks that stop a run that cannot start.

    said = preflight(cfg)     # from the config alone: no data read, no weights loaded
    print(said.text())        # method, backbone, where each domain's pairs come from, the recipe, memory
    said.check()              # raises CannotStart, one message naming what to do

Where a domain's pairs come from: a bundled sample, a local file, the local Hugging Face cache
(HF_HUB_OFFLINE=1) or the hub; pairs per split are the counts a run found with the same sources and
caps (kept in `<cache_dir>/pair_counts.json`), else the caps (`dataset.max_pairs`; "all": no cap).
A run cannot start when the hub cannot be reached and the local cache lacks its data or weights, a
local file is absent, a packaged model is not installed, its trainer wants a GPU the machine does
not show, or its memory estimate (rm_lab/runner/memory.py) is more than `FAR` times its device's
memory; between 1x and FAR the plan says it may not fit (the estimate is an estimate). A bf16
precision on a CPU without bf16 matrix instructions gets a warning line (`precision_text`): it runs,
much slower than fp32 there.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from rm_lab.core import hub
from rm_lab.core.config import CONF_DIR, SAMPLES_DIR
from rm_lab.core.hub import in_local_cache, offline_mode
from rm_lab.core.io import write_json_atomic
from rm_lab.models.attention import NO_BF16, cpu_bf16_native
from rm_lab.runner.memory import ADVICE, device_bytes, memory_plan

log = logging.getLogger("rm_lab")

FAR = 2.0  # an estimate above FAR x the device's memory stops the run
SPLITS = ("train", "validation", "test")
OFFLINE_INSTEAD = ("on this machine: dataset=five_domains_sample (the bundled samples) with model=minilm-l6 "
                   "(packaged) or model.pretrained=false (random weights)")


class CannotStart(RuntimeError):
    """The run cannot start; the message says why and what to do (no traceback needed)."""


@dataclass(frozen=True)
class Source:
    """Where one domain's pairs (or the backbone's weights) come from; `blocked`: why it cannot be read."""

    where: str
    detail: str = ""
    blocked: str | None = None
    unreachable: bool = False  # blocked because the hub cannot be reached and the local cache lacks it

    def __str__(self) -> str:
        return " ".join(x for x in (self.where, self.detail) if x)


@dataclass
class Hub:
    """The hub's state, probed once and only when a source needs it."""

    probe: Callable[[], bool] | None = None  # None: rm_lab.core.hub.hub_reachable
    _reachable: bool | None = field(default=None, init=False)

    @property
    def reachable(self) -> bool:
        if self._reachable is None:
            self._reachable = (self.probe or hub.hub_reachable)()
        return self._reachable

    def source(self, repo_id: str, repo_type: str) -> Source:
        cached = in_local_cache(repo_id, repo_type)
        if offline_mode():
            return (Source("HF cache", repo_id) if cached else
                    Source("hub", repo_id, f"HF_HUB_OFFLINE is set and the local cache lacks {repo_id}: unset it, "
                           "or fetch it into the cache first"))
        if self.reachable:
            return Source("hub", repo_id + (" (cached)" if cached else ""))
        if cached and repo_type == "model":  # models read the cache first (rm_lab.models.backbone)
            return Source("HF cache", repo_id)
        if cached:
            return Source("HF cache", repo_id, "in the local cache, but the hub cannot be reached: set "
                          "HF_HUB_OFFLINE=1 to read the cache")
        return Source("hub", repo_id + " (unreachable, not cached)", "unreachable", unreachable=True)


# -- the parts of the plan ---------------------------------------------------------------------------
def _paths(value) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) or OmegaConf.is_list(value) else [str(value)]


def domain_source(node: DictConfig, state: Hub) -> Source:
    try:
        path = node.get("path")
        files = node.get("files")
    except Exception as err:  # a bundled sample the install lacks (${sample:...})
        return Source("bundled sample", "", f"{err}; reinstall rm_lab")
    if files:  # per-split local files
        paths = [p for value in files.values() for p in _paths(value)]
        absent = [p for p in paths if not Path(p).expanduser().exists()]
        return Source("local files", ", ".join(f"{k}: {Path(_paths(v)[0]).name}" for k, v in files.items()),
                      f"{', '.join(absent)} does not exist" if absent else None)
    if path:
        paths = _paths(path)
        bundled = all(Path(p).resolve().is_relative_to(SAMPLES_DIR) for p in paths)
        absent = [p for p in paths if not Path(p).expanduser().exists()]
        names = Path(paths[0]).name if len(paths) == 1 else f"({len(paths)} files)"
        return Source("bundled sample" if bundled else "local file", names,
                      f"{', '.join(absent)} does not exist" if absent else None)
    if node.get("hub"):
        return state.source(str(node.hub.id), "dataset")
    return Source("absent:", node.get("absent_reason") or "no source configured")


def cap(max_pairs, split: str, domain: str):
    value = (max_pairs or {}).get(split)
    return value.get(domain) if isinstance(value, Mapping) else value


def pairs_text(max_pairs, domain: str, known: dict | None = None) -> str:
    if known:
        return "pairs train/validation/test " + "/".join(f"{known.get(s, 0):,}" for s in SPLITS) + " (as last read)"
    caps = [cap(max_pairs, s, domain) for s in SPLITS]
    if all(c is None for c in caps):
        return "all pairs"
    return "pairs train/validation/test at most " + "/".join("all" if c is None else f"{c:,}" for c in caps)


# -- pair counts a run found, kept in the cache so the next plan can say them ------------------------
COUNTS_FILE = "pair_counts.json"


def counts_key(dataset: DictConfig, domain: str) -> str:
    """The same domain source, caps and data seed give the same pairs: one key for them."""
    node = OmegaConf.to_container(dataset.domains[domain], resolve=True)
    caps = [cap(dataset.get("max_pairs"), s, domain) for s in SPLITS]
    text = json.dumps([node, caps, dataset.get("data_seed")], sort_keys=True, default=str)
    return f"{domain}-{hashlib.sha1(text.encode()).hexdigest()[:16]}"


def _counts_path(dataset: DictConfig) -> Path | None:
    folder = dataset.get("cache_dir")
    return Path(folder) / COUNTS_FILE if folder else None


def known_counts(dataset: DictConfig) -> dict[str, dict]:
    """{domain: {split: pairs}} for the domains a run already read with these sources and caps."""
    path = _counts_path(dataset)
    try:
        stored = json.loads(path.read_text()) if path and path.exists() else {}
    except (OSError, ValueError):
        return {}
    found = {}
    for domain in dataset.domains:
        try:
            key = counts_key(dataset, domain)
        except Exception:  # an unresolvable node: no key, the caps say it
            continue
        if key in stored:
            found[domain] = stored[key]
    return found


def remember_counts(dataset: DictConfig, counts: dict) -> None:
    """After a run read its data (results.json `data`): the pairs per split of each domain it read."""
    path = _counts_path(dataset)
    if path is None:
        return
    try:
        stored = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        stored = {}
    for domain, block in counts.items():
        if domain in dataset.domains and not block.get("absent"):
            stored[counts_key(dataset, domain)] = dict(block["pairs"])
    write_json_atomic(path, stored)


def model_source(model: DictConfig, state: Hub) -> Source:
    source = str(model.source)
    if source.startswith("packaged:"):
        from rm_lab.models.backbone import resolve_source

        try:
            resolve_source(source)
        except (ImportError, ValueError) as err:
            return Source("packaged", source, str(err))
        return Source("packaged", source.split(":", 1)[1])
    if not model.get("pretrained", True):
        tokenizer = str(model.get("tokenizer") or source)
        if tokenizer.startswith("packaged:") or Path(tokenizer).expanduser().exists():
            return Source("built from config", "(random weights)")
        found = state.source(tokenizer, "model")
        stand_in = found.blocked and model.get("offline_tokenizer", "packaged:minilm")
        return Source("built from config", f"(random weights; tokenizer {stand_in + ' stand-in' if stand_in else found})")
    if Path(source).expanduser().exists():
        return Source("local folder", source)
    if source.startswith(("/", "./", "../", "~")):
        return Source("local folder", source, f"model folder {source} does not exist")
    return state.source(source, "model")


def recipe_name(cfg: DictConfig) -> str | None:
    """The recipe the config composed (conf/recipe/<name>.yaml), None when none applied."""
    try:
        from hydra.core.hydra_config import HydraConfig

        name = HydraConfig.get().runtime.choices.get("recipe")
    except ValueError:  # composed outside a Hydra run (tests, tools)
        name = f"{cfg.dataset.get('name')}_{cfg.method.get('name')}"
    return name if name and (CONF_DIR / "recipe" / f"{name}.yaml").exists() else None


def recipe_text(cfg: DictConfig) -> str:
    name = recipe_name(cfg) or "none (the groups' own values)"
    epochs = cfg.method.get("epochs") or cfg.trainer.get("max_epochs")
    batch = cfg.method.get("batch_size") or cfg.dataset.get("batch_size")  # a method's own batch (embedding heads)
    dropout = "the backbone's own dropout" if not cfg.model.get("disable_dropout", True) else "no dropout"
    return (f"recipe: {name}: lr {cfg.method.get('lr')}, {epochs} epoch"
            f"{'s' if epochs != 1 else ''}, batch {batch}, max length {cfg.model.get('max_length')}, {dropout}; "
            f"trainer {cfg.trainer.get('accelerator')} {cfg.trainer.get('precision')}")


def memory_text(cfg: DictConfig) -> tuple[str | None, str | None]:
    """(the plan's memory line, a problem when the estimate is far beyond the device)."""
    if getattr(get_class(cfg.method._target_), "inputs", "tokens") != "tokens":
        return None, None
    memory, what = device_bytes(cfg)
    try:
        estimate = memory_plan(cfg, memory)
    except Exception as err:  # an estimate must never stop a run
        log.debug("no memory estimate for this run: %s", err)
        return None, None
    need = estimate["total_bytes"] / 1e9
    line = f"memory: about {need:,.1f} GB per device ({estimate['params'] / 1e6:,.0f}M parameters)"
    if memory is None:
        accelerator = cfg.trainer.get("accelerator")
        return line + f"; {what}", (f"trainer {accelerator} needs a GPU and this machine shows none: run it on a "
                                    "GPU machine, or add trainer=cpu (slow)")
    ratio = estimate["total_bytes"] / memory
    verdict = "fits" if ratio <= 1 else f"does NOT fit ({ratio:.1f}x)"
    line += f"; {what} {memory / 1e9:,.1f} GB: {verdict} (python -m rm_lab.plan for the parts)"
    if ratio > FAR:
        return line, f"about {need:,.0f} GB needed per device, {ratio:.1f}x {what} ({memory / 1e9:,.0f} GB): {ADVICE}"
    return line, None


def precision_text(cfg: DictConfig, native: Callable[[], bool] = cpu_bf16_native) -> str | None:
    """The plan's warning when a bf16 precision trains on a CPU without bf16 matrix instructions."""
    precision = str(cfg.trainer.get("precision"))
    accelerator = str(cfg.trainer.get("accelerator", "cpu"))
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if "bf16" not in precision or not on_cpu or native():
        return None
    return f"WARNING precision {precision}: {NO_BF16}; trainer.precision=32-true trains faster here"


# -- the plan ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Preflight:
    """The plan's lines, and what keeps the run from starting (empty: it can start)."""

    title: str
    lines: tuple[str, ...]
    problems: tuple[str, ...]
    unreachable: tuple[str, ...]  # what the run needs from the hub that neither the hub nor the cache gives
    machine: tuple[str, ...] = ()  # the problems that are this machine's (no GPU, too little memory), among `problems`

    @property
    def config_problems(self) -> tuple[str, ...]:
        """The problems any machine would meet (a missing file, no data): what `python -m rm_lab.plan`
        refuses, on a login node too."""
        return tuple(p for p in self.problems if p not in self.machine)

    def text(self) -> str:
        return "\n".join((f"plan: {self.title}", *(f"  {line}" for line in self.lines)))

    def message(self) -> str:
        parts = [f"cannot start {self.title}:"]
        if self.unreachable:
            parts.append(f"  - the Hugging Face hub cannot be reached and the local cache lacks {' and '.join(self.unreachable)}; "
                         "run where the hub answers, or copy them into the Hugging Face cache and set "
                         f"HF_HUB_OFFLINE=1; {OFFLINE_INSTEAD}")
        parts += [f"  - {p}" for p in self.problems]
        return "\n".join(parts)

    def check(self) -> None:
        if self.problems or self.unreachable:
            raise CannotStart(self.message())


def preflight(cfg: DictConfig, hub_state: Hub | None = None) -> Preflight:
    """The run's plan from its config alone (nothing downloaded, no data read)."""
    state = hub_state or Hub()
    model = model_source(cfg.model, state)
    sources = {name: domain_source(node, state) for name, node in cfg.dataset.domains.items()}
    width, known = max(len(name) for name in sources), known_counts(cfg.dataset)
    lines = [f"{'data' if i == 0 else '    '} {name:<{width}}  {src}"
             + (f", {pairs_text(cfg.dataset.get('max_pairs'), name, known.get(name))}" if src.where != "absent:" else "")
             for i, (name, src) in enumerate(sources.items())]
    lines = [f"backbone: {model}", *lines, recipe_text(cfg)]
    memory, too_big = memory_text(cfg)
    if memory:
        lines.append(memory)
    if slow := precision_text(cfg):
        lines.append(slow)
    everything = [("backbone", model), *((f"data {n}", s) for n, s in sources.items())]
    unreachable = [f"the model {model.detail.split()[0]}"] if model.unreachable else []
    data = [f"{n} ({s.detail.split()[0]})" for n, s in sources.items() if s.unreachable]
    unreachable += [f"the data of {', '.join(data)}"] if data else []
    problems = [f"{what}: {s.blocked}" for what, s in everything if s.blocked and not s.unreachable]
    if too_big:
        problems.append(too_big)
    if all(s.where == "absent:" for s in sources.values()):
        problems.append(f"dataset {cfg.dataset.get('name')}: every domain is absent; give one a source "
                        "(dataset.domains.<domain>.path=FILE) or pick another dataset")
    title = f"{cfg.method.get('name')} on {cfg.model.get('name')}, dataset {cfg.dataset.get('name')}, seed {cfg.get('seed')}"
    return Preflight(title, tuple(lines), tuple(problems), tuple(unreachable), (too_big,) if too_big else ())
