"""Honest tiers: a test that trains end to end is marked `slow`, so `make test-fast` (-m "not slow")
stays fast. The check reads tests/*.py with ast: a test function that is not marked slow (by
itself, its class or its module's `pytestmark`) may not call the runner, directly or through the
module's helpers and fixtures (conftest.py's included):

  run(...)              `run` imported from rm_lab.runner.run (or another entry point that trains:
                        RUNNERS), unless the test expects it to refuse (the call sits inside
                        `with pytest.raises(...)`: it fails before any training, and the fast tier
                        keeps such refusal checks)
  subprocess.*(...)     with a `"-m", "rm_lab..."` command built in the same chain of calls
  <anything>.fit(...)   a Lightning (or any) fit
  Trainer(...)          a Lightning trainer
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# entry points that train end to end: module -> functions
RUNNERS = {"rm_lab.runner.run": {"run"}, "rm_lab.cli.add_domain": {"main"},
           "rm_lab.studies.embedding.run": {"run_study"}, "rm_lab.studies.embedding.sweep": {"run_sweep"}}
SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output"}


def _is_slow_mark(node: ast.AST) -> bool:
    """pytest.mark.slow, pytest.mark.slow(...), or a list/tuple holding one."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return any(_is_slow_mark(e) for e in node.elts)
    if isinstance(node, ast.Call):
        node = node.func
    return isinstance(node, ast.Attribute) and node.attr == "slow" and "mark" in ast.unparse(node.value)


def _is_fixture(node: ast.FunctionDef) -> bool:
    return any("fixture" in ast.unparse(d) for d in node.decorator_list)


def _module_is_slow(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                for t in node.targets):
            return _is_slow_mark(node.value)
    return False


@dataclass
class Facts:
    """What one function does by itself, and the functions (helpers, fixtures) it reaches."""

    direct: set[str] = field(default_factory=set)   # "run(", ".fit(", "Trainer(", "subprocess"
    rm_lab_command: bool = False                      # builds ["-m", "rm_lab..."]
    calls: set[str] = field(default_factory=set)     # names of module functions it calls
    fixtures: set[str] = field(default_factory=set)  # its arguments (fixture names)


def _runner_names(tree: ast.Module) -> dict[str, str]:
    """{local name: entry point} for the RUNNERS imported anywhere in the module (lazy imports too)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in RUNNERS:
            names.update((a.asname or a.name, a.name) for a in node.names if a.name in RUNNERS[node.module])
    return names


def _has_rm_lab_command(node: ast.AST) -> bool:
    for seq in ast.walk(node):
        if isinstance(seq, (ast.List, ast.Tuple)):
            values = [e.value if isinstance(e, ast.Constant) else None for e in seq.elts]
            if any(a == "-m" and isinstance(b, str) and b.split(".")[0] == "rm_lab"
                   for a, b in zip(values, values[1:])):
                return True
    return False


def _refusals(func: ast.FunctionDef) -> set[int]:
    """ids of the calls made inside `with pytest.raises(...)` blocks."""
    inside = set()
    for node in ast.walk(func):
        if isinstance(node, (ast.With, ast.AsyncWith)) and any(
                isinstance(i.context_expr, ast.Call) and ast.unparse(i.context_expr.func).endswith("raises")
                for i in node.items):
            inside.update(id(n) for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Call))
    return inside


def _facts(func: ast.FunctionDef, runner: dict[str, str]) -> Facts:
    facts = Facts(rm_lab_command=_has_rm_lab_command(func))
    facts.fixtures = {a.arg for a in func.args.args + func.args.kwonlyargs}
    refused = _refusals(func)
    for node in ast.walk(func):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name):
            facts.calls.add(f.id)
            if f.id in runner and id(node) not in refused:
                facts.direct.add(f"{runner[f.id]}(")
            if f.id == "Trainer":
                facts.direct.add("Trainer(")
        elif isinstance(f, ast.Attribute):
            if f.attr == "fit":
                facts.direct.add(".fit(")
            elif f.attr == "Trainer":
                facts.direct.add("Trainer(")
            elif f.attr in SUBPROCESS_CALLS and isinstance(f.value, ast.Name) and f.value.id == "subprocess":
                facts.direct.add("subprocess")
    return facts


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _tests(tree: ast.Module):
    """(name, node, marked slow by a decorator or its class) for every test function."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            yield node.name, node, any(_is_slow_mark(d) for d in node.decorator_list)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            class_slow = any(_is_slow_mark(d) for d in node.decorator_list)
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    yield (f"{node.name}.{item.name}", item,
                           class_slow or any(_is_slow_mark(d) for d in item.decorator_list))


def _reached(name: str, table: dict[str, Facts], fixtures: dict[str, Facts]) -> tuple[set[str], bool, list[str]]:
    """The triggers a function reaches through helpers and fixtures, whether an rm_lab command is
    built on the way, and the path to the first trigger (for the message)."""
    triggers: set[str] = set()
    command = False
    via: list[str] = []
    seen: set[str] = set()
    stack = [(name, [name])]
    while stack:
        current, path = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        facts = table.get(current) or fixtures.get(current)
        if facts is None:
            continue
        if facts.direct - triggers and not via:
            via = path
        triggers |= facts.direct
        command |= facts.rm_lab_command
        reach = {c for c in facts.calls if c in table} | {f for f in facts.fixtures if f in fixtures}
        stack.extend((n, [*path, n]) for n in sorted(reach))
    return triggers, command, via


def unmarked_runner_calls(source: str, conftest: str = "", module: str = "<test>") -> list[str]:
    """'module::test: what (via a -> b)' for each test not marked slow that calls the runner."""
    tree = ast.parse(source)
    if _module_is_slow(tree):
        return []
    runner = _runner_names(tree)
    table = {name: _facts(node, runner) for name, node in _functions(tree).items() if not _is_fixture(node)}
    fixtures: dict[str, Facts] = {}
    for src in (conftest, source):  # the module's own fixtures override conftest's
        if not src:
            continue
        sub = ast.parse(src)
        names = {**runner, **_runner_names(sub)}
        fixtures.update({n: _facts(node, names) for n, node in _functions(sub).items() if _is_fixture(node)})
        if src is conftest:
            table = {**{n: _facts(node, names) for n, node in _functions(sub).items()
                        if not _is_fixture(node)}, **table}
    found = []
    for name, node, slow in _tests(tree):
        if slow:
            continue
        table[name] = _facts(node, runner)
        triggers, command, via = _reached(name, table, fixtures)
        what = sorted(t for t in triggers if t != "subprocess")
        if "subprocess" in triggers and command:
            what.append("subprocess -m rm_lab")
        if what:
            found.append(f"{module}::{name}: {', '.join(what)} (via {' -> '.join(via)})")
    return found


def test_every_test_that_runs_the_runner_is_marked_slow():
    conftest = (TESTS / "conftest.py").read_text(encoding="utf-8")
    found = []
    for path in sorted(TESTS.glob("test_*.py")):
        found += unmarked_runner_calls(path.read_text(encoding="utf-8"), conftest, path.name)
    assert not found, ("tests that train end to end but are not marked slow (add @pytest.mark.slow, or "
                       "pytestmark = pytest.mark.slow for the module):\n" + "\n".join(found))


def test_the_check_sees_runs_through_helpers_fixtures_and_subprocesses():
    source = '''
import subprocess, sys
import pytest
import pytorch_lightning as pl
from rm_lab.runner.run import run

def _train(cfg):
    return run(cfg)

def _cmd():
    return [sys.executable, "-m", "rm_lab.score", "x"]

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return _train(None)

def test_direct():
    run(None)

def test_a_refusal():
    with pytest.raises(ValueError, match="before any work"):
        run(None)

def test_through_a_fixture(trained):
    assert trained

def test_a_cli_run():
    subprocess.run(_cmd(), check=True)

def test_a_lightning_fit():
    pl.Trainer(max_epochs=1).fit(None)

def test_python_c_is_not_a_run():
    subprocess.run([sys.executable, "-c", "print(1)"])

@pytest.mark.slow
def test_marked(trained):
    run(None)

class TestGroup:
    def test_in_a_class(self):
        _train(None)
'''
    found = unmarked_runner_calls(source, module="m")
    assert found == ["m::test_direct: run( (via test_direct)",
                     "m::test_through_a_fixture: run( (via test_through_a_fixture -> trained -> _train)",
                     "m::test_a_cli_run: subprocess -m rm_lab (via test_a_cli_run)",
                     "m::test_a_lightning_fit: .fit(, Trainer( (via test_a_lightning_fit)",
                     "m::TestGroup.test_in_a_class: run( (via TestGroup.test_in_a_class -> _train)"]
    assert unmarked_runner_calls("import pytest\npytestmark = pytest.mark.slow\n" + source) == []
    # a fixture in conftest.py counts as well
    conftest = "import pytest\nfrom rm_lab.runner.run import run\n@pytest.fixture\ndef done():\n    return run(None)\n"
    assert unmarked_runner_calls("def test_uses(done):\n    pass\n", conftest, "m") == [
        "m::test_uses: run( (via test_uses -> done)"]
