"""Token ids of preference pairs with each pair's prompt tokenized once (pair format).

A pair-format tokenizer call, `tokenizer(prompt, response, truncation=True, max_length=N)`, runs in
the Rust tokenizer as: each text tokenized on its own (no special tokens), then the two segments
truncated together and joined with the special tokens (`Tokenizer.post_process`). Chosen and
rejected share their prompt, and the router's `prompt_input_ids` is the prompt alone, so
`SharedPrompt` tokenizes the prompt once, each response once, and joins the segments with the same
`post_process` and truncation settings: three texts per pair instead of five (the prompt, usually
the longest, three times), with the same ids token for token (tests/test_pair_tokens.py).

The joining itself runs in Python on the segments' ids (`Template`) where the tokenizer's
post-processor is a `TemplateProcessing` (BERT's [CLS] A [SEP] B [SEP], Llama's and SmolLM2's):
the template's special ids and token types around the segments, cut by the Rust tokenizer's own
truncation rule (`cut`, from tokenizers' `truncate_encodings`). It is checked at construction
against `post_process` on segments of every length case around the limit; any other
post-processor, or a mismatch, joins through `post_process` (a third of the call's time).

Segments the normalizer barely changes skip the Rust normalizer where it is BERT's (`PlainText`:
clean-up and lower-casing in Python's string methods, then the tokenizer without its normalizer;
a third less time), checked at construction on every ASCII character.

Where that equality cannot be taken for granted the whole calls stay: `SharedPrompt.of` is None for
the chat format (one rendered string, whose tokens may merge across the prompt/response boundary),
for a tokenizer without a Rust backend, and `matches` compares a split's first pairs against the
whole calls before the split is tokenized this way (a tokenizer whose Python side adds anything,
or whose joined segments differ, keeps the whole calls).
"""
from __future__ import annotations

import json
import re
import unicodedata

from rm_lab.data.render import encode, encode_prompt

CHECK_ROWS = 32  # pairs of each split compared with the whole calls before the shared path is taken


def cut(n1: int, n2: int, limit: int) -> tuple[int, int]:
    """The lengths a pair of segments (n1, n2 tokens) keeps under tokenizers' `longest_first`
    truncation to `limit` tokens (specials excluded): the shorter one whole while the longer one
    fits the rest, else both halved (the second gets the odd token)."""
    if n1 + n2 <= limit:
        return n1, n2
    short, long_ = min(n1, n2), max(n1, n2)
    long_ = short if short > limit else max(short, limit - short)
    if short + long_ > limit:
        short, long_ = limit // 2, limit // 2 + limit % 2
    return (long_, short) if n1 > n2 else (short, long_)


class PlainText:
    """BERT's normalizer (`BertNormalizer`) in Python on the texts it barely changes. Such a text
    holds ASCII and characters the normalizer leaves as they are (no case, no accent to strip, not
    CJK, not a control character or a space: curly quotes, dashes, emoji...), so normalizing it
    only drops ASCII control characters (tab, newline and return are kept: the pre-tokenizer
    splits on them as on spaces) and lower-cases ASCII. `encode` runs the tokenizer without its
    normalizer on those texts (the normalizer's alignment bookkeeping is a third of the
    tokenizer's time) and the whole tokenizer on the others, in one batch order."""

    CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # ASCII control characters but tab, newline, return

    def __init__(self, tokenizer, normalizer: dict):
        from tokenizers import Tokenizer

        self.whole = tokenizer
        self.bare = Tokenizer.from_str(tokenizer.to_str())
        self.bare.normalizer = None
        self.clean = normalizer.get("clean_text", True)
        self.lower = normalizer.get("lowercase", True)
        self.kept: dict[str, bool] = {}  # non-ASCII character -> the normalizer leaves it as it is

    @classmethod
    def of(cls, tokenizer) -> PlainText | None:
        """The fast path of a tokenizer with BERT's normalizer, if it gives the whole tokenizer's
        ids on text holding every ASCII character (each between words, and run together)."""
        normalizer = json.loads(tokenizer.to_str()).get("normalizer") or {}
        if normalizer.get("type") != "BertNormalizer":
            return None
        fast = cls(tokenizer, normalizer)
        chars = [chr(i) for i in range(128)]
        probes = [" ".join(chars), "".join(chars), "Ab" + "x".join(chars) + "Zz", "Hello,\tWORLD!\x00\x7fok\r\nDone."]
        whole = [e.ids for e in tokenizer.encode_batch(probes, add_special_tokens=False)]
        return fast if fast.encode(probes) == whole else None

    def plain(self, text: str) -> bool:
        if text.isascii():
            return True
        for c in set(text):
            if c > "\x7f":
                kept = self.kept.get(c)
                if kept is None:
                    kept = self.kept[c] = (c.lower() == c and unicodedata.combining(c) == 0
                                           and self.whole.normalizer.normalize_str(c) == c)
                if not kept:
                    return False
        return True

    def prepare(self, text: str) -> str:
        if self.clean:
            text = self.CONTROL.sub("", text)
        return text.lower() if self.lower else text

    def encode(self, texts: list[str]) -> list[list[int]]:
        plain = [self.plain(t) for t in texts]
        out: list[list[int]] = [None] * len(texts)  # type: ignore[list-item]
        for flag, tokenizer, prepare in ((True, self.bare, self.prepare), (False, self.whole, None)):
            index = [i for i, p in enumerate(plain) if p is flag]
            if not index:
                continue
            batch = [prepare(texts[i]) if prepare else texts[i] for i in index]
            for i, e in zip(index, tokenizer.encode_batch_fast(batch, add_special_tokens=False)):
                out[i] = e.ids
        return out


class Template:
    """A `TemplateProcessing` post-processor with truncation, on plain id lists: `pair(a, b)` and
    `single(a)` give (ids, type_ids) as `Tokenizer.post_process` does on the segments' encodings."""

    def __init__(self, processor: dict, max_length: int, side: str):
        specials = {name: token["ids"] for name, token in processor["special_tokens"].items()}
        self.runs: dict[str, list] = {}  # kind -> [(type_id, [special ids or segment index, ...])]
        self.limit: dict[str, int] = {}  # kind -> tokens left for the segments
        for kind in ("single", "pair"):
            runs: list = []
            added = 0
            for item in processor[kind]:
                if "SpecialToken" in item:
                    part, type_id = specials[item["SpecialToken"]["id"]], item["SpecialToken"]["type_id"]
                    added += len(part)
                else:
                    part, type_id = "AB".index(item["Sequence"]["id"]), item["Sequence"]["type_id"]
                if runs and runs[-1][0] == type_id:  # consecutive parts of one token type: one run
                    runs[-1][1].append(part)
                else:
                    runs.append((type_id, [part]))
            if added >= max_length:
                raise ValueError(f"{added} special tokens leave nothing of max_length {max_length}")
            self.runs[kind], self.limit[kind] = runs, max_length - added
        self.left = side == "left"

    def _keep(self, ids: list[int], n: int) -> list[int]:
        if n >= len(ids):
            return ids
        return ids[len(ids) - n:] if self.left else ids[:n]

    def _join(self, kind: str, segments: tuple[list[int], ...], with_types: bool) -> tuple[list[int], list[int]]:
        ids: list[int] = []
        types: list[int] = []
        for type_id, parts in self.runs[kind]:
            start = len(ids)
            for part in parts:
                ids += segments[part] if part.__class__ is int else part
            if with_types:
                types += [type_id] * (len(ids) - start)
        return ids, types

    def pair(self, a: list[int], b: list[int], with_types: bool = True) -> tuple[list[int], list[int]]:
        n1, n2 = cut(len(a), len(b), self.limit["pair"])
        return self._join("pair", (self._keep(a, n1), self._keep(b, n2)), with_types)

    def single(self, a: list[int]) -> list[int]:
        return self._join("single", (self._keep(a, self.limit["single"]),), False)[0]


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
        self.template = self._template(max_length, truncation_side)
        self.plain_text = PlainText.of(self.split) if self.template is not None else None

    def _template(self, max_length: int, side: str) -> Template | None:
        """The Python join of this tokenizer's post-processor, where it is a template that gives
        `post_process`'s ids and token types on segments of every length case around the limit."""
        processor = json.loads(self.join.to_str()).get("post_processor") or {}
        if processor.get("type") != "TemplateProcessing":
            return None
        try:
            template = Template(processor, max_length, side)
        except (KeyError, ValueError):
            return None
        limit = template.limit["pair"]
        counts = sorted({0, 1, 2, limit // 2 - 1, limit // 2, limit // 2 + 1, limit - 1, limit, limit + 1, 2 * limit + 3}
                        - {-1})
        segments = self.split.encode_batch_fast([" ".join(["a", "b"][k % 2] for k in range(n)) for n in counts],
                                                add_special_tokens=False)
        for a in segments:
            if template.single(a.ids) != self.join.post_process(a).ids:
                return None
            for b in segments:
                whole = self.join.post_process(a, b)
                if template.pair(a.ids, b.ids) != (whole.ids, whole.type_ids):
                    return None
        return template

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
        texts = [*distinct, *chosen, *rejected]
        k, n = len(distinct), len(prompts)
        if self.template is not None:
            ids = (self.plain_text.encode(texts) if self.plain_text is not None
                   else [e.ids for e in encode_batch(texts, add_special_tokens=False)])
            return self._joined_here(ids, which, k, n)
        segments = encode_batch(texts, add_special_tokens=False)
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

    def _joined_here(self, ids: list[list[int]], which: list[int], k: int, n: int) -> dict[str, list[list[int]]]:
        """`__call__`'s columns joined by the Python template: ids[:k] the distinct prompts',
        then n chosen and n rejected segments."""
        out: dict[str, list[list[int]]] = {}
        prompts = [ids[i] for i in which]
        for side, responses in (("chosen", ids[k:k + n]), ("rejected", ids[k + n:])):
            joined = [self.template.pair(p, r, self.token_types) for p, r in zip(prompts, responses)]
            out[f"{side}_input_ids"] = [j[0] for j in joined]
            if self.token_types:
                out[f"{side}_token_type_ids"] = [j[1] for j in joined]
        alone = [self.template.single(p) for p in ids[:k]]
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
