"""A composite method's stored parts: a run's components/ folder, read and written.

One `.pt` file per component (`RunDir.component_file_name`: its weights, on the CPU) and the
components manifest (rm_lab/rundir/manifest.py) naming whose parts they are (method, model,
domains, covered domains) and which file holds which part. Files are written atomically, each
component as soon as its fit is done, so a killed run keeps the parts it finished.

    store = ComponentStore.of_run(run_dir)         # RUN_DIR/components
    store = ComponentStore.locate(path, "rodos")   # a run folder or its components/ folder
    store.manifest().components                    # {component: file}
    store.load("router")                           # its state dict
    store.save({"router": state}, identity)        # files written, the manifest written
    store.save_parts(module, ["router"], identity, update=True)   # a method's parts (`StoredParts`)
    store.load_parts(module, ["router"], freeze=True)
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch

from rm_lab.core.io import atomic_path
from rm_lab.core.safe_weights import load_weights
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.manifest import ComponentsManifest

State = dict[str, torch.Tensor]


class StoredParts(Protocol):
    """What a composite method gives the store: each named part's weights."""

    def component_state(self, name: str) -> State | None:
        """The part's weights; None for a part that is not stored (it can be rebuilt)."""

    def load_component_state(self, name: str, state: State) -> None: ...

    def freeze_component(self, name: str) -> None: ...


class ComponentStore:
    """The components/ folder at `folder`."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"ComponentStore({self.folder})"

    @classmethod
    def of_run(cls, run_dir: str | Path) -> ComponentStore:
        """The components/ folder of a run folder (whether it exists yet or not)."""
        return cls(RunDir(run_dir).components)

    @classmethod
    def locate(cls, path: str | Path, method: str) -> ComponentStore:
        """The stored components at `path`: a run folder holding components/, or that folder
        itself; FileNotFoundError saying what to give when neither holds a manifest."""
        folder = Path(path).expanduser()
        for store in (cls.of_run(folder), cls(folder)):
            if store.exists():
                return store
        raise FileNotFoundError(
            f"method.reuse_components={path}: no {RunDir.MANIFEST} there; give the directory "
            f"of a trained {method} run (it holds {RunDir.COMPONENTS}/) or its {RunDir.COMPONENTS}/ folder")

    @property
    def manifest_path(self) -> Path:
        return self.folder / RunDir.MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def manifest(self) -> ComponentsManifest:
        return ComponentsManifest.read(self.manifest_path)

    def stored(self) -> dict[str, str]:
        """{component: file} of every stored component ({} when nothing is stored)."""
        return self.manifest().components if self.exists() else {}

    def load(self, name: str, files: dict[str, str] | None = None) -> State:
        """One stored component's state (on the CPU)."""
        files = files if files is not None else self.stored()
        return load_weights(self.folder / files[name])

    def save(self, states: dict[str, State], identity: ComponentsManifest, update: bool = False) -> Path:
        """Write each component's state and the manifest. `identity` gives the manifest's method,
        model and domains; its `components` are replaced by the files written here, plus, with
        `update`, those the manifest already listed (the parts stored one by one as fits end)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        files = dict(self.stored()) if update else {}
        for name, state in states.items():
            files[name] = RunDir.component_file_name(name)
            with atomic_path(self.folder / files[name]) as tmp:
                torch.save({k: v.detach().cpu() for k, v in state.items()}, tmp)
        ComponentsManifest(identity.method, identity.model, list(identity.domains), list(identity.covered),
                           files).write(self.manifest_path)
        return self.folder

    def save_parts(self, parts: StoredParts, names: list[str], identity: ComponentsManifest,
                   update: bool = False) -> Path:
        """`save` of the named parts' weights (a part whose state is None is not stored)."""
        states = {name: state for name in names if (state := parts.component_state(name)) is not None}
        return self.save(states, identity, update)

    def load_parts(self, parts: StoredParts, names: list[str], freeze: bool = False) -> None:
        """Load the named stored parts into `parts` (and freeze them: reused parts are not trained)."""
        files = self.stored()
        for name in names:
            parts.load_component_state(name, self.load(name, files))
            if freeze:
                parts.freeze_component(name)
