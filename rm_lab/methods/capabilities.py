"""What a method can do, declared once next to it, and the registry that finds every method.

Each method's LightningModule class carries one `capabilities` attribute, right after its
docstring (RewardModule's default: none of the below, no paper table):

    class RODOS(RoutedRewardModule):
        capabilities = Capabilities(components=("router", "reward_model/*"), routes=True,
                                    stores_components=True, adds_domains=True, inference_compare=True,
                                    tables=("2", "3", "6"), order=40,
                                    paper_rows=(PaperRow("deberta-v3-base", 1110), ...))

The registry finds the methods from the `method` config group: conf/method/*.yaml plus any
directory a `hydra.searchpath=[...]` override adds. Each YAML's `_target_` names the class,
which is loaded with hydra's `get_class` (its module is imported; nothing is instantiated and
nothing else a YAML names is imported). Every consumer reads it:

    from rm_lab.methods.capabilities import registry, methods
    registry()                                    # {choice: Method}, in the paper's row order
    methods(table="2")                            # the methods of Table 2
    methods(adds_domains=True)                    # what python -m rm_lab.add_domain extends
    paper_rows()                                  # [(method, model)]: the paper's Table 2 rows
    registry(["hydra.searchpath=[file:///my/conf]"])

`python -m rm_lab.cli methods [--table N] [--long]` prints it (the Makefile reads its tables' methods
from there). A method's label (how reports name it) stays its class attribute `label`.
"""
from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rm_lab.rundir.layout import RunDir

log = logging.getLogger(__name__)

GROUP = "method"
TABLES = ("2", "3", "6", "7")  # the router paper's tables the report builds


@dataclass(frozen=True)
class PaperRow:
    """A backbone the paper reports the method on, and the paper's total parameters there."""

    model: str                       # a conf/model choice
    params_m: float | None = None    # the paper's total in millions (its Table 2); None: not reported


@dataclass(frozen=True)
class Capabilities:
    """What a method can do; every consumer (runner tools, report, Makefile) reads this."""

    components: tuple[str, ...] = ("reward_model",)  # keys of components(); "<part>/*": one per domain
    routes: bool = False             # a router picks a per-domain component for every input
    stores_components: bool = False  # writes components/ (reusable parts) instead of one checkpoint
    adds_domains: bool = False       # python -m rm_lab.add_domain extends its runs with a new domain
    inference_compare: bool = False  # timed against the others by python -m rm_lab.inference_compare
    tables: tuple[str, ...] = ()     # the paper tables it is a row of ("2", "3", "6", "7")
    order: float = math.inf          # its place among those rows (lower first; ties by name)
    reference: bool = False          # "% of largest <label>" divides by its largest row (Baseline)
    paper_rows: tuple[PaperRow, ...] = ()  # the paper's backbones for it (python -m rm_lab.param_table)

    def __post_init__(self):
        tables = tuple(str(t) for t in self.tables)
        unknown = [t for t in tables if t not in TABLES]
        if unknown:
            raise ValueError(f"Capabilities.tables: unknown tables {unknown}; the report builds {list(TABLES)}")
        object.__setattr__(self, "tables", tables)
        object.__setattr__(self, "components", tuple(self.components))
        object.__setattr__(self, "paper_rows", tuple(self.paper_rows))
        if self.adds_domains and not (self.routes and self.stores_components):
            raise ValueError("Capabilities: adds_domains needs routes and stores_components "
                             "(a new domain is a new component and a retrained router)")

    def component_names(self, domains: Iterable[str]) -> list[str]:
        """The components a build over `domains` has: "<part>/*" once per domain."""
        domains = list(domains)
        out = []
        for name in self.components:
            out += [name[:-1] + d for d in domains] if name.endswith("/*") else [name]
        return out


NONE = Capabilities()  # RewardModule's default


@dataclass(frozen=True)
class Method:
    """One entry of the `method` config group."""

    choice: str          # method=<choice> (conf/method/<choice>.yaml)
    name: str            # the run's method name (results.json `method`): the YAML's `name`
    target: str          # the YAML's `_target_`
    cls: type

    @property
    def capabilities(self) -> Capabilities:
        return capabilities_of(self.cls)

    @property
    def label(self) -> str:
        """The class's `label` (how reports name it); its name when only RewardModule's default applies."""
        for klass in self.cls.__mro__:
            if "label" in vars(klass):
                return self.name if vars(klass).get("capabilities") is NONE else str(vars(klass)["label"])
        return self.name


def capabilities_of(cls: type | None) -> Capabilities:
    found = getattr(cls, "capabilities", None)
    return found if isinstance(found, Capabilities) else NONE


def searchpath_overrides(overrides: Iterable[str] = ()) -> tuple[str, ...]:
    """The `hydra.searchpath=...` overrides among `overrides` (the only ones the registry reads)."""
    return tuple(o for o in overrides if o.lstrip("+").startswith("hydra.searchpath="))


def searchpath_override(dirs: Sequence[str]) -> list[str]:
    """[`hydra.searchpath=[file://DIR,...]`] for config directories (URLs kept as given); [] for none."""
    if not dirs:
        return []
    urls = [d if "://" in d else "file://" + str(Path(d).expanduser().resolve()) for d in dirs]
    return [f"hydra.searchpath=[{','.join(urls)}]"]


def registry(overrides: Iterable[str] = ()) -> dict[str, Method]:
    """{choice: Method} for every option of the `method` group, in (order, choice) order. Only
    `hydra.searchpath` overrides count. A YAML without `_target_`, or whose class cannot be
    loaded, is left out with a warning (logged; `problems()` lists them)."""
    return dict(_registry(searchpath_overrides(overrides))[0])


def problems(overrides: Iterable[str] = ()) -> list[str]:
    """Why options of the `method` group are not in the registry."""
    return list(_registry(searchpath_overrides(overrides))[1])


@functools.lru_cache(maxsize=16)
def _registry(overrides: tuple[str, ...]) -> tuple[tuple[tuple[str, Method], ...], tuple[str, ...]]:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import get_class

    from rm_lab.core.config import CONF_DIR

    found: list[Method] = []
    skipped: list[str] = []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        choices = GlobalHydra.instance().config_loader().get_group_options(
            GROUP, config_name="config", overrides=list(overrides))
        for choice in choices:
            try:
                node = compose("config", overrides=[*overrides, f"{GROUP}={choice}"])[GROUP]
                target = node.get("_target_")
                if not target:
                    raise ValueError("no _target_")
                cls = _load(get_class, str(target))
                name = str(node.get("name") or choice)
            except Exception as err:  # one broken YAML or class must not hide the others
                skipped.append(f"method={choice}: {type(err).__name__}: {err}")
                log.warning("method registry: leaving out method=%s (%s: %s)", choice, type(err).__name__, err)
                continue
            found.append(Method(choice, name, str(target), cls))
    found.sort(key=lambda m: (capabilities_of(m.cls).order, m.choice))
    return tuple((m.choice, m) for m in found), tuple(skipped)


def _load(get_class, target: str) -> type:
    """get_class(target), without hydra's own error log (the registry says why it left one out)."""
    hydra_log = logging.getLogger("hydra.utils")
    level = hydra_log.level
    hydra_log.setLevel(logging.CRITICAL)
    try:
        return get_class(target)
    finally:
        hydra_log.setLevel(level)


def methods(overrides: Iterable[str] = (), table: str | Iterable[str] | None = None, **flags: bool) -> list[Method]:
    """The registry's methods in order, those of `table` (one or several: any of them) and with
    every given capability flag, e.g. methods(table="2"), methods(adds_domains=True)."""
    tables = None if table is None else {str(table)} if isinstance(table, (str, int)) else {str(t) for t in table}
    unknown = [f for f in flags if f not in Capabilities.__dataclass_fields__]
    if unknown:
        raise TypeError(f"unknown capabilities {unknown}")
    out = []
    for method in registry(overrides).values():
        caps = method.capabilities
        if tables is not None and not tables & set(caps.tables):
            continue
        if all(getattr(caps, f) == v for f, v in flags.items()):
            out.append(method)
    return out


def paper_rows(overrides: Iterable[str] = (), table: str | Iterable[str] | None = "2") -> list[tuple[str, str]]:
    """[(method choice, model choice)]: the rows the paper prints for `table` (its Table 2: each
    method's `paper_rows`, in the methods' row order, each method's backbones as it declares them)."""
    return [(m.choice, row.model) for m in methods(overrides, table=table) for row in m.capabilities.paper_rows]


def by_name(overrides: Iterable[str] = ()) -> dict[str, Method]:
    """{run's method name: Method} (the names results.json files carry)."""
    return {m.name: m for m in registry(overrides).values()}


def of_run(run: dict, overrides: Iterable[str] = ()) -> Method | None:
    """The Method of a run (a results.json dict): its config's `_target_` class when that loads,
    else the registry's entry of its method name; None when neither is known. A stored config
    is data: when it names any `_target_` that is neither rm_lab's (rm_lab/core/safe_config.py)
    nor one of the registry's (conf/method and the searchpath directories, e.g. the report's
    --searchpath), nothing it names is imported and a warning names the key."""
    from rm_lab.core.safe_config import UnsafeTargetError, check_targets

    name = str(run.get("method"))
    target = ((run.get("config") or {}).get(GROUP) or {}).get("_target_")
    registered = registry(overrides).values()
    known = by_name(overrides).get(name)
    try:
        check_targets(run.get("config") or {}, str(run.get("path") or f"a {RunDir.RESULTS}"),
                      trusted={m.target for m in registered})
    except UnsafeTargetError as err:
        log.warning("%s (the run's method class is not loaded)", err)
        return known
    if target and (known is None or known.target != target):
        try:
            from hydra.utils import get_class

            return Method(name, name, str(target), _load(get_class, str(target)))
        except Exception as err:
            log.debug("run method %s: %s does not load (%s)", name, target, err)
    return known
