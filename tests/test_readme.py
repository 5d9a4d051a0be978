"""README.md's config-group table against conf/: every group and every choice, as typed.

The table is the one headed `| group | choices |`; in its choices column every `backticked`
word is a choice and nothing else is backticked. Groups are the folders of conf/ that hold yaml
files (hydra/launcher included), choices their yaml files; conf/_bases/ holds the bases that
choices extend, which are no group a user picks.
"""
from __future__ import annotations

import re
from pathlib import Path

from rm_lab.core.config import CONF_DIR

README = Path(__file__).resolve().parents[1] / "README.md"
BASES = "_bases"
HEADER = "| group | choices |"


def conf_groups(conf: Path = CONF_DIR) -> dict[str, list[str]]:
    """{group: sorted choices} for every folder of `conf` holding yaml files, outside conf/_bases."""
    groups: dict[str, list[str]] = {}
    for path in sorted(conf.rglob("*.yaml")):
        parts = path.relative_to(conf).parts
        if len(parts) > 1 and parts[0] != BASES:
            groups.setdefault("/".join(parts[:-1]), []).append(path.stem)
    return groups


def readme_groups(text: str) -> dict[str, list[str]]:
    """{group: choices in the order written} from the README's config-group table."""
    lines = text.splitlines()
    start = lines.index(HEADER)  # ValueError: the table is gone
    table: dict[str, list[str]] = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        group, choices = (cell.strip() for cell in line.strip().strip("|").split("|", 1))
        assert group not in table, f"README.md's config-group table has two rows for {group}"
        table[group] = re.findall(r"`([^`]*)`", choices)
    return table


def table_problems(readme: dict[str, list[str]], conf: dict[str, list[str]]) -> list[str]:
    problems = [f"group {g}: missing (conf/{g}/ has {', '.join(conf[g])})" for g in sorted(set(conf) - set(readme))]
    problems += [f"group {g}: listed, but conf/ has no such group" for g in sorted(set(readme) - set(conf))]
    for group in sorted(set(readme) & set(conf)):
        written, files = readme[group], set(conf[group])
        missing = sorted(files - set(written))
        extra = sorted(set(written) - files)
        twice = sorted({c for c in written if written.count(c) > 1})
        if missing:
            problems.append(f"group {group}: missing choices {', '.join(missing)}")
        if extra:
            problems.append(f"group {group}: choices with no conf/{group}/<choice>.yaml: {', '.join(extra)}")
        if twice:
            problems.append(f"group {group}: choices listed twice: {', '.join(twice)}")
    return problems


def test_readme_group_table_lists_every_group_and_choice_of_conf():
    problems = table_problems(readme_groups(README.read_text()), conf_groups())
    assert not problems, "README.md's config-group table is out of step with conf/:\n  " + "\n  ".join(problems)


def test_the_check_names_what_is_missing_or_extra():
    conf = {"model": ["a", "b"], "trainer": ["cpu"]}
    readme = {"model": ["a", "c", "a"], "logger": ["csv"]}
    assert table_problems(readme, conf) == [
        "group trainer: missing (conf/trainer/ has cpu)",
        "group logger: listed, but conf/ has no such group",
        "group model: missing choices b",
        "group model: choices with no conf/model/<choice>.yaml: c",
        "group model: choices listed twice: a",
    ]
    text = f"intro\n\n{HEADER}\n| --- | --- |\n| model | `a` (default), `deberta-v3-{{x,y}}` |\n\nafter `z`\n"
    assert readme_groups(text) == {"model": ["a", "deberta-v3-{x,y}"]}  # shorthand is no choice: reported extra


COMMAND = re.compile(r"python -m (rm_lab[\w.]*)")


def runnable(module: str) -> bool:
    """Whether `python -m module` runs: a module, or a package with a __main__."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None:
        return False
    return spec.submodule_search_locations is None or importlib.util.find_spec(module + ".__main__") is not None


def test_every_command_the_docs_name_runs():
    """`python -m rm_lab.X` in the README, the Makefile, conf/ and the package's docstrings names a
    module that exists: a command renamed or moved leaves no help text pointing at nothing."""
    root = README.parent
    files = [README, root / "Makefile", *sorted((root / "conf").rglob("*.yaml")), *sorted((root / "rm_lab").rglob("*.py"))]
    missing = sorted({f"{m.rstrip('.')} ({path.relative_to(root)})" for path in files
                      for m in COMMAND.findall(path.read_text(encoding="utf-8")) if not runnable(m.rstrip("."))})
    assert not missing, f"commands that do not exist: {missing}"
    assert not runnable("rm_lab.analysis_zoo") and runnable("rm_lab.analysis.zoo")  # the check tells them apart


def test_every_command_python_m_rm_lab_cli_lists_runs():
    from rm_lab.cli import COMMANDS

    assert [c for c in COMMANDS if not runnable(c.split()[0])] == []
