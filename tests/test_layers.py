"""The import layers are one-way: lower layers never import higher ones, and the tools and
studies at the top depend on the builders and the results schema, not on each other."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rm_lab"

# lowest first; a module may import its own layer's modules and any lower layer
LAYERS = [
    {"core"},                 # config helpers, atomic I/O, hub access
    {"rundir"},               # RunDir, the results schema, publishing to loggers
    {"data"},
    {"models"},
    {"eval"},
    {"methods"},
    {"runner"},               # config -> finished run
    {"inference"},            # finished run -> scorer, export
    {"report", "studies"},    # results files -> tables; experiments built on the runner
    {"cli"},                  # the commands, each a thin door
    {"__init__", "__main__", "score", "export", "serve", "bench", "gpu_check", "plan", "add_domain", "inference_compare",
     "param_table", "results", "analysis", "embedding_study"},   # the package and its command aliases
]
# rooms whose modules stand side by side without importing each other (each command is its own door,
# each study its own experiment)
SIDE_BY_SIDE = {"cli", "studies"}
# the package's public entry points, imported inside a function on first use (`import rm_lab` stays light)
LAZY_EXPORTS: set[tuple[str, str]] = set()


def _part(module: str) -> str:
    parts = module.split(".")
    if parts[-1] == "__main__":  # `python -m rm_lab.<room>` aliases sit with the package's doors
        return "__main__"
    return parts[1] if len(parts) > 1 else ""


def _room(module: str) -> str:
    """rm_lab.cli.score -> rm_lab.cli.score, rm_lab.studies.base_model.zoo -> rm_lab.studies.base_model"""
    return ".".join(module.split(".")[:3])


def _imports() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found = edges.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rm_lab."):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("rm_lab."))
    return edges


def _layer(part: str) -> int:
    for i, layer in enumerate(LAYERS):
        if part in layer:
            return i
    raise AssertionError(f"rm_lab.{part} is in no layer of tests/test_layers.py: place it there")


def test_every_import_points_down_or_sideways():
    upward = []
    for module, targets in _imports().items():
        for target in targets:
            a, b = _part(module), _part(target)
            if (a, b) in LAZY_EXPORTS:
                continue
            if _layer(b) > _layer(a):
                upward.append(f"{module} -> {target}")
            elif a == b and a in SIDE_BY_SIDE and _room(module) != _room(target) and _room(target) != f"rm_lab.{b}":
                upward.append(f"{module} -> {target} ({b}/ holds doors side by side, not on each other)")
    assert not upward, "imports against the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycles_between_modules():
    edges = _imports()
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                return stack + [node, nxt]
            if nxt not in state and (cycle := visit(nxt, stack + [node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start, [])):
            raise AssertionError("import cycle: " + " -> ".join(cycle))
