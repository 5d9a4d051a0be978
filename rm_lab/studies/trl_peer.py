"""TRL's RewardTrainer on the pairs the GPU check trained on: run by TRL's own interpreter.

    TRL_PYTHON SPEC_JSON      (rm_lab.studies.gpu_check writes the spec; never imported by rm_lab)

This file runs in a virtualenv that has TRL and not rm_lab: it imports only torch, datasets,
transformers and trl. The spec names the pairs file (prompt, chosen, rejected per line), the
tokenizer folder, the backbone (built from its config unless pretrained), steps, batch, max length,
learning rate and precision. Pairs are tokenized as rm_lab tokenizes them (prompt and response as a
text pair, truncated to the max length), so both sides compute on the same tokens. Prints one JSON
line with pairs/s.
"""
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402
from trl import RewardConfig, RewardTrainer  # noqa: E402


def main(spec: dict) -> dict:
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(spec["tokenizer"], **spec.get("tokenizer_kwargs", {}))
    rows = [json.loads(line) for line in open(spec["pairs"], encoding="utf-8") if line.strip()]
    n = spec["max_length"]

    def ids(prompt, response):
        return tok(prompt, response, truncation=True, max_length=n)["input_ids"]

    train = Dataset.from_list([{"chosen_ids": ids(r["prompt"], r["chosen"]),
                                "rejected_ids": ids(r["prompt"], r["rejected"])} for r in rows])
    if spec["pretrained"]:
        model = AutoModelForSequenceClassification.from_pretrained(spec["source"], num_labels=1)
    else:
        config = AutoConfig.for_model(spec["model_type"], **spec["architecture"], num_labels=1)
        model = AutoModelForSequenceClassification.from_config(config)
    if tok.pad_token_id is not None:
        model.config.pad_token_id = tok.pad_token_id
    cuda = torch.cuda.is_available()
    args = RewardConfig(output_dir="/tmp/rm_lab_trl_peer", per_device_train_batch_size=spec["batch"],
                        max_steps=spec["steps"], learning_rate=spec["lr"], max_length=n, report_to=[],
                        logging_steps=10_000, save_strategy="no", eval_strategy="no", use_cpu=not cuda,
                        dataloader_num_workers=0, seed=0, gradient_checkpointing=False,
                        bf16=bool(spec["bf16"]))
    trainer = RewardTrainer(model=model, args=args, train_dataset=train, processing_class=tok)
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    trainer.train()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    pairs = min(spec["steps"] * spec["batch"], len(trainer.train_dataset) * spec["steps"])
    return {"peer": "trl.RewardTrainer", "trl": __import__("trl").__version__, "pairs_per_s": pairs / seconds,
            "train_s": seconds, "steps": spec["steps"], "batch": spec["batch"], "bf16": bool(spec["bf16"])}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
