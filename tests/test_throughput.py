"""What makes training and scoring fast, checked for what it must not change: length-grouped
batches (every pair once, random, resumable), longest-first evaluation, padding to a multiple,
dropout off, the epoch timer without validation, bf16 weights, the memory estimate with FSDP,
and the benchmark's arithmetic."""
from __future__ import annotations

import time

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader

from rm_lab.core.config import compose
from rm_lab.data.batch import pair_batch
from rm_lab.data.loaders import (
    LengthGroupedBatches,
    LongestFirst,
    ShardedGroupedRows,
    eval_loader,
    seeded_loader,
)
from rm_lab.eval.params import training_flops
from rm_lab.eval.timing import EpochTimer
from rm_lab.runner.build import build_backbone, build_data
from rm_lab.runner.memory import memory_plan, shards
from rm_lab.runner.preflight import CannotStart, Hub, preflight
from rm_lab.studies.throughput import matmul_peak, padded_batch_lengths, table_line


def _lengths(n: int = 500, seed: int = 0) -> list[int]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(5, 256, (n,), generator=g)).tolist()


def _padded(batches: list[list[int]], lengths: list[int]) -> int:
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def test_length_grouped_batches_serve_every_pair_once_with_less_padding():
    lengths = _lengths()
    grouped = LengthGroupedBatches(lengths, 16, torch.Generator().manual_seed(0), window=8).batches()
    flat = [i for b in grouped for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert len(grouped) == len(LengthGroupedBatches(lengths, 16, torch.Generator(), window=8))
    assert all(len(b) <= 16 for b in grouped)
    shuffled = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0)).tolist()
    random_batches = [shuffled[i:i + 16] for i in range(0, len(shuffled), 16)]
    assert _padded(grouped, lengths) < 0.75 * _padded(random_batches, lengths)


def test_length_grouping_stays_random_and_seeded():
    lengths = _lengths()
    first = LengthGroupedBatches(lengths, 16, torch.Generator().manual_seed(0)).batches()
    again = LengthGroupedBatches(lengths, 16, torch.Generator().manual_seed(0)).batches()
    other = LengthGroupedBatches(lengths, 16, torch.Generator().manual_seed(1)).batches()
    assert first == again
    assert first != other
    # batches do not come sorted by length: their order is shuffled
    longest = [max(lengths[i] for i in b) for b in first]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)
    # a second epoch of the same sampler draws a new order
    sampler = LengthGroupedBatches(lengths, 16, torch.Generator().manual_seed(0))
    assert list(sampler) != list(sampler)


@pytest.mark.parametrize("n", [500, 7, 48])
def test_processes_share_the_grouped_batches_of_one_seed(n):
    """Multi-process length grouping: two ranks built from the same seed split one epoch's grouped
    batches between them, all full and as many on each, every pair served, few repeated."""
    lengths = _lengths(n)
    single = LengthGroupedBatches(lengths, 16, torch.Generator().manual_seed(0), window=8).batches()
    ranks = [ShardedGroupedRows(lengths, 16, torch.Generator().manual_seed(0), window=8, num_replicas=2, rank=r)
             for r in range(2)]
    loaders = [DataLoader(list(range(n)), batch_size=16, sampler=rank) for rank in ranks]
    served = [[b.tolist() for b in loader] for loader in loaders]
    assert len(served[0]) == len(served[1]) == len(loaders[0]) == -(-len(single) // 2)
    assert all(len(b) == 16 for batches in served for b in batches)
    flat = [i for batches in served for b in batches for i in b]
    assert set(flat) == set(range(n))
    assert len(flat) - n < 2 * 16  # only the short batch's fill and one batch to even the ranks
    # the loaders cut the ranks' rows back into the single process's batches, taken in turn
    in_turn = [b for step in zip(*served) for b in step][:len(single)]
    for mine, one in zip(in_turn, single):
        assert mine[:len(one)] == one  # the short batch is filled at its end


def test_processes_keep_length_grouped_padding():
    lengths = _lengths()
    rank = ShardedGroupedRows(lengths, 16, torch.Generator().manual_seed(0), window=8, num_replicas=2, rank=0)
    batches = rank.batches()
    shuffled = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0)).tolist()
    random_batches = [shuffled[i:i + 16] for i in range(0, len(shuffled) // 2, 16)]
    assert _padded(batches, lengths) < 0.75 * _padded(random_batches, lengths)
    assert rank.batches() != batches  # a new order each epoch


def test_length_grouped_loader_resumes_mid_epoch():
    rows = [{"x": i} for i in range(100)]
    lengths = _lengths(100)

    def loader():
        return seeded_loader(rows, 8, True, lambda b: [r["x"] for r in b], seed=3, lengths=lengths, window=4)

    whole = list(loader())
    first = loader()
    seen = []
    for batch in first:
        seen.append(batch)
        if len(seen) == 5:
            state = first.state_dict()
            break
    resumed = loader()
    resumed.load_state_dict(state)
    assert seen + list(resumed) == whole
    assert sorted(x for b in whole for x in b) == list(range(100))


def test_eval_loader_goes_longest_first_and_scores_every_row_once():
    rows = list(range(40))
    lengths = _lengths(40)
    loader = eval_loader(rows, 8, list, lengths=lengths)
    order = [i for b in loader for i in b]
    assert sorted(order) == rows
    assert [lengths[i] for i in order] == sorted(lengths, reverse=True)
    assert list(LongestFirst(lengths)) == order


def test_pad_to_multiple_of():
    batch = pair_batch([[1, 2, 3]], [[4, 5, 6, 7, 8, 9, 10, 11, 12]], [[1]], 0, [0], ["a"], pad_to_multiple_of=8)
    assert batch["input_ids"].shape == (2, 16)
    assert batch["attention_mask"].sum().item() == 12
    plain = pair_batch([[1, 2, 3]], [[4, 5, 6, 7, 8, 9, 10, 11, 12]], [[1]], 0, [0], ["a"])
    assert plain["input_ids"].shape == (2, 9)


@pytest.mark.slow
def test_datamodule_batches_are_grouped_and_padded(tmp_path):
    common = ["model=tiny-deberta", "dataset=hh_rlhf_sample", "dataset.max_pairs.train=96",
              "dataset.batch_size=8", f"dataset.cache_dir={tmp_path}"]
    grouped, _ = build_data(compose([*common, "dataset.pad_to_multiple_of=8"]))
    plain, _ = build_data(compose([*common, "dataset.group_by_length=false"]))
    torch.manual_seed(0)
    g = list(grouped.train_dataloader())
    torch.manual_seed(0)
    p = list(plain.train_dataloader())
    assert all(b["input_ids"].shape[1] % 8 == 0 for b in g)
    assert sorted(i for b in g for i in b["ids"]) == sorted(i for b in p for i in b["ids"])
    assert sum(b["input_ids"].numel() for b in g) < sum(b["input_ids"].numel() for b in p)
    test = [i for b in grouped.test_dataloader() for i in b["ids"]]
    assert sorted(test) == sorted(grouped.pair_ids("test"))


def test_disable_dropout_makes_training_forward_deterministic():
    backbone = build_backbone(compose(["model=tiny-deberta", "++model.architecture.hidden_dropout_prob=0.3"]))
    model = backbone.build()
    assert model.training
    assert all(m.p == 0 for m in model.modules() if isinstance(m, nn.Dropout))
    ids = torch.randint(5, 100, (2, 12))
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).last_hidden_state, model(input_ids=ids).last_hidden_state)
    kept = build_backbone(compose(["model=tiny-deberta", "model.disable_dropout=false",
                                   "++model.architecture.hidden_dropout_prob=0.3"])).build()
    assert any(m.p > 0 for m in kept.modules() if isinstance(m, nn.Dropout))
    with torch.no_grad():
        assert not torch.equal(kept(input_ids=ids).last_hidden_state, kept(input_ids=ids).last_hidden_state)


def test_model_dtype_and_attention_implementation():
    model = build_backbone(compose(["model=tiny-deberta", "model.dtype=bfloat16",
                                    "model.attn_implementation=eager"])).build()
    assert next(model.parameters()).dtype == torch.bfloat16
    assert model.config._attn_implementation == "eager"
    with pytest.raises(Exception, match="model.dtype must be one of"):
        build_backbone(compose(["model=tiny-deberta", "model.dtype=float8"]))


class _SlowValidation(pl.LightningModule):
    """Cheap training steps, a validation pass that sleeps: the timer must leave it out."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch, _):
        return self.layer(batch).pow(2).mean()

    def validation_step(self, batch, _):
        time.sleep(0.4)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.slow
def test_epoch_timer_leaves_validation_out(tmp_path):
    timer = EpochTimer()
    data = torch.randn(8, 2)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         callbacks=[timer], default_root_dir=tmp_path)
    trainer.fit(_SlowValidation(), DataLoader(data, batch_size=4), DataLoader(data, batch_size=4))
    assert len(timer.per_epoch) == 2 and len(timer.validation_per_epoch) == 2
    assert all(v >= 0.75 for v in timer.validation_per_epoch)  # two batches of 0.4 s
    assert all(t < 0.5 for t in timer.per_epoch)



class _SlowCheckpoint(ModelCheckpoint):
    """A checkpoint callback on a slow disk: each save takes 0.4 s more."""

    saves = 0

    def _save_checkpoint(self, trainer, filepath):
        self.saves += 1
        time.sleep(0.4)
        super()._save_checkpoint(trainer, filepath)


class _CheapValidation(_SlowValidation):
    def validation_step(self, batch, _):
        self.log("val", self.layer(batch).mean())


@pytest.mark.slow
def test_epoch_timer_counts_the_checkpoint_written_after_validation_with_validation(tmp_path):
    """With validation inside an epoch (val_check_interval < 1), Lightning writes the best weights
    when a validation ends (its checkpoint callbacks run last): that write is selection, not
    training, so it must not slow the pairs/s figure."""
    timer = EpochTimer()
    data = torch.randn(8, 2)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_progress_bar=False, val_check_interval=0.5,
                         enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=tmp_path,
                         callbacks=[timer, checkpoint := _SlowCheckpoint(dirpath=tmp_path / "ckpt", monitor="val")])
    trainer.fit(_CheapValidation(), DataLoader(data, batch_size=4), DataLoader(data, batch_size=4))
    assert checkpoint.saves >= 1 and list((tmp_path / "ckpt").glob("*.ckpt"))  # written when validation ended
    assert sum(timer.validation_per_epoch) >= 0.4 * checkpoint.saves, timer.validation_per_epoch
    assert all(t < 0.3 for t in timer.per_epoch), timer.per_epoch

def test_fsdp_plan_shards_states_by_hand():
    """Lightning's FSDP needs CUDA (the installed stack refuses accelerator=cpu), so on CPU the
    FSDP path is checked through the memory estimate's arithmetic, by hand."""
    single = memory_plan(compose(["model=deberta-v3-base", "trainer=gpu", "trainer.precision=32-true"]))
    sharded = memory_plan(compose(["model=deberta-v3-base", "trainer=fsdp", "trainer.devices=4",
                                   "trainer.precision=32-true"]))
    assert shards(compose(["trainer=fsdp", "trainer.devices=4"]).trainer) == 4
    assert shards(compose(["trainer=ddp", "trainer.devices=4"]).trainer) == 1
    n, t = sharded["params"], sharded["trainable"]
    assert sharded["bytes"]["weights"] == pytest.approx(4 * n / 4)
    assert sharded["bytes"]["gradients"] == pytest.approx(4 * t / 4)
    assert sharded["bytes"]["optimizer"] == pytest.approx(8 * t / 4)
    assert sharded["bytes"]["activations"] == single["bytes"]["activations"]
    bf16 = memory_plan(compose(["model=deberta-v3-base", "model.dtype=bfloat16"]))
    assert bf16["bytes"]["weights"] == pytest.approx(2 * bf16["params"])
    assert bf16["bytes"]["optimizer"] == pytest.approx(4 * bf16["trainable"])


def test_fsdp_strategy_builds():
    from hydra.utils import instantiate
    from pytorch_lightning.strategies import FSDPStrategy

    strategy = instantiate(compose(["trainer=fsdp"]).trainer.strategy)
    assert isinstance(strategy, FSDPStrategy)
    policy = strategy.kwargs["auto_wrap_policy"]
    big, small = nn.Linear(4000, 4000), nn.Linear(10, 10)
    assert policy(big, recurse=False, nonwrapped_numel=sum(p.numel() for p in big.parameters()))
    assert not policy(small, recurse=False, nonwrapped_numel=sum(p.numel() for p in small.parameters()))


def test_the_plan_stops_a_run_far_beyond_its_memory_naming_the_options():
    cfg = compose(["model=gemma-2-9b-it", "model.pretrained=false"])  # 9B fully fine-tuned on this machine's RAM
    said = preflight(cfg, Hub(probe=lambda: False))
    assert any(line.startswith("memory:") and "does NOT fit" in line for line in said.lines)
    with pytest.raises(CannotStart, match="method=base_lora") as err:
        said.check()
    assert "model.gradient_checkpointing=true" in str(err.value)
    small = preflight(compose(["model=tiny-deberta"]), Hub(probe=lambda: False))
    assert any(line.startswith("memory:") and line.endswith("fits (python -m rm_lab.plan for the parts)")
               for line in small.lines)
    small.check()


def test_bench_arithmetic():
    # one 10-token text, 100 linear parameters, 2 layers of width 4: 6*100*10 + 12*2*4*100
    assert training_flops([10], 100, 2, 4) == 6000 + 9600
    assert matmul_peak(seconds=0.05, n=64) > 0
    line = table_line({"method": "baseline", "model": "m", "train_pairs": 10, "pairs_per_s": 2.0,
                       "real_tokens_per_s": 100.0, "padded_tokens_per_s": 150.0, "padding_share": 1 / 3,
                       "percent_of_peak": 12.0, "matmul_peak_gflops": 100.0, "test_inputs_per_s": 5.0,
                       "score_inputs_per_s": 6.0, "test_accuracy": 0.5, "padded_batch_work": 2.25})
    assert "2.00 pairs/s" in line and "padding 33%" in line and "accuracy 0.500" in line
    assert "padded random batches 2.25x the work" in line
    way = {"inputs_per_s": 10.0, "max_abs_diff": 1e-7, "x_plain_file_order": 2.0, "x_plain_sorted": 1.2}
    scoring = {"inputs": 40, "plain_batch": 32, "plain_file_order": {"inputs_per_s": 5.0, "max_abs_diff": 0.0,
                                                                     "padded_work": 1.7, "percent_of_peak": 31.4},
               "plain_sorted": {"inputs_per_s": 8.0, "max_abs_diff": 1e-7}, "rm_lab_score": way, "reward_function": way}
    base = {"method": "baseline", "model": "m", "train_pairs": 10, "pairs_per_s": 2.0, "real_tokens_per_s": 100.0,
            "padded_tokens_per_s": 150.0, "padding_share": 1 / 3, "percent_of_peak": 12.0, "matmul_peak_gflops": 100.0,
            "test_inputs_per_s": 5.0, "test_accuracy": 0.5, "padded_batch_work": 2.25, "scoring": scoring}
    line = table_line(base).splitlines()[-1]
    assert "file order 5.0 (padded to 1.70x the work, 31% of peak)" in line
    assert "sorted by length 8.0 inputs/s |" in line  # no peak given for that way: no share printed


def test_bench_leaves_bf16_out_on_a_cpu_without_bf16_instructions():
    from rm_lab.cli.bench import chosen_precisions

    assert chosen_precisions("auto", native=lambda: True) == (("fp32", "bf16"), None)
    precisions, why = chosen_precisions("auto", native=lambda: False)
    assert precisions == ("fp32",) and "no bf16 matrix instructions" in why and "--precisions fp32,bf16" in why
    assert chosen_precisions("fp32,bf16", native=lambda: False) == (("fp32", "bf16"), None)  # asked for: timed


def test_padded_batches_pad_chosen_and_rejected_together_to_the_longest():
    pairs = [(3, 9), (4, 2), (5, 5), (1, 7), (8, 6)]
    assert sorted(padded_batch_lengths(pairs, 1, seed=0)) == [4, 4, 5, 5, 7, 7, 8, 8, 9, 9]  # each pair alone
    two = padded_batch_lengths(pairs, 2, seed=0)
    assert len(two) == 10 and two.count(9) >= 4 and sum(two) > sum(map(sum, pairs))  # (3, 9) pads a partner to 9
    assert padded_batch_lengths(pairs, 5, seed=3) == [9] * 10  # one batch: every text padded to 9


def test_compile_option_compiles_in_place():
    plain = build_backbone(compose(["model=tiny-deberta"])).build()
    compiled = build_backbone(compose(["model=tiny-deberta", "model.compile=true"])).build()
    assert getattr(plain, "_compiled_call_impl", None) is None
    assert getattr(compiled, "_compiled_call_impl", None) is not None
    assert set(compiled.state_dict()) == set(plain.state_dict())  # checkpoints keep their keys


TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 128}
BACKBONES = {
    "deberta": ["model=tiny-deberta"],
    "bert_pooler": ["model=minilm-l6", "model.pretrained=false", "model.model_type=bert",
                    *(f"++model.architecture.{k}={v}" for k, v in TINY.items())],
    "llama_last": ["model=smollm2-135m", "model.pretrained=false", "model.model_type=llama",
                   *(f"+model.architecture.{k}={v}" for k, v in {**TINY, "vocab_size": 49152,
                                                                  "num_key_value_heads": 1}.items())],
}


def _ragged_batch(rows: int = 10, width: int = 30, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, width + 1, (rows,), generator=g)
    lengths[3] = width
    mask = (torch.arange(width) < lengths[:, None]).long()
    ids = torch.randint(5, 1000, (rows, width), generator=g) * mask
    types = (torch.arange(width) >= (lengths[:, None] // 2)).long() * mask
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "llama_last" else n
                                  for n in sorted(BACKBONES)])  # llama_last: seconds (the GGUF config)
def test_chunked_encoding_gives_the_whole_batch_rewards_and_gradients(name):
    from rm_lab.models.heads import RewardModel

    backbone = build_backbone(compose([*BACKBONES[name], "model.chunk_tokens=null"]))
    torch.manual_seed(0)
    model = RewardModel(backbone)
    batch = _ragged_batch()
    results = {}
    for chunks in (None, 40):  # 40 tokens: chunks of one to several texts, each cut to its longest
        model.encoder.chunk_tokens = chunks
        model.zero_grad()
        rewards = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        rewards.pow(2).sum().backward()
        results[chunks] = (rewards.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                                              if p.grad is not None})
    (whole, whole_grads), (chunked, chunked_grads) = results[None], results[40]
    assert torch.allclose(whole, chunked, atol=1e-5), (whole - chunked).abs().max()
    assert whole_grads.keys() == chunked_grads.keys() and len(whole_grads) > 10
    for key, grad in whole_grads.items():
        assert torch.allclose(grad, chunked_grads[key], atol=1e-5), key


def test_length_chunks_cover_every_row_once_within_the_budget():
    from rm_lab.models.backbone import length_chunks

    batch = _ragged_batch(rows=40, width=64, seed=3)
    lengths = batch["attention_mask"].sum(1)
    chunks = length_chunks(batch["attention_mask"], budget=100)
    rows = torch.cat([index for index, _ in chunks])
    assert sorted(rows.tolist()) == list(range(40))
    extents = [extent for _, extent in chunks]
    assert extents == sorted(extents, reverse=True) and extents[0] == 64
    for index, extent in chunks:
        assert int(lengths[index].max()) == extent  # each chunk is cut to its own longest text
        assert len(index) == 1 or len(index) * extent <= 100
    assert len(chunks) > 1


def test_chunk_tokens_setting():
    from rm_lab.models.backbone import CACHE_ELEMENTS, chunk_budget

    assert chunk_budget("auto", torch.device("cpu"), 384) == CACHE_ELEMENTS // 384 == 2048
    assert chunk_budget("auto", torch.device("cpu"), 384, grad=True) is None  # training: whole batches
    assert chunk_budget("auto", torch.device("cuda"), 384) is None  # accelerators take whole batches
    assert chunk_budget(None, torch.device("cpu"), 384) is None
    assert chunk_budget(512, torch.device("cuda"), 384) == 512
    assert build_backbone(compose(["model=minilm-l6"])).chunk_tokens == "auto"
    for bad in ("0", "-5", "fast"):
        with pytest.raises(Exception, match="model.chunk_tokens must be auto, null or a number"):
            build_backbone(compose(["model=tiny-deberta", f"model.chunk_tokens={bad}"]))


def test_first_token_state_of_left_padded_rows_is_the_models():
    """Rows led by padding (left padding) take the padded layout: still the model's first-token state."""
    from rm_lab.models import first_token

    model = build_backbone(compose(BACKBONES["bert_pooler"])).build().eval()
    batch = _ragged_batch()
    left = {k: v.flip(1) for k, v in batch.items()}
    with torch.no_grad():
        whole = model(**left).last_hidden_state[:, :1]
        short = first_token.first_token_state(model, **left)
    assert not bool(left["attention_mask"][:, 0].all())
    assert torch.allclose(whole, short, atol=1e-5), (whole - short).abs().max()


@pytest.mark.parametrize("head", ["pooler", "linear"])
def test_first_token_shortcut_gives_the_whole_forward_rewards_and_gradients(head):
    """BERT's last layer computed for the first token alone: the rewards and gradients of the
    model's own forward pass (every token through every layer), with and without chunks."""
    from rm_lab.models import first_token
    from rm_lab.models.heads import RewardModel

    backbone = build_backbone(compose([*BACKBONES["bert_pooler"], f"model.head={head}", "model.chunk_tokens=null"]))
    torch.manual_seed(0)
    model = RewardModel(backbone)
    assert first_token.supports(model.encoder.model)
    assert first_token.folds(model.encoder.model.encoder.layer[-1].attention.self)  # the last layer's keys folded
    batch = _ragged_batch()
    encoder = model.encoder

    def plain(input_ids, attention_mask, token_type_ids=None, inputs_embeds=None):
        out = encoder.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return out.pooler_output if encoder.pooler else out.last_hidden_state[:, 0]

    results = {}
    for name, chunks in (("model", None), ("shortcut", None), ("shortcut_chunked", 40)):
        encoder.chunk_tokens = chunks
        encoder.encode = plain if name == "model" else type(encoder).encode.__get__(encoder)
        model.zero_grad()
        rewards = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        rewards.pow(2).sum().backward()
        results[name] = (rewards.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                                            if p.grad is not None})
    whole, whole_grads = results["model"]
    for name in ("shortcut", "shortcut_chunked"):
        rewards, grads = results[name]
        assert torch.allclose(whole, rewards, atol=1e-5), (name, (whole - rewards).abs().max())
        assert grads.keys() == whole_grads.keys() and len(grads) > 10
        for key, grad in whole_grads.items():
            assert torch.allclose(grad, grads[key], atol=1e-5), (name, key, (grad - grads[key]).abs().max())


def test_folded_last_layer_in_bf16_autocast_stays_with_the_projected_keys():
    """In bf16 autocast on a CPU the folded last layer (keys and values never projected) gives the
    first-token state of the projected path within bf16's rounding, and gradients for the same weights."""
    from rm_lab.models import first_token

    model = build_backbone(compose(BACKBONES["bert_pooler"])).build().train()
    batch = _ragged_batch()
    results = {}
    for name, folds in (("folded", first_token.folds), ("projected", lambda attention: False)):
        original, first_token.folds = first_token.folds, folds
        try:
            model.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                state = first_token.first_token_state(model, **batch)
            state.float().pow(2).sum().backward()
        finally:
            first_token.folds = original
        results[name] = (state.float().detach(), {n for n, p in model.named_parameters() if p.grad is not None})
    (folded, folded_grads), (projected, projected_grads) = results["folded"], results["projected"]
    assert torch.allclose(folded, projected, atol=0.05, rtol=0.02), (folded - projected).abs().max()
    assert folded_grads == projected_grads


def test_a_deterministic_trainer_keeps_its_algorithms_without_nan_fills(tmp_path):
    """trainer.deterministic (the CPU default) turns deterministic algorithms on; rm_lab turns off
    only the NaN fill of new tensors that comes with them."""
    import torch.utils.deterministic

    from rm_lab.runner.build import build_trainer

    before = (torch.are_deterministic_algorithms_enabled(), torch.utils.deterministic.fill_uninitialized_memory)
    try:
        torch.utils.deterministic.fill_uninitialized_memory = True
        cfg = compose(["model=tiny-deberta", "logger=none", f"paths.output_dir={tmp_path}"])
        build_trainer(cfg)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.utils.deterministic.fill_uninitialized_memory is False
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.utils.deterministic.fill_uninitialized_memory = before[1]


@pytest.mark.parametrize("wrap", ["lora", "int8"])
def test_first_token_state_keeps_adapters_and_quantized_layers(wrap):
    """Projections that are not plain linear layers (LoRA adapters on query and value, int8
    layers) are called as modules: the first-token state is still the wrapped model's."""
    from rm_lab.models import first_token

    model = build_backbone(compose(BACKBONES["bert_pooler"])).build().eval()
    if wrap == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"]))
        torch.manual_seed(1)
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.data.normal_(0, 0.5)  # adapters that change the output
    else:
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    batch = _ragged_batch()
    with torch.no_grad():
        whole = model(**batch).last_hidden_state[:, :1]
        short = first_token.first_token_state(model, **batch)
    # int8: activations are quantized per call with the call's own range, which padding changes
    assert torch.allclose(whole, short, atol=1e-4 if wrap == "lora" else 1e-2), (whole - short).abs().max()


@pytest.mark.slow
def test_the_bench_takes_the_better_of_two_peak_measurements_around_its_run(tmp_path):
    from rm_lab.studies.throughput import train_figures

    peaks = iter([5.0, 7.0])  # before the run, after it
    figures = train_figures(["model=tiny-deberta", "model.max_length=32", "dataset.batch_size=4"], 12, 4,
                            tmp_path, "fp32", lambda: next(peaks))
    assert figures["matmul_peak_samples"] == [5.0, 7.0] and figures["matmul_peak_gflops"] == 7.0
    assert figures["percent_of_peak"] == pytest.approx(100 * figures["train_gflops_per_s"] / 7.0)
    assert figures["pairs_per_s"] > 0 and figures["train_pairs"] == 12
