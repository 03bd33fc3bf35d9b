"""Visible checks for Chapter 1, "Transfer learning and word2vec".

One check per exercise. Each takes the learner's function(s) or class, runs small
seeded cases and property tests, and raises `AssertionError` naming the function,
what was expected, what was got, and the likely bug. A passing check returns None.

    check_build_vocab(build_vocab)
    check_keep_probability(keep_probability)
    check_skipgram_pairs(skipgram_pairs)
    check_noise(noise_distribution, sample_negatives)
    check_sgns_loss(sgns_loss)
    check_skipgram_model(SkipGram)
    check_similarity(nearest_neighbours, analogy)
    check_bag_of_embeddings(BagOfEmbeddings)

The checks run in the learner's kernel: they import only torch, use their own seeded
generators, and leave the global random state as they found it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ._common import (
    FLOATS,
    Bug,
    Case,
    Holds,
    Out,
    call,
    close,
    dense_grad,
    expect_close,
    expect_dtype,
    expect_equal,
    expect_finite,
    expect_shape,
    expect_tensor,
    expect_true,
    fail,
    gen,
    run,
    show,
)

__all__ = [
    "check_build_vocab",
    "check_keep_probability",
    "check_skipgram_pairs",
    "check_noise",
    "check_sgns_loss",
    "check_skipgram_model",
    "check_similarity",
    "check_bag_of_embeddings",
]



# --------------------------------------------------------------------------- 1. vocab

# Occurrences: the 4 (in 3 sentences), cat 2, sat 2, dog 2, a 2 (both in one sentence),
# on/mat/and/end 1. First-seen order: the, cat, sat, on, mat, dog, a, and, end.
_VOCAB_SENTENCES = [
    ["the", "cat", "sat", "on", "the", "mat"],
    ["the", "dog", "sat"],
    ["a", "cat", "and", "a", "dog"],
    ["the", "end"],
]


def check_build_vocab(build_vocab) -> None:
    """Counts of occurrences, min_count inclusive, sorted by count then word."""
    name = "build_vocab"
    where = f"{name}(sentences, min_count=2)"
    out = call(build_vocab, [list(s) for s in _VOCAB_SENTENCES], 2, where=where)
    expect_true(
        isinstance(out, (tuple, list)) and len(out) == 2, f"{where}: return value",
        "return two things, `itos, counts`", expected="a tuple (itos, counts)",
        got=f"{type(out).__name__}: {show(out)}",
    )
    itos, counts = out
    expect_true(
        isinstance(itos, list) and all(isinstance(w, str) for w in itos), f"{where}: itos",
        "itos is a plain Python list of the words (strings), index -> word",
        expected="a list of str", got=f"{type(itos).__name__}: {show(itos)}",
    )
    expect_tensor(counts, f"{where}: counts")
    expect_dtype(counts, torch.long, f"{where}: counts",
                 "counts are integers: build the tensor with dtype=torch.long")
    expect_shape(counts, (len(itos),), f"{where}: counts",
                 "counts[i] is the count of itos[i]: one count per kept word")
    got_counts = dict(zip(itos, counts.tolist()))
    want = {"the": 4, "a": 2, "cat": 2, "dog": 2, "sat": 2}
    for word, n in want.items():
        if word in got_counts and got_counts[word] != n:
            hint = ("you counted the sentences that contain the word, not its occurrences "
                    "(a word may appear twice in one sentence)"
                    if (word, got_counts[word]) in {("the", 3), ("a", 1)}
                    else "count every occurrence of the word in every sentence")
            fail(f"{where}: count of {word!r}", n, got_counts[word], hint)
    if set(itos) != set(want):
        missing = sorted(set(want) - set(itos))
        extra = sorted(set(itos) - set(want))
        if missing and all(want[w] == 2 for w in missing) and not extra:
            hint = ("words seen exactly min_count times were dropped: keep count >= min_count, "
                    "not count > min_count")
        elif "a" in missing:
            hint = ("'a' occurs twice (in one sentence): count occurrences, not the sentences "
                    "a word appears in")
        elif extra:
            hint = "words seen fewer than min_count times must be left out"
        else:
            hint = "keep exactly the words whose count is >= min_count"
        fail(f"{where}: the kept words (as a set)", sorted(want), sorted(itos), hint)
    expected_order = ["the", "a", "cat", "dog", "sat"]
    if itos != expected_order:
        by_count = [got_counts[w] for w in itos]
        if by_count != sorted(by_count, reverse=True):
            hint = "sort by count, most frequent word first"
        else:
            hint = ("words with equal counts must be in alphabetical order (ties broken by "
                    "word ascending); Counter.most_common keeps first-seen order instead")
        fail(f"{where}: itos order", expected_order, itos, hint)
    expect_equal(counts, torch.tensor([4, 2, 2, 2, 2]), f"{where}: counts aligned with itos",
                 "counts[i] must be the count of itos[i]")

    # sentences may be a one-pass iterator (a generator reading a corpus from disk)
    where = f"{name}(a generator of sentences, min_count=2)"
    out = call(build_vocab, (list(s) for s in _VOCAB_SENTENCES), 2, where=where)
    expect_true(
        isinstance(out, (tuple, list)) and len(out) == 2 and list(out[0]) == expected_order,
        f"{where}: itos",
        "sentences can be a generator, which can be iterated only once: count in a single "
        "pass (don't loop over `sentences` twice or call len() on it)",
        expected=expected_order, got=show(out[0]) if isinstance(out, (tuple, list)) else show(out),
    )

    # the default min_count is 5
    where = f"{name}(sentences)  # default min_count"
    sentences = [["often"] * 5 + ["rare"] * 4, ["never"]]
    out = call(build_vocab, sentences, where=where)
    got = list(out[0]) if isinstance(out, (tuple, list)) and len(out) == 2 else out
    expect_true(got == ["often"], f"{where}: itos",
                "the default is min_count=5, and a word seen exactly 5 times is kept",
                expected=["often"], got=show(got))

    # nothing passes min_count: still a list and a LongTensor of shape (0,)
    where = f"{name}(sentences, min_count=100)"
    itos, counts = call(build_vocab, [list(s) for s in _VOCAB_SENTENCES], 100, where=where)
    expect_equal(list(itos), [], f"{where}: itos")
    expect_shape(counts, (0,), f"{where}: counts")
    expect_dtype(counts, torch.long, f"{where}: counts",
                 "torch.tensor([]) is float32: pass dtype=torch.long so an empty vocabulary "
                 "still has integer counts")


# ----------------------------------------------------------------------- 2. subsample

def _freq(counts: torch.Tensor) -> torch.Tensor:
    return counts.double() / counts.sum()


def _keep(f: torch.Tensor, t: float) -> torch.Tensor:
    """word2vec C / gensim: (sqrt(f/t) + 1) * t/f, not clipped."""
    return ((f / t).sqrt() + 1) * t / f


def _above_one(p: torch.Tensor) -> bool:
    return bool((p > 1 + 1e-6).any())


_DISCARD = ("this is the paper's probability of DISCARDING a word, 1 - sqrt(t/f); return the "
            "probability of KEEPING it, which in word2vec C is (sqrt(f/t) + 1) * t/f")
_PAPER_KEEP = ("sqrt(t/f) is the paper's keep probability; the course (like word2vec C and "
               "gensim) uses (sqrt(f/t) + 1) * t/f")
_RAW = "use the frequency f = count / total count, not the raw count"

# keep_probability(counts, t): symptom -> likely bug
_KEEP_BUGS = [
    Bug(_DISCARD, like=lambda c, t: 1 - (t / _freq(c)).sqrt()),
    Bug(_DISCARD, like=lambda c, t: (1 - (t / _freq(c)).sqrt()).clamp(0.0, 1.0)),
    Bug(_PAPER_KEEP, like=lambda c, t: (t / _freq(c)).sqrt().clamp(max=1.0)),
    Bug(_PAPER_KEEP, like=lambda c, t: (t / _freq(c)).sqrt()),
    Bug("rare words give values above 1: clip the probability to at most 1",
        when=lambda p, c, t: _above_one(p) and close(p, _keep(_freq(c), t))),
    Bug(_RAW, like=lambda c, t: _keep(c.double(), t).clamp(max=1.0), atol=1e-6),
    Bug(_RAW, like=lambda c, t: _keep(c.double(), t), atol=1e-6),
    Bug("a probability can't exceed 1: clip it", when=lambda p, c, t: _above_one(p)),
]


def check_keep_probability(keep_probability) -> None:
    """word2vec C / gensim keep probability (sqrt(f/t) + 1) * t / f, clipped to 1."""
    counts = torch.tensor([5000, 2000, 500, 100, 10, 1], dtype=torch.long)
    probabilities = Out(dtype=FLOATS, shape=tuple(counts.shape), finite=True,
                        dtype_hint="probabilities are floats: divide with `/` (true division) "
                        "and return a float tensor", shape_hint="one keep probability per word")
    want = lambda c, t: _keep(_freq(c), t).clamp(max=1.0)  # noqa: E731
    run(*[Case(f"keep_probability(counts, sample={t:g})", keep_probability, (counts, t),
               keeps={"counts": counts},
               keeps_hint="don't modify `counts` in place; compute a new tensor",
               out=probabilities, want=want, bugs=_KEEP_BUGS,
               hint="f is count / total; keep probability (sqrt(f/t) + 1) * t/f, at most 1")
          for t in (1e-3, 1e-2)],
        Case("keep_probability(float counts)", keep_probability, (counts.double(), 1e-3),
             want=want, hint="float counts must give the same result as integer counts"))


# --------------------------------------------------------------------------- 3. pairs

def _pair_rows(pairs: torch.Tensor) -> list[tuple[int, int]]:
    return sorted(map(tuple, pairs.tolist()))


def check_skipgram_pairs(skipgram_pairs) -> None:
    """Dynamic symmetric window, ids not positions, no self pairs, vectorised."""
    name = "skipgram_pairs"
    offset = 100  # ids are positions + 100, so returning positions shows up

    # window=1: b is always 1, so exactly the two neighbours of every token
    T = 6
    ids = torch.arange(T) + offset
    where = f"{name}(ids={ids.tolist()}, window=1)"
    pairs = call(skipgram_pairs, ids, 1, gen(0), where=where)
    expect_tensor(pairs, where)
    expect_dtype(pairs, torch.long, where, "pairs are word ids: a LongTensor")
    expect_shape(pairs, (None, 2), where, "one row per pair: (center, context)")
    got = _pair_rows(pairs)
    want = sorted([(i + offset, i + 1 + offset) for i in range(T - 1)]
                  + [(i + 1 + offset, i + offset) for i in range(T - 1)])
    if got != want:
        if not got:
            hint = ("no pairs at all: with window=1 every b_i is 1, so each token is paired "
                    "with its neighbours (draw b from 1..window; torch.randint's upper bound "
                    "is exclusive)")
        elif int(pairs.max()) < T:
            hint = "the pairs hold positions; return the ids at those positions"
        elif any(c == o for c, o in got):
            hint = "a word was paired with itself: skip offset 0"
        elif set(got) < set(want) and all(o > c for c, o in got):
            hint = "only the right-hand context is paired; the window is symmetric: also j = i - d"
        elif set(got) < set(want) and all(o < c for c, o in got):
            hint = "only the left-hand context is paired; the window is symmetric: also j = i + d"
        elif len(got) > len(set(got)):
            hint = "some pairs appear twice"
        elif any(abs(c - o) > 1 for c, o in got):
            hint = "with window=1 only immediate neighbours are contexts (|i - j| <= b <= window)"
        else:
            hint = "pair each position i with each j != i such that |i - j| <= b_i"
        fail(f"{where}: the set of (center, context) rows", show(want), show(got), hint)

    # the window can be larger than the sequence; a single token has no pairs
    for T, window in ((3, 5), (1, 3)):
        ids = torch.arange(T) + offset
        where = f"{name}(ids={ids.tolist()}, window={window})"
        pairs = call(skipgram_pairs, ids, window, gen(1), where=where,
                     hint="a sequence shorter than the window, even a single token, must "
                     "work: stay inside the sequence, and return an empty (0, 2) LongTensor "
                     "when there is no pair")
        expect_shape(pairs, (None, 2), where,
                     "pairs must stay inside the sequence, and a sequence shorter than the "
                     "window (even one token) must work: return a (0, 2) tensor when empty")
        rows = _pair_rows(pairs)
        possible = {(i + offset, j + offset) for i in range(T) for j in range(T) if i != j}
        neighbours = {(c, o) for c, o in possible if abs(c - o) == 1}
        expect_true(set(rows) <= possible and neighbours <= set(rows)
                    and len(rows) == len(set(rows)), f"{where}: rows",
                    "pairs stay inside the sequence (no wrap-around, no padding), every "
                    "neighbour is a context, and no pair is repeated",
                    expected=f"distinct pairs of {sorted(possible)}, all neighbours included",
                    got=show(rows))

    # long sequence: structure, randomness, the dynamic window
    T, W = 20000, 5
    ids = torch.arange(T) + offset
    where = f"{name}(ids of length {T}, window={W}, generator=seeded)"
    pairs = call(skipgram_pairs, ids, W, gen(2), where=where)
    expect_shape(pairs, (None, 2), where)
    again = call(skipgram_pairs, ids, W, gen(2), where=where)
    expect_true(
        isinstance(again, torch.Tensor) and torch.equal(pairs, again),
        f"{where}: calling twice with generators seeded alike", "pass `generator=generator` "
        "to the torch random function that draws the window sizes, so that a seeded "
        "generator gives reproducible pairs", expected="identical pairs",
        got="different pairs",
    )
    pos = pairs - offset
    expect_true(bool(((pos >= 0) & (pos < T)).all()), f"{where}: ids",
                "every center and context is a token of the sequence (ids[i], not i)",
                expected=f"ids between {offset} and {offset + T - 1}",
                got=f"values from {int(pairs.min())} to {int(pairs.max())}")
    center, context = pos[:, 0], pos[:, 1]
    d = context - center
    expect_true(not bool((d == 0).any()), f"{where}: self pairs",
                "a word was paired with itself: offsets start at 1",
                expected="no (i, i) pair", got=f"{int((d == 0).sum())} self pairs")
    expect_true(bool((d.abs() <= W).all()), f"{where}: distances",
                "contexts lie within `window` positions of the center",
                expected=f"|i - j| <= {W}", got=f"max |i - j| = {int(d.abs().max())}")
    unique = torch.unique(pos[:, 0] * T + pos[:, 1]).numel()
    expect_true(unique == pos.shape[0], f"{where}: duplicates", "each (i, j) pair appears once",
                expected=f"{pos.shape[0]} distinct pairs", got=f"{unique} distinct pairs")
    # per center i (away from the ends) the contexts must be exactly i-b..i+b, b in 1..W
    n = torch.bincount(center, minlength=T)
    reach = torch.zeros(T, dtype=torch.long).scatter_reduce(
        0, center, d.abs(), reduce="amax", include_self=True)
    left = torch.zeros(T, dtype=torch.long).index_add(0, center, (d < 0).long())
    inner = slice(W, T - W)
    n, reach, left = n[inner], reach[inner], left[inner]
    if bool((n == 0).any()):
        i = int((n == 0).nonzero()[0]) + W
        fail(f"{where}: contexts of position {i}", "at least the two neighbours (b >= 1)",
             "no pair", "the window size b is drawn from 1..window: 0 is not a window "
             "(torch.randint's upper bound is exclusive)")
    bad = (n != 2 * reach) | (left * 2 != n)
    if bool(bad.any()):
        k = int(bad.nonzero()[0])
        i = k + W
        sel = center == i
        offsets = sorted(d[sel].tolist())
        b = int(reach[k])
        if int(left[k]) == 0 or int(left[k]) == int(n[k]):
            hint = ("the window is one-sided: pair the center with the words on both sides, "
                    "j = i - d and j = i + d")
        else:
            hint = ("each center i gets its own window b_i, and its contexts are all of "
                    "i-b_i..i+b_i (both sides use the same b_i, the one of the CENTER)")
        fail(f"{where}: context offsets j - i of the center at position {i}",
             f"{list(range(-b, 0)) + list(range(1, b + 1))} for some b in 1..{W}",
             str(offsets), hint)
    sizes = torch.bincount(reach, minlength=W + 1)[1:].double()
    if int((sizes > 0).sum()) == 1:
        fail(f"{where}: window sizes b_i of the centers",
             f"b_i drawn uniformly from 1..{W}, independently for every position",
             f"every center used b = {int(reach[0])}",
             "the window size is the same for every center (fixed, or drawn once); "
             "word2vec draws b_i at random for each center (the dynamic window), so nearer "
             "words are paired more often")
    hist = torch.bincount(d.abs(), minlength=W + 1)[1:].double()
    got_p = hist / hist.sum()
    want_p = torch.arange(W, 0, -1).double() / (W * (W + 1) / 2)
    if not bool(((got_p - want_p).abs() < 0.02).all()):
        if hist[-1] == 0:
            hint = (f"no pair at distance {W}: draw b uniformly from 1..window inclusive "
                    "(torch.randint's upper bound is exclusive)")
        else:
            hint = ("draw b_i uniformly from 1..window for each center; then a context at "
                    "distance d is kept with probability (window - d + 1) / window")
        fail(f"{where}: share of pairs at distance d = 1..{W}",
             "[" + ", ".join(f"{p:.3f}" for p in want_p.tolist()) + "]  (proportional to W-d+1)",
             "[" + ", ".join(f"{p:.3f}" for p in got_p.tolist()) + "]", hint)

    # generator=None must work too (uses the global generator)
    where = f"{name}(ids, window=2)  # no generator"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        pairs = call(skipgram_pairs, torch.arange(10), 2, where=where)
    expect_shape(pairs, (None, 2), where, "generator defaults to None: torch's global generator")


# --------------------------------------------------------------------------- 4. noise

def _unigram(counts: torch.Tensor, power: float) -> torch.Tensor:
    raw = counts.double() ** power
    return raw / raw.sum()


def _noise_bugs(power: float) -> list[Bug]:
    """noise_distribution(counts, power): symptom -> likely bug."""
    plain = [] if power == 1.0 else [
        Bug(f"these are the plain frequencies: raise the counts to the power {power} first "
            "(word2vec uses 0.75)", like=lambda c, p: _freq(c), atol=1e-6)]
    return plain + [
        Bug("the frequencies were raised to the power but not renormalised: divide by the sum "
            "again so the probabilities add up to 1", like=lambda c, p: _freq(c) ** p, atol=1e-6),
        Bug("the probabilities must sum to 1",
            when=lambda q, c, p: abs(float(q.double().sum()) - 1) > 1e-4),
    ]


def _word_ids(shape: tuple[int, ...]) -> Out:
    return Out(dtype=torch.long, shape=shape, dtype_hint="negatives are word ids: a LongTensor",
               shape_hint="return a tensor of exactly `shape` (reshape the draws)")


_IN_VOCABULARY = Holds("ids", lambda ids, noise, *_: bool(((ids >= 0) & (ids < len(noise))).all()),
                       "ids index the vocabulary: 0 <= id < len(noise)",
                       expected=lambda ids, noise, *_: f"ids in 0..{len(noise) - 1}",
                       got=lambda ids, *_: show(ids))


def _frequencies(ids: torch.Tensor, n: int) -> torch.Tensor:
    return torch.bincount(ids.reshape(-1), minlength=n).double() / ids.numel()


def _repeats(ids: torch.Tensor) -> int:
    return int((ids[:, 0] == ids[:, 1]).sum() + (ids[:, 1] == ids[:, 2]).sum()
               + (ids[:, 0] == ids[:, 2]).sum())


def _looks_uniform(ids: torch.Tensor, noise: torch.Tensor) -> bool:
    freq, n = _frequencies(ids, len(noise)), len(noise)
    return (bool(((freq - 1 / (n - 1)).abs()[:-1] < 0.015).all())
            or bool(((freq - 1 / n).abs() < 0.015).all()))


def _floats(values: torch.Tensor) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values.tolist()) + "]"


def check_noise(noise_distribution, sample_negatives) -> None:
    """Unigram^0.75, renormalised; samples drawn from it with replacement."""
    counts = torch.tensor([400, 100, 30, 5, 1, 0], dtype=torch.long)
    run(*[Case(f"noise_distribution(counts={counts.tolist()}, power={power})",
               noise_distribution, (counts, power), keeps={"counts": counts},
               keeps_hint="don't modify `counts` in place",
               out=Out(dtype=FLOATS, shape=tuple(counts.shape), finite=True,
                       dtype_hint="probabilities are floats", shape_hint="one probability per word"),
               want=_unigram, bugs=_noise_bugs(power),
               hint="p_i is count_i ** power, divided by the sum over all words")
          for power in (0.75, 1.0, 0.5)])

    noise = torch.tensor([0.5, 0.25, 0.15, 0.1, 0.0])
    shape = (20000, 3)
    where = f"sample_negatives(noise=[0.5, 0.25, 0.15, 0.1, 0.0], shape={shape})"
    again = lambda: call(sample_negatives, noise, shape, gen(4), where=where)  # noqa: E731
    run(Case(where, sample_negatives, (noise, shape, gen(4)), out=_word_ids(shape),
             call_hint="negatives are drawn WITH replacement: a word may be drawn many times, "
             "and more draws than words in the vocabulary must work",
             holds=[
                 _IN_VOCABULARY,
                 Holds("calling twice with generators seeded alike",
                       lambda ids, *_: _same(ids, again()),
                       "pass `generator=generator` to the torch sampling function",
                       expected="identical samples", got="different samples"),
                 Holds("word 4 has probability 0", lambda ids, *_: int((ids == 4).sum()) == 0,
                       "sample the ids from the noise distribution (torch.multinomial with these "
                       "probabilities), not uniformly", expected="never drawn",
                       got=lambda ids, *_: f"drawn {int((ids == 4).sum())} times"),
                 Holds(f"frequency of each id over {shape[0] * shape[1]} draws",
                       lambda ids, noise, *_: bool(((_frequencies(ids, len(noise))
                                                     - noise.double()).abs() < 0.015).all()),
                       "draw each id independently with probability noise[id] (with replacement)",
                       expected=f"{_floats(noise)}  (= noise)",
                       got=lambda ids, noise, *_: _floats(_frequencies(ids, len(noise))),
                       bugs=[Bug("no row ever repeats a word: sample WITH replacement "
                                 "(replacement=True); a frequent word can be drawn several "
                                 "times as a negative", when=lambda ids, *_: _repeats(ids) == 0),
                             Bug("the ids look uniform: draw them with the probabilities in "
                                 "`noise`", when=lambda ids, noise, *_: _looks_uniform(ids, noise))]),
             ]),
        *[Case(f"sample_negatives(noise, shape={s})", sample_negatives, (noise, s, gen(3)),
               out=_word_ids(s), holds=[_IN_VOCABULARY]) for s in ((7,), (2, 3), (2, 3, 4))])


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)


# ---------------------------------------------------------------------------- 5. loss

def _scores(center, context, negatives):
    """(B,) positive scores c.o and (B, K) negative scores c.n_k, in float64."""
    c = center.double()
    return (c * context.double()).sum(-1), (negatives.double() * c.unsqueeze(1)).sum(-1)


def _ls(x):
    return torch.nn.functional.logsigmoid(x)


def _sgns(center, context, negatives):
    """The paper's loss (Mikolov et al., 2013, Eq. 4), averaged over the batch."""
    pos, neg = _scores(center, context, negatives)
    return -(_ls(pos) + _ls(-neg).sum(-1)).mean()


def _with_scores(f):
    return lambda center, context, negatives: f(*_scores(center, context, negatives))


# sgns_loss(center, context, negatives): symptom -> likely bug
_LOSS_BUGS = [
    Bug("sign error on the negatives: they should score LOW, so use log sigma(-c.n_k)",
        like=_with_scores(lambda pos, neg: -(_ls(pos) + _ls(neg).sum(-1)).mean())),
    Bug("the negative terms are averaged over K; the SGNS loss sums them",
        like=_with_scores(lambda pos, neg: -(_ls(pos) + _ls(-neg).mean(-1)).mean())),
    Bug("summed over the batch: the loss is the mean over the B rows",
        like=_with_scores(lambda pos, neg: -(_ls(pos) + _ls(-neg).sum(-1)).sum())),
    Bug("the loss is the NEGATIVE log-likelihood: mind the overall minus sign",
        like=lambda *inputs: -_sgns(*inputs)),
    Bug("the negative terms are subtracted; both log-sigmoid terms are added, then the sum "
        "is negated", like=_with_scores(lambda pos, neg: -(_ls(pos) - _ls(-neg).sum(-1)).mean())),
    # center (B, D) * negatives (B, K, D) broadcasts when B == K, pairing the wrong rows
    Bug("center (B, D) times negatives (B, K, D) broadcasts center over K, not B: give center "
        "a K axis (B, 1, D) or use torch.bmm",
        when=lambda loss, center, context, negatives: negatives.shape[0] == negatives.shape[1]
        and close(loss, -(_ls(_scores(center, context, negatives)[0])
                          + _ls(-(negatives.double() * center.double()).sum(-1)).sum(-1)).mean())),
]

_STABLE = ("log(sigmoid(x)) is not numerically stable: in float32 sigmoid(-100) rounds to 0 "
           "and log(0) = -inf (and 1 - sigmoid(100) is 0 too); use "
           "torch.nn.functional.logsigmoid")


def _in_graph(loss, *_) -> bool:
    return loss.requires_grad and loss.grad_fn is not None


def _gradients(where, loss, *leaves):
    """The float64 gradients of `loss` w.r.t. the inputs, next to the formula's."""
    call(loss.backward, where=f"{where}: loss.backward()")
    refs = [leaf.detach().clone().double().requires_grad_(True) for leaf in leaves]
    _sgns(*refs).backward()
    return [(dense_grad(leaf), ref.grad) for leaf, ref in zip(leaves, refs)]


def check_sgns_loss(sgns_loss) -> None:
    """Mean over the batch of -[log s(c.o) + sum_k log s(-c.n_k)], stable, differentiable."""
    g = gen(5)
    for B, K, D in ((4, 3, 5), (3, 3, 4), (1, 1, 2)):
        inputs = (torch.randn(B, D, generator=g), torch.randn(B, D, generator=g),
                  torch.randn(B, K, D, generator=g))
        leaves = tuple(t.clone().requires_grad_(True) for t in inputs)
        where = f"sgns_loss(center {B}x{D}, context {B}x{D}, negatives {B}x{K}x{D})"
        (loss,) = run(Case(
            where, sgns_loss, leaves, out=Out(dtype=FLOATS, shape=(),
                                              shape_hint="the loss is a scalar: average over the batch"),
            call_hint="shapes: center (B, D), context (B, D), negatives (B, K, D); to score the "
            "K negatives of row b against center b, center needs a K axis (B, 1, D), or use "
            "torch.bmm", want=_sgns, atol=1e-5, rtol=1e-5, bugs=_LOSS_BUGS,
            hint="loss = mean over b of -[log sigma(c_b . o_b) + sum_k log sigma(-c_b . n_bk)]",
            holds=[Holds("autograd", _in_graph,
                         "the loss must stay in the autograd graph: no .item(), no "
                         "torch.tensor(...) around it, no torch.no_grad()",
                         expected="a loss with grad_fn", got="a tensor without grad_fn")]))
        for (got, want), label in zip(_gradients(where, loss, *leaves), ("center", "context", "negatives")):
            expect_close(got, want, f"{where}: gradient w.r.t. {label}", "the loss value is right "
                         "but its gradient is not: don't detach any part of it", atol=1e-5, rtol=1e-4)

    # |logit| = 100 in both directions: finite, and still the right value
    for sign in (-1.0, 1.0):
        center, context, negatives = torch.zeros(1, 4), torch.zeros(1, 4), torch.zeros(1, 2, 4)
        center[0, 0], context[0, 0], negatives[0, :, 0] = 10.0, 10.0 * sign, -10.0 * sign
        run(Case(f"sgns_loss with c.o = {100 * sign:+.0f} and c.n_k = {-100 * sign:+.0f}  "
                 f"({'every score wrong' if sign < 0 else 'every score right'})",
                 sgns_loss, (center, context, negatives),
                 out=Out(finite=True, finite_hint=_STABLE), want=_sgns, atol=1e-4, rtol=1e-5,
                 hint="clamping or adding an epsilon inside the log caps the loss (and zeroes "
                 "the gradient) of badly wrong scores; compute the log-sigmoid stably instead: "
                 "torch.nn.functional.logsigmoid"))


# --------------------------------------------------------------------------- 6. model

def _embedding(model, attr: str, where: str) -> nn.Embedding:
    emb = getattr(model, attr, None)
    expect_true(isinstance(emb, nn.Embedding), f"{where}: self.{attr}",
                f"create self.{attr} = nn.Embedding(vocab_size, dim) in __init__",
                expected="an nn.Embedding", got=type(emb).__name__ if emb is not None
                else f"no attribute {attr!r}")
    return emb


def check_skipgram_model(SkipGram) -> None:  # noqa: N803 (the learner's class)
    """Two tables, word2vec init, loss via SGNS, gradients only on the rows used."""
    name = "SkipGram"
    V, D = 2000, 50
    where = f"{name}({V}, {D})"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = call(SkipGram, V, D, where=where)
    expect_true(isinstance(model, nn.Module), where, "class SkipGram(nn.Module) and call "
                "super().__init__() first", expected="an nn.Module", got=type(model).__name__)
    inp = _embedding(model, "in_embed", where)
    out = _embedding(model, "out_embed", where)
    expect_true(inp is not out and inp.weight.data_ptr() != out.weight.data_ptr(),
                f"{where}: in_embed and out_embed",
                "word2vec keeps TWO tables: input (center) vectors and output (context) "
                "vectors; create two separate nn.Embedding", expected="two separate tables",
                got="one shared table")
    for emb, label in ((inp, "in_embed"), (out, "out_embed")):
        expect_shape(emb.weight, (V, D), f"{where}: {label}.weight",
                     "nn.Embedding(vocab_size, dim): one row per word")
    w = inp.weight.detach().double()
    bound = 0.5 / D
    std = bound * 2 / math.sqrt(12)
    ok = (w.abs().max().item() <= bound * (1 + 1e-5) and abs(w.std().item() - std) < 0.05 * std
          and abs(w.mean().item()) < 0.05 * std)
    if not ok:
        if bool((w == 0).all()):
            hint = ("with both tables at zero every gradient is zero and nothing ever "
                    "trains: initialise in_embed uniformly in [-0.5/dim, 0.5/dim]")
        elif w.std().item() > 0.5:
            hint = ("this looks like nn.Embedding's default N(0, 1) init; word2vec initialises "
                    "in_embed uniformly in [-0.5/dim, 0.5/dim]")
        else:
            hint = "initialise in_embed uniformly in [-0.5/dim, 0.5/dim]"
        fail(f"{where}: in_embed init",
             f"uniform in [-{bound:.3g}, {bound:.3g}]: std {std:.3g}, mean 0",
             f"values in [{w.min().item():.3g}, {w.max().item():.3g}], std {w.std().item():.3g}, "
             f"mean {w.mean().item():.3g}", hint)

    w = out.weight.detach()
    expect_true(bool((w == 0).all()), f"{where}: out_embed init",
                "word2vec C starts the output vectors at zero (nn.init.zeros_)",
                expected="all zeros", got=f"values from {w.min().item():.3g} to {w.max().item():.3g}")

    for sparse in (False, True):
        where = f"{name}(20, 6, sparse={sparse})"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            model = call(SkipGram, 20, 6, sparse=sparse, where=where)
        inp = _embedding(model, "in_embed", where)
        out = _embedding(model, "out_embed", where)
        for emb, label in ((inp, "in_embed"), (out, "out_embed")):
            expect_true(emb.sparse == sparse, f"{where}: {label}.sparse",
                        "pass sparse=sparse to both nn.Embedding (sparse gradients make "
                        "training with SparseAdam or SGD much faster for big vocabularies)",
                        expected=sparse, got=emb.sparse)
        _check_skipgram_forward(model, inp, out, where)

    where = f"{name}(20, 6).vectors()"
    vec = call(model.vectors, where=where)
    expect_tensor(vec, where)
    expect_shape(vec, (20, 6), where, "one row per word: the (V, D) input embeddings")
    if not torch.equal(vec, inp.weight.detach()):
        if torch.equal(vec, out.weight.detach()):
            fail(f"{where}: values", "in_embed.weight", "out_embed.weight",
                 "these are the output (context) vectors; word2vec's word vectors are the "
                 "input embeddings, in_embed")
        expect_close(vec, inp.weight.detach(), f"{where}: values",
                     "return a copy of in_embed's weights")
    expect_true(not vec.requires_grad, f"{where}: requires_grad",
                "detach the weights: vectors() is for evaluation, outside autograd",
                expected=False, got=True)
    expect_true(vec.data_ptr() != inp.weight.data_ptr(), f"{where}: memory",
                "detach() shares memory with the parameter, so further training would change "
                "the vectors you returned: return a copy (clone it)",
                expected="a copy", got="a view of in_embed.weight")


def _check_skipgram_forward(model, inp, out, where) -> None:
    g = gen(6)
    V, D = inp.weight.shape
    with torch.no_grad():
        inp.weight.copy_(torch.randn(V, D, generator=g) * 0.5)
        out.weight.copy_(torch.randn(V, D, generator=g) * 0.5)
    center = torch.tensor([0, 1, 2, 1])
    context = torch.tensor([5, 6, 7, 5])
    negatives = torch.tensor([[10, 11, 12], [13, 10, 14], [15, 16, 10], [11, 17, 18]])
    model.zero_grad(set_to_none=True)
    loss = call(model, center, context, negatives,
                where=f"{where}: forward(center (4,), context (4,), negatives (4, 3))")
    here = f"{where}: forward(...)"
    expect_tensor(loss, here)
    expect_shape(loss, (), here, "forward returns the scalar SGNS loss")
    w_in, w_out = inp.weight.detach(), out.weight.detach()
    pos, neg = _scores(w_in[center], w_out[context], w_out[negatives])
    want = -(_ls(pos) + _ls(-neg).sum(-1)).mean()
    if not close(loss, want):
        pos_i, _ = _scores(w_in[center], w_in[context], w_out[negatives])
        _, neg_i = _scores(w_in[center], w_out[context], w_in[negatives])
        if close(loss, -(_ls(pos_i) + _ls(-neg).sum(-1)).mean()):
            hint = "the context is looked up in in_embed; contexts use out_embed"
        elif close(loss, -(_ls(pos) + _ls(-neg_i).sum(-1)).mean()):
            hint = "the negatives are looked up in in_embed; negatives use out_embed"
        elif close(loss, -_ls(pos).mean()):
            hint = "the negatives are not used: pass their out_embed vectors to sgns_loss"
        else:
            hint = ("loss = sgns_loss(in_embed(center), out_embed(context), "
                    "out_embed(negatives)); if that is what you wrote, check sgns_loss first")
        expect_close(loss, want, here, hint, atol=1e-5, rtol=1e-5)
    call(loss.backward, where=f"{where}: loss.backward()")
    g_in, g_out = dense_grad(inp.weight), dense_grad(out.weight)
    rows_in = sorted(set((g_in != 0).any(1).nonzero().flatten().tolist()))
    rows_out = sorted(set((g_out != 0).any(1).nonzero().flatten().tolist()))
    want_in = sorted(set(center.tolist()))
    want_out = sorted(set(context.tolist()) | set(negatives.flatten().tolist()))
    if rows_in != want_in:
        hint = ("only the center words' input vectors take part in the loss"
                if set(rows_in) > set(want_in) else "the center words' input vectors must get "
                "a gradient: look the centers up in in_embed")
        fail(f"{where}: rows of in_embed with a non-zero gradient", want_in, rows_in, hint)
    if rows_out != want_out:
        missing = set(want_out) - set(rows_out)
        if missing and missing <= set(negatives.flatten().tolist()):
            hint = "the negatives' output vectors get no gradient: the negatives are not used"
        elif missing:
            hint = "the context words' output vectors must get a gradient (out_embed)"
        else:
            hint = "only the context and negative words' output vectors take part in the loss"
        fail(f"{where}: rows of out_embed with a non-zero gradient", want_out, rows_out, hint)
    leaves = [w_in.clone().requires_grad_(True), w_out.clone().requires_grad_(True)]
    pos, neg = _scores(leaves[0][center], leaves[1][context], leaves[1][negatives])
    (-(_ls(pos) + _ls(-neg).sum(-1)).mean()).backward()
    expect_close(g_in, leaves[0].grad, f"{where}: gradient of in_embed.weight", atol=1e-5)
    expect_close(g_out, leaves[1].grad, f"{where}: gradient of out_embed.weight", atol=1e-5)


# ---------------------------------------------------------------------- 7. similarity

def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def _topk_excluding(sims: torch.Tensor, exclude: list[torch.Tensor], k: int) -> torch.Tensor:
    sims = sims.clone()
    rows = torch.arange(sims.shape[0])
    for q in exclude:
        sims[rows, q] = -math.inf
    return sims.topk(k, dim=1).indices


def check_similarity(nearest_neighbours, analogy) -> None:
    """Cosine neighbours and 3CosAdd analogies, query words excluded, scale invariant."""
    name = "nearest_neighbours"
    # query 3 = [1, 0]: row 0 points the same way (cosine exactly 1), row 2 is next by
    # cosine, row 1 has the biggest dot product
    emb = torch.tensor([[3.0, 0.0], [10.0, 1.0], [1.0, 0.05], [1.0, 0.0], [0.0, 1.0],
                        [-1.0, 0.0]])
    where = f"{name}(emb=[[3, 0], [10, 1], [1, 0.05], [1, 0], [0, 1], [-1, 0]], query=[3], k=3)"
    got = call(nearest_neighbours, emb.clone(), torch.tensor([3]), 3, where=where)
    expect_tensor(got, where)
    expect_shape(got, (1, 3), where, "one row of k neighbour ids per query")
    expect_dtype(got, torch.long, where, "neighbours are word ids: a LongTensor")
    if got.tolist() != [[0, 2, 1]]:
        g = got.tolist()[0]
        if 3 in g:
            hint = ("the query word itself was returned: exclude it by its id (set its "
                    "similarity to -inf before ranking); dropping the top hit is not enough, "
                    "another word can be exactly as similar as the query is to itself")
        elif g[0] == 1:
            hint = ("ranked by dot product: a long vector wins however far its angle; normalise "
                    "the rows to unit length first (cosine similarity)")
        else:
            hint = "rank by cosine similarity, most similar first"
        fail(f"{where}: neighbour ids", [[0, 2, 1]], got.tolist(), hint)

    g = gen(7)
    V, D = 40, 6
    emb = torch.randn(V, D, generator=g) * torch.rand(V, 1, generator=g).mul(5).add(0.2)
    query = torch.tensor([0, 5, 17, 39])
    where = f"{name}(emb {V}x{D}, query={query.tolist()}, k=5)"
    before = emb.clone()
    got = call(nearest_neighbours, emb, query, 5, where=where)
    expect_equal(emb, before, f"{name}: emb after the call",
                 "emb was modified in place (e.g. /= or .div_()): normalise into a new tensor, "
                 "the caller's vectors must stay as they were")
    expect_shape(got, (len(query), 5), where, "(Q, k): k neighbour ids per query")
    want = _topk_excluding(_unit(emb)[query] @ _unit(emb).T, [query], 5)
    if not torch.equal(got, want):
        if bool((got == query[:, None]).any()):
            hint = "the query word itself was returned: exclude it"
        elif torch.equal(got, _topk_excluding(emb[query] @ emb.T, [query], 5)):
            hint = "ranked by dot product: normalise the rows (cosine similarity)"
        elif torch.equal(got.sort(1).values, want.sort(1).values):
            hint = "the right neighbours in the wrong order: most similar first"
        else:
            hint = "rank all words by cosine similarity to the query, most similar first"
        fail(f"{where}: neighbour ids", want, got, hint)
    scales = torch.rand(V, 1, generator=g) * 10 + 0.1
    where = f"{name}(emb * positive row scales, ...)"
    scaled = call(nearest_neighbours, emb * scales, query, 5, where=where)
    expect_equal(scaled, got, f"{where}: neighbour ids",
                 "cosine similarity ignores the length of each row; the result changed when "
                 "rows were rescaled")

    name = "analogy"
    emb = torch.randn(V, D, generator=g) * torch.rand(V, 1, generator=g).mul(5).add(0.2)
    a = torch.randint(0, V, (24,), generator=g)
    b = (a + torch.randint(1, V, (24,), generator=g)) % V
    c = torch.randint(0, V, (24,), generator=g)
    c = torch.where((c == a) | (c == b), (c + 7) % V, c)
    c = torch.where((c == a) | (c == b), (c + 11) % V, c)
    where = f"{name}(emb {V}x{D}, a, b, c of 24 queries)"
    before = emb.clone()
    got = call(analogy, emb, a, b, c, where=where)
    expect_equal(emb, before, f"{name}: emb after the call",
                 "emb was modified in place: normalise into a new tensor")
    expect_tensor(got, where)
    expect_dtype(got, torch.long, where, "the answers are word ids: a LongTensor")
    expect_shape(got, (len(a),), where, "one answer id per (a, b, c) query")
    u = _unit(emb)
    want = _topk_excluding(_unit(u[b] - u[a] + u[c]) @ u.T, [a, b, c], 1)[:, 0]
    if not torch.equal(got, want):
        hits = (got == a) | (got == b) | (got == c)
        if bool(hits.any()):
            i = int(hits.nonzero()[0])
            which = [n for n, t in (("a", a), ("b", b), ("c", c)) if int(t[i]) == int(got[i])]
            hint = (f"query {i} returned its own {which[0]} word: exclude a, b and c from the "
                    "candidates (b is usually nearest to b - a + c)")
        elif torch.equal(got, _topk_excluding(_unit(u[a] - u[b] + u[c]) @ u.T, [a, b, c], 1)[:, 0]):
            hint = "a:b :: c:? solves x = b - a + c, not a - b + c"
        elif torch.equal(got, _topk_excluding((emb[b] - emb[a] + emb[c]) @ emb.T,
                                              [a, b, c], 1)[:, 0]):
            hint = ("dot products of raw vectors: normalise the rows to unit length, both to "
                    "build b - a + c and to compare with it (3CosAdd)")
        elif torch.equal(got, _topk_excluding((emb[b] - emb[a] + emb[c]) @ u.T,
                                              [a, b, c], 1)[:, 0]):
            hint = ("b - a + c was built from the raw vectors; 3CosAdd uses the unit-normalised "
                    "rows: normalise before taking b - a + c")
        else:
            hint = "argmax over x of cos(x, b - a + c), on unit-normalised rows, excluding a, b, c"
        bad = int((got != want).nonzero()[0])
        fail(f"{where}: answer to query {bad} (a={int(a[bad])}, b={int(b[bad])}, "
             f"c={int(c[bad])}); {int((got != want).sum())} of {len(a)} answers differ",
             int(want[bad]), int(got[bad]), hint)
    scales = torch.rand(V, 1, generator=g) * 10 + 0.1
    where = f"{name}(emb * positive row scales, a, b, c)"
    scaled = call(analogy, emb * scales, a, b, c, where=where)
    expect_equal(scaled, got, f"{where}: answers",
                 "3CosAdd works on unit-normalised rows, so rescaling a row can't change the "
                 "answer; normalise the rows before anything else")


# ---------------------------------------------------------------------- 8. classifier

def _the_embedding(model, where: str):
    found = [m for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
    expect_true(len(found) == 1, f"{where}: embedding layer",
                "the model holds one nn.Embedding (V, D) for the words",
                expected="exactly one nn.Embedding", got=f"{len(found)}")
    return found[0]


def check_bag_of_embeddings(BagOfEmbeddings) -> None:  # noqa: N803 (the learner's class)
    """Mean of the non-padding embeddings, then linear; pretrained copied; freeze works."""
    name = "BagOfEmbeddings"
    V, D, C = 12, 4, 3
    g = gen(8)
    pretrained = torch.randn(V, D, generator=g)  # row 0, the padding id, is NOT zero
    keep = pretrained.clone()

    def build(*args, **kwargs):
        shown = ", ".join([str(a) for a in args] + [f"{k}={'P' if k == 'pretrained' else v}"
                                                    for k, v in kwargs.items()])
        here = f"{name}({shown})"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(2)
            model = call(BagOfEmbeddings, *args, where=here, **kwargs)
        expect_true(isinstance(model, nn.Module), here, "class BagOfEmbeddings(nn.Module)",
                    expected="an nn.Module", got=type(model).__name__)
        return model, here

    def logits(model, ids, here):
        model.eval()
        with torch.no_grad():
            out = call(model, ids, where=f"{here}: forward(ids {tuple(ids.shape)})")
        expect_tensor(out, here)
        expect_shape(out, (ids.shape[0], C), f"{here}: forward(ids {tuple(ids.shape)})",
                     "one row of class logits per sentence: (B, num_classes)")
        expect_finite(out, f"{here}: forward(ids {tuple(ids.shape)})")
        return out

    ids = torch.tensor([[5, 7, 0, 0], [3, 3, 9, 1], [2, 0, 0, 0]])
    model, where = build(V, D, C, pretrained=pretrained)
    emb = _the_embedding(model, where)
    expect_shape(emb.weight, (V, D), f"{where}: embedding weight")
    rows = [i for i in range(V) if i != 0]
    expect_equal(emb.weight.detach()[rows], pretrained[rows],
                 f"{where}: embedding weights (rows other than padding)",
                 "copy `pretrained` into the embedding's weight when it is given")
    base = logits(model, ids, where)
    padded = torch.cat([ids, torch.zeros(3, 3, dtype=torch.long)], dim=1)
    hint_pad = ("padding changed the output: average only the non-padding tokens (mask where "
                "ids == padding_idx, divide by the number of real tokens); here the padding "
                "row of the embedding is not zero, so the mask must not rely on it")
    expect_close(logits(model, padded, where), base, f"{where}: logits with 3 more padding "
                 "columns", hint_pad, atol=1e-5)
    alone = torch.cat([logits(model, ids[i:i + 1, :int((ids[i] != 0).sum())], where)
                       for i in range(3)])
    expect_close(alone, base, f"{where}: each sentence alone, unpadded, vs in the padded batch",
                 hint_pad, atol=1e-5)
    twice = torch.tensor([[5, 7], [5, 7]])
    doubled = torch.tensor([[5, 7, 0, 0], [5, 7, 5, 7]])
    out = logits(model, doubled, where)
    expect_close(out[1], logits(model, twice, where)[0], f"{where}: logits of [5, 7, 5, 7] vs "
                 "[5, 7]", "a mean of embeddings does not change when the sentence is repeated; "
                 "a sum does: divide by the number of non-padding tokens", atol=1e-5)

    # padding_idx is a parameter, not always 0
    model3, where3 = build(V, D, C, pretrained=pretrained, padding_idx=3)
    ids3 = torch.tensor([[5, 7, 3, 3], [0, 2, 9, 3]])
    expect_close(logits(model3, ids3, where3),
                 torch.cat([logits(model3, torch.tensor([[5, 7]]), where3),
                            logits(model3, torch.tensor([[0, 2, 9]]), where3)]),
                 f"{where3}: logits, padded with id 3 vs unpadded",
                 "the padding id is the padding_idx argument (here 3), not always 0; "
                 "id 0 is then an ordinary word", atol=1e-5)

    # pretrained=None: a trainable random embedding
    model0, where0 = build(V, D, C)
    emb0 = _the_embedding(model0, where0)
    expect_true(float(emb0.weight.detach()[1:].abs().sum()) > 0, f"{where0}: embedding",
                "without pretrained vectors the embedding starts random",
                expected="non-zero weights", got="all zeros")

    # frozen vs fine-tuned: one SGD step
    target = torch.tensor([0, 2, 1])
    for freeze in (True, False):
        model, where = build(V, D, C, pretrained=pretrained, freeze=freeze)
        emb = _the_embedding(model, where)
        model.train()
        model.zero_grad(set_to_none=True)
        out = call(model, ids, where=f"{where}: forward(ids)")
        loss = torch.nn.functional.cross_entropy(out, target)
        call(loss.backward, where=f"{where}: loss.backward()")
        grad = dense_grad(emb.weight)
        head = [p for p in model.parameters() if p is not emb.weight]
        expect_true(any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in head),
                    f"{where}: gradient of the linear layer", "the classifier layer must train "
                    "in both settings; freeze only the embedding",
                    expected="non-zero", got="none")
        used = sorted(set(ids[ids != 0].tolist()))
        if freeze:
            expect_true(bool((grad == 0).all()), f"{where}: gradient of the embedding",
                        "freeze=True must stop the embedding's gradient (set requires_grad "
                        "to False on its weight)", expected="no gradient",
                        got=f"non-zero gradient on rows "
                            f"{sorted(set(grad.abs().sum(1).nonzero().flatten().tolist()))}")
        else:
            got_rows = sorted(set(grad.abs().sum(1).nonzero().flatten().tolist()))
            if got_rows != used:
                if not got_rows:
                    hint = ("freeze=False must fine-tune the embedding (note that "
                            "nn.Embedding.from_pretrained freezes by default)")
                elif 0 in got_rows:
                    hint = "the padding row got a gradient: padding must not enter the mean"
                else:
                    hint = "exactly the words in the batch get a gradient"
                fail(f"{where}: rows of the embedding with a non-zero gradient", used,
                     got_rows, hint)
        with torch.no_grad():  # one plain SGD step, lr = 1
            for p in model.parameters():
                if p.requires_grad and p.grad is not None:
                    p.add_(p.grad, alpha=-1.0)
        weights = emb.weight.detach()
        expect_equal(pretrained, keep, f"{where}: the caller's `pretrained` tensor after one "
                     "training step", "training wrote into the tensor passed as `pretrained`: "
                     "the embedding shares its memory (nn.Embedding.from_pretrained and "
                     "nn.Parameter(pretrained) do not copy); copy the values in")
        if freeze:
            expect_equal(weights[rows], pretrained[rows], f"{where}: embedding after one "
                         "SGD step", "a frozen embedding must not change during training")
        else:
            expect_true(not torch.equal(weights[used], pretrained[used]),
                        f"{where}: embedding after one SGD step",
                        "freeze=False: the embedding must be fine-tuned",
                        expected="changed rows for the words in the batch", got="unchanged")
