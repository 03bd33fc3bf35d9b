"""The course's shared few-label sentiment protocol, so that every chapter's rows can be put
side by side on the book's Results page (DESIGN.md: the same task at the same label counts).

Rotten Tomatoes sentences (Pang & Lee, 2005): the labelled pool is the first `pool`
training sentences, the test set the first `test` test sentences, and the labelled subset
of `n` sentences for seed `s` is the first `n` of a permutation of the pool drawn with
seed 100 + s, the same in every chapter.
"""

from __future__ import annotations

import copy

import torch

from course import scale

RT = {  # per scale: pool, test sentences, label counts (None: the whole pool), seeds
    "tiny": dict(pool=48, test=32, labels=[16, 48], seeds=3),
    "quick": dict(pool=1000, test=400, labels=[100, 300, 1000], seeds=3),
    "full": dict(pool=None, test=None, labels=[100, 300, 1000, None], seeds=3),
}


def protocol(*, verbose: bool = False) -> dict:
    """The current scale's protocol (a deep copy: a chapter may change its own)."""
    return copy.deepcopy(scale.pick(RT, verbose=verbose))


def first(split, n: int | None):
    """The first n rows of a datasets split (all of it for None)."""
    return split if n is None else split.select(range(min(n, len(split))))


def splits(rotten, proto: dict):
    """(pool, test): the labelled pool and the test sentences of the protocol."""
    return first(rotten["train"], proto["pool"]), first(rotten["test"], proto["test"])


def label_counts(proto: dict, pool_size: int) -> list[int]:
    """The protocol's label counts, None read as the whole pool."""
    return [pool_size if n is None else min(n, pool_size) for n in proto["labels"]]


def subset(pool_size: int, n: int, seed: int) -> list[int]:
    """Indices into the pool of the n labelled sentences for this seed."""
    g = torch.Generator().manual_seed(100 + seed)
    return torch.randperm(pool_size, generator=g)[:n].tolist()
