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


def similar_lengths(
    lengths: Sequence[int] | torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
    noise: float = 6.0,
) -> Iterator[torch.Tensor]:
    """Endless minibatches of row indices into `lengths`, in passes: each pass sorts the rows by
    length plus uniform noise in [0, noise), cuts them into batches and yields those in a random
    order. Every row comes once per pass, as with shuffled batches; what changes is who shares a
    batch, so padding a batch to its longest row wastes little compute (a step costs as much as
    its longest row), and the noise makes the batches differ from pass to pass. (The idea of
    `group_by_length` in Hugging Face's Trainer.)"""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    lengths = torch.as_tensor(lengths, dtype=torch.float32)
    if lengths.ndim != 1 or len(lengths) == 0:
        raise ValueError(f"lengths must be a non-empty 1-D sequence, got shape {tuple(lengths.shape)}")
    while True:
        order = torch.argsort(lengths + noise * torch.rand(len(lengths), generator=generator))
        chunks = order.split(batch_size)
        for k in torch.randperm(len(chunks), generator=generator).tolist():
            yield chunks[k]
