"""PreferenceDataModule: domains -> capped pair splits -> tokenized (cached on disk) -> batches.

Each batch (`rm_lab.data.batch.PairBatch`) holds the chosen and rejected texts of its pairs in
one padded tensor of 2 x batch rows (chosen first), so a method scores both in one backbone
forward pass. Methods use it through the `PairData` protocol (rm_lab/data/protocol.py).
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os

import datasets
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from rm_lab.data.batch import PairBatch, pair_batch
from rm_lab.data.domains.base import SPLITS, Domain
from rm_lab.data.loaders import GROUP_WINDOW, DomainSubset, eval_loader, seeded_loader
from rm_lab.data.pair_source import PairSource, check_caps, expand_domains  # noqa: F401 - their home before
from rm_lab.data.pair_tokens import CHECK_ROWS, SharedPrompt
from rm_lab.data.pairs import PAIR_FIELDS, Pair
from rm_lab.data.render import check_format, encode, encode_prompt

log = logging.getLogger(__name__)

TOKEN_FORMAT = "5"  # bump when tokenize_pairs() changes what it writes, so old caches are not reused
SHARED_ROWS = 2000  # pairs per chunk of the shared-prompt path (rm_lab/data/pair_tokens.py)
PARALLEL_ROWS = 4000  # a split with fewer pairs is tokenized in this process (workers cost more than they save)


def tokenize_pairs(batch: dict, tokenizer, input_format: str, max_length: int, domain_names: tuple[str, ...],
                   shared: SharedPrompt | None = None) -> dict:
    """A batch of pair rows -> token ids: (prompt, response) through `rm_lab.data.render.encode`
    in the attached input format; `prompt_input_ids` (routers) through `encode_prompt`: the
    prompt text as it is for pair, the prompt's turns with the template's generation prompt for
    chat. With `shared` (pair format, checked equal on the split's first pairs), each prompt is
    tokenized once for all three (rm_lab/data/pair_tokens.py). A plain function of its
    arguments, so worker processes can run it."""
    texts = (batch["prompt"], batch["chosen"], batch["rejected"])
    if shared is not None and all(isinstance(t, str) for column in texts for t in column):
        out = shared(*texts)
    else:
        out = {}
        for side in ("chosen", "rejected"):
            enc = encode(tokenizer, batch["prompt"], batch[side], input_format, max_length)
            out[f"{side}_input_ids"] = enc["input_ids"]
            if "token_type_ids" in enc:
                out[f"{side}_token_type_ids"] = enc["token_type_ids"]
        out["prompt_input_ids"] = encode_prompt(tokenizer, batch["prompt"], input_format, max_length)["input_ids"]
    index = {d: i for i, d in enumerate(domain_names)}
    out["domain_idx"] = [index[d] for d in batch["domain"]]
    out["length"] = [max(len(c), len(r)) for c, r in zip(out["chosen_input_ids"], out["rejected_input_ids"])]
    return out


def pair_table(pairs: list[Pair]) -> datasets.Dataset:
    """Pairs as an Arrow table, column by column (no per-row dicts)."""
    if not pairs:
        return datasets.Dataset.from_dict({k: [] for k in PAIR_FIELDS})
    return datasets.Dataset.from_dict({f: [getattr(p, f) for p in pairs] for f in PAIR_FIELDS})


_CHUNKS: tuple = ()  # (pairs, tokenize) of the split being tokenized, read by forked workers


def shared_chunk(start: int):
    """Token columns of SHARED_ROWS pairs from `start` (an Arrow table), in this process or a
    worker forked while `_CHUNKS` held the split."""
    import pyarrow as pa

    pairs, tokenize = _CHUNKS
    rows = pairs[start:start + SHARED_ROWS]
    out = tokenize({"prompt": [p.prompt for p in rows], "chosen": [p.chosen for p in rows],
                    "rejected": [p.rejected for p in rows], "domain": [p.domain for p in rows]})
    return pa.table({k: id_lists(v) if k.endswith("_ids") else pa.array(v, type=pa.int64()) for k, v in out.items()})


def chunk_tables(pairs: list[Pair], tokenize, processes: int | None):
    """`shared_chunk` over a split in order; with `processes` > 1 and a large split, in that many
    worker processes forked from this one (the pairs are not copied to them), each running the
    Rust tokenizer on one thread: the Python half of the work (joining, Arrow columns) then runs
    on every core too."""
    global _CHUNKS
    import multiprocessing

    starts = range(0, len(pairs), SHARED_ROWS)
    _CHUNKS = (pairs, tokenize)
    try:
        if (processes or 0) < 2 or len(pairs) < PARALLEL_ROWS or "fork" not in multiprocessing.get_all_start_methods():
            yield from map(shared_chunk, starts)
            return
        before = os.environ.get("TOKENIZERS_PARALLELISM")
        os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the workers' tokenizers: one thread each, no fork warning
        try:
            pool = multiprocessing.get_context("fork").Pool(processes)
        finally:
            if before is None:
                os.environ.pop("TOKENIZERS_PARALLELISM")
            else:
                os.environ["TOKENIZERS_PARALLELISM"] = before
        with pool:
            yield from pool.imap(shared_chunk, starts)
    finally:
        _CHUNKS = ()


def tokenize_shared(pairs: list[Pair], tokenize, path: str | None, processes: int | None = None) -> datasets.Dataset:
    """The table `datasets.map(tokenize)` gives (same columns, types and rows; `tokenize`: a
    `tokenize_pairs` with `shared` set), built SHARED_ROWS pairs at a time (`chunk_tables`) and
    appended to `path` (atomically; in memory without one): never the whole split's ids as
    Python lists (their memory is several times the Arrow file's)."""
    import pyarrow as pa
    from datasets.arrow_writer import ArrowWriter

    base = pair_table(pairs).data.table.drop_columns(["prompt", "chosen", "rejected"])
    tmp = f"{path}.{os.getpid()}.tmp" if path else None
    writer = ArrowWriter(path=tmp) if tmp else None
    chunks, start = [], 0
    for columns in chunk_tables(pairs, tokenize, processes):
        chunk = base.slice(start, columns.num_rows)
        start += columns.num_rows
        for name in columns.column_names:
            chunk = chunk.append_column(name, columns[name])
        if writer is not None:
            writer.write_table(chunk)
        else:
            chunks.append(chunk)
    if writer is None:
        return datasets.Dataset(datasets.table.InMemoryTable(pa.concat_tables(chunks)))
    writer.finalize()
    os.replace(tmp, path)
    return datasets.Dataset.from_file(path)


def id_lists(rows: list[list[int]]):
    """Lists of token ids as an Arrow list<int64> column, built from one flat array and its
    offsets (8x faster than `pyarrow.array` on the nested lists)."""
    from itertools import chain

    import numpy as np
    import pyarrow as pa

    offsets = np.zeros(len(rows) + 1, np.int32)
    np.cumsum(np.fromiter(map(len, rows), np.int32, count=len(rows)), out=offsets[1:])
    values = np.fromiter(chain.from_iterable(rows), np.int64, count=int(offsets[-1]))
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))


def column(table: datasets.Dataset, name: str) -> list:
    """A column as a Python list, read through Arrow at once (indices of a selection applied)
    rather than row by row: 0.01 s instead of 2 s for 140,000 lengths."""
    return table.with_format("arrow")[name].to_pylist()


def write_table(table: datasets.Dataset, path: str) -> datasets.Dataset:
    """`table` written to `path` (atomically) and read back memory-mapped."""
    from datasets.arrow_writer import ArrowWriter

    tmp = f"{path}.{os.getpid()}.tmp"
    writer = ArrowWriter(path=tmp)
    writer.write_table(table.flatten_indices().data.table if table._indices is not None else table.data.table)
    writer.finalize()
    os.replace(tmp, path)
    return datasets.Dataset.from_file(path)


class PreferenceDataModule(PairSource, pl.LightningDataModule):
    def __init__(self, domains: dict[str, Domain], name: str = "dataset",
                 max_pairs: dict | None = None, batch_size: int = 16, eval_batch_size: int = 32,
                 num_workers: int = 0, cache_dir: str | None = ".cache/rm_lab", path=None,
                 data_seed: int = 0, group_by_length: bool = True, group_window: int = GROUP_WINDOW,
                 pad_to_multiple_of: int | None = None, tokenize_processes: int | None = 2):
        pl.LightningDataModule.__init__(self)
        PairSource.__init__(self, domains, name, max_pairs, cache_dir, path, data_seed, tokenize_processes)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.group_by_length, self.group_window = group_by_length, group_window
        if pad_to_multiple_of is not None and (isinstance(pad_to_multiple_of, bool) or pad_to_multiple_of < 1):
            raise ValueError(f"dataset.pad_to_multiple_of must be null or an integer >= 1, got {pad_to_multiple_of!r}")
        self.pad_to_multiple_of = pad_to_multiple_of
        self.tokenized: dict[str, datasets.Dataset] = {}
        self.tokenizer = None
        self.max_length = None
        self.input_format = "pair"

    def figures(self) -> dict:
        return {}

    # -- tokens ----------------------------------------------------------------------------
    def attach_tokenizer(self, tokenizer, max_length: int, input_format: str = "pair") -> None:
        """The backbone's tokenizer, length limit and `model.input_format` (pair|chat, see
        rm_lab/data/render.py); a format the tokenizer cannot render fails here, before any work."""
        check_format(tokenizer, input_format)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.input_format = input_format
        self.tokenized = {}

    def _cache_file(self, split: str) -> str | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha1()
        template = (getattr(self.tokenizer, "chat_template", None) or "") if self.input_format == "chat" else ""
        for part in (TOKEN_FORMAT, self.tokenizer.name_or_path, type(self.tokenizer).__name__, str(self.max_length),
                     str(len(self.tokenizer)), self.tokenizer.truncation_side, self.input_format,
                     str(template), str(self.tokenizer.eos_token)):
            key.update(part.encode() + b"\0")
        for pair in self.pairs[split]:
            key.update(pair.id.encode())
            if pair.margin is not None:
                key.update(f"margin={pair.margin!r}".encode())
            if pair.attributes is not None:
                key.update(f"attributes={pair.attributes!r}".encode())
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        return str(self.cache_dir / f"tokens-{split}-{key.hexdigest()[:20]}.arrow")

    def setup(self, stage: str | None = None) -> None:
        """Each split tokenized once and cached under `cache_dir`, keyed by the tokenizer, the
        length limit, the input format and the split's pair ids; a cached split is read back
        memory-mapped, without building its table again. Pair format on a fast tokenizer: each
        prompt tokenized once for chosen, rejected and the prompt alone (`tokenize_shared`; checked
        equal to the whole calls on the split's first pairs); otherwise whole batched tokenizer
        calls. Either way a large split is tokenized in `tokenize_processes` worker processes."""
        self.load_pairs()
        if self.tokenizer is None:
            raise RuntimeError("attach_tokenizer() must be called before setup()")
        shared = None
        for split in SPLITS:
            if split in self.tokenized:
                continue
            cache = self._cache_file(split)
            if cache is not None and os.path.exists(cache):
                self.tokenized[split] = datasets.Dataset.from_file(cache)
                continue
            pairs = self.pairs[split]
            shared = shared or SharedPrompt.of(self.tokenizer, self.max_length, self.input_format)
            head = pairs[:CHECK_ROWS]
            exact = shared is not None and shared.matches(self.tokenizer, [p.prompt for p in head],
                                                          [p.chosen for p in head], [p.rejected for p in head],
                                                          self.max_length)
            if shared is not None and head and not exact:
                log.info("%s: the prompt tokenized once does not give the tokens of whole (prompt, response) "
                         "calls for this tokenizer; tokenizing each pair whole", split)
            tokenize = functools.partial(tokenize_pairs, tokenizer=self.tokenizer, input_format=self.input_format,
                                         max_length=self.max_length, domain_names=tuple(self.domain_names),
                                         shared=shared if exact else None)
            if exact:
                self.tokenized[split] = tokenize_shared(pairs, tokenize, cache, self.tokenize_processes)
                continue
            parallel = (self.tokenize_processes or 0) > 1 and len(pairs) >= PARALLEL_ROWS
            table = pair_table(pairs).map(tokenize, batched=True, remove_columns=["prompt", "chosen", "rejected"],
                                          num_proc=self.tokenize_processes if parallel else None,
                                          load_from_cache_file=False, keep_in_memory=True,
                                          desc=f"tokenizing {split}")
            self.tokenized[split] = write_table(table, cache) if cache is not None else table

    def sequences(self, split: str) -> tuple[list[list[int]], list[list[int]] | None]:
        """A split's token ids: its chosen sequences, then its rejected ones (and token types)."""
        table = self.tokenized[split]
        seqs = column(table, "chosen_input_ids") + column(table, "rejected_input_ids")
        if "chosen_token_type_ids" in table.column_names:
            return seqs, column(table, "chosen_token_type_ids") + column(table, "rejected_token_type_ids")
        return seqs, None

    def pair_domains(self, split: str) -> torch.Tensor:
        """The gold domain index of each pair of a split, in split order."""
        return torch.tensor(column(self.tokenized[split], "domain_idx"), dtype=torch.long)

    def pair_ids(self, split: str) -> list[str]:
        return column(self.tokenized[split], "id")

    def subset(self, domains: list[str]) -> DomainSubset:
        wanted = {self.domain_names.index(d) for d in domains}

        def rows(split: str) -> datasets.Dataset:
            table = self.tokenized[split]
            return table.select([i for i, d in enumerate(column(table, "domain_idx")) if d in wanted])

        return DomainSubset(rows("train"), rows("validation"), self.batch_size, self.eval_batch_size,
                            self.collate, self.num_workers, self.row_lengths if self.group_by_length else None,
                            self.group_window)

    @staticmethod
    def row_lengths(rows: datasets.Dataset) -> list[int]:
        """Each pair's length in tokens (its longer text): what length grouping sorts by."""
        return column(rows, "length") if "length" in rows.column_names else [0] * len(rows)  # an empty split has no columns

    def _lengths(self, split: str) -> list[int] | None:
        return self.row_lengths(self.tokenized[split]) if self.group_by_length else None

    def collate(self, rows: list[dict]) -> PairBatch:
        """input_ids/attention_mask: chosen rows then rejected rows (2 x batch); prompt_*: the
        prompts alone (for routers); domain: the gold domain index of each pair; margin: each
        pair's `Pair.margin` (NaN where it has none), when some pair of the batch has one."""
        types = "chosen_token_type_ids" in rows[0]
        return pair_batch([r["chosen_input_ids"] for r in rows], [r["rejected_input_ids"] for r in rows],
                          [r["prompt_input_ids"] for r in rows], self.tokenizer.pad_token_id,
                          [r["domain_idx"] for r in rows], [r["id"] for r in rows],
                          [r["chosen_token_type_ids"] for r in rows] if types else None,
                          [r["rejected_token_type_ids"] for r in rows] if types else None,
                          [r.get("margin") for r in rows], pad_to_multiple_of=self.pad_to_multiple_of,
                          attributes=[r.get("attributes") for r in rows])

    def train_dataloader(self) -> DataLoader:
        return seeded_loader(self.tokenized["train"], self.batch_size, True, self.collate, self.num_workers,
                             lengths=self._lengths("train"), window=self.group_window)

    def val_dataloader(self) -> DataLoader:
        return eval_loader(self.tokenized["validation"], self.eval_batch_size, self.collate, self.num_workers,
                           lengths=self._lengths("validation"))

    def test_dataloader(self) -> DataLoader:
        return eval_loader(self.tokenized["test"], self.eval_batch_size, self.collate, self.num_workers,
                           lengths=self._lengths("test"))
