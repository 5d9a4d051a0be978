"""Read W&B's record files back: an offline run's `run-<id>.wandb` (what `wandb sync` uploads)
decoded into its run header, config, summary, metric definitions, artifacts and logged tables.

    from rm_lab.report.wandb_records import read_runs
    for run in read_runs("multirun/x/2026-01-01_10-00-00"):        # every offline run below
        run.group, run.job_type, run.name, run.tags, run.config["run_method"]
        run.summary["accuracy/average"], run.summary["val/accuracy/average"]   # {"max": .., "last": ..}
        run.metrics["val/accuracy/average"]                           # the define_metric summary ops
        run.artifacts["model"][0]["files"]                            # artifact type -> [{name, files, ...}]
        run.table("accuracy_summary")                                 # a logged wandb.Table: columns, data

The file is a LevelDB-style log (https://github.com/google/leveldb/blob/main/doc/log_format.md)
after a 7-byte header (":W&B", magic 0xBEE1, version 0): 32 KiB blocks of chunks, each with a
CRC-32 of its type byte and data, a length and a type (full, first, middle, last); the chunks
of one record joined are a `wandb.proto.wandb_internal_pb2.Record`. The CRC of every chunk is
checked. Tables are read from the run's `files/` folder, where W&B keeps their JSON.
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

HEADER = struct.Struct("<4sHB")
HEADER_IDENT, HEADER_MAGIC, HEADER_VERSION = b":W&B", 0xBEE1, 0
CHUNK = struct.Struct("<IHB")  # crc32, length, type
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
RUN_GLOB = "run-*.wandb"
OFFLINE_RUN_GLOB = "offline-run-*"


class RecordFileError(ValueError):
    """A .wandb file that is not a W&B record log, or is damaged."""


def records(path: str | Path) -> list:
    """Every record of a .wandb file, in order, as protobuf `Record`s."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    if len(data) < HEADER.size:
        raise RecordFileError(f"{path}: too short for a W&B record log")
    ident, magic, version = HEADER.unpack_from(data)
    if (ident, magic, version) != (HEADER_IDENT, HEADER_MAGIC, HEADER_VERSION):
        raise RecordFileError(f"{path}: not a W&B record log (header {ident!r} {magic:#x} v{version})")
    out, pending, pos = [], b"", HEADER.size
    while pos + CHUNK.size <= len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK.size:  # a block's trailer: zeros
            pos += left
            continue
        crc, length, kind = CHUNK.unpack_from(data, pos)
        if kind == 0 and length == 0:  # zero padding (a block's end, or the unwritten tail)
            pos += left
            continue
        body = data[pos + CHUNK.size:pos + CHUNK.size + length]
        if len(body) < length:
            break  # a record cut short by a killed writer: keep what came before
        if zlib.crc32(body, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            raise RecordFileError(f"{path}: checksum mismatch at byte {pos}: the file is damaged")
        pos += CHUNK.size + length
        pending = body if kind in (FULL, FIRST) else pending + body
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def _set(tree: dict, keys: list[str], value) -> None:
    for key in keys[:-1]:
        node = tree.get(key)
        tree[key] = node = node if isinstance(node, dict) else {}
        tree = node
    tree[keys[-1]] = value


def _unset(tree: dict, keys: list[str]) -> None:
    for key in keys[:-1]:
        tree = tree.get(key) or {}
    tree.pop(keys[-1], None)


def _keys(item) -> list[str]:
    return list(item.nested_key) or [item.key]


@dataclass
class WandbRun:
    """One W&B run as its record file holds it."""

    path: Path                                     # the run-<id>.wandb file
    id: str = ""
    project: str = ""
    entity: str = ""
    group: str = ""
    job_type: str = ""
    name: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)     # the final summary (every update applied)
    metrics: dict[str, list[str]] = field(default_factory=dict)   # define_metric: name -> summary ops
    artifacts: dict[str, list[dict]] = field(default_factory=dict)  # type -> [{name, aliases, files, metadata}]
    history: list[dict] = field(default_factory=list)
    exit_code: int | None = None

    @property
    def files(self) -> Path:
        """The run's files/ folder (media, tables)."""
        return self.path.parent / "files"

    def table(self, key: str) -> dict:
        """A wandb.Table logged under `key` (the last one): {"columns": [...], "data": [[...], ...]}."""
        ref = self.summary.get(key)
        if not isinstance(ref, dict) or "path" not in ref:
            raise KeyError(f"{self.path}: no table logged under {key!r} (tables: {sorted(self.tables())})")
        return json.loads((self.files / ref["path"]).read_text())

    def tables(self) -> list[str]:
        return [k for k, v in self.summary.items() if isinstance(v, dict) and v.get("_type") == "table-file"]

    def images(self) -> list[str]:
        return [k for k, v in self.summary.items() if isinstance(v, dict) and v.get("_type") == "image-file"]


def _apply_config(config: dict, record) -> None:
    for item in record.update:
        value = json.loads(item.value_json)
        if item.key == "_wandb":
            continue
        _set(config, _keys(item), value.get("value", value) if isinstance(value, dict) and set(value) <= {"value", "desc"} else value)
    for item in record.remove:
        _unset(config, _keys(item))


def _artifact(record) -> dict:
    return {"name": record.name, "type": record.type, "aliases": list(record.aliases),
            "digest": record.digest, "description": record.description,
            "metadata": json.loads(record.metadata) if record.metadata else {},
            "files": {c.path: c.size for c in record.manifest.contents}}


def read_run(path: str | Path) -> WandbRun:
    """One run from its record file (`run-<id>.wandb`) or its folder (`offline-run-*`)."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob(RUN_GLOB))
        if not found:
            raise FileNotFoundError(f"{path} holds no {RUN_GLOB} record file")
        path = found[0]
    run = WandbRun(path)
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.id, run.project, run.entity = r.run_id, r.project, r.entity
            run.group, run.job_type, run.name, run.tags = r.run_group, r.job_type, r.display_name, list(r.tags)
            _apply_config(run.config, r.config)
        elif kind == "config":
            _apply_config(run.config, record.config)
        elif kind == "summary":
            for item in record.summary.update:
                _set(run.summary, _keys(item), json.loads(item.value_json))
            for item in record.summary.remove:
                _unset(run.summary, _keys(item))
        elif kind == "metric":
            m = record.metric
            ops = [op for op in ("min", "max", "mean", "last", "first", "none") if getattr(m.summary, op, False)]
            if m.name:
                run.metrics[m.name] = ops
        elif kind == "history":
            run.history.append({_keys(item)[0]: json.loads(item.value_json) for item in record.history.item})
        elif kind == "artifact":
            art = _artifact(record.artifact)
            run.artifacts.setdefault(art["type"], []).append(art)
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    for key in ("_wandb", "_runtime", "_step", "_timestamp"):
        run.summary.pop(key, None)
    return run


def find_record_files(*paths: str | Path) -> list[Path]:
    """Every offline run's record file at or below the given folders, sorted."""
    found: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.add(path)
        else:
            found.update(p for d in path.rglob(OFFLINE_RUN_GLOB) if d.is_dir() for p in d.glob(RUN_GLOB))
    return sorted(found)


def read_runs(*paths: str | Path) -> list[WandbRun]:
    """Every offline W&B run at or below the given folders."""
    return [read_run(p) for p in find_record_files(*paths)]


def describe(runs: list[WandbRun]) -> str:
    """A plain-text account of the runs: group, job type, name, tags, summary keys, artifacts, tables."""
    lines = []
    for run in sorted(runs, key=lambda r: (r.group, r.job_type, r.name)):
        lines.append(f"run {run.name} [{run.id}] group={run.group} job_type={run.job_type} exit={run.exit_code}")
        lines.append(f"  tags: {', '.join(run.tags)}")
        plain = sorted(k for k, v in run.summary.items() if not isinstance(v, dict) or "_type" not in v)
        lines.append(f"  summary ({len(plain)} keys): {', '.join(plain)}")
        best = {k: v for k, v in run.summary.items() if k in run.metrics and isinstance(v, dict)}
        if best:
            lines.append("  best values: " + ", ".join(f"{k} {v}" for k, v in sorted(best.items())))
        for kind, arts in sorted(run.artifacts.items()):
            for art in arts:
                lines.append(f"  artifact {kind} {art['name']}: {', '.join(sorted(art['files']))}")
        if run.tables():
            lines.append(f"  tables: {', '.join(sorted(run.tables()))}")
        if run.images():
            lines.append(f"  images: {', '.join(sorted(run.images()))}")
    return "\n".join(lines)
