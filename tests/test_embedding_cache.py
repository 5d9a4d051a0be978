"""The embedding cache (keys, files, reuse) and the batched embedder."""
from __future__ import annotations

import torch
from hydra.utils import instantiate

from rm_lab.data.embedding_cache import EmbeddingCache, sequence_key
from rm_lab.models.embedder import Embedder


def test_cache_round_trip_and_file_key(tmp_path):
    cache = EmbeddingCache(tmp_path, "m-123", "ds", 64, "mean")
    keys = [sequence_key([1, 2, 3]), sequence_key([1, 2, 3], [0, 1, 1]), sequence_key([4])]
    assert len(set(keys)) == 3  # token types are part of the key
    assert cache.missing(keys + keys[:1]) == keys
    vectors = torch.arange(6.0).view(3, 2)
    cache.add(keys, vectors)
    cache.save()
    again = EmbeddingCache(tmp_path, "m-123", "ds", 64, "mean")
    assert again.loaded_from_disk == 3 and again.missing(keys) == []
    assert torch.equal(again.get([keys[2], keys[0]]), vectors[[2, 0]])
    for other in (EmbeddingCache(tmp_path, "m-123", "ds", 64, "last"),
                  EmbeddingCache(tmp_path, "m-123", "ds", 32, "mean"),
                  EmbeddingCache(tmp_path, "m-999", "ds", 64, "mean"),
                  EmbeddingCache(tmp_path, "m-123", "other", 64, "mean")):
        assert other.path != cache.path and len(other) == 0


def test_embedder_is_independent_of_batching_and_seed(make_cfg):
    backbone = instantiate(make_cfg().model, _convert_="all")
    seqs = [[101, 2023, 2003, 102], [101, 7592, 102], [101, 2307, 2154, 2000, 2017, 102]]
    one = Embedder(backbone, batch_size=1, progress=False).embed(seqs)
    torch.manual_seed(123)  # the global seed must not change a random-weight embedder
    three = Embedder(backbone, batch_size=3, progress=False).embed(seqs)
    assert one.shape == (3, backbone.hidden_size)
    assert torch.allclose(one, three, atol=1e-5)
    assert not torch.allclose(one[0], one[1])
    assert Embedder(backbone, init_seed=1).key != Embedder(backbone, init_seed=0).key


def test_packaged_smollm2_resolves_to_its_gguf_file():
    from rm_lab.models.backbone import load_args, resolve_source

    path, local = resolve_source("packaged:smollm2")
    folder, extra = load_args(path)
    assert local and path.endswith(".gguf")
    assert extra == {"gguf_file": path.rsplit("/", 1)[1]} and path.startswith(folder)
    assert load_args("/models/minilm") == ("/models/minilm", {})
