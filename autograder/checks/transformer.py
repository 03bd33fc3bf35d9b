"""Visible checks for Chapter 3, "The Transformer, built and proven against PyTorch".

One check per exercise. Each takes the learner's function(s) or class, runs small
seeded cases, compares the result with PyTorch's own implementation given identical
weights (or, where PyTorch has none, with values `course release` computed from the
chapter's solution and stored in autograder/expected/transformer.safetensors), runs
`torch.autograd.gradcheck` in float64 and tests properties, and raises `AssertionError`
naming the function, what was expected, what was got, and the likely bug. A passing
check returns None. The checks hold no implementation of an exercise: the diagnoses
compare the learner's output with known WRONG answers (each written as the wrong thing,
or as a relation to PyTorch's or the stored value).

    check_attention(scaled_dot_product_attention)   vs F.scaled_dot_product_attention
    check_heads(split_heads, merge_heads)           vs stored values
    check_multi_head_attention(MultiHeadAttention)  vs nn.MultiheadAttention
    check_sinusoidal_positions(sinusoidal_positions)  vs stored values
    check_encoder_layer(EncoderLayer)               vs nn.TransformerEncoderLayer
    check_causal_lm(causal_mask, CausalTransformerLM)  vs nn.Transformer's mask, stored logits
    check_schedules(linear_warmup_decay, inverse_sqrt_schedule)  vs stored values

While the learner's code runs, the library implementation the exercise asks for raises
(F.scaled_dot_product_attention in attention, nn.MultiheadAttention in
MultiHeadAttention, nn.TransformerEncoderLayer / nn.TransformerEncoder in the layer and
the LM, the torch.optim.lr_scheduler schedulers in the schedules), also when it was
imported under another name into the learner's namespace: calling it fails the check
with "your code calls ...".

Masks follow F.scaled_dot_product_attention: True = may attend. nn.MultiheadAttention
and nn.TransformerEncoderLayer read a boolean mask the other way (True = blocked), so
the references are given `~mask`. The checks run in the learner's kernel: they import
only torch, use their own seeded generators, and leave the global random state as they
found it.

Tolerances: float32 outputs vs PyTorch's within atol 1e-5 + rtol 1e-4 (1e-4 + 1e-3 for
attention scores of size ~100), positional tables within 1e-4 of the stored table,
float64 gradients vs PyTorch's within 1e-8 + rtol 1e-6, plus torch.autograd.gradcheck.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import expected
from ..expected import Probe
from ._common import (
    Shortcut,
    Verdict,
    build,
    call,
    close,
    expect_close,
    expect_dtype,
    expect_equal,
    expect_finite,
    expect_shape,
    expect_tensor,
    expect_true,
    fail,
    forbid,
    gen,
    one_thread,
    show,
    which,
)

__all__ = [
    "check_attention",
    "check_heads",
    "check_multi_head_attention",
    "check_sinusoidal_positions",
    "check_encoder_layer",
    "check_causal_lm",
    "check_schedules",
]

# float32 results vs PyTorch's float32 results; float64 gradients vs PyTorch's float64 ones
ATOL, RTOL = 1e-5, 1e-4
GRAD_ATOL, GRAD_RTOL = 1e-8, 1e-6


def _stored(probe: str) -> dict[str, torch.Tensor]:
    """The values `course release` computed from the solution for one probe (see PROBES)."""
    return expected.case("transformer", probe)


def _reference(cls, *args, **kwargs):
    """A PyTorch module built without touching the global RNG (its weights are copied in)."""
    with torch.random.fork_rng(devices=[]):
        return cls(*args, **kwargs)


def _shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape))


def _mask_text(mask: torch.Tensor) -> str:
    return str(mask.int().tolist())


def _grad_or_zeros(grad, like: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(like) if grad is None else grad.detach()


def _gradcheck(fn, inputs, where: str, hint: str) -> None:
    """torch.autograd.gradcheck (float64): the analytic Jacobian equals the numerical one."""
    ok = call(torch.autograd.gradcheck, fn, inputs, where=f"{where}: torch.autograd.gradcheck",
              hint=hint, raise_exception=False)
    expect_true(bool(ok), f"{where}: torch.autograd.gradcheck", hint,
                expected="autograd gradients equal to finite differences",
                got="they differ")


# ------------------------------------------------------------------ shortcut guards

def _label(owner: Any, name: str) -> str:
    return f"{getattr(owner, '__name__', owner)}.{name}"


def _namespaces(learner: Sequence[Any]) -> list[dict]:
    """The global namespaces of the learner's functions and of their classes' methods (the
    notebook's, usually), where a library function may sit under a name of its own."""
    found: dict[int, dict] = {}

    def add(fn: Any) -> None:
        fn = getattr(fn, "__func__", fn)  # staticmethod, classmethod
        space = getattr(fn, "__globals__", None)
        if isinstance(space, dict) and not str(space.get("__name__", "")).startswith("torch"):
            found.setdefault(id(space), space)

    for obj in learner:
        if isinstance(obj, type):
            for cls in obj.__mro__:
                if cls.__module__.startswith("torch") or cls is object:
                    continue
                for member in vars(cls).values():
                    add(getattr(member, "fget", member))
        else:
            add(obj)
    return list(found.values())


@contextmanager
def _rebound(originals: dict[int, tuple[Any, str]], learner: Sequence[Any], where: str,
             asks: str) -> Iterator[None]:
    """Inside: every name of the learner's namespaces bound to one of `originals` (`from
    torch.nn.functional import scaled_dot_product_attention as sdpa`) raises when called."""
    def refusal(label: str, alias: str):
        def raiser(*args, **kwargs):
            raise Shortcut(
                f"{where}: your code calls {label} (as `{alias}`), the implementation this "
                f"exercise asks for\n  likely bug: the exercise asks you to {asks} yourself; the "
                "check compares your code with that library, so calling it proves nothing")
        return raiser

    patched = []
    for space in _namespaces(learner):
        for alias, value in list(space.items()):
            hit = originals.get(id(value))
            if hit is not None and hit[0] is value:
                patched.append((space, alias, value))
                space[alias] = refusal(hit[1], alias)
    try:
        yield
    finally:
        for space, alias, value in reversed(patched):
            space[alias] = value


class _Guard:
    """`with guard(where):` around each call of the learner's code: inside, the library
    implementations `targets` ((owner, attribute) pairs) raise when called, under their own
    names (`_common.forbid`) or under a name the learner imported them as; the check then
    fails with "<where>: your code calls X ..." (`asks`: what the exercise asks for)."""

    def __init__(self, targets: Sequence[tuple[Any, str]], asks: str, *learner: Any):
        self.targets, self.asks, self.learner = list(targets), asks, learner
        self.originals: dict[int, tuple[Any, str]] = {}
        for owner, name in self.targets:
            original = (owner.__dict__.get(name) if isinstance(owner, type)
                        else getattr(owner, name, None))
            if original is not None:
                self.originals.setdefault(id(original), (original, _label(owner, name)))

    @contextmanager
    def __call__(self, where: str) -> Iterator[None]:
        for obj in self.learner:
            hit = self.originals.get(id(obj))
            if hit is not None and hit[0] is obj:
                raise Verdict(f"{where}: this is {hit[1]} itself, the implementation this "
                              f"exercise asks for\n  likely bug: the exercise asks you to "
                              f"{self.asks} yourself: pass your own function")
        with ExitStack() as stack:
            stack.enter_context(forbid(self.targets, where, self.asks))
            stack.enter_context(_rebound(self.originals, self.learner, where, self.asks))
            yield

    def call(self, fn: Callable[..., Any], *args: Any, where: str, hint: str | None = None,
             **kwargs: Any) -> Any:
        """`_common.call` inside the guard."""
        with self(where):
            return call(fn, *args, where=where, hint=hint, **kwargs)


# --------------------------------------------------------------------- 1. attention

def _library_weights(q, k, mask=None, scale=None):
    """The weights F.scaled_dot_product_attention uses (float64): the same call with the
    identity matrix as the values returns the weights themselves."""
    q, k = q.detach().double(), k.detach().double()
    Tk = k.shape[-2]
    lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    eye = torch.eye(Tk, dtype=torch.float64).expand(*lead, Tk, Tk)
    return F.scaled_dot_product_attention(q, k, eye, attn_mask=mask, scale=scale)


def _library_attention(q, k, v, mask=None, scale=None):
    """F.scaled_dot_product_attention in float64, and its weights."""
    q, k, v = (t.detach().double() for t in (q, k, v))
    return (F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale),
            _library_weights(q, k, mask, scale))


def _scores_zeroed_where_masked(q, k, v, mask):
    """WRONG on purpose: masked scores set to 0 (an ordinary score) before the softmax."""
    q, k, v = (t.detach().double() for t in (q, k, v))
    raw = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(k.shape[-1])
    w = torch.softmax(torch.where(mask, raw, torch.zeros_like(raw)), dim=-1)
    return w @ v, w


def _attention_alternatives(q, k, v, mask):
    """(function of no arguments giving a WRONG (out, weights), hint): the wrong attentions
    learners write, each as PyTorch's attention with other arguments or as a relation to
    its result."""
    d_k, d_v, Tk = q.shape[-1], v.shape[-1], k.shape[-2]
    v64 = v.detach().double()

    def library(m=mask, scale=None):
        return lambda: _library_attention(q, k, v, m, scale)

    def over_queries():  # softmax over dim=-2: the keys' attention over the queries, transposed
        w = _library_weights(k, q, None if mask is None else mask.transpose(-2, -1))
        w = w.transpose(-2, -1)
        return w @ v64, w

    alts = [
        (library(scale=1.0), f"the scores are not scaled: divide q @ k^T by sqrt(d_k) (here "
         f"sqrt({d_k})), or the softmax saturates as d_k grows"),
        (library(scale=1 / d_k), f"the scores were divided by d_k = {d_k}; divide by sqrt(d_k) "
         "(math.sqrt(q.shape[-1]))"),
        (over_queries, "the softmax ran over the queries (dim=-2): each query's weights are a "
         "distribution over the KEYS, torch.softmax(scores, dim=-1)"),
        (library(scale=1 / math.sqrt(d_v)), f"the scores were scaled by 1/sqrt(d_v) = "
         f"1/sqrt({d_v}) (v's size); the scale is 1/sqrt(d_k), the size of q and k"),
    ]
    if mask is not None:
        def after_softmax():
            w = _library_weights(q, k) * mask
            return w @ v64, w

        def uniform_rows():
            w = torch.where(mask.any(-1, keepdim=True), _library_weights(q, k, mask),
                            torch.full((), 1 / Tk, dtype=torch.float64))
            return w @ v64, w

        alts += [
            (library(m=None), "the mask was ignored: masked keys must get weight 0"),
            (library(m=~mask), "the mask is inverted: True means MAY attend (as in "
             "F.scaled_dot_product_attention), so fill the scores where the mask is False: "
             "scores.masked_fill(~mask, ...)"),
            (after_softmax, "the mask was applied after the softmax (weights zeroed, not "
             "renormalised), so each row no longer sums to 1: fill the masked SCORES with a "
             "very negative number before the softmax"),
            (lambda: _scores_zeroed_where_masked(q, k, v, mask), "masked scores were set to 0, "
             "an ordinary score, so masked keys still get weight: fill them with a very "
             "negative number, torch.finfo(scores.dtype).min, before the softmax"),
            (uniform_rows, "a query that may attend to no key got uniform weights "
             "(the softmax of equal fill values): set that row's weights (and so its output) "
             "to 0, e.g. weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)"),
        ]
    return alts


def _attention_hint(out, w, q, k, v, mask, default: str) -> str:
    for alternative, hint in _attention_alternatives(q, k, v, mask):
        alt_out, alt_w = alternative()
        if close(w, alt_w) or close(out, alt_out):
            return hint
    return default


_ATTENTION_ASKS = "compute attention, softmax(q k^T / sqrt(d_k)) v,"


def _attention_guard(fn) -> _Guard:
    return _Guard([(F, "scaled_dot_product_attention"),
                   (torch._C._nn, "scaled_dot_product_attention")], _ATTENTION_ASKS, fn)


_NAN_HINT = ("NaN/inf in the attention: use torch.softmax (stable), fill masked scores with a "
             "finite very negative number and give a query with no key weights 0")
_OVERFLOW_HINT = ("exp overflowed: e^s is inf for s > 88 in float32, and inf / inf = NaN. Use "
                  "torch.softmax(scores, dim=-1), which subtracts each row's max first, not "
                  "exp(s) / exp(s).sum()")
_EMPTY_HINT = ("filling masked scores with -inf makes a row with no allowed key softmax(-inf, "
               "..., -inf) = 0/0 = NaN: fill with torch.finfo(scores.dtype).min (finite) and set "
               "that row's weights to 0 (weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0))")
_ATTN_CALL_HINT = ("scores = q @ k.transpose(-2, -1) has shape (..., Tq, Tk) (transpose the last "
                   "two dims, not .T); out = weights @ v has shape (..., Tq, d_v)")


def _check_attention_case(fn, guard, q, k, v, mask, label, nan_hint, atol=ATOL, rtol=RTOL):
    name = "scaled_dot_product_attention"
    where = f"{name}(q {_shape(q)}, k {_shape(k)}, v {_shape(v)}, {label})"
    inputs = {"q": q, "k": k, "v": v} | ({} if mask is None else {"mask": mask})
    kept = {n: t.clone() for n, t in inputs.items()}
    args = (q, k, v) if mask is None else (q, k, v, mask)
    with torch.no_grad():
        res = guard.call(fn, *args, where=where, hint=_ATTN_CALL_HINT)
    expect_true(isinstance(res, (tuple, list)) and len(res) == 2, f"{where}: return value",
                "return two tensors: `return out, weights`", expected="a tuple (out, weights)",
                got=f"{type(res).__name__}: {show(res)}")
    out, w = res
    *lead, Tq, _ = q.shape
    Tk, d_v = v.shape[-2:]
    expect_shape(w, (*lead, Tq, Tk), f"{where}: weights",
                 "one weight per (query, key): (..., Tq, Tk), the shape of q @ k.transpose(-2, -1)")
    expect_shape(out, (*lead, Tq, d_v), f"{where}: out",
                 "one output per query: (..., Tq, d_v), weights @ v")
    for n, t in inputs.items():
        expect_equal(t, kept[n], f"{name}: {n} after the call",
                     "an input was modified in place (q /= ..., masked_fill_, ...): compute new "
                     "tensors instead")
    expect_dtype(out, q.dtype, f"{where}: out", "keep the dtype of q, k and v")
    expect_finite(w, f"{where}: weights", nan_hint)
    expect_finite(out, f"{where}: out", nan_hint)
    want_w = _library_weights(q, k, mask)
    want_out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    default = ("weights = softmax(q @ k^T / sqrt(d_k)) over the keys (dim=-1), masked scores "
               "filled before the softmax; out = weights @ v")
    for got, want, what in (
            (w, want_w, "weights vs F.scaled_dot_product_attention's in float64 (its output "
             "for the identity as values)"),
            (out, want_out, "out vs torch.nn.functional.scaled_dot_product_attention")):
        if not close(got, want, atol, rtol):
            hint = _attention_hint(out, w, q, k, v, mask, default)
            expect_close(got, want, f"{where}: {what}", hint, atol=atol, rtol=rtol)


def _check_attention_grads(fn, guard) -> None:
    name = "scaled_dot_product_attention"
    g = gen(31)
    shapes = {"q": (1, 2, 3, 4), "k": (1, 2, 4, 4), "v": (1, 2, 4, 3)}
    q, k, v = (torch.randn(*s, generator=g, dtype=torch.float64).requires_grad_()
               for s in shapes.values())
    mask = torch.tensor([[0, 0, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    where = (f"{name}: gradients in float64 (q {shapes['q']}, k {shapes['k']}, v {shapes['v']}, "
             f"mask {_mask_text(mask)}, query 0 may attend to no key)")
    hint = ("keep the computation on the autograd graph (no .detach(), .item(), .numpy() or "
            "torch.tensor(...) of intermediate results), and make the row with no allowed key "
            "give finite gradients (a -inf fill gives NaN gradients even after nan_to_num)")
    res = guard.call(fn, q, k, v, mask, where=where, hint=hint)
    expect_true(isinstance(res, (tuple, list)) and len(res) == 2, f"{where}: return value",
                "return (out, weights)", expected="a tuple (out, weights)", got=show(res))
    out = expect_tensor(res[0], f"{where}: out")
    expect_true(out.requires_grad, f"{where}: out.requires_grad", hint, expected=True, got=False)
    up = torch.randn(out.shape, generator=g, dtype=torch.float64)
    grads = call(torch.autograd.grad, (out * up).sum(), (q, k, v), where=f"{where}: backward",
                 hint=hint, allow_unused=True)
    refs = [t.detach().clone().requires_grad_() for t in (q, k, v)]
    want = F.scaled_dot_product_attention(*refs, attn_mask=mask)
    want_grads = torch.autograd.grad((want * up).sum(), refs)
    for label, got, ref, t in zip("qkv", grads, want_grads, (q, k, v)):
        here = f"{where}: gradient wrt {label} vs F.scaled_dot_product_attention's"
        got = _grad_or_zeros(got, t)
        expect_finite(got, here, _EMPTY_HINT)
        expect_close(got, ref, here, hint, atol=GRAD_ATOL, rtol=GRAD_RTOL)
    with guard(where):
        _gradcheck(lambda a, b, c: fn(a, b, c, mask), (q, k, v), where, hint)


@one_thread()
def check_attention(scaled_dot_product_attention) -> None:
    """softmax(q k^T / sqrt(d_k)) v == F.scaled_dot_product_attention; masks; stable; gradients."""
    fn = scaled_dot_product_attention
    g = gen(30)
    q = torch.randn(2, 3, 4, 8, generator=g)
    k = torch.randn(2, 3, 6, 8, generator=g)
    v = torch.randn(2, 3, 6, 5, generator=g)
    pattern = torch.tensor([[1, 0, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 0, 1],
                            [0, 1, 0, 0, 0, 0]], dtype=torch.bool)
    empty = pattern.clone()
    empty[0] = False
    pad = torch.ones(2, 1, 1, 6, dtype=torch.bool)
    pad[1, ..., 4:] = False
    cases = [
        (q, k, v, None, "mask=None", _NAN_HINT, ATOL, RTOL),
        # scores of size ~100: e^s overflows float32; float32 rounding of s is ~1e-5 here
        (q * 10, k * 10, v, None, "mask=None, q and k scaled by 10 (scores of size ~100)",
         _OVERFLOW_HINT, 1e-4, 1e-3),
        (q, k, v, pattern, f"mask (4, 6) {_mask_text(pattern)}", _NAN_HINT, ATOL, RTOL),
        (q, k, v, empty, f"mask (4, 6) {_mask_text(empty)}: query 0 may attend to no key",
         _EMPTY_HINT, ATOL, RTOL),
        (q, k, v, pad, "padding mask (2, 1, 1, 6): keys 4, 5 of batch 1 masked", _NAN_HINT,
         ATOL, RTOL),
    ]
    guard = _attention_guard(fn)
    for case in cases:
        _check_attention_case(fn, guard, *case)
    _check_attention_grads(fn, guard)


# ------------------------------------------------------------------------- 2. heads

def _explain_split(got, x, H):
    B, T, C = tuple(x.shape)
    D = C // H
    alternatives = [
        (x.reshape(B, H, T, D), "split_heads used x.view(B, n_heads, T, D): the right shape, but "
         "it cuts the flat data into chunks that mix positions; split the features, "
         "x.view(B, T, n_heads, D), then move the head axis before time with .transpose(1, 2)"),
        (x.reshape(B, T, D, H).permute(0, 3, 1, 2), "the features were dealt to the heads round "
         "robin (view(B, T, D, n_heads)): head h owns the contiguous block h*D .. (h+1)*D - 1, "
         "view(B, T, n_heads, D)"),
    ]
    return next((hint for alt, hint in alternatives if torch.equal(got, alt)),
                "x.view(B, T, n_heads, D).transpose(1, 2): head h gets features h*D .. (h+1)*D - 1 "
                "of every position")


def _explain_merge(got, heads):
    B, H, T, D = heads.shape
    alternatives = [
        (heads.reshape(B, T, H * D), "the heads were reshaped to (B, T, H * D) without moving the "
         "head axis back: transpose(1, 2) to (B, T, H, D) first, then reshape(B, T, H * D)"),
        (heads.permute(0, 2, 3, 1).reshape(B, T, H * D), "the features came out interleaved "
         "(head-minor order): transpose(1, 2) gives (B, T, H, D), whose last two axes flatten "
         "to [head 0 | head 1 | ...]"),
    ]
    return next((hint for alt, hint in alternatives if torch.equal(got, alt)),
                "x.transpose(1, 2).reshape(B, T, H * D) (reshape, not view: the transpose is "
                "not contiguous)")


def _first_mismatch(got, want) -> tuple[int, ...]:
    return tuple((got != want).nonzero()[0].tolist())


_HEADS_CASES = ((2, 3, 12, 3), (2, 4, 16, 4), (1, 5, 6, 1), (1, 2, 6, 6))  # (B, T, C, H)


def _heads_probe(B, T, C, H) -> Probe:  # noqa: N803
    """split_heads of x[b, t, c] = its flat index (every entry shows where it came from)."""
    def make(split_heads):
        x = torch.arange(B * T * C, dtype=torch.float32).reshape(B, T, C)
        return {"x": x, "heads": split_heads(x, H)}
    return Probe(("split_heads",), make)


@one_thread()
def check_heads(split_heads, merge_heads) -> None:
    """split_heads: (B, T, C) -> (B, H, T, C/H) by feature blocks; merge_heads its inverse."""
    view_hint = ("view needs a contiguous tensor, and after transpose(1, 2) it is not: use "
                 ".reshape(B, T, H * D) (or .contiguous().view(...))")
    for B, T, C, H in _HEADS_CASES:
        D = C // H
        stored = _stored(f"heads/{B}x{T}x{C}/{H}")
        x, want = stored["x"], stored["heads"]
        where = f"split_heads(x (B={B}, T={T}, C={C}), n_heads={H}) with x[b, t, c] = its flat index"
        got = call(split_heads, x.clone(), H, where=where)
        expect_shape(got, (B, H, T, D), where,
                     "(B, n_heads, T, C // n_heads): split the features into heads, then put the "
                     "head axis before the time axis, transpose(1, 2)")
        if not torch.equal(got.detach().to(want.dtype), want):
            b, h, t, _ = _first_mismatch(got.detach().to(want.dtype), want)
            fail(f"{where}: [b={b}, head={h}, t={t}] (position {t}, features "
                 f"{h * D}..{(h + 1) * D - 1})", want[b, h, t], got[b, h, t],
                 _explain_split(got.detach().to(want.dtype), x, H))

        # attention returns contiguous (B, H, T, D) heads; split_heads returns a transposed view
        for heads, label in ((want.clone(), "contiguous, as attention returns it"),
                             (want.transpose(1, 2).contiguous().transpose(1, 2),
                              "a transposed view")):
            where = f"merge_heads(x (B={B}, H={H}, T={T}, D={D}), {label})"
            got = call(merge_heads, heads, where=where, hint=view_hint)
            expect_shape(got, (B, T, C), where, "(B, T, H * D): the inverse of split_heads")
            if not torch.equal(got.detach().to(x.dtype), x):
                b, t, c = _first_mismatch(got.detach().to(x.dtype), x)
                fail(f"{where}: [b={b}, t={t}, c={c}] (head {c // D}, feature {c % D})",
                     x[b, t, c], got[b, t, c], _explain_merge(got.detach().to(x.dtype), heads))
        where = f"merge_heads(split_heads(x (B={B}, T={T}, C={C}), {H}))"
        back = call(merge_heads, call(split_heads, x, H, where=where), where=where, hint=view_hint)
        expect_equal(back, x, where, "merge_heads must undo split_heads exactly")


# ------------------------------------------------------------------ 3. multi-head attention

_PROJ = ("q_proj", "k_proj", "v_proj", "out_proj")


def _mha_linears(model, where: str, d_model: int) -> dict[str, nn.Linear]:
    lins = {}
    for name in _PROJ:
        lin = getattr(model, name, None)
        expect_true(isinstance(lin, nn.Linear) and lin.in_features == d_model
                    and lin.out_features == d_model and lin.bias is not None,
                    f"{where}: self.{name}", f"four separate nn.Linear(d_model, d_model) layers "
                    f"named {', '.join(_PROJ)} (the names the checks and the next chapters use)",
                    expected=f"Linear(in_features={d_model}, out_features={d_model}, bias=True)",
                    got=repr(lin))
        lins[name] = lin
    expect_true(len({id(lin) for lin in lins.values()}) == 4, f"{where}: projections",
                "q_proj, k_proj, v_proj and out_proj are four different layers",
                expected="4 distinct nn.Linear", got="some are the same layer")
    return lins


def _fill_linear(lin: nn.Linear, g: torch.Generator, scale: float, bias: float = 0.1) -> None:
    with torch.no_grad():
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) * scale)
        if lin.bias is not None:
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=g) * bias)


def _mha_pairs(attn, ref, prefix: str = ""):
    """(learner's name, learner's parameter, PyTorch's parameter, slice of it) for an MHA."""
    C = ref.embed_dim
    pairs = []
    for i, name in enumerate(_PROJ[:3]):
        lin, part = getattr(attn, name), slice(i * C, (i + 1) * C)
        pairs += [(f"{prefix}{name}.weight", lin.weight, ref.in_proj_weight, part),
                  (f"{prefix}{name}.bias", lin.bias, ref.in_proj_bias, part)]
    pairs += [(f"{prefix}out_proj.weight", attn.out_proj.weight, ref.out_proj.weight, None),
              (f"{prefix}out_proj.bias", attn.out_proj.bias, ref.out_proj.bias, None)]
    return pairs


def _encoder_pairs(layer, ref):
    pairs = _mha_pairs(layer.self_attn, ref.self_attn, "self_attn.")
    for name in ("linear1", "linear2", "norm1", "norm2"):
        for p in ["weight", "bias"]:
            pairs.append((f"{name}.{p}", getattr(getattr(layer, name), p),
                          getattr(getattr(ref, name), p), None))
    return pairs


def _copy_weights(pairs) -> None:
    with torch.no_grad():
        for _, mine, theirs, part in pairs:
            (theirs if part is None else theirs[part]).copy_(mine)


def _blocked(mask, B, H, T):  # noqa: N803
    """A True = may attend mask broadcastable to (B, H, T, T) as torch.nn reads one: True =
    blocked, (B * H, T, T)."""
    return None if mask is None else ~mask.expand(B, H, T, T).reshape(B * H, T, T)


class _Attr:
    """Attribute access to a dict of modules (q_proj, ...), for _mha_pairs."""

    def __init__(self, modules):
        self.__dict__.update(modules)


def _torch_mha(lins, C, H):
    ref = _reference(nn.MultiheadAttention, C, H, batch_first=True)
    pairs = _mha_pairs(_Attr(lins), ref)
    _copy_weights(pairs)
    return ref.eval()


def _library_mha(lins, x, mask, H, *, swap=None, q_scale=1.0, out_identity=False):
    """nn.MultiheadAttention with weights copied from `lins` (q_proj, ..., out_proj), changed
    as a known bug changes them (`swap` two projections, `q_scale` the queries, the identity
    for out_proj), on self-attention of x; a query that may attend to no key gets output
    out_proj(0), its bias, as the exercise defines it (PyTorch gives NaN)."""
    C = x.shape[-1]
    lins = dict(lins)
    if swap is not None:
        a, b = swap
        lins[a], lins[b] = lins[b], lins[a]
    ref = _torch_mha(lins, C, H)
    with torch.no_grad():
        ref.in_proj_weight[:C] *= q_scale
        ref.in_proj_bias[:C] *= q_scale
        if out_identity:
            ref.out_proj.weight.copy_(torch.eye(C))
            ref.out_proj.bias.zero_()
        B, T, _ = x.shape
        y = ref(x, x, x, attn_mask=_blocked(mask, B, H, T), need_weights=False)[0]
        if mask is not None:
            none = ~mask.expand(B, H, T, T).any(-1).any(1)  # (B, T): no key in any head
            y = torch.where(none[..., None], ref.out_proj.bias, y)
    return y


def _heads_cut_by_view(lins, x, H, mask):
    """WRONG on purpose: q, k, v cut into heads with .view(B, H, T, D), which slices the
    sequence, attended with PyTorch's attention and glued back with reshape(B, T, C)."""
    B, T, C = tuple(x.shape)
    with torch.no_grad():
        q, k, v = (lins[n](x).reshape(B, H, T, C // H) for n in _PROJ[:3])
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return lins["out_proj"](out.reshape(B, T, C))


def _mha_alternatives(lins, x, H, mask):
    """(function of no arguments giving a WRONG output, hint), each nn.MultiheadAttention
    with the weights or the mask a known bug uses, or a wrong version written out."""
    C = x.shape[-1]
    D = C // H

    def lib(**kw):
        return lambda: _library_mha(lins, x, kw.pop("mask", mask), kw.pop("heads", H), **kw)

    alts = [
        (lib(out_identity=True), "self.out_proj is not applied: y = out_proj(merge_heads(heads))"),
        (lambda: _heads_cut_by_view(lins, x, H, mask), "the heads were cut with .view(B, "
         "n_heads, T, D), which splits the SEQUENCE, not the features: use split_heads "
         "(view(B, T, n_heads, D).transpose(1, 2)) and merge_heads"),
        (lib(swap=("k_proj", "v_proj")), "keys and values are swapped: k = k_proj(x) is "
         "compared with the queries, v = v_proj(x) is averaged"),
        (lib(swap=("q_proj", "k_proj")), "queries and keys are swapped: q = q_proj(x), "
         "k = k_proj(x)"),
        # q scaled by c scales the scores by c: 1/sqrt(D) * sqrt(D)/sqrt(C) = 1/sqrt(C)
        (lib(q_scale=math.sqrt(D / C)), f"the scores were scaled by 1/sqrt(d_model) = "
         f"1/sqrt({C}); each head has d_k = d_model / n_heads = {D} features: scale by "
         f"1/sqrt({D}) (scaled_dot_product_attention on the split heads does it)"),
        (lib(q_scale=math.sqrt(D) / C), f"the scores were scaled by 1/d_model; scale each "
         f"head's scores by 1/sqrt(d_k) = 1/sqrt({D})"),
        (lib(heads=1), "n_heads was ignored: this is ONE head over all d_model features; "
         "split q, k, v into heads with split_heads(..., self.n_heads)"),
    ]
    if mask is not None:
        alts += [(lib(mask=None), "the mask was not passed on to the attention: "
                  "scaled_dot_product_attention(q, k, v, mask)"),
                 (lib(mask=~mask), "the mask is inverted: True = may attend")]
    return alts


_MHA_ASKS = "write multi-head attention (projections, heads, attention, out_proj)"


def _mha_guard(*learner) -> _Guard:
    return _Guard([(nn.MultiheadAttention, "forward"), (F, "multi_head_attention_forward")],
                  _MHA_ASKS, *learner)


def _grads_vs_torch(model, ref, ref_forward, pairs, mask, C, g, where, hint, guard):
    """In float64: the gradients of the learner's module (input and every parameter) equal
    those of the torch.nn reference with the same weights, and gradcheck passes.
    ref_forward(ref, x, mask) runs the reference; pairs(model, ref) lists matching parameters."""
    m64, r64 = copy.deepcopy(model).double(), copy.deepcopy(ref).double()
    x64 = torch.randn(1, mask.shape[0], C, generator=g, dtype=torch.float64)
    xa, xb = x64.clone().requires_grad_(), x64.clone().requires_grad_()
    ya = guard.call(m64, xa, mask, where=where, hint=hint)
    expect_tensor(ya, where)
    expect_true(ya.requires_grad, f"{where}: y.requires_grad", hint, expected=True, got=False)
    yb = ref_forward(r64, xb, mask)
    _compare_grads(where, pairs(m64, r64), xa, xb, ya, yb, g, hint)
    with guard(where):
        _gradcheck(lambda z: m64(z, mask), (x64.clone().requires_grad_(),), where, hint)


def _compare_grads(where, pairs, x_learner, x_torch, y_learner, y_torch, g, hint):
    """Gradients of the same random projection of the outputs, learner vs PyTorch (float64).

    `pairs` as from _mha_pairs / _encoder_pairs: (name, learner's parameter, PyTorch's
    parameter, slice of it)."""
    up = torch.randn(y_torch.shape, generator=g, dtype=torch.float64)
    mine = [p for _, p, _, _ in pairs]
    got = call(torch.autograd.grad, (y_learner * up).sum(), [x_learner, *mine],
               where=f"{where}: backward", hint=hint, allow_unused=True)
    theirs = list({id(t): t for _, _, t, _ in pairs}.values())
    want = torch.autograd.grad((y_torch * up).sum(), [x_torch, *theirs])
    lookup = dict(zip(map(id, theirs), want[1:]))
    expect_close(_grad_or_zeros(got[0], x_learner), want[0],
                 f"{where}: gradient wrt x vs PyTorch's", hint, atol=GRAD_ATOL, rtol=GRAD_RTOL)
    for (name, p, t, part), grad in zip(pairs, got[1:]):
        ref = lookup[id(t)]
        ref = ref if part is None else ref[part]
        expect_close(_grad_or_zeros(grad, p), ref, f"{where}: gradient wrt {name} vs PyTorch's",
                     hint, atol=GRAD_ATOL, rtol=GRAD_RTOL)


@one_thread()
def check_multi_head_attention(MultiHeadAttention) -> None:  # noqa: N803 (the learner's class)
    """Self-attention with q/k/v/out projections == nn.MultiheadAttention with the same weights."""
    name = "MultiHeadAttention"
    C, H, B, T = 12, 3, 2, 5
    where = f"{name}({C}, {H})"
    model = build(MultiHeadAttention, where, C, H)
    lins = _mha_linears(model, where, C)
    expect_true(getattr(model, "n_heads", None) == H, f"{where}: self.n_heads",
                "store the number of heads: self.n_heads = n_heads", expected=H,
                got=getattr(model, "n_heads", "no attribute n_heads"))
    g = gen(40)
    for lin in lins.values():
        _fill_linear(lin, g, 0.5)
    model.eval()
    ref = _torch_mha(lins, C, H)
    guard = _mha_guard(MultiHeadAttention)
    x = torch.randn(B, T, C, generator=g)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    pad = torch.ones(B, T, dtype=torch.bool)
    pad[1, 3:] = False
    cases = [
        (None, "mask=None", {}),
        (causal, "mask=causal (5, 5), lower-triangular", {"attn_mask": ~causal}),
        (pad[:, None, None, :], f"mask=padding (2, 1, 1, 5) {_mask_text(pad)}",
         {"key_padding_mask": ~pad}),
    ]
    default = ("q, k, v = the three projections of x, split into heads; attention per head; "
               "merge the heads; out_proj")
    for mask, label, kw in cases:
        here = f"{where}: forward(x (2, 5, 12), {label})"
        args = (x,) if mask is None else (x, mask)
        with torch.no_grad():
            y = guard.call(model, *args, where=here)
            want, want_w = ref(x, x, x, need_weights=True, average_attn_weights=False, **kw)
        expect_tensor(y, here, "return y alone unless return_weights=True")
        expect_shape(y, (B, T, C), here, "self-attention keeps the shape (B, T, d_model)")
        expect_finite(y, here)
        if not close(y, want):
            hint = which(y, _mha_alternatives(lins, x, H, mask), default)
            expect_close(y, want, f"{here} vs nn.MultiheadAttention with the same weights", hint,
                         atol=ATOL, rtol=RTOL)
        here = f"{where}: forward(x (2, 5, 12), {label}, return_weights=True)"
        with torch.no_grad():
            res = guard.call(model, *args, return_weights=True, where=here)
        expect_true(isinstance(res, (tuple, list)) and len(res) == 2, f"{here}: return value",
                    "with return_weights=True return (y, weights)", expected="a tuple (y, weights)",
                    got=f"{type(res).__name__}: {show(res)}")
        expect_close(res[0], y, f"{here}: y vs the y of return_weights=False",
                     "return_weights changes only what is returned", atol=ATOL, rtol=RTOL)
        expect_shape(res[1], (B, H, T, T), f"{here}: weights",
                     "the per-head weights (B, n_heads, T, T) that scaled_dot_product_attention "
                     "returns (not averaged over heads)")
        expect_close(res[1], want_w, f"{here}: weights vs nn.MultiheadAttention's "
                     "(average_attn_weights=False)", default, atol=ATOL, rtol=RTOL)

    perm = torch.tensor([3, 0, 4, 2, 1])
    here = f"{where}: forward(x[:, perm]) with perm = {perm.tolist()}, no mask"
    with torch.no_grad():
        y = guard.call(model, x, where=here)
        y_perm = guard.call(model, x[:, perm], where=here)
    expect_close(y_perm, y[:, perm], f"{here} vs forward(x)[:, perm]", "self-attention without "
                 "positions is permutation-equivariant: permuting the tokens permutes the outputs "
                 "(a token must not be mixed up with its position in the batch)",
                 atol=ATOL, rtol=RTOL)

    # gradients, float64: every parameter and the input, against nn.MultiheadAttention
    _grads_vs_torch(
        model, ref, lambda r, x, mask: r(x, x, x, attn_mask=~mask, need_weights=False)[0],
        _mha_pairs, causal[:3, :3], C, g,
        f"{name}({C}, {H}) in float64: gradients for x (1, 3, {C}), causal mask",
        "keep everything on the autograd graph (no .detach(), .data, .item(), "
        "torch.tensor(...)) and use the parameters of self.q_proj ... self.out_proj", guard)


# ------------------------------------------------------------------------ 4. positions

_POSITIONS_CASES = ((64, 16), (7, 4), (1, 8), (20, 2))


def _positions_probe(n, d) -> Probe:
    return Probe(("sinusoidal_positions",), lambda sinusoidal_positions: {
        "table": sinusoidal_positions(n, d)})


# Wrong tables learners write. Each is the WRONG formula, in float64.

def _pe_pair_index(n, d):
    """Exponent i/d (the pair's index) in place of 2i/d."""
    t = torch.arange(n, dtype=torch.float64)[:, None]
    a = t / 10000.0 ** (torch.arange(d // 2, dtype=torch.float64) / d)
    return torch.stack((a.sin(), a.cos()), dim=-1).reshape(n, d)


def _pe_per_dimension(n, d):
    """Every dimension j its own frequency 10000^(j/d), sin at even j, cos at odd j."""
    j = torch.arange(d, dtype=torch.float64)
    a = torch.arange(n, dtype=torch.float64)[:, None] / 10000.0 ** (j / d)
    return torch.where(j.long() % 2 == 0, a.sin(), a.cos())


def _pe_base_1000(n, d):
    """Base 1000 in place of 10000."""
    t = torch.arange(n, dtype=torch.float64)[:, None]
    a = t / 1000.0 ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    return torch.stack((a.sin(), a.cos()), dim=-1).reshape(n, d)


def _pe_multiplied(n, d):
    """t multiplied by 10000^(2i/d) in place of divided."""
    t = torch.arange(n, dtype=torch.float64)[:, None]
    a = t * 10000.0 ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    return torch.stack((a.sin(), a.cos()), dim=-1).reshape(n, d)


def _pe_alternatives(want):
    """(function of no arguments giving a WRONG table, hint); `want` is the stored table."""
    n, d = want.shape
    pairs = want.double().reshape(n, d // 2, 2)
    return [
        (lambda: pairs.flip(-1).reshape(n, d), "sin and cos are swapped: even dimensions 2i "
         "hold sin, odd dimensions 2i+1 hold cos"),
        (lambda: _pe_pair_index(n, d), "the exponent uses the pair index i instead of 2i: "
         "PE[t, 2i] = sin(t / 10000^(2i/d_model)) (torch.arange(0, d_model, 2) gives the 2i)"),
        (lambda: _pe_per_dimension(n, d), "each dimension j got its own frequency "
         "10000^(j/d_model); a (sin, cos) PAIR 2i, 2i+1 shares one frequency, 10000^(2i/d_model)"),
        (lambda: pairs.transpose(1, 2).reshape(n, d), "the table is [all sin | all cos] "
         "(concatenated halves); sin and cos are interleaved: pe[:, 0::2] = sin, "
         "pe[:, 1::2] = cos"),
        (lambda: _pe_base_1000(n, d), "the base is 10000, not 1000"),
        (lambda: _pe_multiplied(n, d), "t was multiplied by 10000^(2i/d_model); divide: "
         "the angle is t / 10000^(2i/d_model), so the wavelengths grow with i"),
    ]


@one_thread()
def check_sinusoidal_positions(sinusoidal_positions) -> None:
    """PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(...), a float32 (n, d) table."""
    name = "sinusoidal_positions"
    for n, d in _POSITIONS_CASES:
        where = f"{name}({n}, {d})"
        got = call(sinusoidal_positions, n, d, where=where)
        expect_tensor(got, where)
        expect_shape(got, (n, d), where, "one row of d_model values per position: (n_positions, "
                     "d_model)")
        expect_dtype(got, torch.float32, where, "a float32 table (torch.arange(..., "
                     "dtype=torch.float32); a NumPy table converts to float64)")
        want = _stored(f"positions/{n}x{d}")["table"]
        # float32 angles t / 10000^(2i/d) for t < 64 carry rounding errors of a few 1e-6
        if not close(got, want, atol=1e-4, rtol=0):
            # the first positions only, loosely: a wrong table may have huge float32 angles
            hint = which(got[:8], [(lambda a=a: a()[:8], h) for a, h in _pe_alternatives(want)],
                         "PE[t, 2i] = sin(t / 10000^(2i/d_model)), PE[t, 2i+1] = cos(same angle)",
                         atol=1e-2)
            expect_close(got, want, f"{where} vs the expected table", hint, atol=1e-4, rtol=0)


# ----------------------------------------------------------------------- 5. encoder

def _torch_encoder(layer, C, H, FF, norm_first, *, activation="relu",  # noqa: N803
                   norms=("norm1", "norm2")):
    """nn.TransformerEncoderLayer (eval mode) with the learner's weights; its norm1, norm2
    take the gains and biases of the learner's `norms` (a known bug's choice of norms)."""
    ref = _reference(nn.TransformerEncoderLayer, C, H, FF, dropout=0.1, activation=activation,
                     batch_first=True, norm_first=norm_first)
    _copy_weights(_encoder_pairs(layer, ref))
    with torch.no_grad():
        for mine, theirs in zip(norms, ("norm1", "norm2")):
            for p in ["weight", "bias"]:
                getattr(getattr(ref, theirs), p).copy_(getattr(getattr(layer, mine), p))
    return ref.eval()


def _run_torch_encoder(ref, x, mask, H):  # noqa: N803
    B, T, _ = x.shape
    # autograd on (the parameters require grad): PyTorch's exact, non-fused path
    return ref(x, src_mask=_blocked(mask, B, H, T)).detach()


def _misplaced_sublayers(ref, x, mask, H, norm_first, bug):  # noqa: N803
    """WRONG on purpose: PyTorch's own sub-layers (ref._sa_block, ref._ff_block: attention and
    feed-forward with their dropout) and norms, put together as a known bug does."""
    B, T, _ = x.shape
    blocked = _blocked(mask, B, H, T)

    def attn(z):
        return ref._sa_block(z, blocked, None)

    ffn, n1, n2 = ref._ff_block, ref.norm1, ref.norm2
    if bug == "residual_after_norm":  # x = norm1(x); x = x + attn(x); ...
        z = n1(x)
        z = z + attn(z)
        z = n2(z)
        return (z + ffn(z)).detach()
    if bug == "norm_sublayer_only":  # x = x + norm1(attn(x)); ...
        z = x + n1(attn(x))
        return (z + n2(ffn(z))).detach()
    if bug == "no_residual":
        return (ffn(n2(attn(n1(x)))) if norm_first else n2(ffn(n1(attn(x))))).detach()
    raise ValueError(bug)


def _encoder_alternatives(layer, x, H, mask, norm_first):  # noqa: N803
    """(function of no arguments giving a WRONG output, hint): nn.TransformerEncoderLayer
    with the norms, activation, layout or mask a known bug uses, or its sub-layers put
    together the wrong way."""
    C, FF = layer.linear1.in_features, layer.linear1.out_features

    def lib(nf=norm_first, m=mask, **kw):
        return lambda: _run_torch_encoder(_torch_encoder(layer, C, H, FF, nf, **kw), x, m, H)

    def misplaced(bug):
        return lambda: _misplaced_sublayers(_torch_encoder(layer, C, H, FF, norm_first), x,
                                            mask, H, norm_first, bug)

    which = "pre-norm" if norm_first else "post-norm"
    alts = [
        (lib(not norm_first), "norm_first was ignored: norm_first=True is pre-norm, x = x + "
         "drop(attn(norm1(x))), and norm_first=False post-norm, x = norm1(x + drop(attn(x)))"
         if norm_first else "with norm_first=False this is the pre-norm layer: post-norm "
         "normalises the sum, x = norm1(x + drop(attn(x))); check `if self.norm_first:`"),
        (misplaced("residual_after_norm"), "the stream was overwritten by its normalised "
         "version (x = norm1(x); x = x + attn(x)), so the residual carries the NORMALISED input: "
         "pre-norm keeps the raw x on the residual path, x = x + attn(norm1(x))"),
        (misplaced("norm_sublayer_only"), "only the sub-layer output was normalised, x = x + "
         "norm(attn(x)); post-norm normalises the sum, x = norm1(x + attn(x))"),
        (lib(norms=("norm1", "norm1")), "norm1 was used for both sub-layers: the feed-forward "
         f"sub-layer has its own LayerNorm, norm2 ({which})"),
        (lib(norms=("norm2", "norm1")), "norm1 and norm2 are swapped: norm1 goes with the "
         "attention sub-layer, norm2 with the feed-forward one"),
        (lib(activation=lambda u: u), "the ReLU of the feed-forward network is missing: "
         "linear2(drop(relu(linear1(x))))"),
        (lib(activation="gelu"), "GELU was used; this layer (like nn.TransformerEncoderLayer's "
         "default) uses ReLU: linear2(drop(relu(linear1(x))))"),
        (misplaced("no_residual"), "the residual connections are missing: add the sub-layer "
         "output to its input, x + sublayer(...)"),
    ]
    if mask is not None:
        alts.append((lib(m=None), "the mask was not passed on to the attention: "
                     "self.self_attn(x, mask)"))
    return alts


def _encoder_parts(layer, where, C, FF, norm_first):
    attn = getattr(layer, "self_attn", None)
    expect_true(isinstance(attn, nn.Module), f"{where}: self.self_attn",
                "self.self_attn = MultiHeadAttention(d_model, n_heads)",
                expected="a MultiHeadAttention", got=type(attn).__name__)
    _mha_linears(attn, f"{where}: self.self_attn", C)
    for name, (i, o) in (("linear1", (C, FF)), ("linear2", (FF, C))):
        lin = getattr(layer, name, None)
        expect_true(isinstance(lin, nn.Linear) and (lin.in_features, lin.out_features) == (i, o)
                    and lin.bias is not None, f"{where}: self.{name}",
                    "the feed-forward network is linear1 = nn.Linear(d_model, d_ff), then "
                    "linear2 = nn.Linear(d_ff, d_model)",
                    expected=f"Linear(in_features={i}, out_features={o}, bias=True)", got=repr(lin))
    for name in ("norm1", "norm2"):
        norm = getattr(layer, name, None)
        expect_true(isinstance(norm, nn.LayerNorm) and tuple(norm.normalized_shape) == (C,)
                    and norm.weight is not None, f"{where}: self.{name}",
                    "two LayerNorms, norm1 and norm2, each nn.LayerNorm(d_model)",
                    expected=f"LayerNorm(({C},))", got=repr(norm))
    expect_true(layer.norm1 is not layer.norm2, f"{where}: self.norm1, self.norm2",
                "each sub-layer has its own LayerNorm, with its own gain and bias: create two",
                expected="two different nn.LayerNorm", got="the same module twice")
    expect_true(getattr(layer, "norm_first", None) == norm_first, f"{where}: self.norm_first",
                "store the flag: self.norm_first = norm_first", expected=norm_first,
                got=getattr(layer, "norm_first", "no attribute norm_first"))


def _fill_encoder(layer, g) -> None:
    for name in _PROJ:
        _fill_linear(getattr(layer.self_attn, name), g, 0.4)
    _fill_linear(layer.linear1, g, 0.4)
    _fill_linear(layer.linear2, g, 0.3)
    with torch.no_grad():  # distinct gains and biases: a swapped or shared norm shows
        for norm in (layer.norm1, layer.norm2):
            norm.weight.copy_(1 + 0.3 * torch.randn(norm.weight.shape, generator=g))
            norm.bias.copy_(0.3 * torch.randn(norm.bias.shape, generator=g))


_ENCODER_ASKS = "write the encoder layer (residuals, norms, attention, feed-forward)"


@one_thread()
def check_encoder_layer(EncoderLayer) -> None:  # noqa: N803 (the learner's class)
    """Post-norm and pre-norm layers == nn.TransformerEncoderLayer with the same weights."""
    name = "EncoderLayer"
    C, H, FF, B, T = 12, 3, 20, 2, 5
    g = gen(50)
    for seed, norm_first in enumerate((False, True)):
        where = f"{name}({C}, {H}, {FF}, dropout=0.1, norm_first={norm_first})"
        layer = build(EncoderLayer, where, C, H, FF, dropout=0.1, norm_first=norm_first,
                      seed=seed)
        _encoder_parts(layer, where, C, FF, norm_first)
        _fill_encoder(layer, g)
        layer.eval()
        ref = _reference(nn.TransformerEncoderLayer, C, H, FF, dropout=0.1, activation="relu",
                         batch_first=True, norm_first=norm_first)
        pairs = _encoder_pairs(layer, ref)
        _copy_weights(pairs)
        ref.eval()
        guard = _Guard([(nn.TransformerEncoderLayer, "forward")], _ENCODER_ASKS, EncoderLayer)
        x = torch.randn(B, T, C, generator=g) * 2 + 0.5
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        pad = torch.ones(B, T, dtype=torch.bool)
        pad[1, 3:] = False
        cases = [
            (None, "mask=None", {}),
            (causal, "mask=causal (5, 5)", {"src_mask": ~causal, "is_causal": True}),
            (pad[:, None, None, :], f"mask=padding (2, 1, 1, 5) {_mask_text(pad)}",
             {"src_key_padding_mask": ~pad}),
        ]
        default = ("post-norm: x = norm1(x + drop(attn(x))); x = norm2(x + drop(ffn(x))); "
                   "pre-norm: x = x + drop(attn(norm1(x))); x = x + drop(ffn(norm2(x))); "
                   "ffn(x) = linear2(drop(relu(linear1(x))))")
        for mask, label, kw in cases:
            here = f"{where}: forward(x (2, 5, 12), {label})"
            args = (x,) if mask is None else (x, mask)
            with torch.no_grad():
                y = guard.call(layer, *args, where=here)
            # autograd on (the parameters require grad): PyTorch's exact, non-fused path
            want = ref(x, **kw).detach()
            expect_tensor(y, here)
            expect_shape(y, (B, T, C), here, "an encoder layer keeps the shape (B, T, d_model)")
            expect_finite(y, here)
            padded = "src_key_padding_mask" in kw

            def real(t, padded=padded, pad=pad):  # skip padded positions (PyTorch may differ)
                return t[pad] if padded else t

            if not close(real(y), real(want)):
                hint = which(real(y), [(lambda a=a: real(a()), h) for a, h in
                                       _encoder_alternatives(layer, x, H, mask, norm_first)],
                             default)
                expect_close(real(y), real(want), f"{here} vs nn.TransformerEncoderLayer("
                             f"norm_first={norm_first}) with the same weights"
                             + (" (real tokens)" if padded else ""), hint, atol=ATOL, rtol=RTOL)
        perm = torch.tensor([3, 0, 4, 2, 1])
        here = f"{where}: forward(x[:, perm]) with perm = {perm.tolist()}, no mask"
        with torch.no_grad():
            y = guard.call(layer, x, where=here)
            y_perm = guard.call(layer, x[:, perm], where=here)
        expect_close(y_perm, y[:, perm], f"{here} vs forward(x)[:, perm]", "without positions "
                     "an encoder layer is permutation-equivariant: nothing may depend on where a "
                     "token sits", atol=ATOL, rtol=RTOL)

        # gradients, float64, against nn.TransformerEncoderLayer's
        _grads_vs_torch(
            layer, ref, lambda r, x, mask: r(x, src_mask=~mask), _encoder_pairs, causal[:3, :3],
            C, g, f"{where} in float64: gradients for x (1, 3, {C}), causal mask",
            "keep everything on the autograd graph (no .detach(), .data, .item()) and use "
            "the parameters of self_attn, linear1, linear2, norm1 and norm2", guard)


# --------------------------------------------------------------------- 6. causal LM

def _library_causal(T):  # noqa: N803
    """PyTorch's causal mask, nn.Transformer.generate_square_subsequent_mask (0 where query t
    may attend to key s, -inf where it may not), as True = may attend."""
    return nn.Transformer.generate_square_subsequent_mask(T) == 0


def _check_causal_mask(causal_mask) -> None:
    name = "causal_mask"
    for T in (4, 1, 6):
        where = f"{name}({T})"
        got = call(causal_mask, T, where=where)
        expect_tensor(got, where)
        expect_dtype(got, torch.bool, where, "a boolean mask (True = may attend): "
                     "torch.ones(T, T, dtype=torch.bool).tril()")
        expect_shape(got, (T, T), where, "one row per query, one column per key: (T, T)")
        ones = torch.ones(T, T, dtype=torch.bool)
        want = _library_causal(T)
        if not torch.equal(got, want):
            hint = next((h for alt, h in (
                (ones.triu(), "True on and above the diagonal lets query t see the FUTURE keys "
                 "s >= t: the causal mask is lower-triangular, s <= t (tril)"),
                (ones.tril(-1), "the diagonal is missing (tril(diagonal=-1)): query t may attend "
                 "to itself, s <= t; without it query 0 may attend to nothing at all"),
                (~want, "this is the 'True = blocked' convention of nn.MultiheadAttention; here "
                 "True means may attend (as in F.scaled_dot_product_attention): return the lower "
                 "triangle, tril"),
            ) if torch.equal(got, alt)), "True where key s <= query t: the lower triangle")
            fail(where, _mask_text(want), _mask_text(got), hint)
    where = f"{name}(3, device=torch.device('cpu'))"
    got = call(causal_mask, 3, device=torch.device("cpu"), where=where,
               hint="accept a `device` argument and create the mask there "
               "(torch.ones(..., device=device))")
    expect_equal(got, _library_causal(3), where)


_LM = dict(d_model=16, n_heads=2, n_layers=2, d_ff=32, max_len=12, dropout=0.1)
_LM_VOCAB = 23


# the four models the check builds: (norm_first, positions), each with its own seed
_LM_CONFIGS = {"prenorm_learned": (True, "learned"), "postnorm_sinusoidal": (False, "sinusoidal"),
               "prenorm_sinusoidal": (True, "sinusoidal"), "postnorm_learned": (False, "learned")}
_LM_T = 10


def _lm_shapes(norm_first, positions) -> dict[str, tuple[int, ...]]:
    """The parameters the exercise prescribes, by name (head.weight is tok_emb.weight)."""
    C, FF, V = _LM["d_model"], _LM["d_ff"], _LM_VOCAB
    shapes = {"tok_emb.weight": (V, C)}
    learned = positions == "learned"
    if learned:
        shapes["pos_emb.weight"] = (_LM["max_len"], C)
    for i in range(_LM["n_layers"]):
        for name in _PROJ:
            shapes[f"layers.{i}.self_attn.{name}.weight"] = (C, C)
            shapes[f"layers.{i}.self_attn.{name}.bias"] = (C,)
        for name, (n_out, n_in) in (("linear1", (FF, C)), ("linear2", (C, FF))):
            shapes[f"layers.{i}.{name}.weight"] = (n_out, n_in)
            shapes[f"layers.{i}.{name}.bias"] = (n_out,)
        for name in ("norm1", "norm2"):
            shapes[f"layers.{i}.{name}.weight"] = shapes[f"layers.{i}.{name}.bias"] = (C,)
    if norm_first:
        shapes["norm.weight"] = shapes["norm.bias"] = (C,)
    return shapes


def _lm_weights(norm_first, positions, seed) -> dict[str, torch.Tensor]:
    """Fixed weights for every prescribed parameter: embeddings larger than at initialisation
    and LayerNorm gains and biases away from 1 and 0, so that every part shows in the logits."""
    g = gen(70 + seed)
    weights = {}
    for name, shape in _lm_shapes(norm_first, positions).items():
        z = torch.randn(shape, generator=g)
        if name.endswith("emb.weight"):
            weights[name] = 0.5 * z
        elif "norm" in name:
            weights[name] = 1 + 0.3 * z if name.endswith("weight") else 0.3 * z
        else:
            weights[name] = 0.1 * z if name.endswith("bias") else z / math.sqrt(shape[1])
    return weights


def _load_lm_weights(model, weights, where) -> None:
    """Copy `weights` into the model's parameters of those names (the exercise's names)."""
    params = dict(model.named_parameters(remove_duplicate=False))
    with torch.no_grad():
        for name, value in weights.items():
            param = params.get(name)
            expect_true(param is not None and tuple(param.shape) == tuple(value.shape),
                        f"{where}: parameter {name}", "name the parts as the exercises do "
                        "(tok_emb, pos_emb, layers.i.self_attn.q_proj, ..., layers.i.linear1, "
                        "layers.i.norm1, norm, head): the check loads fixed weights by name",
                        expected=f"a parameter {name} of shape {tuple(value.shape)}",
                        got="none" if param is None else f"shape {tuple(param.shape)}")
            param.copy_(value)


class _WithMask(nn.Module):
    """A layer of the solution run with a fixed mask in place of the one it is given: how
    `course release` computes the solution's logits for a known WRONG mask."""

    def __init__(self, layer, mask):
        super().__init__()
        self.layer, self.mask = layer, mask

    def forward(self, x, mask=None):
        return self.layer(x, self.mask)


def _lm_probe(norm_first, positions, seed) -> Probe:
    """The solution's model with fixed weights on fixed ids: its logits, and the logits it
    gives when a known bug is planted in it from outside (a wrong mask handed to its layers,
    no positions, scaled embeddings, no final norm)."""
    def make(CausalTransformerLM):  # noqa: N803
        weights = _lm_weights(norm_first, positions, seed)
        ids = torch.randint(0, _LM_VOCAB, (3, _LM_T), generator=gen(60 + seed))
        ones = torch.ones(_LM_T, _LM_T, dtype=torch.bool)

        def model(bug=None):
            lm = CausalTransformerLM(_LM_VOCAB, **_LM, norm_first=norm_first,
                                     positions=positions)
            _load_lm_weights(lm, weights, "the solution")
            masks = {"mask_none": None, "mask_triu": ones.triu(), "mask_blocked": ones.triu(1),
                     "mask_no_diag": ones.tril(-1)}
            with torch.no_grad():
                if bug in masks:
                    for i, layer in enumerate(lm.layers):
                        lm.layers[i] = _WithMask(layer, masks[bug])
                elif bug == "no_positions":
                    (lm.pos_emb.weight if positions == "learned" else lm.pos_table).zero_()
                elif bug == "scale_emb":
                    lm.tok_emb.weight.mul_(math.sqrt(_LM["d_model"]))
                elif bug == "final_norm":
                    lm.norm = nn.Identity()
            return lm.eval()

        fields = {"ids": ids, **{f"w/{name}": w for name, w in weights.items()}}
        with torch.no_grad():
            fields["logits"] = model()(ids)
            for bug in ("mask_none", "mask_triu", "mask_blocked", "mask_no_diag",
                        "no_positions"):
                fields[f"alt/{bug}"] = model(bug)(ids)
            # the head shares the scaled matrix: undo that factor, the bug keeps the head's
            fields["alt/scale_emb"] = model("scale_emb")(ids) / math.sqrt(_LM["d_model"])
            if norm_first:
                fields["alt/final_norm"] = model("final_norm")(ids)
        if positions == "sinusoidal":
            fields["pos_table"] = model().pos_table
        return fields
    return Probe(("CausalTransformerLM",), make)


_LM_ALTERNATIVES = (
    ("mask_none", "the layers ran without the causal mask: pass it to every layer, "
     "layer(x, causal_mask(T, ids.device))"),
    ("mask_triu", "the mask lets query t see the future (s >= t): use causal_mask, the lower "
     "triangle"),
    ("mask_blocked", "the mask follows the 'True = blocked' convention; here True means may "
     "attend: causal_mask(T)"),
    ("mask_no_diag", "the mask leaves out the diagonal (s < t): query t must attend to itself "
     "too, s <= t"),
    ("no_positions", "no position embeddings were added: x = tok_emb(ids) + "
     "pos_emb(torch.arange(T)) (or + pos_table[:T] for sinusoids)"),
    ("scale_emb", "the token embeddings were multiplied by sqrt(d_model) (as in Vaswani et "
     "al.); this model adds tok_emb(ids) and the positions unscaled"),
    ("final_norm", "the final LayerNorm is missing: a pre-norm stack never normalises its "
     "stream, so apply self.norm before self.head"),
)

_LM_ASKS = "assemble the language model from your own EncoderLayer"


def _lm_parts(model, where, V, norm_first, positions, stored):
    C, L, max_len = _LM["d_model"], _LM["n_layers"], _LM["max_len"]
    emb = getattr(model, "tok_emb", None)
    expect_true(isinstance(emb, nn.Embedding) and tuple(emb.weight.shape) == (V, C),
                f"{where}: self.tok_emb", "self.tok_emb = nn.Embedding(vocab_size, d_model)",
                expected=f"Embedding({V}, {C})", got=repr(emb))
    learned = positions == "learned"
    if learned:
        pos = getattr(model, "pos_emb", None)
        expect_true(isinstance(pos, nn.Embedding) and tuple(pos.weight.shape) == (max_len, C),
                    f"{where}: self.pos_emb", 'positions="learned": self.pos_emb = '
                    "nn.Embedding(max_len, d_model)", expected=f"Embedding({max_len}, {C})",
                    got=repr(pos))
    else:
        table = getattr(model, "pos_table", None)
        expect_true(isinstance(table, torch.Tensor) and tuple(table.shape) == (max_len, C),
                    f"{where}: self.pos_table", 'positions="sinusoidal": register the table '
                    "sinusoidal_positions(max_len, d_model) as a buffer, self.register_buffer("
                    '"pos_table", ...)', expected=f"a ({max_len}, {C}) tensor",
                    got=show(table) if table is not None else "no attribute pos_table")
        expect_true(all(p is not table for p in model.parameters()), f"{where}: self.pos_table",
                    "the sinusoids are fixed: a buffer (register_buffer), not an nn.Parameter "
                    "that the optimizer would change", expected="a buffer", got="a parameter")
        expect_true(not hasattr(model, "pos_emb"), f"{where}: self.pos_emb",
                    'positions="sinusoidal" uses the fixed table only: no learned pos_emb',
                    expected="no pos_emb", got=repr(getattr(model, "pos_emb", None)))
        expect_close(table, stored["pos_table"], f"{where}: self.pos_table vs the sinusoids",
                     "the table differs from sinusoidal_positions' formula: make "
                     "check_sinusoidal_positions pass first", atol=1e-4, rtol=0)
    layers = getattr(model, "layers", None)
    expect_true(isinstance(layers, nn.ModuleList) and len(layers) == L, f"{where}: self.layers",
                "self.layers = nn.ModuleList(EncoderLayer(...) for _ in range(n_layers))",
                expected=f"an nn.ModuleList of {L} layers",
                got=f"{type(layers).__name__} of {len(layers) if layers is not None else 0}")
    expect_true(len({id(lay) for lay in layers}) == L, f"{where}: self.layers",
                "[layer] * n repeats ONE layer: build a new EncoderLayer per layer",
                expected=f"{L} distinct layers", got="the same layer repeated")
    for i, lay in enumerate(layers):
        expect_true(getattr(lay, "norm_first", None) == norm_first,
                    f"{where}: self.layers[{i}].norm_first", "pass norm_first on to every "
                    "EncoderLayer", expected=norm_first, got=getattr(lay, "norm_first", None))
    norm = getattr(model, "norm", None)
    want = nn.LayerNorm if norm_first else nn.Identity
    expect_true(isinstance(norm, want), f"{where}: self.norm", "a pre-norm stack ends with a "
                "LayerNorm (self.norm = nn.LayerNorm(d_model)); a post-norm stack is already "
                "normalised (self.norm = nn.Identity())", expected=want.__name__,
                got=type(norm).__name__)
    head = getattr(model, "head", None)
    expect_true(isinstance(head, nn.Linear) and tuple(head.weight.shape) == (V, C),
                f"{where}: self.head", "self.head = nn.Linear(d_model, vocab_size, bias=False)",
                expected=f"Linear({C}, {V}, bias=False)", got=repr(head))
    expect_true(head.bias is None, f"{where}: self.head.bias", "the output layer has no bias "
                "(bias=False): its weight is the embedding matrix", expected=None,
                got=show(head.bias))
    expect_true(head.weight is emb.weight, f"{where}: self.head.weight is self.tok_emb.weight",
                "tie the weights: self.head.weight = self.tok_emb.weight (the same "
                "nn.Parameter, not a copy)", expected=True, got=False)
    for label, param in (("tok_emb", emb.weight),
                         ("pos_emb", getattr(getattr(model, "pos_emb", None), "weight", None))):
        if param is None:
            continue
        std = param.detach().std().item()
        expect_true(0.015 < std < 0.026 and abs(param.detach().mean().item()) < 0.01,
                    f"{where}: self.{label}.weight at initialisation",
                    f"initialise the embeddings normal(0, 0.02): nn.init.normal_(self.{label}"
                    ".weight, std=0.02) (nn.Embedding starts at normal(0, 1), which makes the "
                    "untrained model's predictions far from uniform)",
                    expected="mean 0, std 0.02", got=f"mean {param.detach().mean().item():.3g}, "
                    f"std {std:.3g}")


def _check_lm(CausalTransformerLM, key, seed):  # noqa: N803
    norm_first, positions = _LM_CONFIGS[key]
    stored = _stored(f"causal_lm/{key}")
    V, T = _LM_VOCAB, _LM_T
    kw = dict(_LM, norm_first=norm_first, positions=positions)
    shown = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    where = f"CausalTransformerLM({V}, {shown})"
    model = build(CausalTransformerLM, where, V, seed=seed, **kw)
    _lm_parts(model, where, V, norm_first, positions, stored)
    model.eval()
    guard = _Guard([(nn.TransformerEncoder, "forward"), (nn.TransformerEncoderLayer, "forward")],
                   _LM_ASKS, CausalTransformerLM)
    ids = stored["ids"]

    def logits(x, label):
        here = f"{where}: forward(ids {_shape(x)}{label}) in eval mode"
        with torch.no_grad():
            out = guard.call(model, x, where=here)
        expect_tensor(out, here)
        expect_shape(out, (*x.shape, V), here, "one row of vocabulary logits per position: "
                     "(B, T, vocab_size)")
        expect_finite(out, here)
        return out, here

    out, here = logits(ids, "")
    loss = F.cross_entropy(out.flatten(0, 1).double(), ids.flatten()).item()
    expect_true(abs(loss - math.log(V)) < 0.2, f"{here}: cross-entropy of the untrained model",
                f"an untrained LM should predict nearly uniformly, loss ~ ln V = {math.log(V):.3f}: "
                "initialise the embeddings normal(0, 0.02)", expected=f"{math.log(V):.3f} +- 0.2",
                got=f"{loss:.3f}")

    # fixed weights (larger embeddings than at init, so that every part shows), by name
    _load_lm_weights(model, {k[2:]: w for k, w in stored.items() if k.startswith("w/")}, where)
    here_w = " with the check's fixed weights"
    out, here = logits(ids, here_w)
    want = stored["logits"]
    default = ("x = drop(tok_emb(ids) + positions[:T]); x = layer(x, causal_mask(T)) for each "
               "layer; logits = head(norm(x)) (this check runs your EncoderLayer: make "
               "check_encoder_layer pass first)")

    def explain(got):
        return which(got, [(stored[f"alt/{bug}"], hint) for bug, hint in _LM_ALTERNATIVES
                           if f"alt/{bug}" in stored], default)

    g = gen(80 + seed)
    future = ids.clone()
    future[:, 6:] = (ids[:, 6:] + 1 + torch.randint(0, V - 1, (3, T - 6), generator=g)) % V
    out2, _ = logits(future, f"{here_w}, tokens 6.. changed")
    if not close(out2[:, :6], out[:, :6]):
        expect_close(out2[:, :6], out[:, :6], f"{where}: logits at positions 0..5 when only "
                     "tokens 6.. change (the future must not change the past)", explain(out),
                     atol=ATOL, rtol=RTOL)
    expect_true(not close(out2[:, 6], out[:, 6], atol=1e-6, rtol=0),
                f"{where}: logits at position 6 when token 6 changes", "the logits at position "
                "t must depend on token t itself", expected="changed", got="unchanged")
    here_t = ids.clone()
    here_t[:, 3] = (ids[:, 3] + 5) % V
    out3, _ = logits(here_t, f"{here_w}, token 3 changed")
    expect_true(not close(out3[:, 3], out[:, 3], atol=1e-6, rtol=0),
                f"{where}: logits at position 3 when only token 3 changes", explain(out)
                if not close(out, want) else "query t must attend to key t "
                "(the diagonal of the mask)", expected="changed", got="unchanged")

    same = torch.full((1, 8), 7)
    rep, _ = logits(same, f"{here_w}, the same token 7 at every position")
    gap = (rep[0, 1:] - rep[0, :-1]).abs().amax().item()
    expect_true(gap > 1e-4, f"{where}: logits of a repeated token at positions 0..7",
                explain(out) if not close(out, want) else "add the position "
                "embeddings to the token embeddings", expected="different at each position",
                got=f"identical (largest difference {gap:.2g})")

    if not close(out, want):
        expect_close(out, want, f"{where}: forward(ids (3, 10)){here_w} vs the expected logits",
                     explain(out), atol=ATOL, rtol=RTOL)
    full = torch.randint(0, V, (2, _LM["max_len"]), generator=g)
    logits(full, f", T = max_len = {_LM['max_len']}")


@one_thread()
def check_causal_lm(causal_mask, CausalTransformerLM) -> None:  # noqa: N803
    """causal_mask is PyTorch's; the LM is causal, tied, near-uniform at init, position-aware,
    and gives the expected logits for fixed weights."""
    _check_causal_mask(causal_mask)
    for seed, key in enumerate(_LM_CONFIGS):
        _check_lm(CausalTransformerLM, key, seed)


# ---------------------------------------------------------------------- 7. schedules

_LINEAR_CASES = ((10, 50), (0, 20), (3, 4))  # (warmup_steps, total_steps), steps 0 .. total + 5
_NOAM_CASES = ((64, 10, tuple(range(1, 41))),  # (d_model, warmup_steps, steps)
               (512, 4000, (1, 2, 100, 3999, 4000, 4001, 8000, 16000, 100000)))


def _value_or_nan(fn, *args) -> float:
    try:
        return float(fn(*args))
    except (ZeroDivisionError, OverflowError, ValueError):
        return math.nan


def _linear_probe(warmup, total) -> Probe:
    steps = list(range(total + 6))
    return Probe(("linear_warmup_decay",), lambda linear_warmup_decay: {
        "steps": steps,
        "values": [float(linear_warmup_decay(s, warmup, total)) for s in steps],
        "next": [float(linear_warmup_decay(s + 1, warmup, total)) for s in steps]})


def _noam_probe(d_model, warmup, steps) -> Probe:
    return Probe(("inverse_sqrt_schedule",), lambda inverse_sqrt_schedule: {
        "steps": list(steps),
        "values": [float(inverse_sqrt_schedule(s, d_model, warmup)) for s in steps],
        "next": [_value_or_nan(inverse_sqrt_schedule, s + 1, d_model, warmup) for s in steps],
        "previous": [_value_or_nan(inverse_sqrt_schedule, s - 1, d_model, warmup)
                     for s in steps]})


def _number(got, where: str) -> float:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    expect_true(isinstance(got, (int, float)) and not isinstance(got, bool),
                f"{where}: return value", "return a Python number (a float)",
                expected="a float", got=f"{type(got).__name__}: {show(got)}")
    return float(got)


def _agree(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 + 1e-7 * abs(b)


def _check_curve(fn, label, args, stored, alternatives, default, guard):
    """fn(step, *args) for the stored steps equals the stored values; `alternatives`:
    (function of (step, *args, stored values at that step) giving a WRONG value, hint)."""
    steps = [int(s) for s in stored["steps"].tolist()]
    want = stored["values"].tolist()
    at = [{k: v[i].item() for k, v in stored.items()} for i in range(len(steps))]
    got = []
    for s in steps:
        here = f"{label}({s}, {', '.join(map(str, args))})"
        got.append(_number(guard.call(fn, s, *args, where=here), f"{label}({s}, ...)"))
    bad = [i for i, (a, b) in enumerate(zip(got, want)) if not _agree(a, b)]
    if bad:
        i = bad[0]
        hint = next((h for alt, h in alternatives
                     if all(_agree(a, _value_or_nan(alt, s, *args, at[j]))
                            for j, (a, s) in enumerate(zip(got, steps)))), default)
        fail(f"{label}({steps[i]}, {', '.join(map(str, args))}): the first of {len(bad)} wrong "
             f"values for step in {steps[0]}..{steps[-1]}", want[i], got[i], hint)


# The wrong schedules learners write: the wrong formula, or the stored value at another step.
_LINEAR_ALTERNATIVES = [
    (lambda s, w, t, at: at["next"], "off by one: LambdaLR passes the number of steps taken, "
     "starting at 0, so the multiplier is step / warmup_steps (0 at step 0), not "
     "(step + 1) / warmup_steps"),
    (lambda s, w, t, at: s / w if s < w else max(0.0, 1 - s / (t - w)), "the decay reaches 0 "
     "at step total_steps - warmup_steps: it runs from 1 at warmup_steps to 0 at total_steps, "
     "(total_steps - step) / (total_steps - warmup_steps)"),
    (lambda s, w, t, at: at["values"] if s <= t else (t - s) / max(1, t - w), "after "
     "total_steps the multiplier went negative: clamp it at 0, max(0.0, ...)"),
    (lambda s, w, t, at: s / w if s < w else max(0.0, (t - s) / t), "the decay divides by "
     "total_steps; it runs from 1 at warmup_steps to 0 at total_steps: divide by "
     "(total_steps - warmup_steps)"),
    (lambda s, w, t, at: (s + 1) / w if s < w else at["values"], "off by one in the warm-up: "
     "step / warmup_steps, 0 at step 0"),
]

_NOAM_ALTERNATIVES = [
    (lambda s, d, w, at: d ** -0.5 * min(s ** -0.5, s * w ** -0.5), "the warm-up branch is "
     "step * warmup_steps^-1.5 (exponent -1.5, not -0.5), so that the branches meet at "
     "step = warmup_steps"),
    (lambda s, d, w, at: at["values"] * d ** 0.5, "the factor d_model^-0.5 is missing"),
    (lambda s, d, w, at: at["values"] * d, "the factor is d_model ** -0.5 (wider models get "
     "smaller rates), not d_model ** 0.5"),
    (lambda s, d, w, at: d ** -0.5 * max(s ** -0.5, s * w ** -1.5), "take the min of the two "
     "branches, not the max"),
    (lambda s, d, w, at: at["next"], "off by one: the step passed in is already counted from 1 "
     "(the caller passes s + 1); use it as it is"),
    (lambda s, d, w, at: at["previous"], "off by one: the step passed in is already counted "
     "from 1; use it as it is"),
]

_SCHEDULE_ASKS = "compute the schedule's formula"


def _scheduler_targets() -> list[tuple[Any, str]]:
    """get_lr of torch.optim.lr_scheduler's schedulers (transformers' schedules are LambdaLRs):
    building one calls it."""
    from torch.optim import lr_scheduler

    return [(cls, "get_lr") for cls in vars(lr_scheduler).values()
            if isinstance(cls, type) and issubclass(cls, lr_scheduler.LRScheduler)
            and "get_lr" in cls.__dict__]


@one_thread()
def check_schedules(linear_warmup_decay, inverse_sqrt_schedule) -> None:
    """The linear warm-up/decay multiplier and the inverse-square-root (Noam) schedule."""
    guard = _Guard(_scheduler_targets(), _SCHEDULE_ASKS, linear_warmup_decay,
                   inverse_sqrt_schedule)
    default = ("step / warmup_steps while step < warmup_steps, then max(0, (total_steps - step) "
               "/ (total_steps - warmup_steps)) (transformers.get_linear_schedule_with_warmup)")
    for w, t in _LINEAR_CASES:
        _check_curve(linear_warmup_decay, "linear_warmup_decay", (w, t),
                     _stored(f"schedules/linear/{w}_{t}"), _LINEAR_ALTERNATIVES, default, guard)
    default = "d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)"
    for d, w, _ in _NOAM_CASES:
        _check_curve(inverse_sqrt_schedule, "inverse_sqrt_schedule", (d, w),
                     _stored(f"schedules/noam/{d}_{w}"), _NOAM_ALTERNATIVES, default, guard)


# ------------------------------------------------------------------------ expected values

PROBES: dict[str, Probe] = {
    **{f"heads/{B}x{T}x{C}/{H}": _heads_probe(B, T, C, H) for B, T, C, H in _HEADS_CASES},
    **{f"positions/{n}x{d}": _positions_probe(n, d) for n, d in _POSITIONS_CASES},
    **{f"causal_lm/{key}": _lm_probe(*config, seed)
       for seed, (key, config) in enumerate(_LM_CONFIGS.items())},
    **{f"schedules/linear/{w}_{t}": _linear_probe(w, t) for w, t in _LINEAR_CASES},
    **{f"schedules/noam/{d}_{w}": _noam_probe(d, w, steps) for d, w, steps in _NOAM_CASES},
}
