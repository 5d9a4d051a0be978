"""An unreachable hub fails within seconds and names the offline alternatives."""
from __future__ import annotations

import socket
import time

import pytest

from rm_lab.core.hub import HubUnavailable, hub_reachable
from rm_lab.data.domains.hh_rlhf import HHRLHF
from rm_lab.models.backbone import Backbone


@pytest.fixture
def closed_hub(monkeypatch):
    """Point the hub endpoint at a local port where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(flag, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    hub_reachable.cache_clear()
    yield
    hub_reachable.cache_clear()


def test_unreachable_hub_dataset_fails_fast(closed_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    start = time.perf_counter()
    with pytest.raises(HubUnavailable) as err:
        HHRLHF(hub={"id": "Anthropic/hh-rlhf", "splits": {"train": "train", "test": "test"}}).load()
    assert time.perf_counter() - start < 10
    assert "five_domains_sample" in str(err.value) and ".path=" in str(err.value)


def test_unreachable_hub_model_fails_fast(closed_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    backbone = Backbone(name="deberta-v3-base", source="microsoft/deberta-v3-base", pretrained=True)
    start = time.perf_counter()
    with pytest.raises(HubUnavailable) as err:
        backbone.build()
    assert time.perf_counter() - start < 10
    assert "model=minilm-l6" in str(err.value) and "pretrained=false" in str(err.value)
