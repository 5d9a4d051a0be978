"""The tokenizer-estimated pre-training mixture: recovered from tokenizers trained on known
mixtures, and reported as predictor features with the nested CV error with and without them."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from rm_lab.cli.analysis import main
from rm_lab.studies.base_model.data_mixture import compression_table, mixture_shares, reference_texts

CODE_SHARES = (0.05, 0.2, 0.35, 0.5, 0.65, 0.8)


@pytest.fixture(scope="module")
def texts():
    return reference_texts()


def _tokenizer(texts: dict[str, str], code_share: float, vocab: int = 600):
    """A BPE tokenizer learnt from `code_share` of code and the rest prose (dialogue + narrative)."""
    code_chars = int(40_000 * code_share)
    prose = texts["dialogue"][: (40_000 - code_chars) // 2] + texts["narrative"][: (40_000 - code_chars) // 2]
    corpus = (texts["code"][:code_chars] + "\n" + prose).split("\n")
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab, special_tokens=["[UNK]"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")


@pytest.fixture(scope="module")
def trained(texts):
    return {f"code{int(s * 100):02d}": _tokenizer(texts, s) for s in CODE_SHARES}


def test_the_estimate_orders_tokenizers_by_the_code_they_were_trained_on(texts, trained):
    shares = mixture_shares(compression_table(trained, texts))
    assert np.allclose(shares.sum(axis=1), 1.0)
    code = shares["mix_code"].to_numpy()
    assert (np.diff(code) > 0).all(), code  # more code in training -> larger estimated code share
    assert shares["mix_narrative"].iloc[0] > shares["mix_narrative"].iloc[-1]


def test_a_reference_folder_adds_categories_and_an_empty_one_is_refused(tmp_path):
    (tmp_path / "german.txt").write_text("Der schnelle braune Fuchs springt über den faulen Hund.\n" * 50)
    assert "german" in reference_texts(tmp_path)
    with pytest.raises(FileNotFoundError, match="category"):
        reference_texts(tmp_path / "nothing")


def test_the_report_gives_the_nested_error_with_and_without_the_mixture(tmp_path, trained, capsys):
    # Scores driven by the code share in training; the benchmark columns carry no signal.
    rng = np.random.default_rng(0)
    rows, scores = [], []
    for i, (name, tok) in enumerate(trained.items()):
        folder = tmp_path / "tok" / name
        tok.save_pretrained(folder)
        rows.append(f"{name},{folder},{0.1 * (i + 1)},{rng.uniform(20, 60):.2f},measured,{rng.uniform(20, 60):.2f},measured")
        scores.append(f"{name},{0.5 + 0.4 * CODE_SHARES[i]:.4f}")
    rows.append("absent,org/absent-model,1.0,40,measured,40,measured")
    (tmp_path / "bench.csv").write_text("model,hub_id,size_b,b1,b1_source,b2,b2_source\n" + "\n".join(rows) + "\n")
    (tmp_path / "scores.csv").write_text("model,score\n" + "\n".join(scores) + "\n")
    out = tmp_path / "report"
    code = main(["--scores", str(tmp_path / "scores.csv"), "--benchmarks", str(tmp_path / "bench.csv"),
                 "--out", str(out), "--k", "1-2", "--folds", "3", "--degrees", "1", "--alphas", "0.0001,0.01",
                 "--l1-ratios", "0.5,1"])
    assert code == 0
    mixture = json.loads((out / "elastic_net.json").read_text())["data_mixture"]
    assert mixture["measured"] == sorted(trained)
    assert "not on this machine" in mixture["tokenizers"]["absent"]
    assert mixture["out_of_fold_rmse_with"] < mixture["out_of_fold_rmse_without"]
    table = pd.read_csv(out / "data_mixture.csv").set_index("model")
    assert table.loc["absent"].filter(like="mix_").isna().all()
    assert {"mix_code", "bytes_per_token_code"} <= set(table.columns)
    assert "with them" in capsys.readouterr().out
    assert "Estimated pre-training data mixture" in (out / "summary.md").read_text()
