"""An export's model card: the run's full recipe, and a snippet per consumer (transformers, TRL,
OpenRLHF, the reward server, rm_lab) that runs as written once its placeholder is the folder."""
from __future__ import annotations

import ast
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from rlhf_runs import exported, trained

import rm_lab
from rm_lab.inference.model_card import EXAMPLE_PROMPT, EXAMPLE_RESPONSES, PLACEHOLDER, PORT

TESTS = Path(__file__).parent
BLOCK = re.compile(r"```(python|bash)\n(.*?)```", re.S)
# OpenRLHF is not installed here: its snippet imports `openrlhf.models`, answered by the copied steps
OPENRLHF_STUB = "from openrlhf_steps import get_llm_for_sequence_regression  # noqa: F401\n"


def _snippets(card: str) -> dict[str, tuple[str, str]]:
    """{section title: (language, code)} of the card's code blocks."""
    out = {}
    for section in card.split("\n### ")[1:]:
        found = BLOCK.search(section)
        if found:
            out[section.splitlines()[0]] = (found.group(1), found.group(2))
    return out


def _env(tmp_path: Path) -> dict:
    stub = tmp_path / "stub" / "openrlhf"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "__init__.py").write_text("")
    (stub / "models.py").write_text(OPENRLHF_STUB)
    paths = [str(tmp_path / "stub"), str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


def _run_python(code: str, tmp_path: Path) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env=_env(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def _run_bash(code: str, tmp_path: Path) -> str:
    """The server snippet on a free port: it starts the server in the background, waits for it and
    curls it; the server's process group is ended afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = code.replace(f":{PORT}", f":{port}").replace(f"--port {PORT}", f"--port {port}")
    out, err = tmp_path / "bash.out", tmp_path / "bash.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:  # files: the background server keeps them open
        proc = subprocess.Popen(["bash", "-c", code], stdout=stdout, stderr=stderr, cwd=tmp_path, env=_env(tmp_path),
                                start_new_session=True)
    try:
        proc.wait(timeout=300)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the server the snippet started in the background
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, err.read_text()[-3000:]
    return out.read_text().strip().splitlines()[-1]


def _expected(run_dir: Path, chat: bool) -> dict:
    """The run's rewards for the card's examples, as each snippet asks for them."""
    scorer = rm_lab.load_reward_model(run_dir, progress=False)
    scorer.mixed_precision = False
    user = [{"role": "user", "content": EXAMPLE_PROMPT}]
    conversational = scorer.score_responses([{"prompt": user, "response": r} for r in EXAMPLE_RESPONSES])
    plain = scorer.score_responses([{"prompt": EXAMPLE_PROMPT, "response": r} for r in EXAMPLE_RESPONSES])
    joined = scorer.score_responses([{"prompt": EXAMPLE_PROMPT, "response": " " + r} for r in EXAMPLE_RESPONSES])
    return {"transformers": conversational[0] if chat else plain[0], "trl": conversational,
            "server": conversational if chat else joined, "rm_lab": plain, "openrlhf": conversational[0] if chat
            else joined[0]}


@pytest.mark.slow
@pytest.mark.parametrize("name, fmt", [("chat", "auto"), ("pair_llama", "auto"), ("bert", "auto"), ("rodos", "auto")])
def test_every_snippet_of_the_card_runs_and_gives_the_runs_rewards(tmp_path_factory, tmp_path, name, fmt):
    run_dir, out = trained(tmp_path_factory, name), exported(tmp_path_factory, name, fmt)
    card = (out / "README.md").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    config = results["config"]
    chat = config["model"]["input_format"] == "chat"

    # the recipe
    for row in (f"| learning rate | {config['method']['lr']} (`method.lr`)", f"| epochs | {config['trainer']['max_epochs']} |",
                f"| batch size | {config['dataset']['batch_size']} pairs |", f"max length {config['model']['max_length']} tokens",
                f"| seed | {results['seed']} |", f"trained with {results['versions']['rm_lab']}, exported with",
                f"(`method={results['method']}`)", f"`dataset={config['dataset']['name']}`"):
        assert row in card, row
    for domain, counts in results["data"].items():
        pairs = counts["pairs"]
        if any(pairs.values()):
            assert f"| {domain} | {pairs['train']} | {pairs['validation']} | {pairs['test']} |" in card

    snippets = _snippets(card)
    expected = _expected(run_dir, chat)
    transformers = manifest["format"] == "transformers"
    decoder = bool((manifest.get("openrlhf") or {}).get("value_head_prefix"))
    assert set(snippets) == ({"transformers"} if transformers else {"rm_lab"}) | {
        "TRL (GRPOTrainer, RLOOTrainer)", "A reward server (OpenRLHF's remote reward protocol)"} | (
        {"OpenRLHF"} if decoder else set())
    for title, (language, code) in snippets.items():
        assert PLACEHOLDER in code, title
        code = code.replace(PLACEHOLDER, str(out))
        printed = _run_bash(code, tmp_path) if language == "bash" else _run_python(code, tmp_path)
        if title == "transformers":
            assert float(printed) == pytest.approx(expected["transformers"], abs=1e-4)
        elif title.startswith("TRL"):
            assert json.loads(printed) == pytest.approx(expected["trl"], abs=1e-4)
        elif title == "rm_lab":
            assert [list(pair) for pair in ast.literal_eval(printed)] == [pytest.approx(expected["rm_lab"], abs=1e-4)]
        elif title == "OpenRLHF":  # bf16, normalised with the training rewards' mean and std
            stats = manifest["openrlhf"]["reward_stats"]
            normalised = (expected["openrlhf"] - stats["mean"]) / stats["std"]
            assert float(printed) == pytest.approx(normalised, abs=0.05 / min(1.0, stats["std"]))
        else:
            answer = json.loads(printed)
            assert answer["rewards"] == answer["scores"] == pytest.approx(expected["server"], abs=1e-4)
