"""python -m rm_lab.serve: OpenRLHF's remote reward protocol, tested with a real HTTP client
(httpx) against a running server on 127.0.0.1, concurrent requests included."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rlhf_runs import exported, held_out_pairs, trained

import rm_lab
from rm_lab.inference.serve import RequestError, parse_request

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


# -- the request's checks -------------------------------------------------------------------------
@pytest.mark.parametrize("body, chat, status, reason", [
    ([1], True, 422, "JSON object"),
    ({"prompts": []}, True, 422, 'missing "query"'),
    ({"query": 5}, True, 422, '"query" must be a list of strings, got int'),
    ({"query": ["a", 3]}, True, 422, '"query"[1] must be a string'),
    ({"query": ["a"], "prompts": ["p", "q"]}, True, 422, "1 queries but 2 prompts"),
    ({"query": ["a"] * 9}, True, 413, "at most 8"),
    ({"query": ["p: a"]}, False, 422, 'send "prompts"'),
    ({"query": ["p: a", "x"], "prompts": ["p:", "p:"]}, False, 422, "query 1 does not start with its prompt"),
])
def test_bad_requests_are_refused_with_the_reason(body, chat, status, reason):
    with pytest.raises(RequestError) as err:
        parse_request(body, chat, max_queries=8)
    assert err.value.status == status and reason in err.value.reason


def test_good_requests_parse():
    assert parse_request({"query": ["p: a"], "prompts": ["p:"], "labels": [None]}, False) == (["p: a"], ["p:"])
    assert parse_request({"query": "whole text"}, True) == (["whole text"], None)
    assert parse_request({"query": []}, True) == ([], None)


# -- a running server ------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(path: Path, *options: str, timeout: float = 240.0):
    """`python -m rm_lab.serve PATH --port P OPTIONS` running; yields (base url, the line saying what it serves)."""
    port = _free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"rm_lab_serve_{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rm_lab.serve", str(path), "--port", str(port), *options],
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, f"the server exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no answer from {base}/health: {log.read_text()[-3000:]}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.5)
        yield base, next(line for line in log.read_text().splitlines() if line.startswith("serving "))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.unlink(missing_ok=True)


def _post(base: str, body, **kwargs) -> httpx.Response:
    return httpx.post(f"{base}/get_reward", json=body, timeout=120, **kwargs)


@pytest.mark.slow
def test_a_pair_run_served_with_a_key_answers_openrlhf_and_refuses_bad_requests(tmp_path_factory):
    run_dir = trained(tmp_path_factory, "baseline")
    pairs = held_out_pairs(run_dir)
    prompts = [p.prompt for p in pairs for _ in (0, 1)]
    responses = [r for p in pairs for r in (p.chosen, p.rejected)]
    expected = rm_lab.reward_function(run_dir)(prompts=prompts, completions=responses)
    key = {"Authorization": "Bearer s3cret"}
    with serving(run_dir, "--api-key", "s3cret", "--max-queries", "100", "--max-bytes", "400000") as (base, first):
        assert f"at {base}/get_reward (API key required)" in first  # 127.0.0.1 by default
        assert httpx.get(f"{base}/health").json() == {"status": "ok", "method": "baseline", "backbone": "tiny-deberta",
                                                      "input_format": "pair", "kind": "run"}
        body = {"query": [p + r for p, r in zip(prompts, responses)], "prompts": prompts, "labels": [None] * len(prompts)}
        answer = _post(base, body, headers=key)
        assert answer.status_code == 200, answer.text
        assert answer.json()["rewards"] == pytest.approx(expected, abs=1e-4)
        assert answer.json()["scores"] == answer.json()["rewards"]
        assert _post(base, body, headers={"X-API-Key": "s3cret"}).status_code == 200

        # concurrent requests, each answered with its own rewards
        def one(i: int) -> tuple[int, list[float]]:
            part = slice(i, i + 5)
            reply = _post(base, {"query": body["query"][part], "prompts": prompts[part]}, headers=key)
            return i, reply.json()["rewards"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            for i, rewards in pool.map(one, range(0, len(prompts), 3)):
                assert rewards == pytest.approx(expected[i:i + 5], abs=1e-4)

        # bad requests: a 4xx with the reason, and the server goes on serving
        assert _post(base, body).status_code == 401 and "API key" in _post(base, body).json()["detail"]
        assert _post(base, body, headers={"Authorization": "Bearer nope"}).status_code == 401
        raw = httpx.post(f"{base}/get_reward", content=b"{not json", headers=key, timeout=60)
        assert raw.status_code == 400 and "not JSON" in raw.json()["detail"]
        assert _post(base, {"query": "x" * 10}, headers=key).status_code == 422  # pair format: prompts needed
        wrong = _post(base, {"query": ["abc"], "prompts": ["xyz"]}, headers=key)
        assert wrong.status_code == 422 and "does not start with its prompt" in wrong.json()["detail"]
        many = _post(base, {"query": ["a"] * 101, "prompts": [""] * 101}, headers=key)
        assert many.status_code == 413 and "at most 100" in many.json()["detail"]
        big = _post(base, {"query": ["a" * 500_000], "prompts": [""]}, headers=key)
        assert big.status_code == 413 and "400000 bytes" in big.json()["detail"]
        assert httpx.get(f"{base}/health").status_code == 200
        assert _post(base, {"query": body["query"][:2], "prompts": prompts[:2]}, headers=key).json()["rewards"] == \
            pytest.approx(expected[:2], abs=1e-4)


@pytest.mark.slow
def test_a_chat_export_served_reads_each_query_as_a_whole(tmp_path_factory):
    from transformers import AutoTokenizer

    from rm_lab.data.render import chat_text, to_messages

    run_dir, out = trained(tmp_path_factory, "chat"), exported(tmp_path_factory, "chat")
    pairs = held_out_pairs(run_dir, "hh_rlhf")
    prompts = [p.prompt for p in pairs for _ in (0, 1)]
    responses = [r for p in pairs for r in (p.chosen, p.rejected)]
    scorer = rm_lab.load_reward_model(run_dir, progress=False)
    scorer.mixed_precision = False
    expected = scorer.score_responses([{"prompt": p, "response": r} for p, r in zip(prompts, responses)])
    tok = AutoTokenizer.from_pretrained(out)
    # what an OpenRLHF policy with this template decodes: the conversation, its EOS, maybe a newline after
    queries = [tok.apply_chat_template(to_messages(p) + [{"role": "assistant", "content": r}], tokenize=False)
               + ("\n" if i % 2 else "") for i, (p, r) in enumerate(zip(prompts, responses))]
    with serving(out) as (base, first):
        assert "(chat format)" in first and "API key" not in first
        assert httpx.get(f"{base}/health").json()["kind"] == "transformers export"
        answer = _post(base, {"query": queries})
        assert answer.status_code == 200, answer.text
        assert answer.json()["rewards"] == pytest.approx(expected, abs=1e-4)
        with_prompts = _post(base, {"query": queries, "prompts": [chat_text(tok, p) for p in prompts]})
        assert with_prompts.json()["scores"] == pytest.approx(expected, abs=1e-4)
        assert json.loads(_post(base, {"query": []}).text) == {"rewards": [], "scores": []}


@pytest.mark.slow  # starts python -m rm_lab.serve in a subprocess
def test_without_the_server_extra_the_command_says_what_to_install(tmp_path):
    code = ("import sys, builtins; real = builtins.__import__\n"
            "def fake(name, *a, **k):\n"
            "    if name == 'uvicorn': raise ImportError('No module named uvicorn')\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = fake\n"
            "from rm_lab.cli.serve import main; sys.exit(main([sys.argv[1]]))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "pip install 'rm_lab[serve]'" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "rm_lab.serve", str(tmp_path / "nowhere")], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    probe = ("import sys; from rm_lab.cli.serve import main; "  # a wrong path is said before torch loads
             "print(main([sys.argv[1]]), 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "nowhere")], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.split() == ["2", "False"], proc.stdout + proc.stderr[-2000:]


def test_a_port_out_of_range_or_taken_is_said_before_the_model_loads(tmp_path, capsys):
    from rm_lab.cli.serve import main

    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path), "--port", "99999"])
    assert stop.value.code == 2
    assert "argument --port: must be a port number 0-65535, got '99999'" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main([str(tmp_path), "--port", str(port)]) == 2  # tmp_path holds no run: the port is said first
    err = capsys.readouterr().err
    assert err.startswith(f"python -m rm_lab.serve: cannot listen on 127.0.0.1:{port}: ") and "--port" in err, err


def test_a_device_this_machine_lacks_is_said_before_weights_load():
    import torch

    from rm_lab.inference.scorer import scoring_device

    assert scoring_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="is not a device torch knows"):
        scoring_device("cdua")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="shows no CUDA GPU"):
            scoring_device("cuda:1")
    else:
        with pytest.raises(ValueError, match="CUDA GPU"):
            scoring_device(f"cuda:{torch.cuda.device_count()}")
