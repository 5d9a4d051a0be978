"""The scoring bench's ways of scoring give one set of rewards: rm_lab.score and reward_function
(length-sorted token-budget chunks, the first-token shortcut) against the plain transformers loop
on the export, in file order and sorted by length."""
from __future__ import annotations

import pytest
from rlhf_runs import held_out_pairs, trained

from rm_lab.studies.scoring_speed import scoring_speed


@pytest.mark.slow
def test_every_way_of_scoring_gives_the_plain_loops_rewards(tmp_path_factory):
    run_dir = trained(tmp_path_factory, "bert")  # a BERT encoder: the shortcut and the chunks both apply
    pairs = [p.to_dict() for p in held_out_pairs(run_dir)]
    long = "word " * 200  # past the run's max length: truncated the same way by every path
    pairs += [{"prompt": "\n\nHuman: hi" + long + "\n\nAssistant:", "chosen": " yes", "rejected": long},
              {"prompt": "\n\nHuman: short\n\nAssistant:", "chosen": " a", "rejected": " b c d"}]
    figures = scoring_speed(run_dir, pairs, rounds=1, peak_gflops=50.0)
    assert figures["inputs"] == 2 * len(pairs)
    for way in ("plain_sorted", "rm_lab_score", "reward_function"):
        assert figures[way]["max_abs_diff"] <= 1e-5, (way, figures[way])
        assert figures[way]["inputs_per_s"] > 0
    assert figures["rm_lab_score"]["x_plain_file_order"] > 0
    plain = figures["plain_file_order"]
    # the long pair's texts are at the max length, so its batch pads every text toward them
    assert plain["padded_tokens"] > plain["real_tokens"] > 0 and plain["padded_work"] > 1
    # the share of the peak is the real tokens' forward FLOPs at each way's own rate
    assert figures["forward_gflops"] > 0 and figures["peak_gflops"] == 50.0
    for way in ("plain_file_order", "plain_sorted", "rm_lab_score", "reward_function"):
        seconds = figures["inputs"] / figures[way]["inputs_per_s"]
        assert figures[way]["percent_of_peak"] == pytest.approx(100 * figures["forward_gflops"] / seconds / 50.0)
