"""Token ids of preference pairs with each pair's prompt tokenized once (pair format).

A pair-format tokenizer call, `tokenizer(prompt, response, truncation=True, max_length=N)`, runs in
the Rust tokenizer as: each text tokenized on its own (no special tokens), then the two segments
truncated together and joined with the special tokens (`Tokenizer.post_process`). Chosen and
rejected share their prompt, and the router's `prompt_input_ids` is the prompt alone, so
`SharedPrompt` tokenizes the prompt once, each response once, and joins the segments with the same
`post_process` and truncation settings: three texts per pair instead of five (the prompt, usually
the longest, three times), with the same ids token for token (tests/test_pair_tokens.py).

Where that equality cannot be taken for granted the whole calls stay: `SharedPrompt.of` is None for
the chat format (one rendered string, whose tokens may merge across the prompt/response boundary),
for a tokenizer without a Rust backend, and `matches` compares a split's first pairs against the
whole calls before the split is tokenized this way (a tokenizer whose Python side adds anything,
or whose joined segments differ, keeps the whole calls).
"""
from __future__ import annotations

from rm_lab.data.render import encode, encode_prompt

CHECK_ROWS = 32  # pairs of each split compared with the whole calls before the shared path is taken


class SharedPrompt:
    """Encodes batches of (prompt, chosen, rejected) texts of one tokenizer and length limit."""

    def __init__(self, backend, max_length: int, truncation_side: str, token_types: bool):
        from tokenizers import Tokenizer

        text = backend.to_str()
        self.split = Tokenizer.from_str(text)  # segments: no truncation, no padding
        self.split.no_truncation()
        self.split.no_padding()
        self.join = Tokenizer.from_str(text)  # joining: the truncation a `truncation=True` call sets
        self.join.no_padding()
        self.join.enable_truncation(max_length, stride=0, strategy="longest_first", direction=truncation_side)
        self.token_types = token_types

    @classmethod
    def of(cls, tokenizer, max_length: int, input_format: str) -> SharedPrompt | None:
        """The shared-prompt encoder of a fast tokenizer in the pair format, else None."""
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if input_format != "pair" or backend is None or not getattr(tokenizer, "is_fast", False):
            return None
        return cls(backend, max_length, tokenizer.truncation_side,
                   "token_type_ids" in getattr(tokenizer, "model_input_names", ()))

    def __call__(self, prompts: list[str], chosen: list[str], rejected: list[str]) -> dict[str, list[list[int]]]:
        """{chosen_input_ids, rejected_input_ids, prompt_input_ids} (and *_token_type_ids for a
        tokenizer that returns them), as `tokenize_pairs` writes them."""
        distinct: dict[str, int] = {}  # a prompt several pairs share (HellaSwag's context, an SHP post): once
        which = [distinct.setdefault(p, len(distinct)) for p in prompts]
        encode_batch = getattr(self.split, "encode_batch_fast", self.split.encode_batch)  # no offsets needed
        segments = encode_batch([*distinct, *chosen, *rejected], add_special_tokens=False)
        k, n = len(distinct), len(prompts)
        prompt_segments = [segments[i] for i in which]
        out: dict[str, list[list[int]]] = {}
        for side, responses in (("chosen", segments[k:k + n]), ("rejected", segments[k + n:])):
            joined = [self.join.post_process(p, r) for p, r in zip(prompt_segments, responses)]
            out[f"{side}_input_ids"] = [e.ids for e in joined]
            if self.token_types:
                out[f"{side}_token_type_ids"] = [e.type_ids for e in joined]
        alone = [self.join.post_process(p).ids for p in segments[:k]]
        out["prompt_input_ids"] = [alone[i] for i in which]
        return out

    def matches(self, tokenizer, prompts: list[str], chosen: list[str], rejected: list[str], max_length: int) -> bool:
        """Whether these pairs' ids (and token types) equal those of the whole tokenizer calls."""
        prompts, chosen, rejected = prompts[:CHECK_ROWS], chosen[:CHECK_ROWS], rejected[:CHECK_ROWS]
        if not prompts or not all(isinstance(t, str) for t in (*prompts, *chosen, *rejected)):
            return False
        mine = self(prompts, chosen, rejected)
        for side, responses in (("chosen", chosen), ("rejected", rejected)):
            whole = encode(tokenizer, prompts, responses, "pair", max_length)
            if mine[f"{side}_input_ids"] != whole["input_ids"] or self.token_types != ("token_type_ids" in whole):
                return False
            if self.token_types and mine[f"{side}_token_type_ids"] != whole["token_type_ids"]:
                return False
        return mine["prompt_input_ids"] == encode_prompt(tokenizer, prompts, "pair", max_length)["input_ids"]
