"""Visible checks for Chapter 3, "The Transformer, built and proven against PyTorch".

One check per exercise. Each takes the learner's function(s) or class, runs small
seeded cases, compares the result with PyTorch's own implementation given identical
weights, runs `torch.autograd.gradcheck` in float64 and tests properties, and raises
`AssertionError` naming the function, what was expected, what was got, and the likely
bug. A passing check returns None.

    check_attention(scaled_dot_product_attention)   vs F.scaled_dot_product_attention
    check_heads(split_heads, merge_heads)
    check_multi_head_attention(MultiHeadAttention)  vs nn.MultiheadAttention
    check_sinusoidal_positions(sinusoidal_positions)
    check_encoder_layer(EncoderLayer)               vs nn.TransformerEncoderLayer
    check_causal_lm(causal_mask, CausalTransformerLM)
    check_schedules(linear_warmup_decay, inverse_sqrt_schedule)

Masks follow F.scaled_dot_product_attention: True = may attend. nn.MultiheadAttention
and nn.TransformerEncoderLayer read a boolean mask the other way (True = blocked), so
the references are given `~mask`. The checks run in the learner's kernel: they import
only torch, use their own seeded generators, and leave the global random state as they
found it.

Tolerances: float32 outputs vs PyTorch's within atol 1e-5 + rtol 1e-4 (1e-4 + 1e-3 for
attention scores of size ~100), positional tables within 1e-4 of float64 sinusoids,
float64 gradients vs PyTorch's within 1e-8 + rtol 1e-6, plus torch.autograd.gradcheck.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ._common import (
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


# --------------------------------------------------------------------- 1. attention

def _attn64(q, k, v, mask=None, *, scale=None, dim=-1, mode="before"):
    """Attention in float64, the right way (mode "before") or a known wrong way."""
    q, k, v = (t.detach().double() for t in (q, k, v))
    s = q @ k.transpose(-2, -1) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if mask is None:
        w = torch.softmax(s, dim)
    elif mode == "after":
        w = torch.softmax(s, dim) * mask
    elif mode == "zero":
        w = torch.softmax(s.masked_fill(~mask, 0.0), dim)
    else:
        w = torch.softmax(s.masked_fill(~mask, torch.finfo(s.dtype).min), dim)
        if mode == "before":
            w = w.masked_fill(~mask.any(-1, keepdim=True), 0.0)
    return w @ v, w


def _attention_alternatives(q, k, v, mask):
    """(keyword arguments of _attn64, hint) for the wrong attentions learners write."""
    d_k, d_v = q.shape[-1], v.shape[-1]
    alts = [
        (dict(scale=1.0), f"the scores are not scaled: divide q @ k^T by sqrt(d_k) (here "
         f"sqrt({d_k})), or the softmax saturates as d_k grows"),
        (dict(scale=1 / d_k), f"the scores were divided by d_k = {d_k}; divide by sqrt(d_k) "
         "(math.sqrt(q.shape[-1]))"),
        (dict(dim=-2), "the softmax ran over the queries (dim=-2): each query's weights are a "
         "distribution over the KEYS, torch.softmax(scores, dim=-1)"),
        (dict(scale=1 / math.sqrt(d_v)), f"the scores were scaled by 1/sqrt(d_v) = "
         f"1/sqrt({d_v}) (v's size); the scale is 1/sqrt(d_k), the size of q and k"),
    ]
    if mask is not None:
        alts += [
            (dict(mask=None), "the mask was ignored: masked keys must get weight 0"),
            (dict(mask=~mask), "the mask is inverted: True means MAY attend (as in "
             "F.scaled_dot_product_attention), so fill the scores where the mask is False: "
             "scores.masked_fill(~mask, ...)"),
            (dict(mode="after"), "the mask was applied after the softmax (weights zeroed, not "
             "renormalised), so each row no longer sums to 1: fill the masked SCORES with a "
             "very negative number before the softmax"),
            (dict(mode="zero"), "masked scores were set to 0, an ordinary score, so masked keys "
             "still get weight: fill them with a very negative number, "
             "torch.finfo(scores.dtype).min, before the softmax"),
            (dict(mode="uniform"), "a query that may attend to no key got uniform weights "
             "(the softmax of equal fill values): set that row's weights (and so its output) "
             "to 0, e.g. weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)"),
        ]
    return alts


def _attention_hint(out, w, q, k, v, mask, default: str) -> str:
    for kwargs, hint in _attention_alternatives(q, k, v, mask):
        kwargs = dict(kwargs)
        alt_out, alt_w = _attn64(q, k, v, kwargs.pop("mask", mask), **kwargs)
        if close(w, alt_w) or close(out, alt_out):
            return hint
    return default


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


def _check_attention_case(fn, q, k, v, mask, label, nan_hint, atol=ATOL, rtol=RTOL):
    name = "scaled_dot_product_attention"
    where = f"{name}(q {_shape(q)}, k {_shape(k)}, v {_shape(v)}, {label})"
    inputs = {"q": q, "k": k, "v": v} | ({} if mask is None else {"mask": mask})
    kept = {n: t.clone() for n, t in inputs.items()}
    args = (q, k, v) if mask is None else (q, k, v, mask)
    with torch.no_grad():
        res = call(fn, *args, where=where, hint=_ATTN_CALL_HINT)
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
    want_w = _attn64(q, k, v, mask)[1]
    want_out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    default = ("weights = softmax(q @ k^T / sqrt(d_k)) over the keys (dim=-1), masked scores "
               "filled before the softmax; out = weights @ v")
    for got, want, what in (
            (w, want_w, "weights vs softmax(q @ k^T / sqrt(d_k)) computed in float64"),
            (out, want_out, "out vs torch.nn.functional.scaled_dot_product_attention")):
        if not close(got, want, atol, rtol):
            hint = _attention_hint(out, w, q, k, v, mask, default)
            expect_close(got, want, f"{where}: {what}", hint, atol=atol, rtol=rtol)


def _check_attention_grads(fn) -> None:
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
    res = call(fn, q, k, v, mask, where=where, hint=hint)
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
    for case in cases:
        _check_attention_case(fn, *case)
    _check_attention_grads(fn)


# ------------------------------------------------------------------------- 2. heads

def _explain_split(got, x, H):
    B, T, C = x.shape
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


@one_thread()
def check_heads(split_heads, merge_heads) -> None:
    """split_heads: (B, T, C) -> (B, H, T, C/H) by feature blocks; merge_heads its inverse."""
    cases = [(2, 3, 12, 3), (2, 4, 16, 4), (1, 5, 6, 1), (1, 2, 6, 6)]  # (B, T, C, H)
    view_hint = ("view needs a contiguous tensor, and after transpose(1, 2) it is not: use "
                 ".reshape(B, T, H * D) (or .contiguous().view(...))")
    for B, T, C, H in cases:
        D = C // H
        # every entry is its own flat index, so a wrong value shows where it came from
        x = torch.arange(B * T * C, dtype=torch.float32).reshape(B, T, C)
        where = f"split_heads(x (B={B}, T={T}, C={C}), n_heads={H}) with x[b, t, c] = its flat index"
        got = call(split_heads, x.clone(), H, where=where)
        expect_shape(got, (B, H, T, D), where,
                     "(B, n_heads, T, C // n_heads): split the features into heads, then put the "
                     "head axis before the time axis, transpose(1, 2)")
        want = x.view(B, T, H, D).transpose(1, 2)
        if not torch.equal(got.detach().to(want.dtype), want):
            b, h, t, _ = _first_mismatch(got.detach().to(want.dtype), want)
            fail(f"{where}: [b={b}, head={h}, t={t}] (position {t}, features "
                 f"{h * D}..{(h + 1) * D - 1})", want[b, h, t], got[b, h, t],
                 _explain_split(got.detach().to(want.dtype), x, H))

        # attention returns contiguous (B, H, T, D) heads; split_heads returns a transposed view
        for heads, label in ((x.view(B, T, H, D).transpose(1, 2).contiguous(),
                              "contiguous, as attention returns it"),
                             (x.view(B, T, H, D).transpose(1, 2), "a transposed view")):
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
        for p in ("weight", "bias"):
            pairs.append((f"{name}.{p}", getattr(getattr(layer, name), p),
                          getattr(getattr(ref, name), p), None))
    return pairs


def _copy_weights(pairs) -> None:
    with torch.no_grad():
        for _, mine, theirs, part in pairs:
            (theirs if part is None else theirs[part]).copy_(mine)


def _params64(pairs) -> dict[str, torch.Tensor]:
    return {name.removeprefix("self_attn."): mine.detach().double()
            for name, mine, _, _ in pairs}


def _mha64(x, P, H, mask=None, *, view_split=False, swap_kv=False, swap_qk=False,
           out_proj=True, scale=None, one_head=False):
    """Multi-head self-attention in float64 from the weights P, or a known wrong version."""
    x = x.detach().double()
    B, T, C = x.shape

    def lin(name, z):
        return z @ P[f"{name}.weight"].T + P[f"{name}.bias"]

    q, k, v = lin("q_proj", x), lin("k_proj", x), lin("v_proj", x)
    if swap_kv:
        k, v = v, k
    if swap_qk:
        q, k = k, q
    h = 1 if one_head else H
    D = C // h
    if view_split:
        out, _ = _attn64(*(z.reshape(B, h, T, D) for z in (q, k, v)), mask,
                         scale=1 / math.sqrt(D) if scale is None else scale)
        y = out.reshape(B, T, C)
    else:
        out, _ = _attn64(*(z.view(B, T, h, D).transpose(1, 2) for z in (q, k, v)), mask,
                         scale=1 / math.sqrt(D) if scale is None else scale)
        y = out.transpose(1, 2).reshape(B, T, C)
    return lin("out_proj", y) if out_proj else y


def _mha_alternatives(x, P, H, mask):
    C = x.shape[-1]
    D = C // H
    alts = [
        (dict(out_proj=False), "self.out_proj is not applied: y = out_proj(merge_heads(heads))"),
        (dict(view_split=True), "the heads were cut with .view(B, n_heads, T, D), which splits "
         "the SEQUENCE, not the features: use split_heads (view(B, T, n_heads, D).transpose(1, 2))"
         " and merge_heads"),
        (dict(swap_kv=True), "keys and values are swapped: k = k_proj(x) is compared with the "
         "queries, v = v_proj(x) is averaged"),
        (dict(swap_qk=True), "queries and keys are swapped: q = q_proj(x), k = k_proj(x)"),
        (dict(scale=1 / math.sqrt(C)), f"the scores were scaled by 1/sqrt(d_model) = "
         f"1/sqrt({C}); each head has d_k = d_model / n_heads = {D} features: scale by "
         f"1/sqrt({D}) (scaled_dot_product_attention on the split heads does it)"),
        (dict(scale=1 / C), f"the scores were scaled by 1/d_model; scale each head's scores by "
         f"1/sqrt(d_k) = 1/sqrt({D})"),
        (dict(one_head=True), "n_heads was ignored: this is ONE head over all d_model features; "
         "split q, k, v into heads with split_heads(..., self.n_heads)"),
    ]
    if mask is not None:
        alts += [(dict(mask=None), "the mask was not passed on to the attention: "
                  "scaled_dot_product_attention(q, k, v, mask)"),
                 (dict(mask=~mask), "the mask is inverted: True = may attend")]
    return [(lambda kw=kw: _mha64(x, P, H, **({"mask": mask} | kw)), hint) for kw, hint in alts]


class _Attr:
    """Attribute access to a dict of modules (q_proj, ...), for _mha_pairs."""

    def __init__(self, modules):
        self.__dict__.update(modules)


def _torch_mha(lins, C, H):
    ref = _reference(nn.MultiheadAttention, C, H, batch_first=True)
    pairs = _mha_pairs(_Attr(lins), ref)
    _copy_weights(pairs)
    return ref.eval()


def _grads_vs_torch(model, ref, ref_forward, pairs, mask, C, g, where, hint):
    """In float64: the gradients of the learner's module (input and every parameter) equal
    those of the torch.nn reference with the same weights, and gradcheck passes.
    ref_forward(ref, x, mask) runs the reference; pairs(model, ref) lists matching parameters."""
    m64, r64 = copy.deepcopy(model).double(), copy.deepcopy(ref).double()
    x64 = torch.randn(1, mask.shape[0], C, generator=g, dtype=torch.float64)
    xa, xb = x64.clone().requires_grad_(), x64.clone().requires_grad_()
    ya = call(m64, xa, mask, where=where, hint=hint)
    expect_tensor(ya, where)
    expect_true(ya.requires_grad, f"{where}: y.requires_grad", hint, expected=True, got=False)
    yb = ref_forward(r64, xb, mask)
    _compare_grads(where, pairs(m64, r64), xa, xb, ya, yb, g, hint)
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
    P = {f"{n}.{p}": getattr(lin, p).detach().double() for n, lin in lins.items()
         for p in ("weight", "bias")}
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
            y = call(model, *args, where=here)
            want, want_w = ref(x, x, x, need_weights=True, average_attn_weights=False, **kw)
        expect_tensor(y, here, "return y alone unless return_weights=True")
        expect_shape(y, (B, T, C), here, "self-attention keeps the shape (B, T, d_model)")
        expect_finite(y, here)
        if not close(y, want):
            hint = which(y, _mha_alternatives(x, P, H, mask), default)
            expect_close(y, want, f"{here} vs nn.MultiheadAttention with the same weights", hint,
                         atol=ATOL, rtol=RTOL)
        here = f"{where}: forward(x (2, 5, 12), {label}, return_weights=True)"
        with torch.no_grad():
            res = call(model, *args, return_weights=True, where=here)
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
        y = model(x)
        y_perm = call(model, x[:, perm], where=here)
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
        "torch.tensor(...)) and use the parameters of self.q_proj ... self.out_proj")


# ------------------------------------------------------------------------ 4. positions

def _pe64(n, d, *, base=10000.0, swap=False, exponent="2i", concat=False, multiply=False):
    t = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(d // 2, dtype=torch.float64)
    if exponent == "2i":
        freq = base ** (2 * i / d)
        table = t / freq if not multiply else t * freq
        a, b = torch.sin(table), torch.cos(table)
        if swap:
            a, b = b, a
        if concat:
            return torch.cat([a, b], dim=1)
        pe = torch.empty(n, d, dtype=torch.float64)
        pe[:, 0::2], pe[:, 1::2] = a, b
        return pe
    if exponent == "i":  # pair index i in place of 2i
        table = t / base ** (i / d)
        pe = torch.empty(n, d, dtype=torch.float64)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(table), torch.cos(table)
        return pe
    j = torch.arange(d, dtype=torch.float64)  # "j": every dimension j its own 10000^(j/d)
    table = t / base ** (j / d)
    return torch.where(j.long() % 2 == 0, torch.sin(table), torch.cos(table))


def _pe_alternatives(n, d):
    return [
        (lambda: _pe64(n, d, swap=True), "sin and cos are swapped: even dimensions 2i hold sin, "
         "odd dimensions 2i+1 hold cos"),
        (lambda: _pe64(n, d, exponent="i"), "the exponent uses the pair index i instead of 2i: "
         "PE[t, 2i] = sin(t / 10000^(2i/d_model)) (torch.arange(0, d_model, 2) gives the 2i)"),
        (lambda: _pe64(n, d, exponent="j"), "each dimension j got its own frequency "
         "10000^(j/d_model); a (sin, cos) PAIR 2i, 2i+1 shares one frequency, 10000^(2i/d_model)"),
        (lambda: _pe64(n, d, concat=True), "the table is [all sin | all cos] (concatenated "
         "halves); sin and cos are interleaved: pe[:, 0::2] = sin, pe[:, 1::2] = cos"),
        (lambda: _pe64(n, d, base=1000.0), "the base is 10000, not 1000"),
        (lambda: _pe64(n, d, multiply=True), "t was multiplied by 10000^(2i/d_model); divide: "
         "the angle is t / 10000^(2i/d_model), so the wavelengths grow with i"),
    ]


@one_thread()
def check_sinusoidal_positions(sinusoidal_positions) -> None:
    """PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(...), a float32 (n, d) table."""
    name = "sinusoidal_positions"
    for n, d in ((64, 16), (7, 4), (1, 8), (20, 2)):
        where = f"{name}({n}, {d})"
        got = call(sinusoidal_positions, n, d, where=where)
        expect_tensor(got, where)
        expect_shape(got, (n, d), where, "one row of d_model values per position: (n_positions, "
                     "d_model)")
        expect_dtype(got, torch.float32, where, "a float32 table (torch.arange(..., "
                     "dtype=torch.float32); a NumPy table converts to float64)")
        want = _pe64(n, d)
        # float32 angles t / 10000^(2i/d) for t < 64 carry rounding errors of a few 1e-6
        if not close(got, want, atol=1e-4, rtol=0):
            # the first positions only, loosely: a wrong table may have huge float32 angles
            hint = which(got[:8], [(lambda a=a: a()[:8], h) for a, h in _pe_alternatives(n, d)],
                         "PE[t, 2i] = sin(t / 10000^(2i/d_model)), PE[t, 2i+1] = cos(same angle)",
                         atol=1e-2)
            expect_close(got, want.float(), f"{where} vs the formula in float64", hint,
                         atol=1e-4, rtol=0)


# ----------------------------------------------------------------------- 5. encoder

def _layer_norm64(z, P, name, eps):
    return F.layer_norm(z, z.shape[-1:], P[f"{name}.weight"], P[f"{name}.bias"], eps)


def _encoder64(x, P, H, mask, norm_first, *, variant="", act="relu", eps=1e-5):
    """The encoder layer in float64 from the weights P (names as in nn.TransformerEncoderLayer),
    or one of the known wrong versions (`variant`)."""
    x = x.detach().double()
    n1, n2 = "norm1", "norm2"
    if variant == "shared_norm":
        n2 = "norm1"
    elif variant == "norms_swapped":
        n1, n2 = "norm2", "norm1"
    m = None if variant == "mask_ignored" else mask

    def attn(z):
        return _mha64(z, P, H, m)

    def ffn(z):
        h = z @ P["linear1.weight"].T + P["linear1.bias"]
        h = {"relu": torch.relu, "gelu": F.gelu, "none": lambda u: u}[act](h)
        return h @ P["linear2.weight"].T + P["linear2.bias"]

    def norm(z, which):
        return _layer_norm64(z, P, which, eps)

    if variant == "residual_after_norm":  # x = norm(x); x = x + sublayer(x)
        x = norm(x, n1)
        x = x + attn(x)
        x = norm(x, n2)
        return x + ffn(x)
    if variant == "norm_sublayer_only":  # x = x + norm(sublayer(x))
        x = x + norm(attn(x), n1)
        return x + norm(ffn(x), n2)
    if variant == "no_residual":
        if norm_first:
            return ffn(norm(attn(norm(x, n1)), n2))
        return norm(ffn(norm(attn(x), n1)), n2)
    if norm_first:
        x = x + attn(norm(x, n1))
        return x + ffn(norm(x, n2))
    x = norm(x + attn(x), n1)
    return norm(x + ffn(x), n2)


def _encoder_alternatives(x, P, H, mask, norm_first, eps):
    def alt(nf=norm_first, **kw):
        return lambda: _encoder64(x, P, H, mask, nf, eps=eps, **kw)

    which = "pre-norm" if norm_first else "post-norm"
    alts = [
        (alt(not norm_first), "norm_first was ignored: norm_first=True is pre-norm, x = x + "
         "drop(attn(norm1(x))), and norm_first=False post-norm, x = norm1(x + drop(attn(x)))"
         if norm_first else "with norm_first=False this is the pre-norm layer: post-norm "
         "normalises the sum, x = norm1(x + drop(attn(x))); check `if self.norm_first:`"),
        (alt(variant="residual_after_norm"), "the stream was overwritten by its normalised "
         "version (x = norm1(x); x = x + attn(x)), so the residual carries the NORMALISED input: "
         "pre-norm keeps the raw x on the residual path, x = x + attn(norm1(x))"),
        (alt(variant="norm_sublayer_only"), "only the sub-layer output was normalised, x = x + "
         "norm(attn(x)); post-norm normalises the sum, x = norm1(x + attn(x))"),
        (alt(variant="shared_norm"), "norm1 was used for both sub-layers: the feed-forward "
         f"sub-layer has its own LayerNorm, norm2 ({which})"),
        (alt(variant="norms_swapped"), "norm1 and norm2 are swapped: norm1 goes with the "
         "attention sub-layer, norm2 with the feed-forward one"),
        (alt(act="none"), "the ReLU of the feed-forward network is missing: "
         "linear2(drop(relu(linear1(x))))"),
        (alt(act="gelu"), "GELU was used; this layer (like nn.TransformerEncoderLayer's "
         "default) uses ReLU: linear2(drop(relu(linear1(x))))"),
        (alt(variant="no_residual"), "the residual connections are missing: add the sub-layer "
         "output to its input, x + sublayer(...)"),
    ]
    if mask is not None:
        alts.append((alt(variant="mask_ignored"), "the mask was not passed on to the attention: "
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
        P = _params64(pairs)
        eps = layer.norm1.eps
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
                y = call(layer, *args, where=here)
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
                                       _encoder_alternatives(x, P, H, mask, norm_first, eps)],
                             default)
                expect_close(real(y), real(want), f"{here} vs nn.TransformerEncoderLayer("
                             f"norm_first={norm_first}) with the same weights"
                             + (" (real tokens)" if padded else ""), hint, atol=ATOL, rtol=RTOL)
        perm = torch.tensor([3, 0, 4, 2, 1])
        here = f"{where}: forward(x[:, perm]) with perm = {perm.tolist()}, no mask"
        with torch.no_grad():
            y = layer(x)
            y_perm = call(layer, x[:, perm], where=here)
        expect_close(y_perm, y[:, perm], f"{here} vs forward(x)[:, perm]", "without positions "
                     "an encoder layer is permutation-equivariant: nothing may depend on where a "
                     "token sits", atol=ATOL, rtol=RTOL)

        # gradients, float64, against nn.TransformerEncoderLayer's
        _grads_vs_torch(
            layer, ref, lambda r, x, mask: r(x, src_mask=~mask), _encoder_pairs, causal[:3, :3],
            C, g, f"{where} in float64: gradients for x (1, 3, {C}), causal mask",
            "keep everything on the autograd graph (no .detach(), .data, .item()) and use "
            "the parameters of self_attn, linear1, linear2, norm1 and norm2")


# --------------------------------------------------------------------- 6. causal LM

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
        want = ones.tril()
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
    expect_equal(got, torch.ones(3, 3, dtype=torch.bool).tril(), where)


_LM = dict(d_model=16, n_heads=2, n_layers=2, d_ff=32, max_len=12, dropout=0.1)
_LM_VOCAB = 23


def _lm_positions(model, T):
    return model.pos_emb.weight[:T] if hasattr(model, "pos_emb") else model.pos_table[:T]


def _lm_ref(model, ids, *, mask="causal", positions=True, final_norm=True, scale_emb=False):
    """The LM forward from the learner's own parts (eval mode), or a known wrong version."""
    T = ids.shape[1]
    ones = torch.ones(T, T, dtype=torch.bool)
    m = {"causal": ones.tril(), "none": None, "triu": ones.triu(), "no_diag": ones.tril(-1),
         "blocked": ~ones.tril()}[mask]
    with torch.no_grad():
        x = model.tok_emb(ids) * (math.sqrt(model.tok_emb.embedding_dim) if scale_emb else 1)
        if positions:
            x = x + _lm_positions(model, T)
        for layer in model.layers:
            x = layer(x, m)
        if final_norm:
            x = model.norm(x)
        return x @ model.tok_emb.weight.T


def _lm_alternatives(model, ids, norm_first):
    alts = [
        (dict(mask="none"), "the layers ran without the causal mask: pass it to every layer, "
         "layer(x, causal_mask(T, ids.device))"),
        (dict(mask="triu"), "the mask lets query t see the future (s >= t): use causal_mask, "
         "the lower triangle"),
        (dict(mask="blocked"), "the mask follows the 'True = blocked' convention; here True "
         "means may attend: causal_mask(T)"),
        (dict(mask="no_diag"), "the mask leaves out the diagonal (s < t): query t must attend "
         "to itself too, s <= t"),
        (dict(positions=False), "no position embeddings were added: x = tok_emb(ids) + "
         "pos_emb(torch.arange(T)) (or + pos_table[:T] for sinusoids)"),
        (dict(scale_emb=True), "the token embeddings were multiplied by sqrt(d_model) (as in "
         "Vaswani et al.); this model adds tok_emb(ids) and the positions unscaled"),
    ]
    if norm_first:
        alts.append((dict(final_norm=False), "the final LayerNorm is missing: a pre-norm stack "
                     "never normalises its stream, so apply self.norm before self.head"))
    return [(lambda kw=kw: _lm_ref(model, ids, **kw), hint) for kw, hint in alts]


def _lm_parts(model, where, V, norm_first, positions):
    C, L, max_len = _LM["d_model"], _LM["n_layers"], _LM["max_len"]
    emb = getattr(model, "tok_emb", None)
    expect_true(isinstance(emb, nn.Embedding) and tuple(emb.weight.shape) == (V, C),
                f"{where}: self.tok_emb", "self.tok_emb = nn.Embedding(vocab_size, d_model)",
                expected=f"Embedding({V}, {C})", got=repr(emb))
    if positions == "learned":
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
        expect_close(table, _pe64(max_len, C), f"{where}: self.pos_table vs the sinusoids",
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


def _check_lm(CausalTransformerLM, norm_first, positions, seed):  # noqa: N803
    V, T = _LM_VOCAB, 10
    kw = dict(_LM, norm_first=norm_first, positions=positions)
    shown = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    where = f"CausalTransformerLM({V}, {shown})"
    model = build(CausalTransformerLM, where, V, seed=seed, **kw)
    _lm_parts(model, where, V, norm_first, positions)
    model.eval()
    g = gen(60 + seed)
    ids = torch.randint(0, V, (3, T), generator=g)

    def logits(x, label):
        here = f"{where}: forward(ids {_shape(x)}{label}) in eval mode"
        with torch.no_grad():
            out = call(model, x, where=here)
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

    with torch.no_grad():  # larger embeddings than at init, so that every part shows
        model.tok_emb.weight.copy_(torch.randn(V, _LM["d_model"], generator=g) * 0.5)
        if positions == "learned":
            model.pos_emb.weight.copy_(torch.randn(_LM["max_len"], _LM["d_model"],
                                                   generator=g) * 0.5)
    out, here = logits(ids, "")
    default = ("x = drop(tok_emb(ids) + positions[:T]); x = layer(x, causal_mask(T)) for each "
               "layer; logits = head(norm(x))")

    def explain(got):
        return which(got, _lm_alternatives(model, ids, norm_first), default)

    future = ids.clone()
    future[:, 6:] = (ids[:, 6:] + 1 + torch.randint(0, V - 1, (3, T - 6), generator=g)) % V
    out2, _ = logits(future, ", tokens 6.. changed")
    if not close(out2[:, :6], out[:, :6]):
        expect_close(out2[:, :6], out[:, :6], f"{where}: logits at positions 0..5 when only "
                     "tokens 6.. change (the future must not change the past)", explain(out),
                     atol=ATOL, rtol=RTOL)
    expect_true(not close(out2[:, 6], out[:, 6], atol=1e-6, rtol=0),
                f"{where}: logits at position 6 when token 6 changes", "the logits at position "
                "t must depend on token t itself", expected="changed", got="unchanged")
    here_t = ids.clone()
    here_t[:, 3] = (ids[:, 3] + 5) % V
    out3, _ = logits(here_t, ", token 3 changed")
    expect_true(not close(out3[:, 3], out[:, 3], atol=1e-6, rtol=0),
                f"{where}: logits at position 3 when only token 3 changes", explain(out)
                if not close(out, _lm_ref(model, ids)) else "query t must attend to key t "
                "(the diagonal of the mask)", expected="changed", got="unchanged")

    same = torch.full((1, 8), 7)
    rep, _ = logits(same, ", the same token 7 at every position")
    gap = (rep[0, 1:] - rep[0, :-1]).abs().amax().item()
    expect_true(gap > 1e-4, f"{where}: logits of a repeated token at positions 0..7",
                explain(out) if not close(out, _lm_ref(model, ids)) else "add the position "
                "embeddings to the token embeddings", expected="different at each position",
                got=f"identical (largest difference {gap:.2g})")

    want = _lm_ref(model, ids)
    if not close(out, want):
        expect_close(out, want, f"{where}: forward(ids (3, 10)) vs the model assembled from "
                     "your tok_emb, positions, layers, norm and tied head", explain(out),
                     atol=ATOL, rtol=RTOL)
    full = torch.randint(0, V, (2, _LM["max_len"]), generator=g)
    logits(full, f", T = max_len = {_LM['max_len']}")


@one_thread()
def check_causal_lm(causal_mask, CausalTransformerLM) -> None:  # noqa: N803
    """causal_mask is tril; the LM is causal, tied, near-uniform at init, position-aware."""
    _check_causal_mask(causal_mask)
    for seed, (norm_first, positions) in enumerate(((True, "learned"), (False, "sinusoidal"),
                                                    (True, "sinusoidal"), (False, "learned"))):
        _check_lm(CausalTransformerLM, norm_first, positions, seed)


# ---------------------------------------------------------------------- 7. schedules

def _linear_ref(step, warmup, total):
    """transformers.get_linear_schedule_with_warmup's multiplier (LambdaLR counts from 0)."""
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def _noam_ref(step, d_model, warmup):
    return d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)


def _number(got, where: str) -> float:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    expect_true(isinstance(got, (int, float)) and not isinstance(got, bool),
                f"{where}: return value", "return a Python number (a float)",
                expected="a float", got=f"{type(got).__name__}: {show(got)}")
    return float(got)


def _agree(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 + 1e-7 * abs(b)


def _check_curve(fn, label, args, steps, ref, alternatives, default):
    got = []
    for s in steps:
        got.append(_number(call(fn, s, *args, where=f"{label}({s}, {', '.join(map(str, args))})"),
                           f"{label}({s}, ...)"))
    want = [ref(s, *args) for s in steps]
    bad = [i for i, (a, b) in enumerate(zip(got, want)) if not _agree(a, b)]
    if bad:
        i = bad[0]
        hint = next((h for alt, h in alternatives
                     if all(_agree(a, alt(s, *args)) for a, s in zip(got, steps))), default)
        fail(f"{label}({steps[i]}, {', '.join(map(str, args))}): the first of {len(bad)} wrong "
             f"values for step in {steps[0]}..{steps[-1]}", want[i], got[i], hint)


def _safe(f):
    def wrapped(*args):
        try:
            return f(*args)
        except (ZeroDivisionError, OverflowError, ValueError):
            return math.nan
    return wrapped


_LINEAR_ALTERNATIVES = [
    (_safe(lambda s, w, t: _linear_ref(s + 1, w, t)), "off by one: LambdaLR passes the number of "
     "steps taken, starting at 0, so the multiplier is step / warmup_steps (0 at step 0), not "
     "(step + 1) / warmup_steps"),
    (_safe(lambda s, w, t: s / w if s < w else max(0.0, 1 - s / (t - w))), "the decay reaches 0 "
     "at step total_steps - warmup_steps: it runs from 1 at warmup_steps to 0 at total_steps, "
     "(total_steps - step) / (total_steps - warmup_steps)"),
    (_safe(lambda s, w, t: s / w if s < w else (t - s) / max(1, t - w)), "after total_steps the "
     "multiplier went negative: clamp it at 0, max(0.0, ...)"),
    (_safe(lambda s, w, t: s / w if s < w else max(0.0, (t - s) / t)), "the decay divides by "
     "total_steps; it runs from 1 at warmup_steps to 0 at total_steps: divide by "
     "(total_steps - warmup_steps)"),
    (_safe(lambda s, w, t: (s + 1) / w if s < w else max(0.0, (t - s) / max(1, t - w))),
     "off by one in the warm-up: step / warmup_steps, 0 at step 0"),
]

_NOAM_ALTERNATIVES = [
    (_safe(lambda s, d, w: d ** -0.5 * min(s ** -0.5, s * w ** -0.5)), "the warm-up branch is "
     "step * warmup_steps^-1.5 (exponent -1.5, not -0.5), so that the branches meet at "
     "step = warmup_steps"),
    (_safe(lambda s, d, w: min(s ** -0.5, s * w ** -1.5)), "the factor d_model^-0.5 is missing"),
    (_safe(lambda s, d, w: d ** 0.5 * min(s ** -0.5, s * w ** -1.5)), "the factor is "
     "d_model ** -0.5 (wider models get smaller rates), not d_model ** 0.5"),
    (_safe(lambda s, d, w: d ** -0.5 * max(s ** -0.5, s * w ** -1.5)), "take the min of the two "
     "branches, not the max"),
    (_safe(lambda s, d, w: _noam_ref(s + 1, d, w)), "off by one: the step passed in is already "
     "counted from 1 (the caller passes s + 1); use it as it is"),
    (_safe(lambda s, d, w: _noam_ref(s - 1, d, w)), "off by one: the step passed in is already "
     "counted from 1; use it as it is"),
]


@one_thread()
def check_schedules(linear_warmup_decay, inverse_sqrt_schedule) -> None:
    """The linear warm-up/decay multiplier and the inverse-square-root (Noam) schedule."""
    default = ("step / warmup_steps while step < warmup_steps, then max(0, (total_steps - step) "
               "/ (total_steps - warmup_steps)) (transformers.get_linear_schedule_with_warmup)")
    for w, t in ((10, 50), (0, 20), (3, 4)):
        _check_curve(linear_warmup_decay, "linear_warmup_decay", (w, t), list(range(t + 6)),
                     _linear_ref, _LINEAR_ALTERNATIVES, default)
    default = "d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)"
    _check_curve(inverse_sqrt_schedule, "inverse_sqrt_schedule", (64, 10), list(range(1, 41)),
                 _noam_ref, _NOAM_ALTERNATIVES, default)
    _check_curve(inverse_sqrt_schedule, "inverse_sqrt_schedule", (512, 4000),
                 [1, 2, 100, 3999, 4000, 4001, 8000, 16000, 100000], _noam_ref,
                 _NOAM_ALTERNATIVES, default)
