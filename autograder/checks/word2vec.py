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

The checks run in the learner's kernel: they import only torch (and gensim, lazily, to
refuse it), use their own seeded generators, and leave the global random state as they
found it.

They carry no answer: where a check needs an exercise's correct output, it reads the value
that the solution gave on the same fixed inputs, stored by `course release` (`PROBES` below,
read with `autograder.expected.case`); the rest are properties (invariances, masks,
statistics of sampling, the rows a gradient reaches). An answer that calls gensim for an
exercise's job fails with a message saying what the exercise asks.
"""

from __future__ import annotations

import importlib.util
import math
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from ..expected import Probe, case
from ._common import (
    FLOATS,
    Bug,
    Case,
    Holds,
    Out,
    build,
    call,
    close,
    dense_grad,
    examine,
    expect_close,
    expect_equal,
    expect_shape,
    expect_tensor,
    expect_true,
    forbid,
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


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)


def _stored(probe: str) -> dict[str, torch.Tensor]:
    """The fields of one of this module's probes, as `course release` stored them."""
    return case("word2vec", probe)


# ------------------------------------------------------------------ gensim shortcuts

# what gensim offers that does an exercise's job (gensim implements word2vec in C)
_GENSIM_METHODS = {
    "gensim.corpora": {"Dictionary": ("__init__", "add_documents", "doc2bow")},
    "gensim.models": {
        "Word2Vec": ("__init__", "build_vocab", "build_vocab_from_freq", "scan_vocab",
                     "prepare_vocab", "make_cum_table"),
        "KeyedVectors": ("most_similar", "most_similar_cosmul", "similar_by_word",
                         "similar_by_key", "similar_by_vector", "most_similar_to_given",
                         "cosine_similarities", "similarity", "n_similarity", "distance",
                         "distances", "closer_than", "rank", "get_normed_vectors", "fill_norms",
                         "unit_normalize_all", "init_sims", "evaluate_word_analogies"),
    },
}
_GENSIM_FUNCTIONS = {"gensim.matutils": ("unitvec", "argsort", "cossim")}


def _gensim_targets() -> list[tuple[Any, str]]:
    import importlib

    targets = []
    for module, classes in _GENSIM_METHODS.items():
        found = importlib.import_module(module)
        targets += [(getattr(found, cls), name) for cls, names in classes.items() for name in names]
    for module, names in _GENSIM_FUNCTIONS.items():
        found = importlib.import_module(module)
        targets += [(found, name) for name in names]
    return targets


def _no_gensim(where: str, asks: str) -> AbstractContextManager:
    """Inside: a call of gensim's vocabulary, noise table or similarity code fails the check,
    saying that the exercise asks the learner to `asks` themselves (only if gensim is there)."""
    if importlib.util.find_spec("gensim") is None:
        return nullcontext()
    try:
        targets = _gensim_targets()
    except (ImportError, ValueError):  # a broken install (numpy ABI): nothing to call, then
        return nullcontext()
    return forbid(targets, where, asks)


# --------------------------------------------------------------------------- 1. vocab

# Occurrences: the 4 (in 3 sentences), cat 2, sat 2, dog 2, a 2 (both in one sentence),
# on/mat/and/end 1. First-seen order: the, cat, sat, on, mat, dog, a, and, end.
_VOCAB_SENTENCES = [
    ["the", "cat", "sat", "on", "the", "mat"],
    ["the", "dog", "sat"],
    ["a", "cat", "and", "a", "dog"],
    ["the", "end"],
]
_KEPT_COUNTS = {"the": 4, "a": 2, "cat": 2, "dog": 2, "sat": 2}  # min_count=2
_KEPT_ORDER = ["the", "a", "cat", "dog", "sat"]  # by count, ties by word


def _sentences() -> list[list[str]]:
    return [list(s) for s in _VOCAB_SENTENCES]


def _is_pair(out: Any) -> bool:
    return isinstance(out, (tuple, list)) and len(out) == 2


def _counted(vocab) -> dict[str, int]:
    itos, counts = vocab
    return dict(zip(itos, counts.tolist()))


def _missing(vocab) -> list[str]:
    return sorted(set(_KEPT_COUNTS) - set(vocab[0]))


def _extra(vocab) -> list[str]:
    return sorted(set(vocab[0]) - set(_KEPT_COUNTS))


def _sorted_by_count(vocab) -> bool:
    by_count = [_counted(vocab)[w] for w in vocab[0]]
    return by_count == sorted(by_count, reverse=True)


_A_PAIR = Holds("return value", lambda out, *_: _is_pair(out), "return two things, `itos, counts`",
                expected="a tuple (itos, counts)",
                got=lambda out, *_: f"{type(out).__name__}: {show(out)}")
_WORDS = Holds("itos",
               lambda out, *_: isinstance(out[0], list) and all(isinstance(w, str) for w in out[0]),
               "itos is a plain Python list of the words (strings), index -> word",
               expected="a list of str",
               got=lambda out, *_: f"{type(out[0]).__name__}: {show(out[0])}")


def _count_of(word: str, n: int) -> Holds:
    """A kept word is counted right (a word left out is the next rule's business)."""
    got = lambda vocab, *_: _counted(vocab)[word]  # noqa: E731
    sentences = Bug("you counted the sentences that contain the word, not its occurrences (a word "
                    "may appear twice in one sentence)",
                    when=lambda vocab, *_: (word, got(vocab)) in {("the", 3), ("a", 1)})
    return Holds(f"count of {word!r}", lambda vocab, *_: _counted(vocab).get(word, n) == n,
                 "count every occurrence of the word in every sentence", expected=n, got=got,
                 bugs=[sentences])


_KEPT = Holds(
    "the kept words (as a set)", lambda vocab, *_: set(vocab[0]) == set(_KEPT_COUNTS),
    "keep exactly the words whose count is >= min_count",
    expected=sorted(_KEPT_COUNTS), got=lambda vocab, *_: sorted(vocab[0]),
    bugs=[Bug("words seen exactly min_count times were dropped: keep count >= min_count, not "
              "count > min_count",
              when=lambda vocab, *_: bool(_missing(vocab)) and not _extra(vocab)
              and all(_KEPT_COUNTS[w] == 2 for w in _missing(vocab))),
          Bug("'a' occurs twice (in one sentence): count occurrences, not the sentences a word "
              "appears in", when=lambda vocab, *_: "a" in _missing(vocab)),
          Bug("words seen fewer than min_count times must be left out",
              when=lambda vocab, *_: bool(_extra(vocab)))])
_IN_ORDER = Holds(
    "itos order", lambda vocab, *_: vocab[0] == _KEPT_ORDER,
    "words with equal counts must be in alphabetical order (ties broken by word ascending); "
    "Counter.most_common keeps first-seen order instead",
    expected=_KEPT_ORDER, got=lambda vocab, *_: vocab[0],
    bugs=[Bug("sort by count, most frequent word first",
              when=lambda vocab, *_: not _sorted_by_count(vocab))])
_ALIGNED = Holds("counts aligned with itos",
                 lambda vocab, *_: torch.equal(vocab[1], torch.tensor([4, 2, 2, 2, 2])),
                 "counts[i] must be the count of itos[i]",
                 expected=torch.tensor([4, 2, 2, 2, 2]), got=lambda vocab, *_: vocab[1])
# sentences may be a one-pass iterator (a generator reading a corpus from disk)
_ONE_PASS = Holds(
    "itos", lambda out, *_: _is_pair(out) and list(out[0]) == _KEPT_ORDER,
    "sentences can be a generator, which can be iterated only once: count in a single pass "
    "(don't loop over `sentences` twice or call len() on it)", expected=_KEPT_ORDER,
    got=lambda out, *_: show(out[0]) if isinstance(out, (tuple, list)) else show(out))


def _itos(out: Any) -> Any:
    return list(out[0]) if _is_pair(out) else out


def check_build_vocab(build_vocab) -> None:
    """Counts of occurrences, min_count inclusive, sorted by count then word."""
    with _no_gensim("build_vocab", "count the words and build the vocabulary"):
        _check_build_vocab(build_vocab)


def _check_build_vocab(build_vocab) -> None:
    where = "build_vocab(sentences, min_count=2)"
    (vocab,) = run(Case(where, build_vocab, (_sentences(), 2), holds=[_A_PAIR, _WORDS]))
    # counts is the second of the pair, and its shape depends on the first: checked here
    Out(dtype=torch.long, shape=(len(vocab[0]),),
        dtype_hint="counts are integers: build the tensor with dtype=torch.long",
        shape_hint="counts[i] is the count of itos[i]: one count per kept word",
        ).verify(vocab[1], f"{where}: counts")
    where_empty = "build_vocab(sentences, min_count=100)"  # nothing passes min_count
    examine(where, vocab, holds=[*[_count_of(w, n) for w, n in _KEPT_COUNTS.items()],
                                 _KEPT, _IN_ORDER, _ALIGNED])
    *_, empty = run(
        Case("build_vocab(a generator of sentences, min_count=2)", build_vocab,
             ((list(s) for s in _VOCAB_SENTENCES), 2), holds=[_ONE_PASS]),
        Case("build_vocab(sentences)  # default min_count", build_vocab,
             ([["often"] * 5 + ["rare"] * 4, ["never"]],),
             holds=[Holds("itos", lambda out, *_: _itos(out) == ["often"],
                          "the default is min_count=5, and a word seen exactly 5 times is kept",
                          expected=["often"], got=lambda out, *_: show(_itos(out)))]),
        Case(where_empty, build_vocab, (_sentences(), 100), view=lambda out: list(out[0]), want=[],
             exact=True, what="itos"))
    # still a list and a LongTensor of shape (0,)
    Out(shape=(0,)).verify(empty[1], f"{where_empty}: counts")
    Out(dtype=torch.long, dtype_hint="torch.tensor([]) is float32: pass dtype=torch.long so an "
        "empty vocabulary still has integer counts").verify(empty[1], f"{where_empty}: counts")


# ----------------------------------------------------------------------- 2. subsample

def _freq(counts: torch.Tensor) -> torch.Tensor:
    return counts.double() / counts.sum()


def _above_one(p: torch.Tensor) -> bool:
    return bool((p > 1 + 1e-6).any())


_KEEP_COUNTS = torch.tensor([5000, 2000, 500, 100, 10, 1], dtype=torch.long)
_SAMPLES = (1e-3, 1e-2)


def _probe_keep(keep_probability) -> dict[str, Any]:
    return {"counts": _KEEP_COUNTS, "samples": list(_SAMPLES),
            **{f"keep{i}": keep_probability(_KEEP_COUNTS.clone(), t) for i, t in enumerate(_SAMPLES)}}


def _unclipped(p: torch.Tensor, want: torch.Tensor) -> bool:
    """Right wherever the right value is below 1, and above 1 elsewhere: the clip is missing."""
    below = want < 1 - 1e-6
    return bool(below.any()) and _above_one(p) and close(p[below], want[below], atol=1e-6)


_DISCARD = ("this is the paper's probability of DISCARDING a word, 1 - sqrt(t/f); return the "
            "probability of KEEPING it, which in word2vec C is (sqrt(f/t) + 1) * t/f")
_PAPER_KEEP = ("sqrt(t/f) is the paper's keep probability; the course (like word2vec C and "
               "gensim) uses (sqrt(f/t) + 1) * t/f")
_RAW = ("use the frequency f = count / total count, not the raw count: multiplying every count "
        "by 7 changed the probabilities, and only frequencies may matter")


def _keep_bugs(keep_probability, want: torch.Tensor) -> list[Bug]:
    """keep_probability(counts, t): symptom -> likely bug (`want`: the right values)."""
    def scale_matters(p, c, t) -> bool:
        again = call(keep_probability, c * 7, t, where=f"keep_probability(counts * 7, sample={t:g})")
        return isinstance(again, torch.Tensor) and not close(again, p, atol=1e-6)

    return [
        Bug(_DISCARD, like=lambda c, t: 1 - (t / _freq(c)).sqrt()),
        Bug(_DISCARD, like=lambda c, t: (1 - (t / _freq(c)).sqrt()).clamp(0.0, 1.0)),
        Bug(_PAPER_KEEP, like=lambda c, t: (t / _freq(c)).sqrt().clamp(max=1.0)),
        Bug(_PAPER_KEEP, like=lambda c, t: (t / _freq(c)).sqrt()),
        Bug("rare words give values above 1: clip the probability to at most 1",
            when=lambda p, c, t: _unclipped(p, want)),
        Bug(_RAW, when=scale_matters),
        Bug("a probability can't exceed 1: clip it", when=lambda p, c, t: _above_one(p)),
    ]


def check_keep_probability(keep_probability) -> None:
    """word2vec C / gensim keep probability (sqrt(f/t) + 1) * t / f, clipped to 1."""
    with _no_gensim("keep_probability", "compute the keep probability"):
        _check_keep_probability(keep_probability)


def _check_keep_probability(keep_probability) -> None:
    stored = _stored("subsample")
    counts = stored["counts"]
    probabilities = Out(dtype=FLOATS, shape=tuple(counts.shape), finite=True,
                        dtype_hint="probabilities are floats: divide with `/` (true division) "
                        "and return a float tensor", shape_hint="one keep probability per word")
    cases = [(t, stored[f"keep{i}"]) for i, t in enumerate(stored["samples"].tolist())]
    run(*[Case(f"keep_probability(counts, sample={t:g})", keep_probability, (counts, t),
               keeps={"the input counts": counts},
               keeps_hint="don't modify `counts` in place; compute a new tensor",
               out=probabilities, want=want, bugs=_keep_bugs(keep_probability, want),
               hint="f is count / total; keep probability (sqrt(f/t) + 1) * t/f, at most 1")
          for t, want in cases],
        Case("keep_probability(float counts)", keep_probability, (counts.double(), cases[0][0]),
             want=cases[0][1], hint="float counts must give the same result as integer counts"))


# --------------------------------------------------------------------------- 3. pairs

_OFFSET = 100  # ids are positions + 100, so returning positions shows up


def _ids(T: int) -> torch.Tensor:
    return torch.arange(T) + _OFFSET


def _pair_rows(pairs: torch.Tensor) -> list[tuple[int, int]]:
    return sorted(map(tuple, pairs.tolist()))


def _probe_pairs(skipgram_pairs) -> dict[str, Any]:
    return {"ids": _ids(6), "pairs": skipgram_pairs(_ids(6), 1, gen(0))}


def _among(pairs: torch.Tensor, want: list[tuple[int, int]], right: bool) -> bool:
    """Only some of the right pairs, all with the context on one side."""
    rows = _pair_rows(pairs)
    return set(rows) < set(want) and all((o > c) if right else (o < c) for c, o in rows)


# skipgram_pairs(ids, window=1, generator): symptom -> likely bug
def _window_1_bugs(want: list[tuple[int, int]]) -> list[Bug]:
    return [
        Bug("no pairs at all: with window=1 every b_i is 1, so each token is paired with its "
            "neighbours (draw b from 1..window; torch.randint's upper bound is exclusive)",
            when=lambda pairs, *_: not _pair_rows(pairs)),
        Bug("the pairs hold positions; return the ids at those positions",
            when=lambda pairs, ids, *_: int(pairs.max()) < len(ids)),
        Bug("a word was paired with itself: skip offset 0",
            when=lambda pairs, *_: any(c == o for c, o in _pair_rows(pairs))),
        Bug("only the right-hand context is paired; the window is symmetric: also j = i - d",
            when=lambda pairs, *_: _among(pairs, want, right=True)),
        Bug("only the left-hand context is paired; the window is symmetric: also j = i + d",
            when=lambda pairs, *_: _among(pairs, want, right=False)),
        Bug("some pairs appear twice",
            when=lambda pairs, *_: len(_pair_rows(pairs)) > len(set(_pair_rows(pairs)))),
        Bug("with window=1 only immediate neighbours are contexts (|i - j| <= b <= window)",
            when=lambda pairs, *_: any(abs(c - o) > 1 for c, o in _pair_rows(pairs))),
    ]


def _possible(ids: torch.Tensor) -> set[tuple[int, int]]:
    return {(a, b) for a in ids.tolist() for b in ids.tolist() if a != b}


def _inside(pairs: torch.Tensor, ids: torch.Tensor) -> bool:
    """Distinct pairs of the sequence's own tokens, every neighbour among them."""
    rows, possible = _pair_rows(pairs), _possible(ids)
    # ids are consecutive: |c - o| == 1 is a neighbour, and each of the T - 1 gaps gives two
    next_to = sum(abs(c - o) == 1 for c, o in set(rows))
    return set(rows) <= possible and next_to == 2 * (len(ids) - 1) and len(rows) == len(set(rows))


_SHORT = ("pairs must stay inside the sequence, and a sequence shorter than the window (even one "
          "token) must work: return a (0, 2) tensor when empty")
_INSIDE = Holds("rows", lambda pairs, ids, *_: _inside(pairs, ids),
                "pairs stay inside the sequence (no wrap-around, no padding), every neighbour is a "
                "context, and no pair is repeated",
                expected=lambda pairs, ids, *_: f"distinct pairs of {sorted(_possible(ids))}, all "
                "neighbours included", got=lambda pairs, *_: show(_pair_rows(pairs)))


def _offsets(pairs: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) center positions and (N,) offsets j - i of the contexts."""
    pos = pairs - int(ids[0])
    return pos[:, 0], pos[:, 1] - pos[:, 0]


def _windows(pairs: torch.Tensor, ids: torch.Tensor, window: int):
    """For each center away from the ends: its number of contexts, its farthest context and
    its number of contexts on the left; each (T - 2 * window,)."""
    (center, d), T = _offsets(pairs, ids), len(ids)
    n = torch.bincount(center, minlength=T)
    reach = torch.zeros(T, dtype=torch.long).scatter_reduce(
        0, center, d.abs(), reduce="amax", include_self=True)
    left = torch.zeros(T, dtype=torch.long).index_add(0, center, (d < 0).long())
    inner = slice(window, T - window)
    return n[inner], reach[inner], left[inner]


def _lonely(pairs, ids, window) -> torch.Tensor:
    return _windows(pairs, ids, window)[0] == 0


def _lopsided(pairs, ids, window) -> torch.Tensor:
    """Centers whose contexts are not exactly i-b..i+b for one b."""
    n, reach, left = _windows(pairs, ids, window)
    return (n != 2 * reach) | (left * 2 != n)


def _first(mask: torch.Tensor) -> int:
    return int(mask.nonzero()[0])


def _lopsided_center(pairs, ids, window) -> dict[str, Any]:
    """The first lopsided center: its position i, farthest context b, contexts n, left ones."""
    k = _first(_lopsided(pairs, ids, window))
    n, reach, left = (int(t[k]) for t in _windows(pairs, ids, window))
    return {"i": k + window, "b": reach, "n": n, "left": left}


def _offsets_of(pairs, ids, i: int) -> list[int]:
    center, d = _offsets(pairs, ids)
    return sorted(d[center == i].tolist())


def _distances(pairs, ids, window) -> torch.Tensor:
    """(window,) how many pairs lie at distance d = 1..window."""
    return torch.bincount(_offsets(pairs, ids)[1].abs(), minlength=window + 1)[1:].double()


def _triangle(window: int) -> torch.Tensor:
    """The share of pairs at distance d under the dynamic window: proportional to W - d + 1."""
    return torch.arange(window, 0, -1).double() / (window * (window + 1) / 2)


def _shares(pairs, ids, window) -> torch.Tensor:
    hist = _distances(pairs, ids, window)
    return hist / hist.sum()


def _one_size(pairs, ids, window) -> bool:
    reach = _windows(pairs, ids, window)[1]
    return int((torch.bincount(reach, minlength=window + 1)[1:] > 0).sum()) == 1


# what must hold of skipgram_pairs(ids of a long sequence, window, generator)
_DYNAMIC_WINDOW = [
    Holds("ids", lambda pairs, ids, *_: bool(((pairs >= ids[0]) & (pairs <= ids[-1])).all()),
          "every center and context is a token of the sequence (ids[i], not i)",
          expected=lambda pairs, ids, *_: f"ids between {int(ids[0])} and {int(ids[-1])}",
          got=lambda pairs, *_: f"values from {int(pairs.min())} to {int(pairs.max())}"),
    Holds("self pairs", lambda pairs, ids, *_: not bool((_offsets(pairs, ids)[1] == 0).any()),
          "a word was paired with itself: offsets start at 1", expected="no (i, i) pair",
          got=lambda pairs, ids, *_: f"{int((_offsets(pairs, ids)[1] == 0).sum())} self pairs"),
    Holds("distances", lambda pairs, ids, w, _: bool((_offsets(pairs, ids)[1].abs() <= w).all()),
          "contexts lie within `window` positions of the center",
          expected=lambda pairs, ids, w, _: f"|i - j| <= {w}",
          got=lambda pairs, ids, *_: f"max |i - j| = {int(_offsets(pairs, ids)[1].abs().max())}"),
    Holds("duplicates", lambda pairs, ids, *_: _distinct(pairs, ids) == len(pairs),
          "each (i, j) pair appears once",
          expected=lambda pairs, *_: f"{len(pairs)} distinct pairs",
          got=lambda pairs, ids, *_: f"{_distinct(pairs, ids)} distinct pairs"),
    # per center i (away from the ends) the contexts must be exactly i-b..i+b, b in 1..window
    Holds(lambda pairs, ids, w, _: f"contexts of position {_first(_lonely(pairs, ids, w)) + w}",
          lambda pairs, ids, w, _: not bool(_lonely(pairs, ids, w).any()),
          "the window size b is drawn from 1..window: 0 is not a window (torch.randint's upper "
          "bound is exclusive)", expected="at least the two neighbours (b >= 1)", got="no pair"),
    Holds(lambda pairs, ids, w, _: "context offsets j - i of the center at position "
          f"{_lopsided_center(pairs, ids, w)['i']}",
          lambda pairs, ids, w, _: not bool(_lopsided(pairs, ids, w).any()),
          "each center i gets its own window b_i, and its contexts are all of i-b_i..i+b_i (both "
          "sides use the same b_i, the one of the CENTER)",
          expected=lambda pairs, ids, w, _: _offset_range(_lopsided_center(pairs, ids, w)["b"], w),
          got=lambda pairs, ids, w, _: str(
              _offsets_of(pairs, ids, _lopsided_center(pairs, ids, w)["i"])),
          bugs=[Bug("the window is one-sided: pair the center with the words on both sides, "
                    "j = i - d and j = i + d",
                    when=lambda pairs, ids, w, _: _lopsided_center(pairs, ids, w)["left"]
                    in (0, _lopsided_center(pairs, ids, w)["n"]))]),
    Holds("window sizes b_i of the centers", lambda pairs, ids, w, _: not _one_size(pairs, ids, w),
          "the window size is the same for every center (fixed, or drawn once); word2vec draws "
          "b_i at random for each center (the dynamic window), so nearer words are paired more "
          "often",
          expected=lambda pairs, ids, w, _: f"b_i drawn uniformly from 1..{w}, independently for "
          "every position",
          got=lambda pairs, ids, w, _:
          f"every center used b = {int(_windows(pairs, ids, w)[1][0])}"),
    Holds(lambda pairs, ids, w, _: f"share of pairs at distance d = 1..{w}",
          lambda pairs, ids, w, _:
          bool(((_shares(pairs, ids, w) - _triangle(w)).abs() < 0.02).all()),
          "draw b_i uniformly from 1..window for each center; then a context at distance d is "
          "kept with probability (window - d + 1) / window",
          expected=lambda pairs, ids, w, _: f"{_floats(_triangle(w))}  (proportional to W-d+1)",
          got=lambda pairs, ids, w, _: _floats(_shares(pairs, ids, w)),
          bugs=[Bug(lambda pairs, ids, w, _: f"no pair at distance {w}: draw b uniformly from "
                    "1..window inclusive (torch.randint's upper bound is exclusive)",
                    when=lambda pairs, ids, w, _: _distances(pairs, ids, w)[-1] == 0)]),
]


def _distinct(pairs, ids) -> int:
    pos = pairs - int(ids[0])
    return torch.unique(pos[:, 0] * len(ids) + pos[:, 1]).numel()


def _offset_range(b: int, window: int) -> str:
    return f"{list(range(-b, 0)) + list(range(1, b + 1))} for some b in 1..{window}"


def _under_seed(fn, seed: int):
    """`fn` run under a fixed global seed, leaving the learner's global RNG as it was."""
    def seeded(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return fn(*args, **kwargs)
    return seeded


def check_skipgram_pairs(skipgram_pairs) -> None:
    """Dynamic symmetric window, ids not positions, no self pairs, vectorised."""
    where_long = "skipgram_pairs(ids of length 20000, window=5, generator=seeded)"
    same_again = Holds(
        "calling twice with generators seeded alike",
        lambda pairs, ids, window, _: _same(pairs, call(skipgram_pairs, ids, window, gen(2),
                                                        where=where_long)),
        "pass `generator=generator` to the torch random function that draws the window sizes, so "
        "that a seeded generator gives reproducible pairs",
        expected="identical pairs", got="different pairs")
    no_generator = "generator defaults to None: torch's global generator"
    stored = _stored("pairs")
    want = _pair_rows(stored["pairs"])
    run(Case(f"skipgram_pairs(ids={stored['ids'].tolist()}, window=1)", skipgram_pairs,
             (stored["ids"], 1, gen(0)),
             out=Out(dtype=torch.long, shape=(None, 2),
                     dtype_hint="pairs are word ids: a LongTensor",
                     shape_hint="one row per pair: (center, context)"),
             view=_pair_rows, want=want, exact=True,
             what="the set of (center, context) rows", bugs=_window_1_bugs(want),
             hint="pair each position i with each j != i such that |i - j| <= b_i"),
        # the window can be larger than the sequence; a single token has no pairs
        *[Case(f"skipgram_pairs(ids={_ids(T).tolist()}, window={window})", skipgram_pairs,
               (_ids(T), window, gen(1)), out=Out(shape=(None, 2), hint=_SHORT, shape_hint=_SHORT),
               call_hint="a sequence shorter than the window, even a single token, must work: stay "
               "inside the sequence, and return an empty (0, 2) LongTensor when there is no pair",
               holds=[_INSIDE]) for T, window in ((3, 5), (1, 3))],
        # long sequence: structure, randomness, the dynamic window
        Case(where_long, skipgram_pairs, (_ids(20000), 5, gen(2)), out=Out(shape=(None, 2)),
             holds=[same_again, *_DYNAMIC_WINDOW]),
        Case("skipgram_pairs(ids, window=2)  # no generator", _under_seed(skipgram_pairs, 0),
             (torch.arange(10), 2), out=Out(shape=(None, 2), hint=no_generator,
                                            shape_hint=no_generator)))


# --------------------------------------------------------------------------- 4. noise

_NOISE_COUNTS = torch.tensor([400, 100, 30, 5, 1, 0], dtype=torch.long)
_POWERS = (0.75, 1.0, 0.5)


def _probe_noise(noise_distribution) -> dict[str, Any]:
    return {"counts": _NOISE_COUNTS, "powers": list(_POWERS),
            **{f"noise{i}": noise_distribution(_NOISE_COUNTS.clone(), p)
               for i, p in enumerate(_POWERS)}}


def _proportional(q: torch.Tensor, want: torch.Tensor) -> bool:
    """q is a constant multiple of the right probabilities (zero where they are zero)."""
    q, want = q.detach().double(), want.double()
    some = want > 0
    ratio = q[some] / want[some]
    return (bool((q[~some] == 0).all()) and bool(torch.isfinite(ratio).all())
            and bool(((ratio - ratio[0]).abs() <= 1e-4 * ratio[0].abs()).all()))


def _noise_bugs(power: float, want: torch.Tensor) -> list[Bug]:
    """noise_distribution(counts, power): symptom -> likely bug (`want`: the right values)."""
    plain = [] if power == 1.0 else [
        Bug(f"these are the plain frequencies: raise the counts to the power {power} first "
            "(word2vec uses 0.75)", like=lambda c, p: _freq(c), atol=1e-6)]
    return plain + [
        Bug("the frequencies were raised to the power but not renormalised: divide by the sum "
            "again so the probabilities add up to 1",
            when=lambda q, c, p: abs(float(q.double().sum()) - 1) > 1e-4 and _proportional(q, want)),
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
    with _no_gensim("noise_distribution", "compute the noise distribution"):
        _check_unigram(noise_distribution)
    with _no_gensim("sample_negatives", "draw the negatives"):
        _check_sampling(sample_negatives)


def _check_unigram(noise_distribution) -> None:
    stored = _stored("noise")
    counts = stored["counts"]
    wanted = [(p, stored[f"noise{i}"]) for i, p in enumerate(stored["powers"].tolist())]
    run(*[Case(f"noise_distribution(counts={counts.tolist()}, power={power})",
               noise_distribution, (counts, power), keeps={"the input counts": counts},
               keeps_hint="don't modify `counts` in place",
               out=Out(dtype=FLOATS, shape=tuple(counts.shape), finite=True,
                       dtype_hint="probabilities are floats",
                       shape_hint="one probability per word"),
               want=want, bugs=_noise_bugs(power, want),
               hint="p_i is count_i ** power, divided by the sum over all words")
          for power, want in wanted])


def _check_sampling(sample_negatives) -> None:
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
                                 "`noise`",
                                 when=lambda ids, noise, *_: _looks_uniform(ids, noise))]),
             ]),
        *[Case(f"sample_negatives(noise, shape={s})", sample_negatives, (noise, s, gen(3)),
               out=_word_ids(s), holds=[_IN_VOCABULARY]) for s in ((7,), (2, 3), (2, 3, 4))])


# ---------------------------------------------------------------------------- 5. loss

_LOSS_SHAPES = ((4, 3, 5), (3, 3, 4), (1, 1, 2))  # (B, K, D); B == K shows a broadcast bug
_LOSS_FIELDS = ("center", "context", "negatives")


def _loss_inputs(i: int) -> tuple[torch.Tensor, ...]:
    """The float32 (center, context, negatives) of loss case i."""
    g = gen(5)
    for B, K, D in _LOSS_SHAPES[:i + 1]:
        inputs = (torch.randn(B, D, generator=g), torch.randn(B, D, generator=g),
                  torch.randn(B, K, D, generator=g))
    return inputs


def _extreme_inputs(sign: float) -> tuple[torch.Tensor, ...]:
    """c.o = 100 * sign and c.n_k = -100 * sign."""
    center, context, negatives = torch.zeros(1, 4), torch.zeros(1, 4), torch.zeros(1, 2, 4)
    center[0, 0], context[0, 0], negatives[0, :, 0] = 10.0, 10.0 * sign, -10.0 * sign
    return center, context, negatives


def _probe_loss(i: int):
    def make(sgns_loss) -> dict[str, Any]:
        inputs = _loss_inputs(i)
        leaves = [t.double().requires_grad_(True) for t in inputs]  # float64: the reference
        loss = sgns_loss(*leaves)
        loss.backward()
        c, o, n = (t.detach() for t in leaves)
        out = {**dict(zip(_LOSS_FIELDS, inputs)), "loss": loss,
               **{f"grad_{f}": t.grad for f, t in zip(_LOSS_FIELDS, leaves)}}
        with torch.no_grad():  # the same loss on other inputs, for the diagnoses
            out["positive_only"] = sgns_loss(c, o, n[:, :0])  # K = 0: no negative term
            out["negatives_flipped"] = sgns_loss(c, o, -n)
            if n.shape[0] == n.shape[1]:
                out["negatives_transposed"] = sgns_loss(c, o, n.transpose(0, 1).contiguous())
        return out
    return make


def _probe_extreme(sign: float):
    def make(sgns_loss) -> dict[str, Any]:
        inputs = _extreme_inputs(sign)
        with torch.no_grad():
            return {**dict(zip(_LOSS_FIELDS, inputs)), "loss": sgns_loss(*[t.double() for t in inputs])}
    return make


def _loss_bugs(want: dict[str, torch.Tensor]) -> list[Bug]:
    """sgns_loss(center, context, negatives): symptom -> likely bug, as relations to the right
    loss L = P + N of these inputs (P: its positive term, N: its negative terms)."""
    total, positive = want["loss"], want["positive_only"]
    negative = total - positive
    B, K = want["negatives"].shape[:2]
    transposed = want.get("negatives_transposed")
    return [
        Bug("sign error on the negatives: they should score LOW, so use log sigma(-c.n_k)",
            like=lambda *_: want["negatives_flipped"]),
        Bug("the negative terms are averaged over K; the SGNS loss sums them",
            like=lambda *_: positive + negative / K),
        Bug("summed over the batch: the loss is the mean over the B rows",
            like=lambda *_: total * B),
        Bug("the loss is the NEGATIVE log-likelihood: mind the overall minus sign",
            like=lambda *_: -total),
        Bug("the negative terms are subtracted; both log-sigmoid terms are added, then the sum "
            "is negated", like=lambda *_: positive - negative),
        # center (B, D) * negatives (B, K, D) broadcasts when B == K, pairing the wrong rows
        Bug("center (B, D) times negatives (B, K, D) broadcasts center over K, not B: give center "
            "a K axis (B, 1, D) or use torch.bmm",
            when=lambda loss, *_: transposed is not None and close(loss, transposed)),
    ]


_STABLE = ("log(sigmoid(x)) is not numerically stable: in float32 sigmoid(-100) rounds to 0 "
           "and log(0) = -inf (and 1 - sigmoid(100) is 0 too); use "
           "torch.nn.functional.logsigmoid")


def _in_graph(loss, *_) -> bool:
    return loss.requires_grad and loss.grad_fn is not None


def check_sgns_loss(sgns_loss) -> None:
    """Mean over the batch of -[log s(c.o) + sum_k log s(-c.n_k)], stable, differentiable."""
    for i in range(len(_LOSS_SHAPES)):
        want = _stored(f"loss/{i}")
        leaves = tuple(want[f].clone().requires_grad_(True) for f in _LOSS_FIELDS)
        (B, K, D) = want["negatives"].shape
        where = f"sgns_loss(center {B}x{D}, context {B}x{D}, negatives {B}x{K}x{D})"
        (loss,) = run(Case(
            where, sgns_loss, leaves,
            out=Out(dtype=FLOATS, shape=(),
                    shape_hint="the loss is a scalar: average over the batch"),
            call_hint="shapes: center (B, D), context (B, D), negatives (B, K, D); to score the "
            "K negatives of row b against center b, center needs a K axis (B, 1, D), or use "
            "torch.bmm", want=want["loss"], atol=1e-5, rtol=1e-5, bugs=_loss_bugs(want),
            hint="loss = mean over b of -[log sigma(c_b . o_b) + sum_k log sigma(-c_b . n_bk)]",
            holds=[Holds("autograd", _in_graph,
                         "the loss must stay in the autograd graph: no .item(), no "
                         "torch.tensor(...) around it, no torch.no_grad()",
                         expected="a loss with grad_fn", got="a tensor without grad_fn")]))
        call(loss.backward, where=f"{where}: loss.backward()")
        for leaf, label in zip(leaves, _LOSS_FIELDS):
            expect_close(dense_grad(leaf), want[f"grad_{label}"],
                         f"{where}: gradient w.r.t. {label}", "the loss value is right "
                         "but its gradient is not: don't detach any part of it",
                         atol=1e-5, rtol=1e-4)

    # |logit| = 100 in both directions: finite, and still the right value
    for sign in (-1.0, 1.0):
        want = _stored(f"loss/extreme{sign:+.0f}")
        run(Case(f"sgns_loss with c.o = {100 * sign:+.0f} and c.n_k = {-100 * sign:+.0f}  "
                 f"({'every score wrong' if sign < 0 else 'every score right'})",
                 sgns_loss, tuple(want[f] for f in _LOSS_FIELDS),
                 out=Out(finite=True, finite_hint=_STABLE), want=want["loss"], atol=1e-4, rtol=1e-5,
                 hint="clamping or adding an epsilon inside the log caps the loss (and zeroes "
                 "the gradient) of badly wrong scores; compute the log-sigmoid stably instead: "
                 "torch.nn.functional.logsigmoid"))


# --------------------------------------------------------------------------- 6. model

def _table(model, attr: str) -> Any:
    return getattr(model, attr, None)


def _an_embedding(attr: str) -> Holds:
    return Holds(f"self.{attr}", lambda model, *_: isinstance(_table(model, attr), nn.Embedding),
                 f"create self.{attr} = nn.Embedding(vocab_size, dim) in __init__",
                 expected="an nn.Embedding",
                 got=lambda model, *_: type(_table(model, attr)).__name__
                 if _table(model, attr) is not None else f"no attribute {attr!r}")


_TWO_EMBEDDINGS = [_an_embedding("in_embed"), _an_embedding("out_embed")]
_SEPARATE = Holds(
    "in_embed and out_embed", lambda m, *_: m.in_embed is not m.out_embed
    and m.in_embed.weight.data_ptr() != m.out_embed.weight.data_ptr(),
    "word2vec keeps TWO tables: input (center) vectors and output (context) vectors; create "
    "two separate nn.Embedding", expected="two separate tables", got="one shared table")


def _weight_shape(attr: str, shape: tuple[int, int]) -> Holds:
    return Holds(f"{attr}.weight: shape",
                 lambda m, *_: tuple(_table(m, attr).weight.shape) == shape,
                 "nn.Embedding(vocab_size, dim): one row per word", expected=str(shape),
                 got=lambda m, *_: str(tuple(_table(m, attr).weight.shape)))


def _word2vec_init(w: torch.Tensor) -> dict[str, float]:
    """word2vec C: in_embed uniform in [-0.5/dim, 0.5/dim], so std = bound * 2 / sqrt(12)."""
    bound = 0.5 / w.shape[1]
    return {"bound": bound, "std": bound * 2 / math.sqrt(12)}


def _uniform_like_word2vec(w: torch.Tensor) -> bool:
    w, want = w.detach().double(), _word2vec_init(w)
    return (w.abs().max().item() <= want["bound"] * (1 + 1e-5)
            and abs(w.std().item() - want["std"]) < 0.05 * want["std"]
            and abs(w.mean().item()) < 0.05 * want["std"])


def _init_stats(w: torch.Tensor) -> str:
    w = w.detach().double()
    return (f"values in [{w.min().item():.3g}, {w.max().item():.3g}], std {w.std().item():.3g}, "
            f"mean {w.mean().item():.3g}")


_IN_INIT = Holds(
    "in_embed init", lambda m, *_: _uniform_like_word2vec(m.in_embed.weight),
    "initialise in_embed uniformly in [-0.5/dim, 0.5/dim]",
    expected=lambda m, *_: "uniform in [-{bound:.3g}, {bound:.3g}]: std {std:.3g}, mean 0".format(
        **_word2vec_init(m.in_embed.weight)),
    got=lambda m, *_: _init_stats(m.in_embed.weight),
    bugs=[Bug("with both tables at zero every gradient is zero and nothing ever trains: "
              "initialise in_embed uniformly in [-0.5/dim, 0.5/dim]",
              when=lambda m, *_: bool((m.in_embed.weight == 0).all())),
          Bug("this looks like nn.Embedding's default N(0, 1) init; word2vec initialises "
              "in_embed uniformly in [-0.5/dim, 0.5/dim]",
              when=lambda m, *_: m.in_embed.weight.detach().double().std().item() > 0.5)])
_OUT_ZERO = Holds(
    "out_embed init", lambda m, *_: bool((m.out_embed.weight == 0).all()),
    "word2vec C starts the output vectors at zero (nn.init.zeros_)", expected="all zeros",
    got=lambda m, *_: f"values from {m.out_embed.weight.min().item():.3g} to "
    f"{m.out_embed.weight.max().item():.3g}")


def _sparse(attr: str, sparse: bool) -> Holds:
    return Holds(f"{attr}.sparse", lambda m, *_: _table(m, attr).sparse == sparse,
                 "pass sparse=sparse to both nn.Embedding (sparse gradients make training with "
                 "SparseAdam or SGD much faster for big vocabularies)",
                 expected=sparse, got=lambda m, *_: _table(m, attr).sparse)


_SKIPGRAM_MODULE = "class SkipGram(nn.Module) and call super().__init__() first"


def check_skipgram_model(SkipGram) -> None:  # noqa: N803 (the learner's class)
    """Two tables, word2vec init, loss via SGNS, gradients only on the rows used."""
    where = "SkipGram(2000, 50)"
    model = build(SkipGram, where, 2000, 50, module_hint=_SKIPGRAM_MODULE)
    examine(where, model, holds=[
        *_TWO_EMBEDDINGS, _SEPARATE, _weight_shape("in_embed", (2000, 50)),
        _weight_shape("out_embed", (2000, 50)), _IN_INIT, _OUT_ZERO])
    for sparse in (False, True):
        where = f"SkipGram(20, 6, sparse={sparse})"
        model = build(SkipGram, where, 20, 6, seed=1, sparse=sparse, module_hint=_SKIPGRAM_MODULE)
        examine(where, model, holds=[
            *_TWO_EMBEDDINGS, _sparse("in_embed", sparse), _sparse("out_embed", sparse)])
        _check_skipgram_forward(model, where)
    _check_vectors(model, "SkipGram(20, 6).vectors()")


# a batch of 4 (center, context) pairs with 3 negatives each
_CENTER = torch.tensor([0, 1, 2, 1])
_CONTEXT = torch.tensor([5, 6, 7, 5])
_NEGATIVES = torch.tensor([[10, 11, 12], [13, 10, 14], [15, 16, 10], [11, 17, 18]])


def _forward_bugs(want: dict[str, torch.Tensor]) -> list[Bug]:
    """SkipGram.forward on the batch: symptom -> likely bug (`want`: sgns_loss on the wrong
    lookups, stored with the right loss)."""
    return [
        Bug("the context is looked up in in_embed; contexts use out_embed",
            like=lambda: want["context_from_in"]),
        Bug("the negatives are looked up in in_embed; negatives use out_embed",
            like=lambda: want["negatives_from_in"]),
        Bug("the negatives are not used: pass their out_embed vectors to sgns_loss",
            like=lambda: want["without_negatives"]),
    ]


def _rows_with_grad(grad: torch.Tensor) -> list[int]:
    return sorted(set((grad != 0).any(1).nonzero().flatten().tolist()))


_USED_OUT = sorted(set(_CONTEXT.tolist()) | set(_NEGATIVES.flatten().tolist()))
_IN_ROWS_BUGS = [Bug("only the center words' input vectors take part in the loss",
                     when=lambda rows: set(rows) > set(_CENTER.tolist()))]


def _unreached(rows: list[int]) -> set[int]:
    return set(_USED_OUT) - set(rows)


_OUT_ROWS_BUGS = [
    Bug("the negatives' output vectors get no gradient: the negatives are not used",
        when=lambda rows: bool(_unreached(rows))
        and _unreached(rows) <= set(_NEGATIVES.flatten().tolist())),
    Bug("the context words' output vectors must get a gradient (out_embed)",
        when=lambda rows: bool(_unreached(rows))),
]


def _tables() -> tuple[torch.Tensor, torch.Tensor]:
    """Random (20, 6) tables (seeded), so that a context or negative looked up in the wrong one
    shows."""
    g = gen(6)
    return tuple(torch.randn(20, 6, generator=g) * 0.5 for _ in range(2))


def _fill(model, w_in: torch.Tensor, w_out: torch.Tensor) -> None:
    """Load the two tables into the model, by the names the exercise prescribes."""
    with torch.no_grad():
        model.in_embed.weight.copy_(w_in)
        model.out_embed.weight.copy_(w_out)


def _probe_model(SkipGram, sgns_loss) -> dict[str, Any]:  # noqa: N803 (the solution's class)
    model = SkipGram(20, 6)
    _fill(model, *_tables())
    model.double()  # float64: the reference
    loss = model(_CENTER, _CONTEXT, _NEGATIVES)
    loss.backward()
    w_in, w_out = model.in_embed.weight.detach(), model.out_embed.weight.detach()
    with torch.no_grad():  # sgns_loss on wrong lookups, for the diagnoses
        wrong = {"context_from_in": sgns_loss(w_in[_CENTER], w_in[_CONTEXT], w_out[_NEGATIVES]),
                 "negatives_from_in": sgns_loss(w_in[_CENTER], w_out[_CONTEXT], w_in[_NEGATIVES]),
                 "without_negatives": sgns_loss(w_in[_CENTER], w_out[_CONTEXT],
                                                w_out[_NEGATIVES][:, :0])}
    return {"in_embed": w_in.float(), "out_embed": w_out.float(), "loss": loss,
            "grad_in_embed": model.in_embed.weight.grad, "grad_out_embed": model.out_embed.weight.grad,
            **wrong}


def _check_skipgram_forward(model, where: str) -> None:
    """forward is the SGNS loss of in_embed(center), out_embed(context and negatives); its
    gradient reaches exactly those rows, with the right values."""
    want = _stored("model")
    _fill(model, want["in_embed"], want["out_embed"])
    model.zero_grad(set_to_none=True)
    loss = call(model, _CENTER, _CONTEXT, _NEGATIVES,
                where=f"{where}: forward(center (4,), context (4,), negatives (4, 3))")
    # rtol 1e-4, as close()'s; a scalar's message does not show the tolerance
    examine(f"{where}: forward(...)", loss,
            out=Out(shape=(), shape_hint="forward returns the scalar SGNS loss"),
            want=want["loss"], atol=1e-5, rtol=1e-4, bugs=_forward_bugs(want),
            hint="loss = sgns_loss(in_embed(center), out_embed(context), out_embed(negatives)); "
            "if that is what you wrote, check sgns_loss first")
    call(loss.backward, where=f"{where}: loss.backward()")
    grads = [dense_grad(model.in_embed.weight), dense_grad(model.out_embed.weight)]
    examine(f"{where}: rows of in_embed with a non-zero gradient", _rows_with_grad(grads[0]),
            want=sorted(set(_CENTER.tolist())), exact=True, bugs=_IN_ROWS_BUGS,
            hint="the center words' input vectors must get a gradient: look the centers up in "
            "in_embed")
    examine(f"{where}: rows of out_embed with a non-zero gradient", _rows_with_grad(grads[1]),
            want=_USED_OUT, exact=True, bugs=_OUT_ROWS_BUGS,
            hint="only the context and negative words' output vectors take part in the loss")
    for attr, grad in zip(("in_embed", "out_embed"), grads):
        examine(f"{where}: gradient of {attr}.weight", grad, want=want[f"grad_{attr}"], atol=1e-5)


def _check_vectors(model, where: str) -> None:
    """vectors(): a detached copy of the input embeddings."""
    w_in, w_out = model.in_embed.weight, model.out_embed.weight
    (vectors,) = run(Case(
        where, model.vectors,
        out=Out(shape=(20, 6), shape_hint="one row per word: the (V, D) input embeddings"),
        holds=[Holds("values", lambda v: _same(v, w_in.detach()) or not _same(v, w_out.detach()),
                     "these are the output (context) vectors; word2vec's word vectors are the "
                     "input embeddings, in_embed", expected="in_embed.weight",
                     got="out_embed.weight")]))
    examine(where, vectors, want=w_in.detach(), what="values",
            hint="return a copy of in_embed's weights", holds=[
                Holds("requires_grad", lambda v: not v.requires_grad,
                      "detach the weights: vectors() is for evaluation, outside autograd",
                      expected=False, got=True),
                Holds("memory", lambda v: v.data_ptr() != w_in.data_ptr(),
                      "detach() shares memory with the parameter, so further training would "
                      "change the vectors you returned: return a copy (clone it)",
                      expected="a copy", got="a view of in_embed.weight")])


# ---------------------------------------------------------------------- 7. similarity

def _spread(g: torch.Generator, V: int = 40, D: int = 6) -> torch.Tensor:
    """(V, D) vectors whose rows differ in length (0.2 to 5.2 times a normal vector)."""
    return torch.randn(V, D, generator=g) * torch.rand(V, 1, generator=g).mul(5).add(0.2)


def _row_scales(g: torch.Generator, V: int = 40) -> torch.Tensor:
    return torch.rand(V, 1, generator=g) * 10 + 0.1


def _analogy_queries(g: torch.Generator, V: int = 40, n: int = 24):
    """n queries a:b :: c:? with b != a and c different from both."""
    a = torch.randint(0, V, (n,), generator=g)
    b = (a + torch.randint(1, V, (n,), generator=g)) % V
    c = torch.randint(0, V, (n,), generator=g)
    c = torch.where((c == a) | (c == b), (c + 7) % V, c)
    c = torch.where((c == a) | (c == b), (c + 11) % V, c)
    return a, b, c


def _probe_neighbours(nearest_neighbours) -> dict[str, Any]:
    g = gen(7)
    emb, query = _spread(g), torch.tensor([0, 5, 17, 39])
    return {"emb": emb, "query": query, "scales": _row_scales(g),
            "neighbours": nearest_neighbours(emb.clone(), query, 5)}


def _probe_analogy(analogy) -> dict[str, Any]:
    g = gen(9)
    emb = _spread(g)
    a, b, c = _analogy_queries(g)
    return {"emb": emb, "a": a, "b": b, "c": c, "scales": _row_scales(g),
            "answers": analogy(emb.clone(), a, b, c),
            "swapped": analogy(emb.clone(), b, a, c)}  # a - b + c: for a diagnosis


def _dot(emb: torch.Tensor, rows: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(Q, ...) dot products of the rows emb[rows] with the matching (Q, D) targets."""
    picked = emb.double()[rows]
    return (picked * targets.double().reshape(len(targets), *[1] * (rows.dim() - 1), -1)).sum(-1)


def _no_worse(got_scores: torch.Tensor, want_scores: torch.Tensor) -> bool:
    """Under some score, got's picks are at least as good as the right ones (sorted, entry by
    entry): what a ranking by that score would return, not the right ranking."""
    g = got_scores.sort(-1, descending=True).values if got_scores.dim() > 1 else got_scores
    w = want_scores.sort(-1, descending=True).values if want_scores.dim() > 1 else want_scores
    return bool((g >= w - 1e-6 * w.abs().clamp(min=1)).all())


def _by_dot_product(ids, emb, query, want) -> bool:
    """The neighbours are ranked by the raw dot product with the query."""
    got, right = _dot(emb, ids, emb[query]), _dot(emb, want, emb[query])
    return bool((got[:, 1:] <= got[:, :-1] + 1e-9).all()) and _no_worse(got, right)


# query 3 = [1, 0]: row 0 points the same way (cosine exactly 1), row 2 is next by cosine,
# row 1 has the biggest dot product
_TOY_EMB = torch.tensor([[3.0, 0.0], [10.0, 1.0], [1.0, 0.05], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
_TOY_DOT = ("ranked by dot product: a long vector wins however far its angle; normalise the rows "
            "to unit length first (cosine similarity)")
# nearest_neighbours(toy emb, query=[3], k=3): symptom -> likely bug
_TOY_BUGS = [
    Bug("the query word itself was returned: exclude it by its id (set its similarity to -inf "
        "before ranking); dropping the top hit is not enough, another word can be exactly as "
        "similar as the query is to itself", when=lambda ids, emb, query, k: 3 in ids.tolist()[0]),
    Bug(_TOY_DOT, when=lambda ids, *_: ids.tolist()[0] == [1, 0, 2]),  # dot products 10, 3, 1
    Bug("the right neighbours in the wrong order: most similar first",
        when=lambda ids, *_: sorted(ids.tolist()[0]) == [0, 1, 2]),
    Bug(_TOY_DOT, when=lambda ids, *_: ids.tolist()[0][0] == 1),
]


def _neighbour_bugs(want: torch.Tensor) -> list[Bug]:
    """nearest_neighbours(emb, query, k): symptom -> likely bug (`want`: the right ids)."""
    return [
        Bug("the query word itself was returned: exclude it",
            when=lambda ids, emb, query, k: bool((ids == query[:, None]).any())),
        Bug("ranked by dot product: normalise the rows (cosine similarity)",
            when=lambda ids, emb, query, k: _by_dot_product(ids, emb, query, want)),
        Bug("the right neighbours in the wrong order: most similar first",
            when=lambda ids, *_: torch.equal(ids.sort(1).values, want.sort(1).values)),
    ]


def _check_neighbours(nearest_neighbours) -> None:
    stored = _stored("similar/neighbours")
    emb, query, want = stored["emb"], stored["query"], stored["neighbours"]
    k_ids = "(Q, k): k neighbour ids per query"
    _, neighbours = run(
        Case("nearest_neighbours(emb=[[3, 0], [10, 1], [1, 0.05], [1, 0], [0, 1], [-1, 0]], "
             "query=[3], k=3)", nearest_neighbours, (_TOY_EMB.clone(), torch.tensor([3]), 3),
             out=Out(dtype=torch.long, shape=(1, 3),
                     dtype_hint="neighbours are word ids: a LongTensor",
                     shape_hint="one row of k neighbour ids per query"),
             view=lambda ids: ids.tolist(), want=[[0, 2, 1]], exact=True, what="neighbour ids",
             bugs=_TOY_BUGS, hint="rank by cosine similarity, most similar first"),
        Case(f"nearest_neighbours(emb 40x6, query={query.tolist()}, k=5)", nearest_neighbours,
             (emb, query, 5), keeps={"emb": emb},
             keeps_hint="emb was modified in place (e.g. /= or .div_()): normalise into a new "
             "tensor, the caller's vectors must stay as they were",
             out=Out(shape=(len(query), 5), hint=k_ids, shape_hint=k_ids),
             want=want, exact=True, what="neighbour ids", bugs=_neighbour_bugs(want),
             hint="rank all words by cosine similarity to the query, most similar first"))
    run(Case("nearest_neighbours(emb * positive row scales, ...)", nearest_neighbours,
             (emb * stored["scales"], query, 5), want=neighbours, exact=True, what="neighbour ids",
             hint="cosine similarity ignores the length of each row; the result changed when "
             "rows were rescaled"))


def _own_word(got, emb, a, b, c) -> str:
    """The first query answered with one of its own words, a, b or c."""
    i = _first((got == a) | (got == b) | (got == c))
    which = [n for n, t in (("a", a), ("b", b), ("c", c)) if int(t[i]) == int(got[i])]
    return (f"query {i} returned its own {which[0]} word: exclude a, b and c from the candidates "
            "(b is usually nearest to b - a + c)")


def _offset_scores(rows, emb, a, b, c, unit_rows: bool) -> torch.Tensor:
    """(Q,) each query's pick `rows` scored against the offset of the RAW vectors, b - a + c,
    by dot product (unit_rows: with the pick's row unit-normalised)."""
    emb = emb.double()
    picked = emb[rows] / emb[rows].norm(dim=-1, keepdim=True) if unit_rows else emb[rows]
    return (picked * (emb[b] - emb[a] + emb[c])).sum(-1)


def _analogy_bugs(want: torch.Tensor, swapped: torch.Tensor) -> list[Bug]:
    """analogy(emb, a, b, c): symptom -> likely bug (`want`: the right answers; `swapped`: the
    right answers of b:a :: c:?, which are those of a - b + c)."""
    return [
        Bug(_own_word,
            when=lambda got, emb, a, b, c: bool(((got == a) | (got == b) | (got == c)).any())),
        Bug("a:b :: c:? solves x = b - a + c, not a - b + c",
            when=lambda got, *_: torch.equal(got, swapped)),
        Bug("dot products of raw vectors: normalise the rows to unit length, both to build b - a + c "
            "and to compare with it (3CosAdd)",
            when=lambda got, *q: _no_worse(_offset_scores(got, *q, unit_rows=False),
                                           _offset_scores(want, *q, unit_rows=False))),
        Bug("b - a + c was built from the raw vectors; 3CosAdd uses the unit-normalised rows: "
            "normalise before taking b - a + c",
            when=lambda got, *q: _no_worse(_offset_scores(got, *q, unit_rows=True),
                                           _offset_scores(want, *q, unit_rows=True))),
    ]


def _answers_rule(want: torch.Tensor, swapped: torch.Tensor) -> Holds:
    def wrong(got) -> int:
        return _first(got != want)

    def what(got, emb, a, b, c) -> str:
        i = wrong(got)
        return (f"answer to query {i} (a={int(a[i])}, b={int(b[i])}, c={int(c[i])}); "
                f"{int((got != want).sum())} of {len(a)} answers differ")

    return Holds(what, lambda got, *_: torch.equal(got, want),
                 "argmax over x of cos(x, b - a + c), on unit-normalised rows, excluding a, b, c",
                 expected=lambda got, *_: int(want[wrong(got)]),
                 got=lambda got, *_: int(got[wrong(got)]), bugs=_analogy_bugs(want, swapped))


def _check_analogy(analogy) -> None:
    stored = _stored("similar/analogy")
    emb, a, b, c = (stored[f] for f in ("emb", "a", "b", "c"))
    (answers,) = run(Case(
        "analogy(emb 40x6, a, b, c of 24 queries)", analogy, (emb, a, b, c), keeps={"emb": emb},
        keeps_hint="emb was modified in place: normalise into a new tensor",
        out=Out(dtype=torch.long, shape=(len(a),),
                dtype_hint="the answers are word ids: a LongTensor",
                shape_hint="one answer id per (a, b, c) query"),
        holds=[_answers_rule(stored["answers"], stored["swapped"])]))
    run(Case("analogy(emb * positive row scales, a, b, c)", analogy, (emb * stored["scales"], a, b, c),
             want=answers, exact=True, what="answers",
             hint="3CosAdd works on unit-normalised rows, so rescaling a row can't change the "
             "answer; normalise the rows before anything else"))


def check_similarity(nearest_neighbours, analogy) -> None:
    """Cosine neighbours and 3CosAdd analogies, query words excluded, scale invariant."""
    with _no_gensim("nearest_neighbours", "rank the words by cosine similarity"):
        _check_neighbours(nearest_neighbours)
    with _no_gensim("analogy", "answer the analogies by 3CosAdd"):
        _check_analogy(analogy)


# ---------------------------------------------------------------------- 8. classifier

_V, _D, _C = 12, 4, 3  # vocabulary, embedding dim, classes
_BATCH = torch.tensor([[5, 7, 0, 0], [3, 3, 9, 1], [2, 0, 0, 0]])  # padded with id 0
_IN_BATCH = sorted(set(_BATCH[_BATCH != 0].tolist()))  # the words it uses
_NOT_PADDING = list(range(1, _V))
_PAD = ("padding changed the output: average only the non-padding tokens (mask where ids == "
        "padding_idx, divide by the number of real tokens); here the padding row of the embedding "
        "is not zero, so the mask must not rely on it")


def _bag(BagOfEmbeddings, *args, **kwargs) -> tuple[nn.Module, str]:  # noqa: N803
    """The learner's model built under a fixed seed, and its name in messages (P: pretrained)."""
    shown = ", ".join([str(a) for a in args] + [f"{k}={'P' if k == 'pretrained' else v}"
                                                for k, v in kwargs.items()])
    where = f"BagOfEmbeddings({shown})"
    return build(BagOfEmbeddings, where, *args, seed=2,
                 module_hint="class BagOfEmbeddings(nn.Module)", **kwargs), where


def _the_embedding(model, where: str):
    found = [m for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
    expect_true(len(found) == 1, f"{where}: embedding layer",
                "the model holds one nn.Embedding (V, D) for the words",
                expected="exactly one nn.Embedding", got=f"{len(found)}")
    return found[0]


def _logits(model, ids: torch.Tensor, where: str) -> torch.Tensor:
    """(B, C) logits of the model in eval mode, outside autograd."""
    here = f"{where}: forward(ids {tuple(ids.shape)})"
    model.eval()
    with torch.no_grad():
        out = call(model, ids, where=here)
    expect_tensor(out, where)
    Out(shape=(ids.shape[0], _C), finite=True,
        shape_hint="one row of class logits per sentence: (B, num_classes)").verify(out, here)
    return out


def _check_mean_of_real_tokens(model, where: str) -> None:
    """The learner's own logits must not change with padding, batching or repetition."""
    base = _logits(model, _BATCH, where)
    padded = torch.cat([_BATCH, torch.zeros(3, 3, dtype=torch.long)], dim=1)
    expect_close(_logits(model, padded, where), base,
                 f"{where}: logits with 3 more padding columns", _PAD, atol=1e-5)
    alone = torch.cat([_logits(model, ids[None, :int((ids != 0).sum())], where) for ids in _BATCH])
    expect_close(alone, base, f"{where}: each sentence alone, unpadded, vs in the padded batch",
                 _PAD, atol=1e-5)
    doubled = _logits(model, torch.tensor([[5, 7, 0, 0], [5, 7, 5, 7]]), where)[1]
    expect_close(doubled, _logits(model, torch.tensor([[5, 7], [5, 7]]), where)[0],
                 f"{where}: logits of [5, 7, 5, 7] vs [5, 7]", "a mean of embeddings does not "
                 "change when the sentence is repeated; a sum does: divide by the number of "
                 "non-padding tokens", atol=1e-5)


def _check_padding_idx(BagOfEmbeddings, pretrained) -> None:  # noqa: N803
    """padding_idx is a parameter, not always 0."""
    model, where = _bag(BagOfEmbeddings, _V, _D, _C, pretrained=pretrained, padding_idx=3)
    expect_close(_logits(model, torch.tensor([[5, 7, 3, 3], [0, 2, 9, 3]]), where),
                 torch.cat([_logits(model, torch.tensor([[5, 7]]), where),
                            _logits(model, torch.tensor([[0, 2, 9]]), where)]),
                 f"{where}: logits, padded with id 3 vs unpadded",
                 "the padding id is the padding_idx argument (here 3), not always 0; "
                 "id 0 is then an ordinary word", atol=1e-5)


def _gradient_rows(model, emb, where: str) -> list[int]:
    """Backpropagate a cross-entropy loss on the batch; the embedding rows that got a gradient.
    The classifier layer must always get one."""
    model.train()
    model.zero_grad(set_to_none=True)
    out = call(model, _BATCH, where=f"{where}: forward(ids)")
    loss = torch.nn.functional.cross_entropy(out, torch.tensor([0, 2, 1]))
    call(loss.backward, where=f"{where}: loss.backward()")
    head = [p for p in model.parameters() if p is not emb.weight]
    expect_true(any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in head),
                f"{where}: gradient of the linear layer", "the classifier layer must train "
                "in both settings; freeze only the embedding", expected="non-zero", got="none")
    return sorted(set(dense_grad(emb.weight).abs().sum(1).nonzero().flatten().tolist()))


def _sgd_step(model) -> None:
    with torch.no_grad():  # one plain SGD step, lr = 1
        for p in model.parameters():
            if p.requires_grad and p.grad is not None:
                p.add_(p.grad, alpha=-1.0)


# BagOfEmbeddings(..., freeze=False): embedding rows with a gradient -> likely bug
_FINE_TUNE_BUGS = [
    Bug("freeze=False must fine-tune the embedding (note that nn.Embedding.from_pretrained "
        "freezes by default)", when=lambda rows: not rows),
    Bug("the padding row got a gradient: padding must not enter the mean",
        when=lambda rows: 0 in rows),
]


def _check_training(BagOfEmbeddings, pretrained, original, freeze: bool) -> None:  # noqa: N803
    """One SGD step: the embedding trains unless frozen, `pretrained` itself never changes."""
    model, where = _bag(BagOfEmbeddings, _V, _D, _C, pretrained=pretrained, freeze=freeze)
    emb = _the_embedding(model, where)
    rows = _gradient_rows(model, emb, where)
    if freeze:
        expect_true(not rows, f"{where}: gradient of the embedding", "freeze=True must stop the "
                    "embedding's gradient (set requires_grad to False on its weight)",
                    expected="no gradient", got=f"non-zero gradient on rows {rows}")
    else:
        examine(f"{where}: rows of the embedding with a non-zero gradient", rows,
                want=_IN_BATCH, exact=True, bugs=_FINE_TUNE_BUGS,
                hint="exactly the words in the batch get a gradient")
    _sgd_step(model)
    expect_equal(pretrained, original, f"{where}: the caller's `pretrained` tensor after one "
                 "training step", "training wrote into the tensor passed as `pretrained`: the "
                 "embedding shares its memory (nn.Embedding.from_pretrained and "
                 "nn.Parameter(pretrained) do not copy); copy the values in")
    weights = emb.weight.detach()
    if freeze:
        expect_equal(weights[_NOT_PADDING], pretrained[_NOT_PADDING], f"{where}: embedding after "
                     "one SGD step", "a frozen embedding must not change during training")
    else:
        expect_true(not torch.equal(weights[_IN_BATCH], pretrained[_IN_BATCH]),
                    f"{where}: embedding after one SGD step",
                    "freeze=False: the embedding must be fine-tuned",
                    expected="changed rows for the words in the batch", got="unchanged")


def check_bag_of_embeddings(BagOfEmbeddings) -> None:  # noqa: N803 (the learner's class)
    """Mean of the non-padding embeddings, then linear; pretrained copied; freeze works."""
    pretrained = torch.randn(_V, _D, generator=gen(8))  # row 0, the padding id, is NOT zero
    original = pretrained.clone()
    model, where = _bag(BagOfEmbeddings, _V, _D, _C, pretrained=pretrained)
    emb = _the_embedding(model, where)
    expect_shape(emb.weight, (_V, _D), f"{where}: embedding weight")
    expect_equal(emb.weight.detach()[_NOT_PADDING], pretrained[_NOT_PADDING],
                 f"{where}: embedding weights (rows other than padding)",
                 "copy `pretrained` into the embedding's weight when it is given")
    _check_mean_of_real_tokens(model, where)
    _check_padding_idx(BagOfEmbeddings, pretrained)
    # pretrained=None: a trainable random embedding
    model, where = _bag(BagOfEmbeddings, _V, _D, _C)
    expect_true(float(_the_embedding(model, where).weight.detach()[1:].abs().sum()) > 0,
                f"{where}: embedding", "without pretrained vectors the embedding starts random",
                expected="non-zero weights", got="all zeros")
    for freeze in (True, False):
        _check_training(BagOfEmbeddings, pretrained, original, freeze)


# ------------------------------------------------------------------ expected values

# what `course release` runs on the solution and stores (autograder/expected/word2vec.safetensors)
PROBES = {
    "subsample": Probe(("keep_probability",), _probe_keep),
    "pairs": Probe(("skipgram_pairs",), _probe_pairs),
    "noise": Probe(("noise_distribution",), _probe_noise),
    **{f"loss/{i}": Probe(("sgns_loss",), _probe_loss(i)) for i in range(len(_LOSS_SHAPES))},
    **{f"loss/extreme{sign:+.0f}": Probe(("sgns_loss",), _probe_extreme(sign)) for sign in (-1.0, 1.0)},
    "model": Probe(("SkipGram", "sgns_loss"), _probe_model),
    "similar/neighbours": Probe(("nearest_neighbours",), _probe_neighbours),
    "similar/analogy": Probe(("analogy",), _probe_analogy),
}
