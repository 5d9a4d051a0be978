"""The manifest: a small JSON file saying what a folder holds, one schema for both places.

Every manifest carries a `kind`:
- "components" (`RunDir.components_manifest`, components/manifest.json): a composite method's
  stored parts, written by `ComponentStore` (rm_lab/rundir/components.py): `method`, `model`,
  `domains`, `covered` and `components` ({component: file name in components/});
- "export" (`RunDir.export_manifest`, an export folder's manifest.json): what
  `python -m rm_lab.export` wrote: `format` (transformers or run), `method`, `backbone`, the files
  or the transformers check, where the backbone weights come from, ...

Manifests written before `kind` existed are still read: a record with `components` is a
components manifest, one with `format` an export's.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rm_lab.core.io import write_json_atomic

COMPONENTS_KIND = "components"
EXPORT_KIND = "export"
KINDS = (COMPONENTS_KIND, EXPORT_KIND)


class ManifestError(ValueError):
    """A manifest that cannot be read as the kind asked for; the message says why."""


def _kind_of(record: dict) -> str | None:
    kind = record.get("kind")
    if kind is not None:
        return kind
    if isinstance(record.get("components"), dict):  # before `kind`: the routed methods' manifest
        return COMPONENTS_KIND
    if "format" in record:  # before `kind`: an export's manifest
        return EXPORT_KIND
    return None


def write_manifest(path: str | Path, kind: str, body: dict) -> Path:
    """Write a manifest of `kind` atomically (`kind` first, then the body's keys)."""
    if kind not in KINDS:
        raise ValueError(f"manifest kind must be one of {KINDS}, got {kind!r}")
    return write_json_atomic(path, {"kind": kind, **{k: v for k, v in body.items() if k != "kind"}})


def read_manifest(path: str | Path, kind: str) -> dict:
    """The manifest at `path`, which must be of `kind` (OSError when it cannot be read,
    ManifestError when it is not a manifest of that kind)."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path} is not a manifest: not valid JSON ({type(err).__name__}: {err})") from err
    found = _kind_of(record) if isinstance(record, dict) else None
    if found != kind:
        raise ManifestError(f"{path} is not a manifest of kind {kind!r} (its kind: {found!r})")
    return record


def manifest_kind(path: str | Path) -> tuple[str | None, dict]:
    """(kind, record) of the manifest at `path`, or (None, {}) when there is none or it cannot be read."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, {}
    if not isinstance(record, dict):
        return None, {}
    return _kind_of(record), record


@dataclass
class ComponentsManifest:
    """A components/ folder's manifest: whose parts these are and the file of each."""

    method: str
    model: str
    domains: list[str] = field(default_factory=list)
    covered: list[str] = field(default_factory=list)
    components: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | Path) -> ComponentsManifest:
        record = read_manifest(path, COMPONENTS_KIND)
        return cls(method=record.get("method"), model=record.get("model"), domains=list(record.get("domains") or []),
                   covered=list(record.get("covered") or []), components=dict(record["components"]))

    def write(self, path: str | Path) -> Path:
        return write_manifest(path, COMPONENTS_KIND, asdict(self))
