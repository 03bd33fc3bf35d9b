"""Visible checks for Chapter 4, "BERT": masking, pooling and the fine-tuning optimiser.

One check per exercise. Each calls the learner's code on fixed, seeded inputs inside the
`_reference` guard (an answer that calls the library it is compared with fails, saying so)
and raises `AssertionError` naming the function, what was expected, what was got, and the
likely bug. A passing check returns None.

    check_masking(mask_tokens)
        rules on every draw (labels -100 exactly where not chosen, special positions never
        chosen, inputs untouched where not chosen, reproducible from the generator alone) and
        rates over ~190k positions against BERT's rule (Devlin et al. 2019, §3.1): 15% chosen,
        of those 80% [MASK] / 10% random / 10% unchanged, the rule of transformers'
        DataCollatorForLanguageModeling.torch_mask_tokens
    check_pooling(mean_pool, cls_pool, SentenceClassifier)
        vs sentence-transformers' Pooling module (mean, cls) on fixed hidden states; mean pooling
        of MiniLM's last hidden state (transformers.BertModel), L2-normalised, vs
        SentenceTransformer.encode; the classifier on a stand-in body vs the same Pooling and
        its own head, its gradients vs autograd's through that expression
    check_optimizer(param_groups, warmup_linear)
        the groups vs transformers' Trainer's choice of the decayed parameters
        (trainer_pt_utils.get_parameter_names: nn.LayerNorm parameters and biases undecayed),
        which the answer must not call itself; the multiplier vs
        transformers.get_linear_schedule_with_warmup at every step; N steps of AdamW +
        LambdaLR(warmup_linear) vs AdamW + get_linear_schedule_with_warmup, to 1e-7

The checks leave the global random state and the autograd mode as they found them.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._common import (
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
    expect_true,
    forbid,
    gen,
    one_thread,
    run,
    show,
)
from . import _reference as _R

__all__ = ["check_masking", "check_pooling", "check_optimizer"]


# ------------------------------------------------------------------------------ guards

def _under_seed(fn: Callable[..., Any], seed: int) -> Callable[..., Any]:
    """`fn` run under a fixed global seed, leaving the learner's global RNG as it was."""
    def seeded(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return fn(*args, **kwargs)
    return seeded


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape \
        and torch.equal(a, b)


# ------------------------------------------------------------------------- 1. masking
#
# The rule is BERT's (Devlin et al. 2019, §3.1) as transformers implements it in
# DataCollatorForLanguageModeling.torch_mask_tokens (read in transformers 5.24): each position
# is chosen with probability mlm_probability, special positions never (their probability is
# set to 0); labels are -100 wherever not chosen; of the chosen, Bernoulli(0.8) -> [MASK], of
# the rest Bernoulli(0.1 / 0.2 = 0.5) -> torch.randint(len(tokenizer)), the rest unchanged. So
# P([MASK]) = 0.8, P(random) = 0.1, P(unchanged) = 0.1 of the chosen, the rates checked below;
# its draws come from its own generator in another order, so only the rates can be compared
# (tests/test_checks_bert_training.py runs the collator through these very rules). A random
# id equals the original with probability 1/V and [MASK] with probability 1/V: counted by
# what the input holds, "unchanged" is 0.1 + 0.1/V, "[MASK]" 0.8 + 0.1/V, "other" 0.1 - 0.2/V.

_ASKS_MASK = "choose and replace the masked positions"
_SIGMAS = 5.0  # statistical rules allow 5 standard errors (a correct draw fails 1 in ~1.7M)

# MiniLM's ids: [PAD] 0, [CLS] 101, [SEP] 102, [MASK] 103, vocabulary 30,522
_PAD, _CLS, _SEP, _MASK, _V = 0, 101, 102, 103, 30522
_SHORT_TEXTS = ("the movie was great , the popcorn was not .",
                "a slow yes beats a fast no",
                "lan yu seems altogether too slight to be called any kind of masterpiece .")


@functools.cache
def _short_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """MiniLM's tokenizer on `_SHORT_TEXTS`, padded; special = [CLS], [SEP], [PAD]."""
    ids = _R.tokenizer()(list(_SHORT_TEXTS), padding=True, return_tensors="pt")["input_ids"]
    return ids, torch.isin(ids, torch.tensor([_PAD, _CLS, _SEP]))


def _batch(seed: int, rows: int, T: int, low: int, V: int, cls: int, sep: int,
           pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, T) ids: [CLS] w... [SEP] [PAD]..., lengths T/2..T, words drawn from [low, V)."""
    g = gen(seed)
    lengths = torch.randint(T // 2, T + 1, (rows,), generator=g)
    ids = torch.randint(low, V, (rows, T), generator=g)
    pos = torch.arange(T)
    ids[:, 0] = cls
    ids[pos >= lengths[:, None]] = pad
    ids[torch.arange(rows), lengths - 1] = sep
    return ids, (pos == 0) | (pos >= lengths[:, None] - 1)


def _first(mask: torch.Tensor) -> str:
    row, t = mask.nonzero()[0].tolist()
    return f"row {row}, position {t}"


def _pair(out: Any) -> bool:
    return isinstance(out, (tuple, list)) and len(out) == 2


_A_PAIR = Holds("return value", lambda out, *_: _pair(out),
                "return two tensors, `inputs, labels`", expected="a tuple (inputs, labels)",
                got=lambda out, *_: f"{type(out).__name__}: {show(out)}")


def _verify_pair(out: Any, where: str, shape: tuple[int, ...]) -> None:
    for k, name in enumerate(("inputs", "labels")):
        Out(dtype=torch.long, shape=shape,
            dtype_hint="token ids and labels are integers (torch.long): build them from "
            "input_ids (clone, masked_fill), not from a float tensor",
            shape_hint="inputs and labels have the shape of input_ids").verify(
            out[k], f"{where}: {name}")


def _chosen(out) -> torch.Tensor:
    return out[1] != -100


def _rules(ids: torch.Tensor, special: torch.Tensor, V: int, p: float) -> list[Holds]:
    """What must hold of every draw of mask_tokens(ids, special, mask_id, V, g, p)."""
    real = ~special
    n_special = int(special.sum())

    def labelled_specials(out):
        return special & _chosen(out)

    def row_counts_fixed(out):
        counts = _chosen(out).sum(1)
        return bool((counts == round(p * ids.shape[1])).all())

    def inverted(out):  # -100 where the inputs were replaced
        unlabelled = real & ~_chosen(out)
        return bool(unlabelled.any()) and float((out[0] != ids)[unlabelled].float().mean()) > 0.5

    def unchosen_changed(out):
        return real & ~_chosen(out) & (out[0] != ids)

    everywhere = Bug("the 80/10/10 replacement was applied to every position: apply it only to "
                     "the chosen ones (chosen & (roll < 0.8), ...)",
                     when=lambda out, *_: float(unchosen_changed(out).sum())
                     > 0.3 * float((real & ~_chosen(out)).sum()))
    bad_label = lambda out: _chosen(out) & (out[1] != ids)  # noqa: E731
    changed_special = lambda out: special & (out[0] != ids)  # noqa: E731
    outside = lambda out: (out[0] < 0) | (out[0] >= V)  # noqa: E731
    return [
        Holds("labels at the special positions ([CLS], [SEP], [PAD])",
              lambda out, *_: not bool(labelled_specials(out).any()),
              "special positions (special_mask True: [CLS], [SEP], [PAD]) are never chosen: set "
              "their probability to 0 before drawing (probs.masked_fill(special_mask, 0.0))",
              expected=f"-100 at all {n_special} special positions",
              got=lambda out, *_: f"{int(labelled_specials(out).sum())} special positions "
              f"labelled, the first at {_first(labelled_specials(out))}: "
              f"{int(out[1][labelled_specials(out)][0])}",
              bugs=[Bug("labels are the input ids everywhere: a label is the original id only at "
                        "the chosen positions and -100 everywhere else (the loss ignores -100)",
                        when=lambda out, *_: torch.equal(out[1], ids)),
                    Bug("-100 marks the chosen positions and the ids the others: inverted; keep "
                        "the original id where chosen, -100 where not",
                        when=lambda out, *_: inverted(out)),
                    Bug(f"every row has exactly round(p * T) = {round(p * ids.shape[1])} chosen "
                        "positions, special ones included: choose each non-special position "
                        "independently with probability p (torch.bernoulli), never a special one",
                        when=lambda out, *_: row_counts_fixed(out))]),
        Holds("labels at the chosen positions (label != -100)",
              lambda out, *_: not bool(bad_label(out).any()),
              "a label is the ORIGINAL id at a chosen position (input_ids), -100 elsewhere",
              expected="labels[chosen] == input_ids[chosen]",
              got=lambda out, *_: f"{int(bad_label(out).sum())} labels differ, the first at "
              f"{_first(bad_label(out))}: label {int(out[1][bad_label(out)][0])}, "
              f"input_ids {int(ids[bad_label(out)][0])}",
              bugs=[Bug("the labels hold the REPLACED ids ([MASK], random): take them from "
                        "input_ids, before replacing (the model must predict the original)",
                        when=lambda out, *_: bool((out[1] == out[0])[_chosen(out)].all()))]),
        Holds("inputs at the special positions",
              lambda out, *_: not bool(changed_special(out).any()),
              "special positions are never chosen, so their ids stay as they are",
              expected="input_ids unchanged at every [CLS], [SEP], [PAD]",
              got=lambda out, *_: f"{int(changed_special(out).sum())} changed, the first at "
              f"{_first(changed_special(out))}: {int(out[0][changed_special(out)][0])}",
              bugs=[everywhere]),
        Holds("inputs at the positions not chosen (label -100)",
              lambda out, *_: not bool(unchosen_changed(out).any()),
              "a position that is not chosen keeps its id: replace only where chosen",
              expected="input_ids unchanged wherever the label is -100",
              got=lambda out, *_: f"{int(unchosen_changed(out).sum())} changed, the first at "
              f"{_first(unchosen_changed(out))}: {int(out[0][unchosen_changed(out)][0])} instead "
              f"of {int(ids[unchosen_changed(out)][0])}", bugs=[everywhere]),
        Holds("inputs", lambda out, *_: not bool(outside(out).any()),
              "random replacement ids are drawn from [0, vocab_size): torch.randint(vocab_size, "
              "shape, generator=generator)", expected=f"ids in 0..{V - 1}",
              got=lambda out, *_: f"{int(out[0][outside(out)][0])} at {_first(outside(out))}"),
    ]


def _share(n: int, of: int) -> float:
    return n / max(1, of)


def _within(got: float, want: float, n: int) -> bool:
    return abs(got - want) <= _SIGMAS * math.sqrt(want * (1 - want) / max(1, n))


def _band(want: float, n: int) -> str:
    return f"{want:.4f} ± {_SIGMAS * math.sqrt(want * (1 - want) / max(1, n)):.4f}"


def _counts(out, ids, special, mask_id) -> dict[str, Any]:
    inputs, chosen = out[0], _chosen(out)
    other = chosen & (inputs != mask_id) & (inputs != ids)
    return {"real": int((~special).sum()), "chosen": int(chosen.sum()),
            "mask": int((chosen & (inputs == mask_id)).sum()),
            "same": int((chosen & (inputs == ids)).sum()), "other": int(other.sum()),
            "other_ids": inputs[other]}


def _rate_rules(ids, special, mask_id: int, V: int, p: float) -> list[Holds]:
    """BERT's rates: chosen p of the non-special positions; [MASK] 0.8, random 0.1, unchanged 0.1
    of the chosen (a random id may equal the original or [MASK]: see the note above)."""
    c = lambda out: _counts(out, ids, special, mask_id)  # noqa: E731
    rate = lambda out: _share(c(out)["chosen"], c(out)["real"])  # noqa: E731

    def share(key: str) -> Callable[[Any], float]:
        return lambda out: _share(c(out)[key], c(out)["chosen"])

    want = {"mask": 0.8 + 0.1 / V, "other": 0.1 - 0.2 / V, "same": 0.1 + 0.1 / V}
    bert = "(BERT, Devlin et al. 2019, §3.1)"
    return [
        Holds(lambda out, *_: f"share of the {c(out)['real']} non-special positions chosen "
              f"(p={p})",
              lambda out, *_: _within(rate(out), p, c(out)["real"]),
              "choose each non-special position with probability p: torch.bernoulli("
              "torch.full(shape, p).masked_fill(special_mask, 0.0), generator=generator)",
              expected=lambda out, *_: _band(p, c(out)["real"]),
              got=lambda out, *_: f"{rate(out):.4f}",
              bugs=[Bug("the rate does not follow the argument p: use p, not a hard-coded 0.15",
                        when=lambda out, *_: p != 0.15
                        and _within(rate(out), 0.15, c(out)["real"]))]),
        Holds(lambda out, *_: f"share of the {c(out)['chosen']} chosen positions that hold [MASK]",
              lambda out, *_: _within(share("mask")(out), want["mask"], c(out)["chosen"]),
              f"of the chosen positions 80% become [MASK] {bert}: one uniform draw per position, "
              "[MASK] where it is < 0.8",
              expected=lambda out, *_: _band(want["mask"], c(out)["chosen"]),
              got=lambda out, *_: f"{share('mask')(out):.4f}",
              bugs=[Bug(f"every chosen position became [MASK]: of the chosen, 80% become [MASK], "
                        f"10% a random token, 10% stay unchanged {bert}",
                        when=lambda out, *_: share("mask")(out) > 0.97)]),
        Holds(lambda out, *_: f"share of the {c(out)['chosen']} chosen positions that hold a "
              "random token (neither [MASK] nor the original id)",
              lambda out, *_: _within(share("other")(out), want["other"], c(out)["chosen"]),
              f"10% of the chosen get a random id {bert}: the draw in [0.8, 0.9) -> "
              "torch.randint(vocab_size, ...); the last 10% keep their id",
              expected=lambda out, *_: _band(want["other"], c(out)["chosen"]),
              got=lambda out, *_: f"{share('other')(out):.4f}",
              bugs=[Bug("no chosen position got a random token: 10% of the chosen are replaced by "
                        "a random id from the vocabulary",
                        when=lambda out, *_: c(out)["other"] == 0),
                    Bug("all of the 20% that are not [MASK] got a random token: only half of them "
                        "(10% of the chosen); the other 10% keep their original id",
                        when=lambda out, *_: _within(share("other")(out), 0.2, c(out)["chosen"]))]),
        Holds(lambda out, *_: f"share of the {c(out)['chosen']} chosen positions left unchanged",
              lambda out, *_: _within(share("same")(out), want["same"], c(out)["chosen"]),
              f"10% of the chosen keep their original id {bert} (they are still predicted: their "
              "label is the id)",
              expected=lambda out, *_: f"{_band(want['same'], c(out)['chosen'])}  (0.1, plus the "
              "random ids that happen to equal the original)",
              got=lambda out, *_: f"{share('same')(out):.4f}"),
    ]


def _spread(ids, special, mask_id: int, V: int) -> Holds:
    """The random ids are uniform over [0, V): their mean is (V - 1) / 2."""
    c = lambda out: _counts(out, ids, special, mask_id)  # noqa: E731

    def mean(out) -> float:
        return float(c(out)["other_ids"].double().mean())

    def tolerance(out) -> float:
        return _SIGMAS * V / math.sqrt(12 * max(1, c(out)["other"]))

    return Holds(lambda out, *_: f"mean of the {c(out)['other']} random ids",
                 lambda out, *_: abs(mean(out) - (V - 1) / 2) <= tolerance(out),
                 "random ids are drawn uniformly from the whole vocabulary, [0, vocab_size): "
                 "torch.randint(vocab_size, shape, generator=generator)",
                 expected=lambda out, *_: f"{(V - 1) / 2:.1f} ± {tolerance(out):.1f} (uniform "
                 f"over 0..{V - 1})",
                 got=lambda out, *_: f"{mean(out):.1f} (ids from {int(c(out)['other_ids'].min())} "
                 f"to {int(c(out)['other_ids'].max())})",
                 bugs=[Bug(f"every random id is below mask_id = {mask_id}: draw from the whole "
                           "vocabulary, torch.randint(vocab_size, ...), not torch.randint(mask_id)",
                           when=lambda out, *_: int(c(out)["other_ids"].max()) < mask_id)])


def _coverage(ids, special, mask_id: int, V: int) -> Holds:
    """With a small vocabulary, every id (but [MASK], counted as [MASK]) shows up as random."""
    c = lambda out: _counts(out, ids, special, mask_id)  # noqa: E731

    def missing(out) -> list[int]:
        seen = torch.bincount(c(out)["other_ids"], minlength=V)
        return [k for k in range(V) if k != mask_id and int(seen[k]) == 0]

    return Holds(lambda out, *_: f"the {c(out)['other']} random ids (vocabulary of {V})",
                 lambda out, *_: not missing(out),
                 "random ids are drawn uniformly from 0..vocab_size-1: torch.randint(vocab_size, "
                 "shape, generator=generator)",
                 expected=f"every id in 0..{V - 1} drawn (about "
                 f"{0.1 * 0.15 * float((~special).sum()) / V:.0f} times each)",
                 got=lambda out, *_: f"never drawn: {show(missing(out))}",
                 bugs=[Bug(f"id vocab_size - 1 = {V - 1} is never drawn: torch.randint's upper "
                           "bound is exclusive, so torch.randint(vocab_size, ...) already gives "
                           "0..vocab_size-1",
                           when=lambda out, *_: missing(out) == [V - 1]),
                       Bug("every random replacement is the same id: draw a random id per "
                           "position, torch.randint(vocab_size, input_ids.shape, ...)",
                           when=lambda out, *_: int(c(out)["other_ids"].unique().numel()) == 1)])


def _reproducible(mask_tokens, where: str, args: tuple, seed: int) -> list[Holds]:
    """The generator alone decides: the same seed gives the same draw under another global seed,
    another seed gives another draw."""
    def again(global_seed: int, generator_seed: int):
        fn = _R.guarded(_under_seed(mask_tokens, global_seed), where, _ASKS_MASK)
        return call(fn, *args, gen(generator_seed), where=where)

    return [
        Holds(f"calling again with generator=gen({seed})",
              lambda out, *_: _same(list(out), list(again(1, seed))),
              "the same generator seed must give the same draw: take every random number from "
              "`generator` (and don't re-seed or create a generator inside)",
              expected="identical inputs and labels", got="different ones"),
        Holds(f"calling again with generator=gen({seed}) after torch.manual_seed(2)",
              lambda out, *_: _same(list(out), list(again(2, seed))),
              "the draw changed with torch's global seed: pass generator=generator to EVERY "
              "random call (torch.bernoulli, torch.rand, torch.randint); one without it draws "
              "from the global random state", expected="identical inputs and labels",
              got="different ones"),
        Holds(f"calling again with generator=gen({seed + 1})",
              lambda out, *_: not _same(list(out), list(again(1, seed + 1))),
              "another generator seed gave the same draw: draw the random numbers from "
              "`generator`", expected="a different draw", got="identical inputs and labels"),
    ]


def _masking_case(mask_tokens, what: str, ids, special, mask_id: int, V: int, seed: int,
                  p: float | None, holds: Callable[[str, tuple], list[Holds]]) -> None:
    kwargs = {} if p is None else {"p": p}
    where = (f"mask_tokens({what}, special_mask, mask_id={mask_id}, vocab_size={V}, "
             f"generator=gen({seed}){'' if p is None else f', p={p}'})")
    fn = _R.guarded(_under_seed(mask_tokens, 1), where, _ASKS_MASK)
    (out,) = run(Case(where, fn, (ids, special, mask_id, V, gen(seed)), kwargs,
                      keeps={"input_ids": ids, "special_mask": special},
                      keeps_hint="mask_tokens must not change input_ids in place: clone it "
                      "first (inputs = input_ids.clone()) and replace in the copy",
                      holds=[_A_PAIR]))
    _verify_pair(out, where, tuple(ids.shape))
    args = (ids, special, mask_id, V)
    examine(where, out, holds=[*_rules(ids, special, V, 0.15 if p is None else p),
                               *holds(where, args)])


@one_thread()
def check_masking(mask_tokens) -> None:
    """BERT's masking: each non-special position chosen with probability p; labels -100 where
    not chosen; of the chosen 80% [MASK], 10% random, 10% unchanged; the generator alone."""
    ids, special = (t.clone() for t in _short_batch())  # the learner's code may write in them
    _masking_case(mask_tokens, f"input_ids of {list(_SHORT_TEXTS)}", ids, special, _MASK, _V,
                  0, 0.4, lambda where, args: [])
    # ~190k candidate positions of MiniLM's vocabulary: the rates, the random ids, the generator
    big = _batch(1, 1000, 256, 1000, _V, _CLS, _SEP, _PAD)
    what = "input_ids of 1000 rows x 256 ([CLS] words [SEP] [PAD]...)"
    _masking_case(mask_tokens, what, *big, _MASK, _V, 11, None, lambda where, args: [
        *_reproducible(mask_tokens, where, args, 11), *_rate_rules(*big, _MASK, _V, 0.15),
        _spread(*big, _MASK, _V)])
    _masking_case(mask_tokens, what, *big, _MASK, _V, 12, 0.3,
                  lambda where, args: _rate_rules(*big, _MASK, _V, 0.3)[:1])
    # a vocabulary of 64 ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4): every id is drawn
    small = _batch(2, 1000, 256, 5, 64, 2, 3, 0)
    _masking_case(mask_tokens, "input_ids of 1000 rows x 256 over a vocabulary of 64", *small,
                  4, 64, 13, None, lambda where, args: [*_rate_rules(*small, 4, 64, 0.15),
                                                        _coverage(*small, 4, 64)])


# ------------------------------------------------------------------------- 2. pooling

_ASKS_POOL = "pool the token vectors"
_TEXTS = ("the movie was great .",
          "lan yu seems altogether too slight to be called any kind of masterpiece . it is , "
          "however , a completely honest , open-hearted film that should appeal to anyone "
          "willing to succumb to it .",
          "-Been Sore For The Past Days From Workin Out .",
          "A slow yes beats a fast no 7 days a week ... dont rush people when dey make'n choices")


def _pooling_module():
    try:
        from sentence_transformers.sentence_transformer.modules import Pooling
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Pooling
    return Pooling


def _st_pool(mode: str, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sentence-transformers' Pooling module ("mean", "cls", "lasttoken") on (hidden, mask)."""
    pool = _pooling_module()(hidden.shape[-1], pooling_mode=mode)
    return pool({"token_embeddings": hidden, "attention_mask": mask})["sentence_embedding"]


@functools.cache
def _minilm_hidden() -> tuple[torch.Tensor, torch.Tensor]:
    """MiniLM's last hidden state (transformers.BertModel) of `_TEXTS`, padded, and the mask."""
    batch = _R.tokenizer()(list(_TEXTS), padding=True, return_tensors="pt")
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        hidden = _R.hf_model()(**batch).last_hidden_state
    return hidden, batch["attention_mask"]


@functools.cache
def _st_embeddings() -> torch.Tensor:
    """SentenceTransformer.encode(_TEXTS): MiniLM, mean pooling, L2 normalisation.

    MiniLM's modules.json names a `2_Normalize` folder that the shipped model lacks: with
    sentence-transformers 6.2 it loads anyway (Normalize has no weights, so it needs no
    folder) and encode returns unit vectors; checked on this model with sentence-transformers
    6.2.0 (`SentenceTransformer(...)` prints its three modules: Transformer, Pooling(mean),
    Normalize).
    """
    from sentence_transformers import SentenceTransformer

    with torch.random.fork_rng(devices=[]), _R._quiet():
        model = SentenceTransformer(str(_R.minilm_dir()), device="cpu")
        return model.encode(list(_TEXTS), convert_to_tensor=True).detach().cpu()


def _garbage(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Large values where the padding is: they show if padding is pooled."""
    return 100.0 + 30.0 * torch.randn(*shape, generator=gen(seed))


def _hidden_and_mask(B: int, T: int, H: int, lengths: Sequence[int], seed: int):
    hidden = torch.randn(B, T, H, generator=gen(seed))
    mask = (torch.arange(T) < torch.tensor(lengths)[:, None]).long()
    hidden[mask == 0] = _garbage((int((mask == 0).sum()), H), seed + 1)
    return hidden, mask


def _padded(hidden: torch.Tensor, mask: torch.Tensor, extra: int):
    """The same batch with `extra` more padding positions on the right, garbage in them."""
    B, _, H = hidden.shape
    return (torch.cat([hidden, _garbage((B, extra, H), 99)], 1),
            torch.cat([mask, torch.zeros(B, extra, dtype=mask.dtype)], 1))


_NO_NORMALISE = ("mean_pool must not normalise: sentence-transformers L2-normalises afterwards, in "
                 "its own Normalize module (F.normalize after pooling); return the plain masked "
                 "mean")


def _mean_bugs() -> list[Bug]:
    """mean_pool(hidden, mask): symptom (the library on a changed input) -> likely bug."""
    lengths = lambda m: m.sum(1, keepdim=True).double()  # noqa: E731
    mean = lambda h, m: _st_pool("mean", h, m).double()  # noqa: E731
    everything = lambda h, m: _st_pool("mean", h, torch.ones_like(m)).double()  # noqa: E731
    return [
        Bug("the padding was averaged in (a mean over all T positions): average only the real "
            "tokens, weighting each position by attention_mask", like=everything),
        Bug("divided by T, the padded length: divide the masked sum by the number of real "
            "tokens, attention_mask.sum(1)", like=lambda h, m: mean(h, m) * lengths(m) / m.shape[1]),
        Bug("this is the masked SUM: divide it by the number of real tokens per row",
            like=lambda h, m: mean(h, m) * lengths(m)),
        Bug("the padding was summed: multiply the hidden states by the mask (B, T, 1) before "
            "summing", like=lambda h, m: everything(h, m) * m.shape[1] / lengths(m)),
        Bug(_NO_NORMALISE, like=lambda h, m: F.normalize(mean(h, m), dim=-1)),
    ]


_UNSQUEEZE = ("hidden is (B, T, H) and attention_mask (B, T): unsqueeze the mask to (B, T, 1) "
              "so it broadcasts over H")


def _mean_case(mean_pool, hidden, mask, what: str, hint: str) -> Case:
    where = f"mean_pool({what})"
    again = _padded(hidden, mask, 3)
    fn = _R.guarded(mean_pool, where, _ASKS_POOL)
    return Case(where, fn, (hidden, mask), keeps={"hidden": hidden, "attention_mask": mask},
                call_hint=_UNSQUEEZE,
                out=Out(dtype=FLOATS, shape=(hidden.shape[0], hidden.shape[2]), finite=True,
                        shape_hint="one vector per sentence: sum over the T axis (dim 1)"),
                want=lambda h, m: _st_pool("mean", h, m), atol=1e-5, rtol=1e-4,
                what="vs sentence-transformers' Pooling(mode='mean')", bugs=_mean_bugs(),
                hint=hint,
                holds=[Holds("with 3 more padding positions (garbage hidden states, mask 0)",
                             lambda out, *_: close(call(fn, *again, where=where), out),
                             "padding must not change the result: only positions with "
                             "attention_mask 1 count, in the sum and in the count",
                             expected="the same vectors", got="different ones")])


def _cls_bugs(hidden: torch.Tensor, mask: torch.Tensor) -> list[Bug]:
    return [
        Bug("cls_pool takes the LAST position; [CLS] is the first token: hidden[:, 0]",
            like=lambda *_: hidden[:, -1]),
        Bug("this is the last real token of each row; [CLS] is the first token: hidden[:, 0]",
            like=lambda *_: _st_pool("lasttoken", hidden, mask)),
        Bug("cls_pool returns the [CLS] vector (position 0), not a mean",
            like=lambda *_: _st_pool("mean", hidden, mask)),
    ]


def _cls_case(cls_pool, hidden, mask, with_mask: bool) -> Case:
    where = f"cls_pool(hidden {tuple(hidden.shape)}{', attention_mask' if with_mask else ''})"
    return Case(where, _R.guarded(cls_pool, where, _ASKS_POOL),
                (hidden, mask) if with_mask else (hidden,),
                call_hint="cls_pool(hidden, attention_mask=None): the mask is optional",
                out=Out(dtype=FLOATS, shape=(hidden.shape[0], hidden.shape[2]),
                        shape_hint="one vector per sentence: the hidden state at position 0"),
                want=lambda *_: _st_pool("cls", hidden, mask), exact=True,
                what="vs sentence-transformers' Pooling(mode='cls')", bugs=_cls_bugs(hidden, mask),
                hint="[CLS] is the first token of every row: hidden[:, 0]")


class _Body(nn.Module):
    """A stand-in for the BERT body (not a BERT): a table lookup plus a token-type row,
    (B, T) ids -> (B, T, H). Id 0 ([PAD]) maps to large values, which show if padding is
    pooled. It records the token_type_ids and attention_mask of its last call."""

    def __init__(self, vocab: int, hidden: int, seed: int):
        super().__init__()
        g = gen(seed)
        table = torch.randn(vocab, hidden, generator=g)
        table[0] = _garbage((hidden,), seed + 1)
        self.table = nn.Parameter(table)
        self.types = nn.Parameter(torch.randn(2, hidden, generator=g))
        self.seen: tuple[Any, Any] | None = None

    def lookup(self, input_ids, token_type_ids=None):
        out = self.table[input_ids]  # (B, T, H)
        return out if token_type_ids is None else out + self.types[token_type_ids]

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        self.seen = (token_type_ids, attention_mask)
        return self.lookup(input_ids, token_type_ids)


_H, _CLASSES = 6, 3


def _classifier_inputs():
    ids = torch.tensor([[1, 5, 7, 2, 9, 2], [1, 4, 2, 8, 2, 0], [1, 3, 2, 0, 0, 0]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 0]])
    return ids, types, (ids != 0).long()


def _attributes(body: nn.Module, dropout: float) -> list[Holds]:
    head = lambda m: getattr(m, "head", None)  # noqa: E731
    drop = lambda m: getattr(m, "dropout", None)  # noqa: E731
    return [
        Holds("self.bert", lambda m, *_: getattr(m, "bert", None) is body,
              "keep the body you were given as self.bert (not a copy): its parameters are "
              "fine-tuned with the head", expected="the bert module passed in",
              got=lambda m, *_: type(getattr(m, "bert", None)).__name__),
        Holds("self.head", lambda m, *_: isinstance(head(m), nn.Linear)
              and (head(m).in_features, head(m).out_features) == (_H, _CLASSES),
              "self.head = nn.Linear(hidden, n_classes)",
              expected=f"nn.Linear({_H}, {_CLASSES})",
              got=lambda m, *_: repr(head(m)) if head(m) is not None else "no attribute 'head'"),
        Holds("self.dropout", lambda m, *_: isinstance(drop(m), nn.Dropout)
              and drop(m).p == dropout, "self.dropout = nn.Dropout(dropout), with the argument",
              expected=f"nn.Dropout(p={dropout})",
              got=lambda m, *_: repr(drop(m)) if drop(m) is not None else "no attribute "
              "'dropout'"),
    ]


def _expected_logits(model, body, mode: str, ids, types, mask) -> torch.Tensor:
    """head(pool(body(...))) with sentence-transformers' Pooling; no dropout (eval)."""
    return model.head(_st_pool(mode, body.lookup(ids, types), mask))


def _classifier_bugs(model, body, mode: str) -> list[Bug]:
    other = "cls" if mode == "mean" else "mean"
    return [
        Bug(f"pooling={mode!r} gave the {other!r} pooling: choose mean_pool or cls_pool by "
            "self.pooling", like=lambda ids, types, mask: _expected_logits(
                model, body, other, ids, types, mask)),
        Bug("the padding was pooled: pass attention_mask to the pooling",
            like=lambda ids, types, mask: _expected_logits(
                model, body, mode, ids, types, torch.ones_like(mask))),
        Bug("token_type_ids did not reach the body: self.bert(input_ids, token_type_ids, "
            "attention_mask)", like=lambda ids, types, mask: _expected_logits(
                model, body, mode, ids, None, mask)),
    ]


def _logits_case(model, body, mode: str, where: str, inputs) -> Case:
    fn = _R.guarded(model, where, "classify from the pooled vector")
    again = (*_classifier_inputs_padded(inputs),)
    passed = lambda i: body.seen is not None and isinstance(body.seen[i], torch.Tensor)  # noqa: E731
    return Case(where, fn, inputs,
                out=Out(dtype=FLOATS, shape=(inputs[0].shape[0], _CLASSES), finite=True,
                        shape_hint="(B, n_classes): one row of logits per sentence"),
                want=lambda ids, types, mask: _expected_logits(model, body, mode, ids, types,
                                                               mask),
                atol=1e-5, rtol=1e-4,
                what=f"logits vs head(Pooling(mode={mode!r})(bert(...))) in eval mode",
                bugs=_classifier_bugs(model, body, mode),
                hint="logits = self.head(self.dropout(pool(self.bert(input_ids, token_type_ids, "
                "attention_mask), attention_mask)))",
                holds=[Holds("the call of self.bert", lambda *_: passed(1)
                             and torch.equal(body.seen[1], inputs[2]),
                             "pass attention_mask to the body: self.bert(input_ids, "
                             "token_type_ids, attention_mask); a real BERT needs it to ignore "
                             "the padding", expected="attention_mask=attention_mask",
                             got=lambda *_: f"attention_mask={show(body.seen[1])}"
                             if body.seen is not None else "self.bert not called"),
                       Holds("with 2 more padding positions on the right",
                             lambda out, *_: close(call(fn, *again, where=where), out),
                             "padding must not change the logits: pool only the real tokens",
                             expected="the same logits", got="different ones")])


def _classifier_inputs_padded(inputs):
    ids, types, mask = inputs
    pad = torch.zeros(ids.shape[0], 2, dtype=torch.long)
    return torch.cat([ids, pad], 1), torch.cat([types, pad], 1), torch.cat([mask, pad], 1)


def _check_classifier(SentenceClassifier) -> None:
    body = _Body(12, _H, 30)
    inputs = _classifier_inputs()
    build_where = f"SentenceClassifier(bert, hidden={_H}, n_classes={_CLASSES}"
    models = {}
    for mode in ("mean", "cls"):
        where = f"{build_where}, pooling={mode!r}, dropout=0.3)"
        model = build(_R.guarded(SentenceClassifier, where, "classify from the pooled vector"),
                      where, body, _H, _CLASSES, pooling=mode, dropout=0.3,
                      hint="__init__(self, bert, hidden, n_classes, pooling='mean', dropout=0.1)")
        examine(where, model, holds=_attributes(body, 0.3))
        model.eval()
        run(_logits_case(model, body, mode, f"{where}.eval()(input_ids, token_type_ids, "
                         "attention_mask)", inputs))
        models[mode] = (model, where)
    model, where = models["mean"]
    _check_dropout(model, body, f"{where}.train()(input_ids, token_type_ids, attention_mask)",
                   inputs)
    _check_gradients(model, body, f"{where}.eval()", inputs)


def _check_dropout(model, body, where: str, inputs) -> None:
    """In train mode the pooled vector goes through the model's dropout, once, before the head."""
    model.train()
    try:
        fn = _R.guarded(_under_seed(model, 5), where, "classify from the pooled vector")
        pooled = _st_pool("mean", body.lookup(*inputs[:2]), inputs[2])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(5)
            want = model.head(F.dropout(pooled, model.dropout.p, training=True))
        plain = model.head(pooled)
        run(Case(where, fn, inputs, want=want, atol=1e-5, rtol=1e-4,
                 what="logits vs head(F.dropout(pooled, p=0.3)) under the same seed",
                 bugs=[Bug("in train mode the logits equal eval mode's: apply self.dropout to "
                           "the pooled vector, before the head", like=lambda *_: plain)],
                 hint="apply the dropout once, to the pooled (B, H) vector just before the "
                 "head: self.head(self.dropout(pooled))"))
    finally:
        model.eval()


def _check_gradients(model, body, where: str, inputs) -> None:
    """Fine-tuning trains the body too: the loss's gradient reaches body and head."""
    labels = torch.tensor([0, 2, 1])
    for p in model.parameters():
        p.grad = None
    body.table.grad = body.types.grad = None
    fn = _R.guarded(model, f"{where}(...)", "classify from the pooled vector")
    logits = call(fn, *inputs, where=f"{where}(input_ids, token_type_ids, attention_mask)")
    loss = F.cross_entropy(logits, labels)
    expect_true(loss.requires_grad, f"{where}: the logits", "the logits must stay in the "
                "autograd graph: no torch.no_grad() or .detach() around the forward",
                expected="logits with grad_fn", got="logits without grad_fn")
    call(loss.backward, where=f"{where}: F.cross_entropy(logits, labels).backward()")
    want_loss = F.cross_entropy(_expected_logits(model, body, "mean", *inputs), labels)
    weights = [body.table, model.head.weight]
    want = torch.autograd.grad(want_loss, weights)
    expect_close(dense_grad(body.table), want[0], f"{where}: gradient of the loss w.r.t. the "
                 "body's parameters (bert.table)", "the body got no gradient: don't .detach() "
                 "the BERT output or run it under torch.no_grad(); fine-tuning trains the body "
                 "with the head" if body.table.grad is None or not bool(body.table.grad.any())
                 else "the gradient through the pooling is wrong", atol=1e-5, rtol=1e-4)
    expect_close(dense_grad(model.head.weight), want[1], f"{where}: gradient w.r.t. head.weight",
                 "the head must be trained: its output is the logits", atol=1e-5, rtol=1e-4)
    for p in (*model.parameters(), body.table, body.types):
        p.grad = None


@one_thread()
def check_pooling(mean_pool, cls_pool, SentenceClassifier) -> None:
    """Masked mean pooling and [CLS] pooling vs sentence-transformers; mean pooling of MiniLM,
    normalised, = SentenceTransformer.encode; the classifier head(dropout(pool(bert(...))))."""
    hidden, mask = _hidden_and_mask(3, 7, 5, (7, 4, 1), 20)
    square = _hidden_and_mask(4, 4, 4, (4, 3, 2, 1), 21)
    run(_mean_case(mean_pool, hidden, mask, "hidden (3, 7, 5), attention_mask with 7, 4, 1 real "
                   "tokens", "average the hidden states of the real tokens: sum(hidden * mask) "
                   "over T divided by mask.sum over T, with mask (B, T, 1)"),
        _mean_case(mean_pool, *square, "hidden (4, 4, 4), attention_mask with 4, 3, 2, 1 real "
                   "tokens", "with B = T = H a (B, T) mask broadcasts against (B, T, H) without "
                   "an error, along the wrong axes: unsqueeze it to (B, T, 1)"),
        _cls_case(cls_pool, hidden, mask, True), _cls_case(cls_pool, hidden, mask, False))
    # the proof: mean pooling of MiniLM's hidden states, normalised, is sentence-transformers'
    # embedding
    minilm_hidden, minilm_mask = (t.clone() for t in _minilm_hidden())
    where = (f"mean_pool(MiniLM's last hidden state of {list(_TEXTS)[:2]} + 2 more, "
             "attention_mask)")
    run(Case(where, _R.guarded(mean_pool, where, _ASKS_POOL),
             (minilm_hidden, minilm_mask), out=Out(shape=(len(_TEXTS), 384)),
             view=lambda out: F.normalize(out.detach().float(), dim=-1), want=_st_embeddings(),
             what="F.normalize(mean_pool(...), dim=-1) vs SentenceTransformer.encode(texts)",
             atol=1e-5, rtol=1e-4,
             hint="mean over the real tokens (attention_mask 1) of the last hidden state is "
             "all-MiniLM-L6-v2's sentence embedding once normalised"))
    _check_classifier(SentenceClassifier)


# ----------------------------------------------------------------------- 3. optimizer

_ASKS_OPT = "build the parameter groups and the warm-up schedule"
_WD, _LR = 0.3, 0.05


class _TinyEncoder(nn.Module):
    """A BERT in miniature from torch.nn: embeddings + LayerNorm, one encoder layer (its
    LayerNorms are named norm1, norm2, as in the course's Bert), a head; the position
    table is frozen."""

    def __init__(self):
        super().__init__()
        self.embeddings = nn.ModuleDict({"word_embeddings": nn.Embedding(20, 8),
                                         "position_embeddings": nn.Embedding(5, 8),
                                         "LayerNorm": nn.LayerNorm(8)})
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.head = nn.Linear(8, 3)
        self.embeddings["position_embeddings"].weight.requires_grad_(False)

    def forward(self, ids):
        e = self.embeddings
        x = e["word_embeddings"](ids) + e["position_embeddings"](torch.arange(ids.shape[1]))
        return self.head(self.layer(e["LayerNorm"](x))[:, 0])  # (B, 3)


def _tiny(seed: int = 0) -> _TinyEncoder:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _TinyEncoder()


def _exempt(model: nn.Module) -> dict[str, bool]:
    """Trainable parameter name -> no weight decay? As transformers' Trainer decides
    (`trainer_pt_utils.get_parameter_names(model, [nn.LayerNorm], ["bias"])`, the rule of
    Trainer.get_decay_parameter_names: parameters inside an nn.LayerNorm and biases are not
    decayed). Called outside the guard only."""
    from transformers.trainer_pt_utils import get_parameter_names

    decayed = set(get_parameter_names(model, [nn.LayerNorm], ["bias"]))
    return {n: n not in decayed for n, p in model.named_parameters() if p.requires_grad}


def _trainer_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """The groups transformers' Trainer.create_optimizer makes from those names."""
    named, exempt = dict(model.named_parameters()), _exempt(model)
    return [{"params": [named[n] for n, e in exempt.items() if not e], "weight_decay": weight_decay},
            {"params": [named[n] for n, e in exempt.items() if e], "weight_decay": 0.0}]


def _decay_rule_targets() -> list[tuple[object, str]]:
    """transformers' own choice of the decayed parameters: what param_groups must not call.
    transformers.trainer is imported first, so that its `get_parameter_names` is the
    original when it binds it and can be refused (and restored) like the others."""
    import transformers.trainer_pt_utils as pt_utils

    found: list[tuple[object, str]] = [(pt_utils, "get_parameter_names")]
    try:
        import transformers.trainer as trainer
    except ImportError:  # a transformers without its Trainer: nothing more to refuse
        return found
    return found + [(trainer, "get_parameter_names"),
                    (trainer.Trainer, "get_decay_parameter_names")]


def _guarded_groups(param_groups, where: str):
    """param_groups under the guard, transformers' decay rule refused as well."""
    targets = _decay_rule_targets()

    @functools.wraps(param_groups)
    def inner(*args, **kwargs):
        with _R.no_wrapping(where, _ASKS_OPT), forbid(targets, where, _ASKS_OPT):
            return param_groups(*args, **kwargs)
    return inner


def _as_groups(out: Any) -> list[tuple[list[Any], Any]] | None:
    """[(params, weight_decay or None)] from what param_groups returned, None if not groups."""
    if isinstance(out, dict) or not isinstance(out, (list, tuple)):
        return None
    groups = []
    for group in out:
        if not isinstance(group, dict) or "params" not in group:
            return None
        params = group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        groups.append((params, group.get("weight_decay")))
    return groups


def _names(model: nn.Module, params: Sequence[Any]) -> list[str]:
    by_id = {id(p): n for n, p in model.named_parameters()}
    return [by_id.get(id(p), f"(not a parameter of the model: {show(p)})") for p in params]


def _group_rules(model: nn.Module, weight_decay: float) -> list[Holds]:
    exempt = _exempt(model)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    listed = lambda gs: [n for params, _ in gs for n in _names(model, params)]  # noqa: E731
    decayed = lambda gs: {n for params, wd in gs if wd for n in _names(model, params)}  # noqa: E731
    should = {n for n, e in exempt.items() if not e}
    norms = {n for n in exempt if ".norm" in n or "LayerNorm" in n}
    wrongly = lambda gs: sorted(decayed(gs) - should)  # noqa: E731
    missed = lambda gs: sorted(should - decayed(gs))  # noqa: E731

    def only(gs, names) -> bool:  # the wrongly decayed are exactly these
        return bool(wrongly(gs)) and set(wrongly(gs)) <= set(names) and not missed(gs)

    return [
        Holds("frozen parameters", lambda gs, *_: not set(listed(gs)) & set(frozen),
              "leave out frozen parameters (requires_grad False): skip them in the loop over "
              "model.named_parameters()", expected=f"{frozen} in no group",
              got=lambda gs, *_: f"{sorted(set(listed(gs)) & set(frozen))} in a group"),
        Holds("parameters listed twice", lambda gs, *_: len(listed(gs)) == len(set(listed(gs))),
              "every trainable parameter goes in exactly one group (AdamW refuses a parameter "
              "in two groups)", expected="each parameter once",
              got=lambda gs, *_: str(sorted({n for n in listed(gs) if listed(gs).count(n) > 1}))),
        Holds("trainable parameters in the groups", lambda gs, *_: set(listed(gs)) >= set(exempt),
              "every trainable parameter must be in one of the groups, or AdamW never updates it",
              expected=f"all {len(exempt)} trainable parameters",
              got=lambda gs, *_: f"missing: {sorted(set(exempt) - set(listed(gs)))}"),
        Holds("'weight_decay' of every group", lambda gs, *_: all(wd is not None for _, wd in gs),
              "give every group its 'weight_decay' (0.0 for the no-decay group): a group without "
              "one takes AdamW's default, 0.01", expected="a number in every group",
              got=lambda gs, *_: f"groups without one: {[i for i, (_, wd) in enumerate(gs) if wd is None]}"),
        Holds("the decayed parameters (weight_decay != 0)",
              lambda gs, *_: decayed(gs) == should,
              "decay the weight matrices (ndim >= 2: Linear weights, embedding tables), not the "
              "biases nor the LayerNorm parameters",
              expected=lambda gs, *_: f"decayed: {sorted(should)}",
              got=lambda gs, *_: f"decayed but should not be: {wrongly(gs)}; not decayed but "
              f"should be: {missed(gs)}",
              bugs=[Bug("everything is decayed: make two groups, weight_decay for the weight "
                        "matrices and 0.0 for the biases and LayerNorm parameters",
                        when=lambda gs, *_: decayed(gs) == set(exempt)),
                    Bug("layer.norm1 and layer.norm2 are LayerNorms too (nn.TransformerEncoderLayer "
                        "names them so; the course's Bert uses it): choose by what a parameter "
                        "is (ndim < 2: biases and LayerNorm weights), not by 'LayerNorm' in its "
                        "name", when=lambda gs, *_: only(gs, {n for n in norms if ".norm" in n})),
                    Bug("LayerNorm weights are decayed: no weight decay on LayerNorm parameters "
                        "(scales, like biases; BERT exempts them)",
                        when=lambda gs, *_: any(n in norms for n in wrongly(gs))),
                    Bug("biases are decayed: no weight decay on biases",
                        when=lambda gs, *_: any(n.endswith("bias") for n in wrongly(gs))),
                    Bug("embeddings.word_embeddings.weight is not decayed: an embedding table is "
                        "a weight matrix (ndim 2) and is decayed like the others",
                        when=lambda gs, *_: "embeddings.word_embeddings.weight" in missed(gs))]),
        Holds("weight_decay of the decay group",
              lambda gs, *_: all(wd == weight_decay for _, wd in gs if wd),
              "use the weight_decay argument for the decay group",
              expected=weight_decay, got=lambda gs, *_: str(sorted({wd for _, wd in gs if wd}))),
    ]


def _check_groups(param_groups) -> None:
    model = _tiny()
    where = f"param_groups(model, weight_decay={_WD})"
    out = call(_guarded_groups(param_groups, where), model, _WD, where=where)
    groups = _as_groups(out)
    expect_true(groups is not None, where, "return a list of dicts: [{'params': [...], "
                "'weight_decay': weight_decay}, {'params': [...], 'weight_decay': 0.0}]",
                expected="a list of parameter-group dicts", got=f"{type(out).__name__}: "
                f"{show(out)}")
    examine(f"{where}  (model: an nn.Embedding + nn.LayerNorm, an nn.TransformerEncoderLayer, "
            "an nn.Linear head; the position table frozen)", groups,
            holds=_group_rules(model, _WD))


@functools.cache
def _hf_multipliers(W: int, T: int, steps: int) -> tuple[float, ...]:
    """get_linear_schedule_with_warmup's multiplier at steps 0..steps-1, read from the
    learning rate of a dummy optimizer (lr 1.0) that it schedules."""
    from transformers import get_linear_schedule_with_warmup

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = get_linear_schedule_with_warmup(opt, W, T)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()  # no gradient: nothing moves
            sched.step()
    return tuple(out)


def _multiplier(warmup_linear, step: int, W: int, T: int) -> float:
    where = f"warmup_linear({step}, warmup_steps={W}, total_steps={T})"
    value = call(_R.guarded(warmup_linear, where, _ASKS_OPT), step, W, T, where=where,
                 hint="warmup_steps=0 (no warm-up) must work: guard the divisions with max(1, ...)"
                 if W == 0 else None)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    expect_true(isinstance(value, numbers.Real) and not isinstance(value, bool), where,
                "return the multiplier as a Python float (LambdaLR multiplies the base learning "
                "rate by it)", expected="a float", got=f"{type(value).__name__}: {show(value)}")
    return float(value)


def _schedule_bugs(W: int, T: int) -> list[Bug]:
    return [
        Bug("the warm-up starts at 1/warmup_steps: at step 0 the multiplier is 0 (step / "
            "warmup_steps, the first update uses no learning rate); don't add 1 to the step",
            when=lambda v, *_: W > 0 and abs(float(v[0]) - 1 / W) < 1e-9),
        Bug("the multiplier is negative after total_steps: clamp it at 0 (max(0.0, ...)); a "
            "negative learning rate climbs the loss", when=lambda v, *_: float(v.min()) < 0),
        Bug("the decay reaches 0 at total_steps + warmup_steps: total_steps counts the warm-up "
            "steps too, so decay as (total_steps - step) / (total_steps - warmup_steps)",
            when=lambda v, *_: W > 0 and abs(float(v[T]) - W / T) < 1e-9),
        Bug("the multiplier must be 0 at step == total_steps (and after): the linear decay "
            "ends there", when=lambda v, *_: float(v[T]) != 0),
        Bug("the multiplier must reach 1.0 at step == warmup_steps, the end of the warm-up",
            when=lambda v, *_: abs(float(v[W]) - 1) > 1e-9),
    ]


def _check_schedule(warmup_linear) -> None:
    for W, T in ((3, 10), (0, 5), (4, 9)):
        steps = T + 3
        values = torch.tensor([_multiplier(warmup_linear, s, W, T) for s in range(steps)],
                              dtype=torch.float64)
        examine(f"warmup_linear(step, warmup_steps={W}, total_steps={T}) for step = 0..{steps - 1} "
                "(index = step)", values,
                want=torch.tensor(_hf_multipliers(W, T, steps), dtype=torch.float64),
                what="vs transformers.get_linear_schedule_with_warmup's multiplier",
                atol=1e-12, rtol=0.0, bugs=_schedule_bugs(W, T),
                hint="step / warmup_steps while step < warmup_steps, then max(0, (total_steps - "
                "step) / (total_steps - warmup_steps))")


def _train(model, opt, sched, steps: int, on_step=None) -> list[list[float]]:
    """`steps` AdamW steps on fixed data; the learning rates used at each step."""
    g = gen(40)
    ids, labels = torch.randint(0, 20, (4, 5), generator=g), torch.randint(0, 3, (4,), generator=g)
    lrs = []
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(ids), labels).backward()
        lrs.append([group["lr"] for group in opt.param_groups])
        opt.step()
        sched.step()
    return lrs


def _check_training(param_groups, warmup_linear) -> None:
    """N steps: AdamW(param_groups) + LambdaLR(warmup_linear) == AdamW(the Trainer's groups)
    + transformers.get_linear_schedule_with_warmup."""
    from transformers import get_linear_schedule_with_warmup

    W, T = 3, 10
    where = (f"param_groups + warmup_linear: AdamW(param_groups(model, {_WD}), lr={_LR}) with "
             f"LambdaLR(warmup_linear(step, {W}, {T})), {T + 2} steps")
    ours, theirs = _tiny(), _tiny()
    ref = torch.optim.AdamW(_trainer_groups(theirs, _WD), lr=_LR)
    ref_sched = get_linear_schedule_with_warmup(ref, W, T)
    ref_lrs = _train(theirs, ref, ref_sched, T + 2)

    guarded = _R.guarded(warmup_linear, where, _ASKS_OPT)
    groups = call(_guarded_groups(param_groups, where), ours, _WD, where=where)
    opt = call(torch.optim.AdamW, groups, lr=_LR, where=f"{where}: torch.optim.AdamW(groups)")
    sched = call(torch.optim.lr_scheduler.LambdaLR, opt, lambda s: guarded(s, W, T),
                 where=f"{where}: LambdaLR(opt, lambda s: warmup_linear(s, {W}, {T}))")
    lrs = call(_train, ours, opt, sched, T + 2, where=where)
    got = [sorted(set(step)) for step in lrs]
    want = [sorted(set(step)) for step in ref_lrs]
    expect_true(all(len(g) == 1 and abs(g[0] - w[0]) < 1e-12 for g, w in zip(got, want)),
                f"{where}: learning rate at steps 0..{T + 1}",
                "the groups must not set their own 'lr': LambdaLR scales AdamW's lr by "
                "warmup_linear in every group", expected=str([w[0] for w in want]),
                got=str(got))
    named = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        expect_close(param, named[name], f"{where}: parameter {name} after training",
                     "the groups or the schedule differ from transformers' (see the rules "
                     "above); compare each parameter's weight_decay", atol=1e-7, rtol=0.0)


@one_thread()
def check_optimizer(param_groups, warmup_linear) -> None:
    """Two AdamW groups (decay on weight matrices, none on biases and LayerNorm, frozen left
    out); the warm-up/linear-decay multiplier; both together vs transformers."""
    _check_groups(param_groups)
    _check_schedule(warmup_linear)
    _check_training(param_groups, warmup_linear)
