"""Text utilities shared by every chapter: a fast word tokenizer, padding, minibatch indices.

Building a vocabulary, subsampling, pair generation and the like are the learner's exercises
and deliberately do not live here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import torch

# A word: letters/digits, with apostrophes kept inside (don't, century's, o'neill); anything
# else that is not a space is a one-character punctuation token. `_` counts as neither.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def tokenize(text: str, *, punctuation: bool = True, lower: bool = True) -> list[str]:
    """Lowercase word tokens of `text` (capitals kept with lower=False); punctuation is split
    off as one-character tokens (dropped with punctuation=False). IMDB's ``<br />`` line breaks are removed and the
    typographic apostrophe ’ becomes ', so "don’t" and "don't" are one word.

    >>> tokenize("It's a <br /><br />GREAT film, isn't it?!")
    ["it's", 'a', 'great', 'film', ',', "isn't", 'it', '?', '!']

    One regex pass per text: the whole movie-review CSV (~7.6M tokens) takes a few seconds.
    """
    if "<" in text:
        text = _HTML_BREAK.sub(" ", text)
    if "’" in text:
        text = text.replace("’", "'")
    return (_TOKEN if punctuation else _WORD).findall(text.lower() if lower else text)


def pad_batch(
    seqs: Sequence[Sequence[int]], pad_id: int = 0, max_len: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id sequences into a (B, T) LongTensor; also return the (B,) lengths.

    T is the longest sequence, capped at `max_len` (longer sequences are truncated, and
    their lengths say so). Empty sequences give length 0 and a row of `pad_id`."""
    lengths = [len(s) if max_len is None else min(len(s), max_len) for s in seqs]
    width = max(lengths, default=0)
    out = torch.full((len(seqs), width), pad_id, dtype=torch.long)  # (B, T)
    for row, (seq, n) in enumerate(zip(seqs, lengths)):
        if n:
            out[row, :n] = torch.as_tensor(
                seq[:n] if isinstance(seq, torch.Tensor) else list(seq[:n])
            )
    return out, torch.tensor(lengths, dtype=torch.long)


def iter_minibatches(
    n: int,
    batch_size: int,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
) -> Iterator[torch.Tensor]:
    """Yield LongTensors of row indices covering range(n) once, `batch_size` at a time
    (the last batch may be smaller). Shuffled with `generator` (so a seeded generator
    repeats the order), or in order with shuffle=False."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    yield from order.split(batch_size)
