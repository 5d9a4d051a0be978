"""The wheel ships the whole package: every module, the Hydra config tree (top-level conf/ in the
source, rm_lab/conf in the wheel) and the bundled samples; installed on its own it trains a run
from a folder outside the source tree."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# Not copied into the build: the source tree is what the wheel is built from; outputs, caches and
# the tests are not (the build writes build/ and *.egg-info next to pyproject.toml, so it runs on a copy).
_SKIP_TOP = {".git", ".venv", ".cache", ".pytest_cache", ".ruff_cache", "build", "dist", "multirun",
             "runs", "reports", "wandb", "tests"}


def _source_files(folder: Path, suffix: str | None = None) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and (suffix is None or p.suffix == suffix))


def _copy_ignore(folder: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
    if Path(folder).resolve() == ROOT:
        skip |= _SKIP_TOP & set(names)
    return skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_copy_ignore)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp / "dist")], cwd=src, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (built,) = (tmp / "dist").glob("rm_lab-*.whl")
    return built


def test_wheel_ships_modules_config_tree_and_samples(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f"rm_lab/{p.relative_to(ROOT / 'rm_lab').as_posix()}"
               for p in _source_files(ROOT / "rm_lab", ".py")]
    missing = [n for n in missing if n not in names]
    assert not missing, f"modules missing from the wheel (add the subpackage to pyproject.toml): {missing}"

    conf = ROOT / "conf"
    assert "rm_lab/conf/config.yaml" in names
    groups = sorted(p for p in conf.rglob("*") if p.is_dir() and "__pycache__" not in p.parts)
    assert {g.relative_to(conf).as_posix() for g in groups} >= {"dataset", "model", "method", "hydra/launcher"}
    for group in groups:
        prefix = f"rm_lab/conf/{group.relative_to(conf).as_posix()}/"
        assert any(n.startswith(prefix) for n in names), f"conf group {prefix} missing from the wheel"
    yamls = [f"rm_lab/conf/{p.relative_to(conf).as_posix()}" for p in _source_files(conf, ".yaml")]
    assert not [n for n in yamls if n not in names], "YAML files missing from the wheel"

    samples = ROOT / "rm_lab" / "data" / "samples"
    expected = [f"rm_lab/data/samples/{p.relative_to(samples).as_posix()}" for p in _source_files(samples)]
    assert expected and not [n for n in expected if n not in names], "bundled samples missing from the wheel"


def test_installed_wheel_trains_from_outside_the_source_tree(wheel, tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site),
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "WANDB_SILENT": "true",
           "RM_LAB_CACHE": str(tmp_path / "cache")}

    where = subprocess.run([sys.executable, "-c", "import rm_lab, rm_lab.core.config; print(rm_lab.__file__); "
                            "print(rm_lab.core.config.CONF_DIR)"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr[-3000:]
    package_file, conf_dir = (Path(line).resolve() for line in where.stdout.split())
    assert package_file == (site / "rm_lab" / "__init__.py").resolve()
    assert conf_dir == (site / "rm_lab" / "conf").resolve()

    proc = subprocess.run(
        [sys.executable, "-m", "rm_lab", "model=tiny-deberta", "dataset.max_pairs.train=8",
         "dataset.max_pairs.test=4", "dataset.batch_size=4", "logger=csv",
         f"paths.run_root={tmp_path / 'runs'}", f"paths.cache_dir={tmp_path / 'cache'}"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (results_file,) = (tmp_path / "runs").rglob("results.json")
    results = json.loads(results_file.read_text())
    assert results["status"] == "completed"
    assert results["model"] == "tiny-deberta" and results["accuracy"]["average"] is not None
    hydra_cfg = (results_file.parent / ".hydra" / "hydra.yaml").read_text()
    assert str((site / "rm_lab" / "conf").resolve()) in hydra_cfg  # composed from the installed config tree
