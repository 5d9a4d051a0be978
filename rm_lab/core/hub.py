"""Fail fast when the Hugging Face hub cannot be reached.

Libraries retry hub requests for a long time on a closed network. Before any hub call we
open one TCP connection to the endpoint with a short timeout and, if that fails, raise
`HubUnavailable` naming the offline alternatives. `HF_HUB_OFFLINE=1` skips the probe and
lets the libraries read their local caches.
"""
from __future__ import annotations

import concurrent.futures
import functools
import os
import socket
from urllib.parse import urlparse


class HubUnavailable(RuntimeError):
    """The hub is needed but cannot be reached."""


def offline_mode() -> bool:
    flags = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    return any(os.environ.get(f, "").strip().lower() in {"1", "true", "yes"} for f in flags)


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme != "http" else 80)

    def probe() -> bool:
        with socket.create_connection((host, port), timeout=timeout):
            return True

    # The name lookup is not covered by the socket timeout, so bound the whole probe.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(probe).result(timeout=timeout + 1)
    except (OSError, concurrent.futures.TimeoutError):
        return False
    finally:
        pool.shutdown(wait=False)


def require_hub(what: str, instead: str) -> None:
    """Raise `HubUnavailable` unless the hub answers (or offline caches are requested)."""
    if offline_mode():
        return
    if not hub_reachable():
        raise HubUnavailable(
            f"Cannot reach the Hugging Face hub to load {what}. Instead: {instead}. "
            "If the files are already in your Hugging Face cache, set HF_HUB_OFFLINE=1."
        )


def in_local_cache(repo_id: str, repo_type: str = "model") -> bool:
    """Whether the local Hugging Face caches hold `repo_id` (no network): a model with its
    config.json in the hub cache; a dataset in the hub cache or in `datasets`' own cache."""
    from pathlib import Path

    from huggingface_hub import constants, try_to_load_from_cache

    if repo_type == "model":
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    hub_copy = Path(constants.HF_HUB_CACHE) / f"datasets--{repo_id.replace('/', '--')}" / "snapshots"
    datasets_home = Path(os.environ.get("HF_DATASETS_CACHE") or Path(constants.HF_HOME) / "datasets")
    prepared = datasets_home / repo_id.replace("/", "___")
    return (hub_copy.is_dir() and any(hub_copy.iterdir())) or (prepared.is_dir() and any(prepared.iterdir()))
