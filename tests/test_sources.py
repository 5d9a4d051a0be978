"""Local files are streamed row by row; a bad byte or a bad line costs only its own row."""
from __future__ import annotations

import gzip
import json

import pytest
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from rm_lab.core.config import compose
from rm_lab.data.domains.hh_rlhf import HHRLHF
from rm_lab.data.pairs import DropLog
from rm_lab.data.sources import read_file

ROW = {"prompt": "p", "chosen": "a", "rejected": "b"}


def _lines(*rows: bytes) -> bytes:
    return b"\n".join(rows) + b"\n"


def test_a_line_with_a_non_utf8_byte_is_dropped_and_the_rest_kept(tmp_path):
    good = json.dumps(ROW).encode()
    bad = json.dumps({**ROW, "prompt": "caf"}).encode().replace(b"caf", b"caf\xe9")  # latin-1 e-acute
    for name, opener in (("rows.jsonl", open), ("rows.jsonl.gz", gzip.open)):
        path = tmp_path / name
        with opener(path, "wb") as handle:
            handle.write(_lines(good, bad, b"{not json", good))
        drops = DropLog("d", "all")
        rows = list(read_file(path, drops))
        assert rows == [ROW, ROW]
        assert drops.to_dict() == {"invalid_encoding": 1, "invalid_json": 1}
        assert drops.examples["invalid_encoding"] == f"{name}:2"


def test_json_lines_are_read_lazily(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(_lines(json.dumps(ROW).encode(), b"\xff\xfe broken"))
    drops = DropLog("d", "all")
    rows = read_file(path, drops)
    assert next(rows) == ROW
    assert drops.to_dict() == {}  # the second line has not been read yet
    assert list(rows) == [] and drops.to_dict() == {"invalid_encoding": 1}


def test_a_json_list_file_still_reads(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([ROW, 3, ROW]), encoding="utf-8")
    drops = DropLog("d", "all")
    assert list(read_file(path, drops)) == [ROW, ROW]
    assert drops.to_dict() == {"not_an_object": 1}


# -- one way to point at a local file: the domain's `path` -----------------------------------------
def test_a_domain_reads_its_local_file_from_its_path(fixtures):
    cfg = compose(["dataset=shp", f"dataset.domains.shp.path={fixtures / 'shp.jsonl'}"])
    loaded = instantiate(cfg.dataset.domains.shp, _convert_="all").load()
    assert loaded.source == f"local {fixtures / 'shp.jsonl'}"
    assert sum(len(pairs) for pairs in loaded.pairs.values()) == 12


def test_dataset_path_names_the_domains_path(fixtures):
    cfg = compose(["dataset=shp", "dataset.path=/data/shp.jsonl"])
    with pytest.raises(InstantiationException, match=r"dataset.path is not read: .*dataset.domains.shp.path=/data/shp.jsonl"):
        instantiate(cfg.dataset, _convert_="all")
    assert HHRLHF(files=None).load().absent  # conf's `files: null` is fine


def test_per_split_files_keep_their_split_and_cut_validation_from_train(fixtures, tmp_path):
    lines = (fixtures / "shp.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "train.jsonl").write_text("".join(lines[:8]))
    (tmp_path / "test.jsonl").write_text("".join(lines[8:]))
    whole = instantiate(compose(["dataset=shp", f"dataset.domains.shp.path={fixtures / 'shp.jsonl'}"]).dataset.domains.shp,
                        _convert_="all").load()
    cfg = compose(["dataset=shp", f"+dataset.domains.shp.files={{train: {tmp_path / 'train.jsonl'}, "
                                  f"test: {tmp_path / 'test.jsonl'}}}", "dataset.domains.shp.hub=null"])
    loaded = instantiate(cfg.dataset.domains.shp, _convert_="all").load()
    test_ids = {p.id for p in instantiate(compose(["dataset=shp", f"dataset.domains.shp.path={tmp_path / 'test.jsonl'}"])
                                          .dataset.domains.shp, _convert_="all").load().pairs["test"]}
    assert {p.id for p in loaded.pairs["test"]} >= test_ids and len(loaded.pairs["test"]) < 12
    assert not {p.id for p in loaded.pairs["train"] + loaded.pairs["validation"]} & {p.id for p in loaded.pairs["test"]}
    assert sum(len(v) for v in loaded.pairs.values()) == sum(len(v) for v in whole.pairs.values())
    with pytest.raises(ValueError, match="not both"):
        HHRLHF(path="x.jsonl", files={"train": "a.jsonl"})
    with pytest.raises(ValueError, match="maps splits"):
        HHRLHF(files={"test": "a.jsonl"})
