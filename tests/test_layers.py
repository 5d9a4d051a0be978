"""The import layers are one-way: lower layers never import higher ones, and the tools and
studies at the top depend on the builders and the results schema, not on each other."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rm_lab"

# lowest first; a module may import its own layer's modules and any lower layer
LAYERS = [
    {"__init__", "config", "io", "hub"},
    {"data"},
    {"models"},
    {"eval"},
    {"methods"},
    {"results"},
    {"build", "publish", "checkpoints", "scoring", "memory", "strategies"},
    {"train"},
    {"__main__", "add_domain", "param_table", "inference_compare", "embedding_study", "report", "analysis",
     "score", "export", "plan", "bench"},
]
TOOLS = LAYERS[-1]
# tools that use another tool on purpose: the base-model analysis reads runs with the report's loader
ALLOWED_BETWEEN_TOOLS: set[tuple[str, str]] = set()
# the package's public entry points, imported inside a function on first use (`import rm_lab` stays light)
LAZY_EXPORTS = {("__init__", "scoring")}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


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
            if a == b or (a, b) in LAZY_EXPORTS:
                continue
            if _layer(b) > _layer(a):
                upward.append(f"{module} -> {target}")
            elif a in TOOLS and b in TOOLS and (a, b) not in ALLOWED_BETWEEN_TOOLS:
                upward.append(f"{module} -> {target} (tools depend on builders, not on each other)")
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
