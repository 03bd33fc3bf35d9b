"""Visible checks for Chapter 5, "ULMFiT": the language model (exercises 1-3).

One check per exercise. Each calls the learner's code on small fixed inputs (its dropout
under a fixed global seed, inside `torch.random.fork_rng`) and raises `AssertionError`
naming the function or class, what was expected, what was got and the likely bug. A passing
check returns None. No check holds an answer: the expected values are torch.nn's
(`nn.LSTM` loaded with the learner's weights, `F.embedding`, `F.linear`), the solution's
outputs on the same fixed inputs, stored by `course release` (`PROBES`: batchify,
lm_windows, AWDLSTM in eval with fixed weights, ar_tar and its parts), properties that pin
the answer down, or statistics within 5 standard errors.

    check_lm_batches(batchify, bptt_lengths, lm_windows, detach)
        batchify and lm_windows on streams whose ids name their positions vs the
        solution's rows and windows (the messages say which piece of the stream was
        expected, read off the stored ids); bptt_lengths: the windows cover
        n_columns - 1 positions, none below min_len; with std=0 every window is bptt or
        bptt / 2 and the bptt / 2 share is 1 - p_full, with std=5 the lengths spread 5
        around bptt (within 5 standard errors); the generator alone decides; detach: the
        same structure and values, no autograd history
    check_dropout(embedding_dropout, LockedDropout, WeightDropLSTM)
        eval and p=0 vs F.embedding, the identity and nn.LSTM loaded with the learner's
        weights; in training the masks are read off the outputs: whole rows of weight,
        one draw per word type; one (B, 1, C) mask for every time step; the 1/(1-p) scale;
        drop rates within 5 standard errors; WeightDropLSTM keeps nn.LSTM's state_dict
        names and its parameters as they were, its mask is read off the exact zeros of
        weight_hh_l0's gradient and its output is nn.LSTM's run with that dropped matrix
    check_language_model(AWDLSTM, LanguageModel, ar_tar)
        AWDLSTM in eval with fixed weights vs the solution's outputs (with and without a
        state passed in); in training each dropout alone, read off every layer's input and
        output (forward hooks on self.layers): embedding dropout and input dropout on layer
        0's input, locked dropout between the layers and not after the last, every layer
        nn.LSTM (loaded with its weights) on its own input, with its reconstructed dropped
        matrix; LanguageModel: the decoder's weight IS the embedding's Parameter, raw and
        hidden vs the encoder's own output, logits vs F.linear(dropped, W, b), output dropout
        locked over time; ar_tar vs the solution's on fixed inputs

AWDLSTM runs the learner's embedding_dropout, LockedDropout and WeightDropLSTM, so
check_language_model also runs exercise 2's code; its messages say so where check_dropout
would catch the bug. The checks leave the global random state and the autograd mode as
they found them.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ... import expected
from ...expected import Probe
from .._common import (
    FLOATS,
    Bug,
    Case,
    Holds,
    Out,
    build,
    call,
    close,
    examine,
    expect_close,
    expect_true,
    fail,
    gen,
    one_thread,
    run,
    show,
)

__all__ = ["check_lm_batches", "check_dropout", "check_language_model"]

_SIGMAS = 5.0  # statistical rules allow 5 standard errors (a correct draw fails 1 in ~1.7M)


def _seeded(fn: Callable[..., Any], seed: int) -> Callable[..., Any]:
    """`fn` run under a fixed global seed, leaving the learner's global RNG as it was."""
    def seeded(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return fn(*args, **kwargs)
    return seeded


def _within(got: float, want: float, n: int) -> bool:
    return abs(got - want) <= _SIGMAS * math.sqrt(want * (1 - want) / max(1, n))


def _band(want: float, n: int) -> str:
    return f"{want:.4f} ± {_SIGMAS * math.sqrt(want * (1 - want) / max(1, n)):.4f}"


def _tensors(value: Any, n: int) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == n \
        and all(isinstance(v, torch.Tensor) for v in value)


# ---------------------------------------------------------------------- 1. lm_batches

def _stream(n: int) -> torch.Tensor:
    """Ids 100, 101, ...: each id names its place in the stream (id - 100)."""
    return torch.arange(100, 100 + n)


_STRIDED = ("rows laid out wrongly: row b holds ids[b], ids[b + batch_size], ... (strided, "
            "ids.view(L, batch_size).t()); each row is a contiguous piece of the stream, "
            "ids[b*L:(b+1)*L]: ids[:L * batch_size].view(batch_size, L)")


def _batchify_inputs() -> list[tuple[str, torch.Tensor, int, str]]:
    """(name, ids, batch_size, how the message describes the ids) of each case."""
    return [("s23", _stream(23), 4, "ids 100..122 (23 tokens)"),
            ("r37", torch.randint(0, 50, (37,), generator=gen(1)), 3, "37 random ids"),
            ("s24", _stream(24), 4, "ids 100..123 (24 tokens)"),
            ("s9", _stream(9), 1, "ids 100..108 (9 tokens)")]


def _probe_batchify(batchify) -> dict[str, Any]:
    out = {}
    for name, ids, B, _ in _batchify_inputs():
        out.update({f"{name}.ids": ids, f"{name}.rows": batchify(ids.clone(), B)})
    return out


def _batchify_case(batchify, ids: torch.Tensor, B: int, what: str, want: torch.Tensor) -> Case:
    L = want.shape[1]
    wrong = lambda out: [b for b in range(B) if not torch.equal(out[b], want[b])]
    return Case(
        f"batchify({what}, batch_size={B})", batchify, (ids, B), keeps={"ids": ids},
        call_hint=f"len(ids) = {len(ids)} need not be a multiple of batch_size = {B}: drop the "
        "last len(ids) % batch_size tokens first (ids[:L * batch_size], L = len(ids) // "
        "batch_size)",
        out=Out(dtype=ids.dtype, shape=(B, L),
                dtype_hint="keep the ids' dtype: the rows are a view of ids",
                shape_hint=f"(batch_size, L) with L = len(ids) // batch_size = {L}: the last "
                f"{len(ids) % B} tokens are dropped; view(batch_size, L), not "
                "view(L, batch_size)"),
        holds=[Holds(f"rows vs the pieces ids[b*{L}:(b+1)*{L}]", lambda out, *_: not wrong(out),
                     "row b is the contiguous piece ids[b*L:(b+1)*L] of the stream: "
                     "ids[:L * batch_size].view(batch_size, L)",
                     expected=lambda out, *_: f"row {wrong(out)[0]} = {show(want[wrong(out)[0]])}",
                     got=lambda out, *_: f"row {wrong(out)[0]} = {show(out[wrong(out)[0]])}",
                     bugs=[Bug(_STRIDED, when=lambda out, *_: B > 1 and torch.equal(
                         out, ids[:L * B].view(L, B).t()))])])


def _check_batchify(batchify) -> None:
    stored = expected.case("ulmfit", "batchify")
    run(*[_batchify_case(batchify, stored[f"{name}.ids"], B, what, stored[f"{name}.rows"])
          for name, _, B, what in _batchify_inputs()])


def _ints(out: Any) -> bool:
    return isinstance(out, (list, tuple)) and all(
        isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in out)


_INTS = Holds("return value", lambda out, *_: _ints(out),
              "return a list of Python ints (round() of a float gives one): the lengths slice "
              "the rows", expected="a list of ints",
              got=lambda out, *_: f"{type(out).__name__}: {show(out)}"
              if not isinstance(out, (list, tuple)) else
              f"{show(list(out))} (of {sorted({type(t).__name__ for t in out})})")


def _covers(n: int) -> Holds:
    total = lambda out: sum(int(t) for t in out)
    return Holds("sum of the lengths", lambda out, *_: total(out) == n - 1,
                 "draw windows until they cover n_columns - 1 positions and cut the last one to "
                 "fit: t = min(t, n_columns - 1 - covered)",
                 expected=f"{n - 1} (n_columns - 1: every column but the last is an input once)",
                 got=lambda out, *_: f"{total(out)} ({len(out)} windows, the last "
                 f"{show(out[-1:])})",
                 bugs=[Bug("the windows cover n_columns positions: each target is the next token, "
                           "so the last column is never an input; cover n_columns - 1",
                           when=lambda out, *_: total(out) == n),
                       Bug("the last window runs past the end: cut it to fit, t = min(t, "
                           "n_columns - 1 - covered)", when=lambda out, *_: total(out) > n - 1),
                       Bug("the windows stop short: keep drawing while covered < n_columns - 1",
                           when=lambda out, *_: total(out) < n - 1)])


_POSITIVE = Holds("the lengths", lambda out, *_: all(int(t) >= 1 for t in out),
                  "every window has at least one column: stop drawing once the columns are "
                  "covered", expected="every length >= 1",
                  got=lambda out, *_: f"{show([t for t in out if int(t) < 1])} among them",
                  bugs=[Bug("no min_len: a draw of N(base, std) can be 0 or negative; a length "
                            "is at least min_len, max(min_len, round(draw))",
                            when=lambda out, *_: any(int(t) < 1 for t in out[:-1]))])


def _before_last(out) -> list[int]:
    return [int(t) for t in out[:-1]]


def _fixed_rules(bptt: int, p_full: float) -> list[Holds]:
    """std=0: every window but the last is bptt or bptt / 2, the bptt / 2 share 1 - p_full."""
    half = bptt // 2
    odd = lambda out: [t for t in _before_last(out) if t not in (bptt, half)]
    n = lambda out: len(_before_last(out))
    share = lambda out: sum(t == half for t in _before_last(out)) / max(1, n(out))
    return [
        Holds("the lengths before the last", lambda out, *_: not odd(out),
              f"with std=0 each length is its base: bptt ({bptt}) or bptt / 2 ({half}), "
              "rounded, at least min_len", expected=f"every length {bptt} or {half}",
              got=lambda out, *_: f"{len(odd(out))} others, e.g. {odd(out)[:5]}",
              bugs=[Bug("the std argument is ignored: with std=0 every length is its base; "
                        "draw torch.normal(float(base), std, (), generator=generator)",
                        when=lambda out, *_: all(min(abs(t - bptt), abs(t - half)) <= 6
                                                 for t in odd(out)))]),
        Holds(lambda out, *_: f"share of the {n(out)} windows before the last with base bptt / 2",
              lambda out, *_: _within(share(out), 1 - p_full, n(out)),
              f"the base is bptt with probability p_full ({p_full}), else bptt / 2: "
              "bptt if torch.rand((), generator=generator) < p_full else bptt / 2",
              expected=lambda out, *_: _band(1 - p_full, n(out)),
              got=lambda out, *_: f"{share(out):.4f}",
              bugs=[Bug("never bptt / 2: with probability 1 - p_full the base is bptt / 2 "
                        "(Merity et al. 2018, §4.1)", when=lambda out, *_: share(out) == 0),
                    Bug("p_full is the probability of the FULL length: base = bptt if "
                        "torch.rand(()) < p_full else bptt / 2, not the other way round",
                        when=lambda out, *_: _within(share(out), p_full, n(out)))]),
    ]


def _spread_rules(bptt: int, std: float, p_full: float) -> list[Holds]:
    """std > 0: the full windows spread `std` around bptt; bptt / 2 windows are there."""
    cut = 0.75 * bptt
    full = lambda out: [t for t in _before_last(out) if t > cut]
    mean = lambda xs: sum(xs) / max(1, len(xs))
    sd = lambda xs: math.sqrt(sum((x - mean(xs)) ** 2 for x in xs) / max(1, len(xs) - 1))
    sd_want = math.sqrt(std ** 2 + 1 / 12)  # rounding adds a uniform error of variance 1/12
    mean_tol = lambda out: _SIGMAS * std / math.sqrt(max(1, len(full(out))))
    sd_tol = lambda out: _SIGMAS * std / math.sqrt(2 * max(1, len(full(out)) - 1))
    n = lambda out: len(_before_last(out))
    share = lambda out: 1 - len(full(out)) / max(1, n(out))
    return [
        Holds(lambda out, *_: f"mean of the {len(full(out))} lengths above {cut:g} (base bptt)",
              lambda out, *_: abs(mean(full(out)) - bptt) <= mean_tol(out),
              "each length is a draw from N(base, std) around its base: torch.normal(float(base), "
              "std, (), generator=generator), rounded",
              expected=lambda out, *_: f"{bptt} ± {mean_tol(out):.2f}",
              got=lambda out, *_: f"{mean(full(out)):.2f}"),
        Holds(lambda out, *_: f"standard deviation of the {len(full(out))} lengths above {cut:g}",
              lambda out, *_: abs(sd(full(out)) - sd_want) <= sd_tol(out),
              f"each length is a draw from N(base, std) with std = {std}: torch.normal("
              "float(base), std, (), generator=generator)",
              expected=lambda out, *_: f"{sd_want:.3f} ± {sd_tol(out):.3f}",
              got=lambda out, *_: f"{sd(full(out)):.3f}",
              bugs=[Bug("the std argument is ignored: draw torch.normal(float(base), std, ...), "
                        "not a fixed spread", when=lambda out, *_: sd(full(out)) < 0.5 * std)]),
        Holds(lambda out, *_: f"share of the {n(out)} windows before the last with base bptt / 2",
              lambda out, *_: _within(share(out), 1 - p_full, n(out)),
              "the base is bptt / 2 with probability 1 - p_full",
              expected=lambda out, *_: _band(1 - p_full, n(out)),
              got=lambda out, *_: f"{share(out):.4f}"),
    ]


def _min_len_rule(min_len: int) -> Holds:
    short = lambda out: [t for t in _before_last(out) if t < min_len]
    return Holds("the lengths before the last", lambda out, *_: not short(out),
                 "no min_len: a length is at least min_len, max(min_len, round(draw)); only the "
                 "last window, cut to fit, may be shorter",
                 expected=f"every length >= min_len = {min_len}",
                 got=lambda out, *_: f"{len(short(out))} shorter, e.g. {short(out)[:5]}")


def _reproducible(bptt_lengths, where: str, args: tuple, seed: int) -> list[Holds]:
    def again(global_seed: int, generator_seed: int):
        return call(_seeded(bptt_lengths, global_seed), *args, gen(generator_seed), where=where)

    return [
        Holds(f"calling again with gen({seed}) after torch.manual_seed(2)",
              lambda out, *_: list(out) == list(again(2, seed)),
              "the lengths changed with torch's global seed: draw with `generator` only, "
              "torch.rand((), generator=generator) and torch.normal(..., generator=generator)",
              expected="the same lengths", got="different ones"),
        Holds(f"calling again with gen({seed + 3})",
              lambda out, *_: list(out) != list(again(1, seed + 3)),
              "another generator gave the same lengths: draw the random numbers from `generator`",
              expected="different lengths", got="the same ones"),
    ]


def _bptt_case(bptt_lengths, n: int, bptt: int, seed: int, holds: Sequence[Holds],
               **kwargs: Any) -> Case:
    extra = "".join(f", {k}={v}" for k, v in kwargs.items())
    return Case(f"bptt_lengths({n}, {bptt}, gen({seed}){extra})", _seeded(bptt_lengths, 1),
                (n, bptt, gen(seed)), kwargs,
                call_hint="bptt_lengths(n_columns, bptt, generator, p_full=0.95, std=5.0, "
                "min_len=5)", holds=[_INTS, _covers(n), _POSITIVE, *holds])


def _check_bptt_lengths(bptt_lengths) -> None:
    run(_bptt_case(bptt_lengths, 2, 70, 3, ()),
        _bptt_case(bptt_lengths, 12, 70, 3, (), std=0.0),
        _bptt_case(bptt_lengths, 20001, 20, 0, _fixed_rules(20, 0.95), std=0.0),
        _bptt_case(bptt_lengths, 3001, 6, 2, [_min_len_rule(4)], p_full=0.5, std=5.0,
                   min_len=4))
    where = "bptt_lengths(20001, 70, gen(1))"
    examine(where, call(_seeded(bptt_lengths, 1), 20001, 70, gen(1), where=where),
            holds=[_INTS, _covers(20001), _POSITIVE, *_spread_rules(70, 5.0, 0.95),
                   *_reproducible(bptt_lengths, where, (20001, 70), 1)])


def _rows(B: int, L: int) -> torch.Tensor:
    """Row b, column j holds 100 * (b + 1) + j: an id names its row and column."""
    return 100 * torch.arange(1, B + 1)[:, None] + torch.arange(L)


def _columns(t: torch.Tensor) -> str:
    if t.ndim != 2 or t.shape[0] == 0:
        return f"shape {tuple(t.shape)}"
    cols = (t[0] - 100).tolist()
    if not cols:
        return "no columns (shape (B, 0))"
    if cols == list(range(cols[0], cols[0] + len(cols))):
        return f"columns {cols[0]}..{cols[-1]} of rows ({len(cols)})"
    return f"columns {cols} of rows"


# (rows, columns, lengths) of each case; the windows expected are the solution's, stored
_WINDOWS = ((2, 11, [4, 3, 5]), (2, 11, [4, 3, 5, 2]), (2, 11, [3, 3]), (2, 11, [12]),
            (3, 5, [2, 2]))


def _probe_windows(lm_windows) -> dict[str, Any]:
    out = {}
    for k, (B, L, lengths) in enumerate(_WINDOWS):
        windows = list(lm_windows(_rows(B, L), list(lengths)))
        out[f"case{k}.n"] = len(windows)
        for i, (inputs, targets) in enumerate(windows):
            out.update({f"case{k}.inputs{i}": inputs, f"case{k}.targets{i}": targets})
    return out


def _stored_windows(k: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    stored = expected.case("ulmfit", "windows")
    return [(stored[f"case{k}.inputs{i}"], stored[f"case{k}.targets{i}"])
            for i in range(int(stored[f"case{k}.n"]))]


def _span(inputs: torch.Tensor) -> tuple[int, int]:
    """The (start, end) columns of a window of `_rows`, read off its ids."""
    start = int(inputs[0, 0]) - 100
    return start, start + inputs.shape[1]


def _window_hint(out, i: int, spans, rows) -> str:
    inputs = out[i][0]
    start = int(inputs[0, 0]) - 100 if inputs.ndim == 2 and inputs.numel() else None
    end_before = spans[i - 1][1] if i > 0 else 0
    if start == 0 and i > 0:
        return ("windows not contiguous: every window restarts at column 0; window i starts "
                "where window i-1 ended (start += t after each window)")
    if start is not None and start < end_before:
        return (f"windows not contiguous: window {i} starts at column {start}, before window "
                f"{i - 1} ended (column {end_before}): they overlap; start the next window at "
                "start + t")
    if start is not None and start > end_before:
        return (f"windows not contiguous: window {i} starts at column {start}, after a gap "
                f"(window {i - 1} ended at column {end_before}): start += t, not t + 1")
    return ("window i has lengths[i] columns and starts where window i-1 ended; the last is cut "
            "to rows.shape[1] - 1 - start columns so that every input has a next token")


def _check_windows_case(lm_windows, B: int, L: int, lengths: list[int],
                        want: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    rows = _rows(B, L)
    spans = [_span(inputs) for inputs, _ in want]
    before = rows.clone()
    where = f"lm_windows(rows {tuple(rows.shape)}, lengths {lengths})"
    out = call(lambda r, ls: list(lm_windows(r, ls)), rows, list(lengths), where=where,
               hint="lm_windows yields (inputs, targets) per window: a generator (yield), or "
               "anything iterable")
    expect_true(torch.equal(rows, before), f"{where}: rows after the call",
                "don't modify rows in place: slice it", expected="unchanged", got="changed")
    for i, item in enumerate(out):
        expect_true(_tensors(item, 2), f"{where}: window {i}", "yield a pair (inputs, targets) "
                    "of tensors per window", expected="(inputs, targets)",
                    got=f"{type(item).__name__}: {show(item)}")
    for i, ((inputs, targets), (s, e), (want_in, want_out)) in enumerate(zip(out, spans, want)):
        here = f"{where}: window {i}"
        if inputs.shape != targets.shape:
            hint = ("the last window running past the end: targets shorter than inputs; cut the "
                    "last window to rows.shape[1] - 1 - start columns, so that every input has a "
                    "next token" if targets.ndim == 2 and inputs.ndim == 2
                    and targets.shape[1] < inputs.shape[1]
                    else "targets have the shape of inputs, (B, t): the same window, one to the "
                    "right")
            fail(f"{here}: targets shape", f"{tuple(inputs.shape)} (the inputs' shape)",
                 str(tuple(targets.shape)), hint)
        if not (inputs.shape == want_in.shape and torch.equal(inputs, want_in)):
            fail(f"{here}: inputs", f"columns {s}..{e - 1} of rows ({e - s})", _columns(inputs),
                 _window_hint(out, i, spans, rows))
        if not torch.equal(targets, want_out):
            hint = ("targets equal inputs: not shifted; the target of each position is the next "
                    "token, rows[:, start + 1:start + 1 + t]" if torch.equal(targets, inputs)
                    else "targets are the inputs shifted one to the LEFT in the stream: the next "
                    "token, rows[:, start + 1:start + 1 + t]")
            fail(f"{here}: targets", f"columns {s + 1}..{e} of rows (the next tokens)",
                 _columns(targets), hint)
    if len(out) != len(spans):
        empty = any(item[0].ndim == 2 and item[0].shape[1] == 0 for item in out)
        hint = ("a window with no columns: stop once the rows are covered (the last input is "
                "column L - 2)" if empty else
                "the last window, cut to fit (rows.shape[1] - 1 - start columns), is missing: "
                "cut it, don't drop it" if len(out) < len(spans) else
                "one window per length, until the L - 1 input columns are covered")
        fail(f"{where}: number of windows",
             f"{len(spans)}: " + ", ".join(f"columns {s}..{e - 1}" for s, e in spans),
             f"{len(out)}: " + ", ".join(_columns(item[0]) for item in out), hint)


def _check_windows(lm_windows) -> None:
    for k, (B, L, lengths) in enumerate(_WINDOWS):
        _check_windows_case(lm_windows, B, L, list(lengths), _stored_windows(k))


def _state_problem(got: Any, given: Any, path: str) -> tuple[str, str, str, str] | None:
    """(where, expected, got, hint) for the first place where `got` is not `given` detached."""
    if isinstance(given, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return (path, "a tensor", f"{type(got).__name__}: {show(got)}",
                    "detach each tensor of the state: tensor.detach()")
        if got.shape != given.shape or not torch.equal(got.detach(), given.detach()):
            zeros = got.shape == given.shape and not bool(got.detach().any())
            return (path, f"the same values, {show(given.detach())}", show(got.detach()),
                    "detach keeps the values: the state carries into the next window; don't "
                    "reset it to zeros" if zeros else "detach keeps the values and the shape")
        if got.grad_fn is not None or got.requires_grad:
            if path.endswith("[1]"):
                hint = ("hidden has a grad_fn: only h was detached, c still carries the previous "
                        "window's graph; detach every tensor of the state, c as well as h")
            elif got is given:
                hint = ("hidden has a grad_fn: detach returned the input as it was; return "
                        "hidden.detach() (for a tuple, each tensor detached)")
            else:
                hint = ("hidden has a grad_fn: the state still carries the previous window's "
                        "graph; tensor.detach() cuts it")
            return (path, "no autograd history (grad_fn None, requires_grad False)",
                    f"grad_fn={type(got.grad_fn).__name__ if got.grad_fn is not None else None}, "
                    f"requires_grad={got.requires_grad}", hint)
        return None
    if type(got) is not type(given) or len(got) != len(given):
        return (path, f"a {type(given).__name__} of {len(given)}",
                f"{type(got).__name__}" + (f" of {len(got)}" if isinstance(got, Sequence) else ""),
                "return the same structure as hidden: a tuple for a tuple, a list for a list "
                "(type(hidden)(detach(h) for h in hidden))")
    for k, (a, b) in enumerate(zip(got, given)):
        found = _state_problem(a, b, f"{path}[{k}]")
        if found:
            return found
    return None


def _check_detach(detach) -> None:
    with torch.enable_grad():
        leaf = torch.randn(7, 1, 2, 3, generator=gen(40), requires_grad=True)
        h = [leaf[k] * 2 for k in range(7)]  # (1, 2, 3), each with a grad_fn
        cases = [(h[0], "h (1, 2, 3) with a grad_fn"), ((h[1], h[2].tanh()), "(h, c)"),
                 ([(h[3], h[4]), (h[5], h[6])], "[(h, c), (h, c)]")]
        for hidden, what in cases:
            where = f"detach({what})"
            got = call(detach, hidden, where=where,
                       hint="hidden may be a tensor or a (nested) tuple/list of tensors")
            found = _state_problem(got, hidden, "hidden")
            if found:
                path, expected, gotten, hint = found
                fail(f"{where}: {path.replace('hidden', 'returned', 1)}", expected, gotten, hint)


@one_thread()
def check_lm_batches(batchify, bptt_lengths, lm_windows, detach) -> None:
    """Rows of contiguous pieces; variable-length windows covering n_columns - 1; consecutive
    (inputs, targets) windows, targets the next token; the state detached."""
    _check_batchify(batchify)
    _check_bptt_lengths(bptt_lengths)
    _check_windows(lm_windows)
    _check_detach(detach)


# ------------------------------------------------------------------------ 2. dropout

def _first(mask: torch.Tensor) -> tuple[int, ...]:
    return tuple(mask.nonzero()[0].tolist())


def _partial(out: torch.Tensor) -> torch.Tensor:
    """Vectors (last axis) with some entries zero and some not."""
    zero = out == 0
    return zero.any(-1) & ~zero.all(-1)


def _rows_problem(out: torch.Tensor, ids: torch.Tensor, weight: torch.Tensor,
                  p: float) -> tuple[str, str, str] | None:
    """Embedding dropout in training: every out[...] a whole row of weight scaled by 1/(1-p) or
    zero, one draw per word type. (expected, got, hint) for the first rule broken, else None."""
    o, base = out.detach(), F.embedding(ids, weight.detach())
    zero = (o == 0).all(-1)
    scaled = torch.isclose(o, base / (1 - p), atol=1e-6, rtol=1e-5).all(-1)
    bad = ~(zero | scaled)
    if bool(bad.any()):
        at = _first(bad)
        word = int(ids[at])
        if bool(_partial(o).any()):
            hint = ("embedding dropout per occurrence instead of per word type: single numbers "
                    "of the looked-up vectors are zeroed (F.dropout on the looked-up vectors); "
                    "zero whole rows of weight instead, one (V, 1) mask on weight, then look up")
        elif bool(torch.isclose(o, base, atol=1e-6, rtol=1e-5).all(-1)[~zero].all()):
            hint = ("no 1/(1-p) rescale: kept values equal weight's rows; divide the mask by "
                    "(1 - p) so that the expected output is the plain lookup")
        elif bool(torch.isclose(o, base / p, atol=1e-6, rtol=1e-5).all(-1)[~zero].all()):
            hint = "kept rows are scaled by 1 / p: the scale is 1 / (1 - p), p drops"
        else:
            hint = ("out[i] = weight[ids[i]] * mask[ids[i]] with mask 0 (probability p) or "
                    "1 / (1 - p) per row of weight")
        return (f"out{list(at)} = weight[{word}] / (1 - {p}) = {show(base[at] / (1 - p))} "
                "or all zeros", show(o[at]), hint)
    for word in ids.unique().tolist():
        where_word = ids == word
        if bool(zero[where_word].any()) and not bool(zero[where_word].all()):
            dropped, kept = _first(where_word & zero), _first(where_word & ~zero)
            return (f"word {word} dropped at every occurrence or at none",
                    f"dropped at {list(dropped)}, kept at {list(kept)}",
                    "embedding dropout per occurrence instead of per word type: one draw per "
                    "position ((B, T, 1) mask on the vectors) drops some occurrences of a word and "
                    "keeps others; draw one mask per row of weight (V, 1), so a dropped word is "
                    "zero everywhere in the batch")
    return None


def _locked_problem(out: torch.Tensor, x: torch.Tensor,
                    p: float) -> tuple[str, str, str] | None:
    """Locked dropout in training: out = x * m, m of shape (B, 1, C) in {0, 1/(1-p)}: the same
    at every time step. (expected, got, hint) for the first rule broken, else None."""
    o, x = out.detach(), x.detach()
    zero = o == 0
    scaled = torch.isclose(o, x / (1 - p), atol=1e-6, rtol=1e-5)
    bad = ~(zero | scaled)
    if bool(bad.any()):
        at = _first(bad)
        as_is = bool((torch.isclose(o, x, atol=1e-6, rtol=1e-5) | zero).all())
        by_p = bool((torch.isclose(o, x / p, atol=1e-6, rtol=1e-5) | zero).all())
        hint = ("no 1/(1-p) rescale: kept values equal the input; divide the mask by (1 - p)"
                if as_is else
                "kept values are scaled by 1 / p: p is the probability of DROPPING; keep with "
                "probability 1 - p (bernoulli_(1 - p)) and scale by 1 / (1 - p)" if by_p else
                "each value is the input times 0 (probability p) or 1 / (1 - p)")
        return (f"{float(x[at] / (1 - p)):.6g} (x{list(at)} / (1 - {p})) or 0",
                f"{float(o[at]):.6g}", hint)
    if x.shape[1] > 1 and not bool((zero == zero[:, :1]).all()):
        at = _first(zero != zero[:, :1])
        steps = zero.all(-1) | ~zero.any(-1)
        hint = ("mask differs across time steps: whole time steps are dropped (a (B, T, 1) "
                "mask); the mask is (B, 1, C), one per sequence and feature, the same at every "
                "step" if bool(steps.all()) else
                "mask differs across time steps: a new dropout mask at every time step "
                "(F.dropout on the (B, T, C) tensor); draw one (B, 1, C) mask and multiply, it "
                "broadcasts over T")
        b, t, c = at
        return (f"sequence {b}, feature {c}: dropped at every time step or at none",
                f"{'dropped' if bool(zero[b, 0, c]) else 'kept'} at step 0, "
                f"{'dropped' if bool(zero[b, t, c]) else 'kept'} at step {t}", hint)
    if x.shape[0] > 1 and bool(zero.any()) and bool((zero == zero[:1]).all()):
        return ("a mask per sequence (B, 1, C)", "the same mask for every sequence",
                "one mask for the whole batch ((1, 1, C)): draw one per sequence, "
                "x.new_empty(B, 1, C).bernoulli_(1 - p)")
    return None


def _mask_rule(problem: Callable[..., tuple[str, str, str] | None], what: str,
               extra: str = "") -> Holds:
    """A Holds from a (expected, got, hint) problem finder of (out, *inputs)."""
    return Holds(what, lambda out, *a: problem(out, *a) is None,
                 "", expected=lambda out, *a: problem(out, *a)[0],
                 got=lambda out, *a: problem(out, *a)[1],
                 bugs=[Bug(lambda out, *a: problem(out, *a)[2] + extra,
                           when=lambda out, *a: True)])


def _dropped_share(zero_rows: Callable[[Any], torch.Tensor], p: float, n: int, what: str,
                   fix: str) -> Holds:
    share = lambda out: float(zero_rows(out).double().mean())
    return Holds(f"share of the {n} {what} dropped (p={p})",
                 lambda out, *_: _within(share(out), p, n), fix,
                 expected=_band(p, n), got=lambda out, *_: f"{share(out):.4f}",
                 bugs=[Bug("p is the probability of DROPPING: keep with probability 1 - p "
                           "(bernoulli_(1 - p))",
                           when=lambda out, *_: _within(share(out), 1 - p, n)),
                       Bug("nothing dropped in training", when=lambda out, *_: share(out) == 0)])


def _fresh(fn: Callable[..., Any], where: str, args: tuple, seed: int) -> list[Holds]:
    """Dropout draws from torch's global RNG: the same seed, the same draw; another, another."""
    again = lambda s: call(_seeded(fn, s), *args, where=where)
    return [
        Holds(f"calling again under torch.manual_seed({seed})",
              lambda out, *_: close(out, again(seed), atol=0, rtol=0),
              "the same global seed must give the same mask: draw it from torch's global RNG "
              "(bernoulli_, F.dropout), not from a generator of your own",
              expected="the same output", got="a different one"),
        Holds(f"calling again under torch.manual_seed({seed + 1})",
              lambda out, *_: not close(out, again(seed + 1), atol=0, rtol=0),
              "the same mask under every seed: draw a new mask at every call, from torch's "
              "global RNG (not once in __init__, not from a fixed generator)",
              expected="a different mask", got="the same output"),
    ]


_EMB_CALL = "embedding_dropout(ids, weight, p, training, padding_idx=None)"
_ROWS = _mask_rule(lambda out, ids, weight, p, *_: _rows_problem(out, ids, weight, p),
                   "the word vectors")


def _check_embedding_dropout(embedding_dropout) -> None:
    V, E, p = 12, 5, 0.4
    weight = torch.randn(V, E, generator=gen(50)).requires_grad_()
    ids = (torch.arange(60) % V)[torch.randperm(60, generator=gen(51))].view(6, 10)  # 5 of each
    what = f"ids (6, 10) over {V} words, each 5 times, weight ({V}, {E})"
    plain = lambda *_: F.embedding(ids, weight)
    eval_bugs = [Bug("still dropping in eval: with training=False (or p == 0) return the plain "
                     "lookup, F.embedding(ids, weight, padding_idx)",
                     when=lambda out, *_: bool((out == 0).all(-1).any()))]
    run(Case(f"embedding_dropout({what}, p={p}, training=False)", embedding_dropout,
             (ids, weight, p, False), keeps={"ids": ids, "weight": weight}, call_hint=_EMB_CALL,
             out=Out(dtype=FLOATS, shape=(6, 10, E)), want=plain, atol=1e-6, rtol=1e-6,
             what="vs F.embedding(ids, weight)", bugs=eval_bugs,
             hint="in eval the plain lookup: F.embedding(ids, weight, padding_idx)"),
        Case(f"embedding_dropout({what}, p=0.0, training=True)", _seeded(embedding_dropout, 1),
             (ids, weight, 0.0, True), call_hint=_EMB_CALL, out=Out(shape=(6, 10, E)),
             want=plain, atol=1e-6, rtol=1e-6, what="vs F.embedding(ids, weight)",
             bugs=eval_bugs, hint="with p == 0 nothing is dropped: the plain lookup"))
    where = f"embedding_dropout({what}, p={p}, training=True, padding_idx=1)"
    weight.grad = None
    with torch.enable_grad():
        (out,) = run(Case(where, _seeded(embedding_dropout, 3), (ids, weight, p, True),
                          {"padding_idx": 1}, keeps={"ids": ids, "weight": weight},
                          keeps_hint="don't change weight in place: compute weight * mask, a "
                          "new tensor", call_hint=_EMB_CALL,
                          out=Out(dtype=FLOATS, shape=(6, 10, E), finite=True),
                          holds=[_ROWS]))
        expect_true(out.requires_grad, f"{where}: the output", "compute it from weight itself "
                    "(weight * mask, F.embedding): weight is trained through it, so no .data, "
                    ".detach() or torch.no_grad()", expected="an output with grad_fn",
                    got="no autograd history")
        call(out.sum().backward, where=f"{where}: out.sum().backward()")
    grad = weight.grad
    expect_true(grad is not None, f"{where}: weight.grad after out.sum().backward()",
                "no gradient reached weight: compute the output from weight itself",
                expected="a gradient", got="None")
    kept = torch.zeros(V, dtype=torch.bool)
    kept[ids[~(out.detach() == 0).all(-1)]] = True
    counts = torch.bincount(ids.reshape(-1), minlength=V).double()
    want = (counts * kept / (1 - p))[:, None].expand(V, E).clone()
    want[1] = 0
    hint = ("padding_idx ignored: pass it on, F.embedding(ids, weight * mask, padding_idx); the "
            "padding row gets no gradient" if bool(grad[1].any()) else
            "the gradient of out.sum() is the number of occurrences / (1 - p) on a kept row, 0 "
            "on a dropped row and on the padding row: multiply weight by the mask inside the "
            "graph")
    expect_close(grad, want, f"{where}: weight.grad after out.sum().backward()", hint,
                 atol=1e-5, rtol=1e-4)
    weight.grad = None
    # the drop rate, over 4000 word types
    big_w = torch.randn(4000, 3, generator=gen(52))
    big_ids = torch.arange(4000)
    where = "embedding_dropout(ids 0..3999, weight (4000, 3), p=0.3, training=True)"
    run(Case(where, _seeded(embedding_dropout, 5), (big_ids, big_w, 0.3, True),
             call_hint=_EMB_CALL, out=Out(dtype=FLOATS, shape=(4000, 3)),
             holds=[_ROWS,
                    _dropped_share(lambda out: (out == 0).all(-1), 0.3, 4000, "words",
                                   "each word type is dropped with probability p"),
                    *_fresh(embedding_dropout, where, (big_ids, big_w, 0.3, True), 5)]))


def _check_locked_dropout(LockedDropout) -> None:  # noqa: N803 (the learner's class)
    p = 0.4
    x = torch.randn(4, 12, 16, generator=gen(60))
    where = f"LockedDropout({p})"
    model = build(LockedDropout, where, p, hint="__init__(self, p)")
    model.train()
    run(Case(f"{where}(x (4, 12, 16)) in training", _seeded(model, 3), (x,), keeps={"x": x},
             keeps_hint="don't change x in place (x.mul_): return x * mask, a new tensor",
             call_hint="forward(x) with x (B, T, C)",
             out=Out(dtype=FLOATS, shape=(4, 12, 16), finite=True),
             holds=[_mask_rule(lambda out, x: _locked_problem(out, x, p), "the mask")]))
    model.eval()
    try:
        run(Case(f"{where}.eval()(x (4, 12, 16))", _seeded(model, 3), (x,), want=x, exact=True,
                 what="vs x", out=Out(shape=(4, 12, 16)),
                 bugs=[Bug("still dropping in eval: return x unchanged when not self.training",
                           when=lambda out, *_: bool((out == 0).any()))],
                 hint="identity in eval: return x"))
    finally:
        model.train()
    still = build(LockedDropout, "LockedDropout(0.0)", 0.0)
    still.train()
    run(Case("LockedDropout(0.0)(x (4, 12, 16)) in training", _seeded(still, 3), (x,), want=x,
             exact=True, what="vs x", hint="with p == 0 nothing is dropped: return x"))
    big = torch.randn(64, 3, 64, generator=gen(61))
    where = "LockedDropout(0.3)(x (64, 3, 64)) in training"
    stats = build(LockedDropout, "LockedDropout(0.3)", 0.3)
    stats.train()
    run(Case(where, _seeded(stats, 4), (big,), out=Out(shape=(64, 3, 64)),
             holds=[_mask_rule(lambda out, x: _locked_problem(out, x, 0.3), "the mask"),
                    _dropped_share(lambda out: out[:, 0] == 0, 0.3, 64 * 64,
                                   "(sequence, feature) pairs",
                                   "each (sequence, feature) is dropped with probability p"),
                    *_fresh(stats, where, (big,), 4)]))


_LSTM_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
_NO_HACK = ("keep nn.LSTM's own parameters in self.lstm (no renamed raw copy, no deleted "
            "parameter: the AWD-LSTM repo's old hack); call self.lstm with "
            "torch.func.functional_call and the dropped matrix")


def _reference_lstm(state: dict, prefix: str) -> nn.LSTM:
    """An nn.LSTM (batch_first) loaded with the learner's weights under `prefix`."""
    w_ih, w_hh = state[prefix + "weight_ih_l0"], state[prefix + "weight_hh_l0"]
    with torch.random.fork_rng(devices=[]):
        lstm = nn.LSTM(w_ih.shape[1], w_hh.shape[1], batch_first=True)
    lstm.load_state_dict({k: state[prefix + k].detach().clone() for k in _LSTM_KEYS})
    return lstm


def _run_lstm(lstm: nn.LSTM, x, state, weight_hh: torch.Tensor | None = None):
    """(output, h, c) of the reference LSTM, its weight_hh_l0 replaced by `weight_hh`."""
    params = {k: v.detach() for k, v in lstm.named_parameters()}
    if weight_hh is not None:
        params["weight_hh_l0"] = weight_hh.detach()
    with torch.no_grad():
        out, (h, c) = functional_call(lstm, params, (x, state))
    return out, h, c


def _lstm_result(value: Any, where: str, shape: tuple[int, int, int]) -> tuple:
    """(output, h, c) of what an LSTM-like forward returned, after checking its form."""
    ok = isinstance(value, (tuple, list)) and len(value) == 2 \
        and isinstance(value[0], torch.Tensor) and _tensors(value[1], 2)
    expect_true(ok, f"{where}: return value", "return what nn.LSTM returns: (output, (h, c))",
                expected="(output, (h, c))", got=f"{type(value).__name__}: {show(value)}")
    out, (h, c) = value
    B, T, H = shape
    for name, t, want in (("output", out, (B, T, H)), ("h", h, (1, B, H)), ("c", c, (1, B, H))):
        expect_true(tuple(t.shape) == want, f"{where}: {name} shape", "as nn.LSTM(batch_first="
                    "True): output (B, T, hidden_size), h and c (1, B, hidden_size)",
                    expected=str(want), got=str(tuple(t.shape)))
    return out, h, c


def _expect_keys(model: nn.Module, where: str, want: Sequence[str], hint: str) -> None:
    keys = set(model.state_dict())
    missing, extra = sorted(set(want) - keys), sorted(keys - set(want))
    if missing or extra:
        fail(f"{where}: state_dict() keys", show(sorted(want)),
             f"missing {show(missing)}, extra {show(extra)}", hint)


def _expect_lstm_layout(model: nn.Module, where: str, prefix: str, sizes: tuple[int, int],
                        hint: str = _NO_HACK) -> None:
    lstm = getattr(model, "lstm", None)
    expect_true(isinstance(lstm, nn.LSTM), f"{where}: self.lstm", "self.lstm = nn.LSTM("
                "input_size, hidden_size, batch_first=True)", expected="an nn.LSTM",
                got=type(lstm).__name__)
    expect_true(lstm.batch_first and lstm.num_layers == 1 and not lstm.bidirectional,
                f"{where}: self.lstm", "one layer, batch_first=True",
                expected="nn.LSTM(..., batch_first=True), one layer", got=repr(lstm))
    _expect_keys(model, where, [prefix + k for k in _LSTM_KEYS], hint)
    n_in, H = sizes
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expect_true(shapes[prefix + "weight_ih_l0"] == (4 * H, n_in)
                and shapes[prefix + "weight_hh_l0"] == (4 * H, H), f"{where}: weight shapes",
                f"nn.LSTM({n_in}, {H}): weight_ih_l0 (4 * hidden, input), weight_hh_l0 "
                "(4 * hidden, hidden)", expected=f"({4 * H}, {n_in}) and ({4 * H}, {H})",
                got=f"{shapes[prefix + 'weight_ih_l0']} and {shapes[prefix + 'weight_hh_l0']}")


def _compare_lstm(got: tuple, want: tuple, where: str, hint: str | Callable[[], str]) -> None:
    for name, a, b in zip(("output", "h", "c"), got, want):
        if not close(a, b):
            expect_close(a, b, f"{where}: {name}", hint() if callable(hint) else hint,
                         atol=1e-5, rtol=1e-4)


def _weight_grad_zeros(model: nn.Module, where: str, p: float) -> torch.Tensor:
    """The kept entries of the dropped weight_hh_l0: where its gradient is not exactly 0."""
    lstm = model.lstm
    g_hh, g_ih = lstm.weight_hh_l0.grad, lstm.weight_ih_l0.grad
    expect_true(g_hh is not None, f"{where}: self.lstm.weight_hh_l0.grad after backward",
                "no gradient reached the parameter: drop the parameter itself, F.dropout("
                "self.lstm.weight_hh_l0, p) (not .data, not .detach()), so that it still trains",
                expected="a gradient", got="None")
    zero_ih = float((g_ih == 0).double().mean()) if g_ih is not None else 0.0
    expect_true(bool((g_hh == 0).any()), f"{where}: exact zeros in weight_hh_l0's gradient (the "
                "dropped entries)",
                "weight dropout on weight_ih instead of weight_hh: the hidden-to-hidden matrix "
                "weight_hh_l0 is the one dropped (DropConnect on the recurrence)"
                if zero_ih > p / 3 else
                "no DropConnect in training: each forward uses F.dropout(weight_hh_l0, p) in "
                "place of weight_hh_l0", expected=f"about {p:.0%} of the entries 0",
                got="none")
    expect_true(zero_ih < p / 3, f"{where}: zeros in weight_ih_l0's gradient",
                "only the hidden-to-hidden weights are dropped; the input weights are untouched",
                expected="(almost) none", got=f"{zero_ih:.0%} of the entries")
    return g_hh != 0


def _train_step(model: nn.Module, where: str, x, state, seed: int, shape) -> tuple:
    """A seeded training forward of an LSTM-like module and a backward through all it returns."""
    B, T, H = shape
    for param in model.parameters():
        param.grad = None
    with torch.enable_grad():
        got = _lstm_result(call(_seeded(model, seed), x, state, where=where), where, shape)
        weights = [torch.randn(*t.shape, generator=gen(80 + k)) for k, t in enumerate(got)]
        loss = sum((t * w).sum() for t, w in zip(got, weights))
        expect_true(loss.requires_grad, f"{where}: the output", "keep the output in the "
                    "autograd graph: no torch.no_grad(), no .detach()",
                    expected="an output with grad_fn", got="no autograd history")
        call(loss.backward, where=f"{where}: backward through output, h and c")
    return got


def _check_weight_drop(WeightDropLSTM) -> None:  # noqa: N803 (the learner's class)
    n_in, H, p = 5, 8, 0.4
    where0 = f"WeightDropLSTM({n_in}, {H}, p={p})"
    model = build(WeightDropLSTM, where0, n_in, H, p, hint="__init__(self, input_size, "
                  "hidden_size, p)")
    _expect_lstm_layout(model, where0, "lstm.", (n_in, H))
    ref = _reference_lstm(model.state_dict(), "lstm.")
    x = torch.randn(3, 7, n_in, generator=gen(70))
    state = (torch.randn(1, 3, H, generator=gen(71)), torch.randn(1, 3, H, generator=gen(72)))
    shape = (3, 7, H)
    model.eval()
    try:
        for given, what in ((state, "x (3, 7, 5), (h0, c0)"), (None, "x (3, 7, 5)")):
            where = f"{where0}.eval()({what})"
            args = (x,) if given is None else (x, given)
            got = _lstm_result(call(_seeded(model, 3), *args, where=where), where, shape)
            redo = lambda args=args, where=where: call(_seeded(model, 4), *args, where=where)[0]

            def hint(given=given, got=got, redo=redo) -> str:
                if not close(got[0], redo(), atol=0, rtol=0):
                    return ("still dropping in eval: in eval mode (not self.training) return "
                            "self.lstm(x, state) itself")
                if given is not None and close(got[0], _run_lstm(ref, x, None)[0]):
                    return "the state passed in was ignored: call self.lstm(x, state)"
                return "in eval WeightDropLSTM is self.lstm: return self.lstm(x, state)"
            _compare_lstm(got, _run_lstm(ref, x, given), f"{where} vs nn.LSTM with its weights",
                          hint)
    finally:
        model.train()
    zero_p = build(WeightDropLSTM, f"WeightDropLSTM({n_in}, {H}, p=0.0)", n_in, H, 0.0)
    zero_p.train()
    where = f"WeightDropLSTM({n_in}, {H}, p=0.0)(x (3, 7, 5), (h0, c0)) in training"
    got = _lstm_result(call(_seeded(zero_p, 3), x, state, where=where), where, shape)
    _compare_lstm(got, _run_lstm(_reference_lstm(zero_p.state_dict(), "lstm."), x, state),
                  f"{where} vs nn.LSTM with its weights", "with p == 0 nothing is dropped")
    # training: the parameters stay, the mask is read off the gradient's exact zeros
    where = f"{where0}(x (3, 7, 5), (h0, c0)) in training"
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    got = _train_step(model, where, x, state, 5, shape)
    after = model.state_dict()
    changed = [k for k in before if k not in after or not torch.equal(after[k], before[k])]
    expect_true(sorted(after) == sorted(before) and not changed,
                f"{where}: the parameters after forward and backward",
                "the parameter was changed in place (e.g. self.lstm.weight_hh_l0.data = "
                "F.dropout(...)): leave self.lstm's parameters as they are and pass the dropped "
                "matrix to torch.func.functional_call(self.lstm, {..., 'weight_hh_l0': dropped}, "
                "(x, state))", expected="unchanged",
                got=f"changed: {changed or sorted(set(after) ^ set(before))}")
    kept = _weight_grad_zeros(model, where, p)
    w_hh = model.lstm.weight_hh_l0.detach()
    want = _run_lstm(ref, x, state, w_hh * kept / (1 - p))
    plain = _run_lstm(ref, x, state, w_hh * kept)
    _compare_lstm(got, want, f"{where} vs nn.LSTM run with weight_hh_l0 * mask / (1 - p), the "
                  "mask read off the zeros of weight_hh_l0's gradient",
                  lambda: "weight dropout not rescaled: the kept weights are scaled by "
                  "1 / (1 - p), as F.dropout does" if close(got[0], plain[0]) else
                  "one dropped matrix, F.dropout(weight_hh_l0, p), for every time step; the "
                  "other weights as they are")
    examine(where, got[0], holds=_fresh(lambda: model(x, state)[0], where, (), 5))
    # the drop rate over 1024 entries
    stats = build(WeightDropLSTM, "WeightDropLSTM(4, 16, p=0.3)", 4, 16, 0.3)
    stats.train()
    where = "WeightDropLSTM(4, 16, p=0.3)(x (2, 4, 4), (h0, c0)) in training"
    sx = torch.randn(2, 4, 4, generator=gen(73))
    sstate = (torch.randn(1, 2, 16, generator=gen(74)), torch.randn(1, 2, 16, generator=gen(75)))
    _train_step(stats, where, sx, sstate, 6, (2, 4, 16))
    kept = _weight_grad_zeros(stats, where, 0.3)
    examine(where, kept, holds=[_dropped_share(lambda k: ~k, 0.3, kept.numel(),
                                               "entries of weight_hh_l0",
                                               "each entry of weight_hh_l0 is dropped with "
                                               "probability p: F.dropout(weight_hh_l0, p)")])
    for param in (*model.parameters(), *stats.parameters()):
        param.grad = None


@one_thread()
def check_dropout(embedding_dropout, LockedDropout, WeightDropLSTM) -> None:  # noqa: N803
    """AWD-LSTM's dropouts: whole words per type (embedding), one mask over time (locked),
    DropConnect on weight_hh_l0 (weight drop), each scaled by 1/(1-p) and off in eval."""
    _check_embedding_dropout(embedding_dropout)
    _check_locked_dropout(LockedDropout)
    _check_weight_drop(WeightDropLSTM)


# ----------------------------------------------------------------- 3. language_model

_V, _E, _H, _PAD = 20, 6, 10, 1
_EX2 = ("; AWDLSTM runs your embedding_dropout, LockedDropout and WeightDropLSTM: if "
        "check_dropout fails, fix those first")
_AWD_CALL = ("AWDLSTM(vocab_size, emb_dim, hidden_dim, n_layers=3, pad_id=1, embed_p=0.02, "
             "input_p=0.25, hidden_p=0.15, weight_p=0.2)")


def _sizes(n_layers: int) -> list[int]:
    return [_E] + [_H] * (n_layers - 1) + [_E]


def _awd(AWDLSTM, n_layers: int = 3, **ps: float) -> tuple[nn.Module, str]:  # noqa: N803
    kwargs = {"embed_p": 0.0, "input_p": 0.0, "hidden_p": 0.0, "weight_p": 0.0, **ps}
    where = (f"AWDLSTM({_V}, {_E}, {_H}, n_layers={n_layers}, pad_id={_PAD}, "
             + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")")
    model = build(AWDLSTM, where, _V, _E, _H, n_layers=n_layers, pad_id=_PAD, hint=_AWD_CALL,
                  **kwargs)
    _expect_awd_layout(model, where, n_layers)
    return model, where


def _expect_awd_layout(model: nn.Module, where: str, n_layers: int) -> None:
    _expect_keys(model, where, ["embed.weight"] + [f"layers.{i}.lstm.{k}" for i in range(n_layers)
                                                   for k in _LSTM_KEYS],
                 "AWDLSTM holds self.embed and self.layers = nn.ModuleList of n_layers "
                 "WeightDropLSTM layers, nothing else with weights (the checkpoints and the "
                 "fine-tuning code use these names)")
    sizes = _sizes(n_layers)
    for i in range(n_layers):
        state = model.state_dict()
        n_in = state[f"layers.{i}.lstm.weight_ih_l0"].shape[1]
        H = state[f"layers.{i}.lstm.weight_hh_l0"].shape[1]
        last = i == n_layers - 1
        hint = ("last layer hidden_dim wide instead of emb_dim: the last layer returns to "
                "emb_dim (emb_dim -> hidden_dim -> ... -> emb_dim) so that the decoder can share "
                "the embedding matrix" if last and H == _H else
                "layer sizes emb_dim -> hidden_dim -> ... -> hidden_dim -> emb_dim: layer i "
                "reads what layer i-1 returns")
        expect_true((n_in, H) == (sizes[i], sizes[i + 1]), f"{where}: layers[{i}] (input size, "
                    "hidden size)", hint, expected=str((sizes[i], sizes[i + 1])),
                    got=str((n_in, H)))


def _stack(model: nn.Module, n_layers: int) -> list[nn.LSTM]:
    state = model.state_dict()
    return [_reference_lstm(state, f"layers.{i}.lstm.") for i in range(n_layers)]


_AWD_PS = {"embed_p": 0.1, "input_p": 0.3, "hidden_p": 0.3, "weight_p": 0.3}


def _awd_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Deterministic weights for an AWDLSTM's state, by name: N(0, 0.3^2) entries."""
    g = gen(84)
    return {name: (0.3 * torch.randn(state[name].shape, generator=g)).to(state[name].dtype)
            for name in sorted(state)}


def _probe_awd(AWDLSTM) -> dict[str, Any]:  # noqa: N803
    """The solution's AWDLSTM in eval, with fixed weights, with and without a state passed in."""
    model = AWDLSTM(_V, _E, _H, n_layers=3, pad_id=_PAD, **_AWD_PS)
    weights = _awd_weights(model.state_dict())
    model.load_state_dict(weights)
    model.eval()
    ids, hidden0 = _awd_ids(), _state(3, 3, 86)
    out = {"ids": ids, **{f"w.{k}": v for k, v in weights.items()}}
    with torch.no_grad():
        for name, hidden in (("none", None), ("given", hidden0)):
            output, states = model(ids) if hidden is None else model(ids, hidden)
            out[f"{name}.output"] = output
            for i, (h, c) in enumerate(states):
                out.update({f"{name}.h{i}": h, f"{name}.c{i}": c})
            if hidden is not None:
                for i, (h, c) in enumerate(hidden):
                    out.update({f"{name}.h0_{i}": h, f"{name}.c0_{i}": c})
    return out


def _awd_result(value: Any, where: str, B: int, T: int, n_layers: int) -> tuple:
    sizes = _sizes(n_layers)
    ok = isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0],
                                                                             torch.Tensor)
    expect_true(ok, f"{where}: return value", "return (output, hidden)",
                expected="(output (B, T, emb_dim), hidden)",
                got=f"{type(value).__name__}: {show(value)}")
    out, hidden = value
    expect_true(tuple(out.shape) == (B, T, _E), f"{where}: output shape",
                "last layer hidden_dim wide instead of emb_dim: the output is the last layer's, "
                "emb_dim wide" if out.ndim == 3 and out.shape[-1] == _H else
                "the last layer's output (B, T, emb_dim)", expected=str((B, T, _E)),
                got=str(tuple(out.shape)))
    expect_true(isinstance(hidden, (tuple, list)) and len(hidden) == n_layers,
                f"{where}: hidden", "hidden is the list of the n_layers states, one (h, c) per "
                "layer", expected=f"a list of {n_layers} (h, c) pairs",
                got=f"{type(hidden).__name__}: {show(hidden)}")
    for i, state in enumerate(hidden):
        expect_true(_tensors(state, 2), f"{where}: hidden[{i}]",
                    "hidden returned as only h: keep each layer's whole state, the pair (h, c) "
                    "it returns (the cell c carries into the next window too)"
                    if isinstance(state, torch.Tensor) else "each layer's state is (h, c)",
                    expected="(h, c)", got=f"{type(state).__name__}: {show(state)}")
        for name, t in zip("hc", state):
            expect_true(tuple(t.shape) == (1, B, sizes[i + 1]), f"{where}: hidden[{i}] {name}",
                        "each (h, c) is what layer i returns, (1, B, its hidden size)",
                        expected=str((1, B, sizes[i + 1])), got=str(tuple(t.shape)))
    return out, hidden


def _awd_ids() -> torch.Tensor:
    """(3, 8) ids of the 12 words 0, 2..12, each twice, and padding (id 1) ending row 2."""
    words = torch.tensor([0, *range(2, 13)]).repeat(2)[torch.randperm(24, generator=gen(85))]
    ids = words.view(3, 8).clone()
    ids[2, 6:] = _PAD
    return ids


def _state(n_layers: int, B: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = gen(seed)
    return [(torch.randn(1, B, s, generator=g), torch.randn(1, B, s, generator=g))
            for s in _sizes(n_layers)[1:]]


def _check_awd_eval(AWDLSTM) -> None:  # noqa: N803
    stored = expected.case("ulmfit", "awd")
    model, where0 = _awd(AWDLSTM, **_AWD_PS)
    with torch.no_grad():
        model.load_state_dict({k[2:]: v for k, v in stored.items() if k.startswith("w.")})
    ids = stored["ids"]
    weight = model.embed.weight
    hidden0 = [(stored[f"given.h0_{i}"], stored[f"given.c0_{i}"]) for i in range(3)]
    ignored = stored["none.output"]
    model.eval()
    try:
        for name, hidden, what in (("none", None, "ids (3, 8)"),
                                   ("given", hidden0, "ids (3, 8), hidden")):
            where = f"{where0}.eval()({what}) (fixed weights)"
            args = (ids,) if hidden is None else (ids, hidden)
            with torch.enable_grad():
                value = call(_seeded(model, 7), *args, where=where)
            out, states = _awd_result(value, where, 3, 8, 3)
            want = stored[f"{name}.output"]
            want_states = [(stored[f"{name}.h{i}"], stored[f"{name}.c{i}"]) for i in range(3)]

            def hint(hidden=hidden, out=out, args=args, where=where) -> str:
                again = call(_seeded(model, 8), *args, where=where)[0]
                if not close(out, again, atol=0, rtol=0):
                    return ("still dropping in eval: pass self.training to embedding_dropout "
                            "(its dropouts are off in eval)" + _EX2)
                if hidden is not None and close(out, ignored):
                    return ("hidden state ignored: the layers ran without the given state; "
                            "give layer i its state, layer(x, hidden[i])")
                return ("in eval AWDLSTM is the embedding lookup followed by the layers' "
                        "nn.LSTMs, each reading the last one's output" + _EX2)
            here = f"{where} vs the solution's"
            if not close(out, want):
                expect_close(out, want, f"{here}: output", hint(), atol=1e-5, rtol=1e-4)
            for i, (got, expect) in enumerate(zip(states, want_states)):
                for name, a, b in zip("hc", got, expect):
                    if not close(a, b):
                        expect_close(a, b, f"{here}: hidden[{i}] {name}",
                                     "hidden[i] is the (h, c) that layer i returns",
                                     atol=1e-5, rtol=1e-4)
        # the padding row gets no gradient
        weight.grad = None
        with torch.enable_grad():
            out = call(_seeded(model, 7), ids, where=f"{where0}.eval()(ids (3, 8))")[0]
            call(out.sum().backward, where=f"{where0}.eval()(ids (3, 8)): output.sum().backward()")
        grad = weight.grad
        expect_true(grad is not None and not bool(grad[_PAD].any()),
                    f"{where0}.eval()(ids (3, 8), padding id {_PAD} in row 2): embed.weight.grad "
                    f"of the padding row {_PAD}",
                    "padding_idx not passed: embedding_dropout(ids, self.embed.weight, "
                    "self.embed_p, self.training, self.embed.padding_idx)"
                    if grad is not None else "the output must depend on self.embed.weight",
                    expected="zeros", got="None" if grad is None else show(grad[_PAD]))
    finally:
        model.train()
        for param in model.parameters():
            param.grad = None


@contextlib.contextmanager
def _tapped(layers: Sequence[nn.Module]) -> Iterator[list]:
    """Forward hooks on the layers: seen[i] = (the input x, what layer i returned)."""
    seen: list = [None] * len(layers)

    def tap(i: int):
        def hook(module, args, kwargs, output):
            x = args[0] if args else next(iter(kwargs.values()), None)
            seen[i] = (x, output)
        return hook

    handles = [layer.register_forward_hook(tap(i), with_kwargs=True)
               for i, layer in enumerate(layers)]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def _tapped_run(AWDLSTM, seed: int, backward: bool = False, **ps: float):  # noqa: N803
    """A training forward of AWDLSTM with one dropout set, each layer's input and output."""
    model, where0 = _awd(AWDLSTM, **ps)
    model.train()
    ids = _awd_ids()
    ids[2, 6:] = torch.tensor([3, 4])  # no padding here
    what = ", ".join(f"{k}={v}" for k, v in ps.items())
    where = f"{where0}(ids (3, 8)) in training, only {what}"
    layers = [model.get_submodule(f"layers.{i}") for i in range(3)]
    with _tapped(layers) as seen, torch.enable_grad():
        out, states = _awd_result(call(_seeded(model, seed), ids, where=where), where, 3, 8, 3)
        if backward:
            loss = out.pow(2).sum() + sum(t.sum() for state in states for t in state)
            call(loss.backward, where=f"{where}: backward")
    for i, entry in enumerate(seen):
        expect_true(entry is not None and isinstance(entry[0], torch.Tensor),
                    f"{where}: layers[{i}]", "run every layer of self.layers in forward, each "
                    "on the output of the one before", expected="called with x (B, T, size)",
                    got="not called" if entry is None else f"called with {show(entry[0])}")
        _lstm_result(entry[1], f"{where}: what layers[{i}] returned", (3, 8, _sizes(3)[i + 1]))
    return model, where, ids, out, [(x.detach(), o[0].detach()) for x, o in seen]


def _undropped_layers(model: nn.Module, where: str, out: torch.Tensor, seen: list,
                      hint: str) -> None:
    """No dropout past layer 0's input: each layer is nn.LSTM (loaded with its weights) on
    its input, reads what the layer before returned, and the output is the last layer's."""
    stack = _stack(model, len(seen))
    for i, (x, got) in enumerate(seen):
        if i > 0 and not close(x, seen[i - 1][1], atol=0, rtol=0):
            expect_close(x, seen[i - 1][1], f"{where}: the input of layers[{i}] vs the output "
                         f"of layers[{i - 1}]", hint, atol=0, rtol=0)
        want = _run_lstm(stack[i], x, None)[0]
        if not close(got, want):
            expect_close(got, want, f"{where}: layers[{i}] output vs nn.LSTM with its weights "
                         "on its input", hint, atol=1e-5, rtol=1e-4)
    if not close(out, seen[-1][1], atol=0, rtol=0):
        expect_close(out, seen[-1][1], f"{where}: output vs what the last layer returned", hint,
                     atol=0, rtol=0)


def _check_awd_training(AWDLSTM) -> None:  # noqa: N803
    # embedding dropout alone: layer 0 reads whole words of embed.weight, dropped per type
    model, where, ids, out, seen = _tapped_run(AWDLSTM, 11, embed_p=0.5)
    weight = model.embed.weight.detach()
    expect_true(not close(seen[0][0], F.embedding(ids, weight)), f"{where}: the input of "
                "layers[0]", "no embedding dropout in training: embedding_dropout(ids, "
                "self.embed.weight, self.embed_p, self.training, self.embed.padding_idx)",
                expected="the embedding with whole words dropped", got="the plain embedding")
    found = _rows_problem(seen[0][0], ids, weight, 0.5)
    if found:
        locked = _locked_problem(seen[0][0], F.embedding(ids, weight), 0.5) is None
        fail(f"{where}: the input of layers[0] (the embedding after embedding dropout)", *found[:2],
             "layer 0's input has the pattern of locked dropout (one mask per sequence and "
             "feature): embed_p and input_p swapped?" if locked else found[2] + _EX2)
    _undropped_layers(model, where, out, seen,
                      "with only embed_p set nothing else drops: input_p, hidden_p and weight_p "
                      "go to their own dropouts")
    # input dropout alone: one (B, 1, E) mask on the embedding
    model, where, ids, out, seen = _tapped_run(AWDLSTM, 12, input_p=0.5)
    base = F.embedding(ids, model.embed.weight.detach())
    expect_true(not close(seen[0][0], base), f"{where}: the input of layers[0]",
                "no input dropout: apply self.input_drop (LockedDropout(input_p)) to the "
                "embedding output before layer 0", expected="the embedding, locked-dropped",
                got="the plain embedding")
    found = _locked_problem(seen[0][0], base, 0.5)
    if found:
        whole = _rows_problem(seen[0][0], ids, model.embed.weight, 0.5) is None
        fail(f"{where}: the input of layers[0] (the embedding after input dropout)", *found[:2],
             "layer 0's input has whole words dropped: embed_p and input_p swapped?" if whole
             else found[2] + _EX2)
    # hidden dropout alone: between the layers, not after the last
    model, where, ids, out, seen = _tapped_run(AWDLSTM, 13, hidden_p=0.5)
    for i in range(2):
        found = _locked_problem(seen[i + 1][0], seen[i][1], 0.5)
        here = f"{where}: the input of layers[{i + 1}] vs the output of layers[{i}]"
        expect_true(not close(seen[i + 1][0], seen[i][1]), here,
                    f"no locked dropout between layers {i} and {i + 1}: apply hidden_p's "
                    "LockedDropout to each layer's output but the last",
                    expected="locked-dropped", got="the same tensor")
        if found:
            fail(here, *found[:2], found[2] + _EX2)
    last = seen[2][1]
    if not close(out, last):
        expect_true(False, f"{where}: output vs what the last layer returned",
                    "locked dropout after the last layer too (raw already dropped): AWDLSTM "
                    "returns the last layer's output before any dropout; n_layers - 1 hidden "
                    "dropouts, between the layers (LanguageModel applies output_p)"
                    if _locked_problem(out, last, 0.5) is None else
                    "the output is what the last layer returns", expected="the same tensor",
                    got="a different one")
    # weight dropout alone: each layer is nn.LSTM with its dropped weight_hh_l0
    model, where, ids, out, seen = _tapped_run(AWDLSTM, 14, backward=True, weight_p=0.5)
    stack = _stack(model, 3)
    for i in range(3):
        layer = model.get_submodule(f"layers.{i}")
        here = f"{where}: layers[{i}]"
        kept = _weight_grad_zeros(layer, here, 0.5)
        w_hh = layer.lstm.weight_hh_l0.detach()
        want = _run_lstm(stack[i], seen[i][0], None, w_hh * kept / (1 - 0.5))[0]
        if not close(seen[i][1], want):
            expect_close(seen[i][1], want, f"{here} output vs nn.LSTM run with weight_hh_l0 * "
                         "mask / (1 - p), the mask read off the zeros of its gradient",
                         "each layer is WeightDropLSTM(in, out, weight_p), called with its state"
                         + _EX2, atol=1e-5, rtol=1e-4)
    for param in model.parameters():
        param.grad = None


def _check_language_model(AWDLSTM, LanguageModel) -> None:  # noqa: N803
    encoder, where_e = _awd(AWDLSTM, n_layers=2)
    p = 0.4
    where0 = f"LanguageModel({where_e}, output_p={p})"
    lm = build(LanguageModel, where0, encoder, output_p=p,
               hint="__init__(self, encoder, output_p=0.1)")
    embed = encoder.embed.weight
    expect_true(getattr(lm, "encoder", None) is encoder, f"{where0}: self.encoder",
                "keep the encoder you were given as self.encoder", expected="the encoder passed in",
                got=type(getattr(lm, "encoder", None)).__name__)
    decoder = getattr(lm, "decoder", None)
    expect_true(isinstance(decoder, nn.Linear) and decoder.in_features == _E
                and decoder.out_features == _V, f"{where0}: self.decoder",
                "self.decoder = nn.Linear(emb_dim, vocab_size)", expected=f"nn.Linear({_E}, {_V})",
                got=repr(decoder))
    tied = decoder.weight is embed
    if not tied:
        same = decoder.weight.shape == embed.shape and torch.equal(decoder.weight.detach(),
                                                                   embed.detach())
        shared = decoder.weight.data_ptr() == embed.data_ptr()
        hint = ("decoder weight shares the storage but is another Parameter (nn.Parameter("
                "embed.weight)): its gradient and its optimiser state are kept apart; assign the "
                "Parameter itself, self.decoder.weight = encoder.embed.weight" if shared else
                "decoder weight is a copy: not the same storage (nn.Parameter(embed.weight."
                "clone()) copies once and the two drift apart in training); assign the "
                "Parameter itself, self.decoder.weight = encoder.embed.weight" if same else
                "the decoder has a weight of its own: tie it to the embedding, "
                "self.decoder.weight = encoder.embed.weight (Press & Wolf 2017)")
        fail(f"{where0}: self.decoder.weight", "encoder.embed.weight itself (one Parameter)",
             f"{'the same values, ' if same else ''}another tensor", hint)
    bias = decoder.bias
    expect_true(isinstance(bias, nn.Parameter) and tuple(bias.shape) == (_V,),
                f"{where0}: self.decoder.bias", "the decoder keeps a bias of its own "
                "(nn.Linear's default bias=True)", expected=f"a Parameter ({_V},)", got=show(bias))
    ids = _awd_ids()
    hidden0 = _state(2, 3, 87)
    lm.eval()
    try:
        with torch.no_grad():  # the encoder checked above, run on its own
            raw_want, states_want = _seeded(encoder, 9)(ids, hidden0)
            raw_alone = _seeded(encoder, 9)(ids)[0]
        where = f"{where0}.eval()(ids (3, 8), hidden)"
        logits, hidden, raw, dropped = _lm_result(call(_seeded(lm, 9), ids, hidden0, where=where),
                                                  where)
        if not close(raw, raw_want):
            expect_close(raw, raw_want, f"{where}: raw vs the encoder's own output, "
                         "encoder(ids, hidden)",
                         "LanguageModel ignores hidden: pass it on, self.encoder(ids, hidden)"
                         if close(raw, raw_alone) else
                         "raw is the encoder's output, self.encoder(ids, hidden)[0]",
                         atol=1e-5, rtol=1e-4)
        for i, (got, expect) in enumerate(zip(hidden, states_want)):
            for name, a, b in zip("hc", got, expect):
                expect_close(a, b, f"{where}: hidden[{i}] {name}", "return the encoder's hidden",
                             atol=1e-5, rtol=1e-4)
        expect_close(dropped, raw, f"{where}: dropped vs raw", "still dropping in eval: "
                     "self.output_drop is a LockedDropout, the identity in eval",
                     atol=0, rtol=0)
        expect_close(logits, F.linear(raw, embed, bias), f"{where}: logits vs F.linear(raw, "
                     "embed.weight, decoder.bias)", "logits = self.decoder(dropped)",
                     atol=1e-5, rtol=1e-4)
    finally:
        lm.train()
    where = f"{where0}(ids (3, 8)) in training (the encoder's dropouts 0)"
    with torch.enable_grad():
        logits, hidden, raw, dropped = _lm_result(call(_seeded(lm, 10), ids, where=where), where)
    encoder.eval()
    try:
        with torch.no_grad():
            raw_want = _seeded(encoder, 10)(ids)[0]
    finally:
        encoder.train()
    expect_close(raw, raw_want, f"{where}: raw vs the encoder's own output, encoder(ids)",
                 "raw is the encoder's output, before the output dropout", atol=1e-5, rtol=1e-4)
    expect_true(not close(dropped, raw), f"{where}: dropped vs raw",
                "no output dropout: dropped = self.output_drop(raw), a LockedDropout(output_p)",
                expected="raw, locked-dropped", got="raw itself")
    found = _locked_problem(dropped, raw, p)
    if found:
        fail(f"{where}: dropped vs raw (output dropout)", *found[:2],
             found[2] + "; self.output_drop = LockedDropout(output_p)" + _EX2)
    want = F.linear(dropped.detach(), embed.detach(), bias.detach())
    if not close(logits, want):
        expect_close(logits, want, f"{where}: logits vs F.linear(dropped, embed.weight, "
                     "decoder.bias)",
                     "the decoder reads raw: decode dropped, the output after output dropout"
                     if close(logits, F.linear(raw, embed, bias)) else
                     "logits = self.decoder(dropped)", atol=1e-5, rtol=1e-4)


def _lm_result(value: Any, where: str) -> tuple:
    expect_true(isinstance(value, (tuple, list)) and len(value) == 4,
                f"{where}: return value", "return (logits, hidden, raw, dropped)",
                expected="(logits, hidden, raw, dropped)",
                got=f"{type(value).__name__} of {len(value)}" if isinstance(value, (tuple, list))
                else f"{type(value).__name__}: {show(value)}")
    logits, hidden, raw, dropped = value
    for name, t, shape in (("logits", logits, (3, 8, _V)), ("raw", raw, (3, 8, _E)),
                           ("dropped", dropped, (3, 8, _E))):
        expect_true(isinstance(t, torch.Tensor) and tuple(t.shape) == shape, f"{where}: {name}",
                    "logits (B, T, vocab_size), raw and dropped (B, T, emb_dim)",
                    expected=f"a tensor {shape}",
                    got=str(tuple(t.shape)) if isinstance(t, torch.Tensor) else show(t))
    expect_true(isinstance(hidden, (tuple, list)) and len(hidden) == 2
                and all(_tensors(s, 2) for s in hidden), f"{where}: hidden",
                "the encoder's hidden: a list of one (h, c) per layer",
                expected="2 (h, c) pairs", got=show(hidden))
    return logits, hidden, raw, dropped


_AR_TAR_ARGS = {"default": None, "given": (0.5, 3.0)}


def _ar_tar_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.randn(3, 7, 5, generator=gen(90)), torch.randn(3, 7, 5, generator=gen(91)))


def _probe_ar_tar(ar_tar) -> dict[str, Any]:
    """The solution's term on fixed (raw, dropped): with the defaults and with (alpha, beta) =
    (0.5, 3.0); and its parts, AR and TAR alone (alpha or beta 0), also on the wrong tensor
    (AR of raw, TAR of dropped), which the diagnoses combine."""
    raw, dropped = _ar_tar_inputs()
    with torch.no_grad():
        return {"raw": raw, "dropped": dropped, "default": ar_tar(raw, dropped),
                "given": ar_tar(raw, dropped, alpha=0.5, beta=3.0),
                "ar": ar_tar(raw, dropped, alpha=1.0, beta=0.0),
                "tar": ar_tar(raw, dropped, alpha=0.0, beta=1.0),
                "ar_of_raw": ar_tar(raw, raw, alpha=1.0, beta=0.0),
                "tar_of_dropped": ar_tar(dropped, dropped, alpha=0.0, beta=1.0)}


def _ar_tar_bugs(stored: dict[str, torch.Tensor]) -> list[Bug]:
    """Wrong terms, each the stored parts (the solution's AR and TAR) with one part wrong."""
    ar, tar = stored["ar"], stored["tar"]
    step = lambda r, dim: r.diff(dim=dim)  # noqa: E731 (differences along one axis)
    return [
        Bug("AR on raw instead of dropped: AR penalises what the decoder reads, dropped; TAR the "
            "raw output", like=lambda raw, d, a, b: a * stored["ar_of_raw"] + b * tar),
        Bug("TAR on dropped instead of raw: TAR (temporal slowness) is on the raw last-layer "
            "output", like=lambda raw, d, a, b: a * ar + b * stored["tar_of_dropped"]),
        Bug("TAR over the batch axis: the difference between consecutive TIME steps, "
            "raw[:, 1:] - raw[:, :-1] (dim 1)",
            like=lambda raw, d, a, b: a * ar + b * step(raw, 0).pow(2).mean()),
        Bug("TAR without the square: mean((raw[:, 1:] - raw[:, :-1]) ** 2)",
            like=lambda raw, d, a, b: a * ar + b * step(raw, 1).mean()),
        Bug("TAR without the square: mean((raw[:, 1:] - raw[:, :-1]) ** 2), not of the absolute "
            "values", like=lambda raw, d, a, b: a * ar + b * step(raw, 1).abs().mean()),
        Bug("AR without the square: mean(dropped ** 2)",
            like=lambda raw, d, a, b: a * d.mean() + b * tar),
        Bug("sums instead of means: AR and TAR are means over every entry",
            like=lambda raw, d, a, b: a * ar * d.numel() + b * tar * step(raw, 1).numel()),
        Bug("alpha and beta swapped: alpha scales AR, beta TAR",
            like=lambda raw, d, a, b: b * ar + a * tar),
    ]


def _ar_tar_case(ar_tar, stored: dict[str, torch.Tensor], raw, dropped, name: str) -> Case:
    given = _AR_TAR_ARGS[name]
    kwargs = {} if given is None else {"alpha": given[0], "beta": given[1]}
    a, b = (2.0, 1.0) if given is None else given
    extra = "" if given is None else f", alpha={a}, beta={b}"
    wrapped = lambda raw, d, *_, **kw: ar_tar(raw, d, **kw)  # noqa: E731
    return Case(f"ar_tar(raw (3, 7, 5), dropped (3, 7, 5){extra})", wrapped,
                (raw, dropped, a, b), kwargs, keeps={"raw": raw, "dropped": dropped},
                call_hint="ar_tar(raw, dropped, alpha=2.0, beta=1.0)",
                out=Out(dtype=FLOATS, shape=(), finite=True,
                        hint="return the loss term as a 0-d tensor",
                        shape_hint="a scalar: means over every entry"),
                want=stored[name], atol=1e-5, rtol=1e-4, what="vs the solution's",
                bugs=_ar_tar_bugs(stored),
                hint="alpha * mean(dropped ** 2) + beta * mean((raw[:, 1:] - raw[:, :-1]) ** 2)",
                holds=[Holds("the result", lambda out, *_: out.requires_grad,
                             "keep the loss term in the autograd graph (no .item(), no "
                             ".detach()): it is added to the training loss",
                             expected="a tensor with grad_fn", got="no autograd history")])


def _check_ar_tar(ar_tar) -> None:
    stored = expected.case("ulmfit", "ar_tar")
    with torch.enable_grad():
        raw = stored["raw"].requires_grad_()
        dropped = stored["dropped"].requires_grad_()
        run(*[_ar_tar_case(ar_tar, stored, raw, dropped, name) for name in _AR_TAR_ARGS])


@one_thread()
def check_language_model(AWDLSTM, LanguageModel, ar_tar) -> None:  # noqa: N803
    """AWDLSTM vs nn.LSTM layers on its weights, each dropout in its place; the tied decoder
    reading the output-dropped encoder output; AR on dropped, TAR on raw over time."""
    _check_awd_eval(AWDLSTM)
    _check_awd_training(AWDLSTM)
    _check_language_model(AWDLSTM, LanguageModel)
    _check_ar_tar(ar_tar)


PROBES = {
    "batchify": Probe(("batchify",), _probe_batchify),
    "windows": Probe(("lm_windows",), _probe_windows),
    "awd": Probe(("AWDLSTM",), _probe_awd),
    "ar_tar": Probe(("ar_tar",), _probe_ar_tar),
}
