"""Mutants of Chapter 3 (the Transformer): wrong answers a student would really write.

Each `source` redefines the exercise's function(s)/class inside a copy of the solution
namespace (`tests.mutants.apply`), with its own imports. Classes are written out in full
(not subclassed) so they do not depend on the solution's private helpers; they use the
solution's other exercises where a student would (MultiHeadAttention uses
`split_heads` and `scaled_dot_product_attention`, EncoderLayer uses `MultiHeadAttention`,
the LM uses `EncoderLayer`, `causal_mask` and `sinusoidal_positions`).
"""

from __future__ import annotations

from textwrap import dedent, indent

from . import Mutant

_IMPORTS = """\
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
"""


def _m(exercise: str, name: str, source: str) -> Mutant:
    return Mutant(exercise, name, _IMPORTS + dedent(source))


def _body(text: str, depth: int) -> str:
    """`text` dedented, then indented `depth` levels, as a block of lines."""
    return indent(dedent(text).strip("\n"), "    " * depth) + "\n"


# ------------------------------------------------------------------------- attention

def _attention(scores: str, weights: str) -> str:
    """scaled_dot_product_attention with its scores line(s) and weights line(s) replaced."""
    return ("def scaled_dot_product_attention(q, k, v, mask=None):\n" + _body(scores, 1)
            + _body(weights, 1) + "    return weights @ v, weights\n")


_SCORES = "scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])"
_MASKED_SOFTMAX = """\
if mask is not None:
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
weights = torch.softmax(scores, dim=-1)
if mask is not None:
    weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
"""

_ATTENTION = [
    _m("attention", "no_scale", _attention(
        "scores = q @ k.transpose(-2, -1)", _MASKED_SOFTMAX)),
    _m("attention", "scale_by_d", _attention(
        "scores = q @ k.transpose(-2, -1) / q.shape[-1]", _MASKED_SOFTMAX)),
    _m("attention", "softmax_over_queries", _attention(_SCORES, _MASKED_SOFTMAX.replace(
        "torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=-2)"))),
    _m("attention", "mask_after_softmax", _attention(_SCORES, """\
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = weights * mask
        """)),
    _m("attention", "neg_inf_gives_nan", _attention(_SCORES, """\
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        """)),
    _m("attention", "mask_inverted", _attention(_SCORES, """\
        if mask is not None:
            scores = scores.masked_fill(mask, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = weights.masked_fill(mask.all(dim=-1, keepdim=True), 0.0)
        """)),
    _m("attention", "naive_softmax", _attention(_SCORES, """\
        if mask is not None:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        e = torch.exp(scores)
        weights = e / e.sum(dim=-1, keepdim=True)
        if mask is not None:
            weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
        """)),
    _m("attention", "masked_scores_zero", _attention(_SCORES, """\
        if mask is not None:
            scores = scores * mask
        weights = torch.softmax(scores, dim=-1)
        """)),
    _m("attention", "empty_rows_uniform", _attention(_SCORES, """\
        if mask is not None:
            scores = scores.masked_fill(~mask, -1e9)
        weights = torch.softmax(scores, dim=-1)
        """)),
    # shortcuts: right answers that call the implementation the exercise asks for
    _m("attention", "out_from_library", _attention(_SCORES, _MASKED_SOFTMAX).replace(
        "    return weights @ v, weights\n",
        "    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), weights\n")),
    _m("attention", "library_imported_by_name", """
        from torch.nn.functional import scaled_dot_product_attention as sdpa

        def scaled_dot_product_attention(q, k, v, mask=None):
            Tk = k.shape[-2]
            eye = torch.eye(Tk, dtype=q.dtype).expand(*q.shape[:-2], Tk, Tk)
            return sdpa(q, k, v, attn_mask=mask), sdpa(q, k, eye, attn_mask=mask)
    """),
    _m("attention", "out_from_torch_c_nn", _attention(_SCORES, _MASKED_SOFTMAX).replace(
        "    return weights @ v, weights\n",
        "    return torch._C._nn.scaled_dot_product_attention(q, k, v, attn_mask=mask), weights\n")),
]

# ----------------------------------------------------------------------------- heads

_SPLIT = """
def split_heads(x, n_heads):
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)
"""
_MERGE = """
def merge_heads(x):
    B, H, T, D = x.shape
    return x.transpose(1, 2).reshape(B, T, H * D)
"""

_HEADS = [
    _m("heads", "split_view_not_transpose", _MERGE + dedent("""
        def split_heads(x, n_heads):
            B, T, C = x.shape
            return x.view(B, n_heads, T, C // n_heads)
    """)),
    _m("heads", "split_transpose_wrong_axes", _MERGE + dedent("""
        def split_heads(x, n_heads):
            B, T, C = x.shape
            return x.view(B, T, n_heads, C // n_heads).transpose(1, 3)
    """)),
    _m("heads", "split_round_robin", _MERGE + dedent("""
        def split_heads(x, n_heads):
            B, T, C = x.shape
            return x.view(B, T, C // n_heads, n_heads).permute(0, 3, 1, 2)
    """)),
    _m("heads", "merge_without_transpose", _SPLIT + dedent("""
        def merge_heads(x):
            B, H, T, D = x.shape
            return x.reshape(B, T, H * D)
    """)),
    _m("heads", "merge_view_non_contiguous", _SPLIT + dedent("""
        def merge_heads(x):
            B, H, T, D = x.shape
            return x.transpose(1, 2).view(B, T, H * D)
    """)),
    _m("heads", "merge_features_interleaved", _SPLIT + dedent("""
        def merge_heads(x):
            B, H, T, D = x.shape
            return x.permute(0, 2, 3, 1).reshape(B, T, H * D)
    """)),
]

# ------------------------------------------------------------------------------- mha

_MHA_INIT = """
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None, return_weights=False):
"""


def _mha(body: str) -> str:
    return _MHA_INIT + _body(body, 2)


_MHA = [
    _m("mha", "no_out_proj", _mha("""\
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.k_proj(x), self.n_heads)
        v = split_heads(self.v_proj(x), self.n_heads)
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        y = merge_heads(out)
        return (y, weights) if return_weights else y
        """)),
    _m("mha", "heads_split_with_view", _mha("""\
        B, T, C = x.shape
        H = self.n_heads
        q = self.q_proj(x).view(B, H, T, C // H)
        k = self.k_proj(x).view(B, H, T, C // H)
        v = self.v_proj(x).view(B, H, T, C // H)
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        y = self.out_proj(out.reshape(B, T, C))
        return (y, weights) if return_weights else y
        """)),
    _m("mha", "k_v_swapped", _mha("""\
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.v_proj(x), self.n_heads)
        v = split_heads(self.k_proj(x), self.n_heads)
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        y = self.out_proj(merge_heads(out))
        return (y, weights) if return_weights else y
        """)),
    _m("mha", "mask_ignored", _mha("""\
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.k_proj(x), self.n_heads)
        v = split_heads(self.v_proj(x), self.n_heads)
        out, weights = scaled_dot_product_attention(q, k, v)
        y = self.out_proj(merge_heads(out))
        return (y, weights) if return_weights else y
        """)),
    _m("mha", "scaled_by_d_model", _mha("""\
        B, T, C = x.shape
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.k_proj(x), self.n_heads)
        v = split_heads(self.v_proj(x), self.n_heads)
        scores = q @ k.transpose(-2, -1) / math.sqrt(C)
        if mask is not None:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        y = self.out_proj(merge_heads(weights @ v))
        return (y, weights) if return_weights else y
        """)),
    _m("mha", "one_head", _mha("""\
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        out, weights = scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], mask)
        y = self.out_proj(out[:, 0])
        return (y, weights.expand(-1, self.n_heads, -1, -1)) if return_weights else y
        """)),
    _m("mha", "weights_averaged_over_heads", _mha("""\
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.k_proj(x), self.n_heads)
        v = split_heads(self.v_proj(x), self.n_heads)
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        y = self.out_proj(merge_heads(out))
        return (y, weights.mean(dim=1)) if return_weights else y
        """)),
    # shortcuts: the projections the exercise prescribes, handed to PyTorch's attention
    _m("mha", "calls_multi_head_attention_forward", _mha("""\
        B, T, C = x.shape
        w = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])
        b = torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
        blocked = None
        if mask is not None:
            blocked = ~mask.expand(B, self.n_heads, T, T).reshape(B * self.n_heads, T, T)
        xt = x.transpose(0, 1)  # (T, B, C)
        y, weights = F.multi_head_attention_forward(
            xt, xt, xt, C, self.n_heads, w, b, None, None, False, 0.0, self.out_proj.weight,
            self.out_proj.bias, training=self.training, attn_mask=blocked, need_weights=True,
            average_attn_weights=False)
        y = y.transpose(0, 1)
        return (y, weights) if return_weights else y
        """)),
    _m("mha", "calls_torch_multihead_attention", _MHA_INIT.replace(
        "        self.out_proj = nn.Linear(d_model, d_model)\n",
        "        self.out_proj = nn.Linear(d_model, d_model)\n"
        "        self.torch_attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)\n")
        + _body("""\
        B, T, C = x.shape
        params = {
            "in_proj_weight": torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]),
            "in_proj_bias": torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
            "out_proj.weight": self.out_proj.weight, "out_proj.bias": self.out_proj.bias}
        blocked = None
        if mask is not None:
            blocked = ~mask.expand(B, self.n_heads, T, T).reshape(B * self.n_heads, T, T)
        y, weights = torch.func.functional_call(
            self.torch_attn, params, (x, x, x),
            {"attn_mask": blocked, "need_weights": True, "average_attn_weights": False})
        return (y, weights) if return_weights else y
        """, 2)),
]

# ------------------------------------------------------------------------- positions

_POSITIONS = [
    _m("positions", "sin_cos_swapped", """
        def sinusoidal_positions(n_positions, d_model):
            t = torch.arange(n_positions, dtype=torch.float32)[:, None]
            angle = t / 10000.0 ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
            pe = torch.zeros(n_positions, d_model)
            pe[:, 0::2] = torch.cos(angle)
            pe[:, 1::2] = torch.sin(angle)
            return pe
    """),
    _m("positions", "exponent_pair_index", """
        def sinusoidal_positions(n_positions, d_model):
            t = torch.arange(n_positions, dtype=torch.float32)[:, None]
            i = torch.arange(d_model // 2, dtype=torch.float32)
            angle = t / 10000.0 ** (i / d_model)
            pe = torch.zeros(n_positions, d_model)
            pe[:, 0::2] = torch.sin(angle)
            pe[:, 1::2] = torch.cos(angle)
            return pe
    """),
    _m("positions", "exponent_per_dimension", """
        def sinusoidal_positions(n_positions, d_model):
            pe = torch.zeros(n_positions, d_model)
            for t in range(n_positions):
                for j in range(d_model):
                    angle = t / 10000 ** (j / d_model)
                    pe[t, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            return pe
    """),
    _m("positions", "halves_concatenated", """
        def sinusoidal_positions(n_positions, d_model):
            t = torch.arange(n_positions, dtype=torch.float32)[:, None]
            angle = t / 10000.0 ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
            return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)
    """),
    _m("positions", "base_1000", """
        def sinusoidal_positions(n_positions, d_model):
            t = torch.arange(n_positions, dtype=torch.float32)[:, None]
            angle = t / 1000.0 ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
            pe = torch.zeros(n_positions, d_model)
            pe[:, 0::2] = torch.sin(angle)
            pe[:, 1::2] = torch.cos(angle)
            return pe
    """),
    _m("positions", "numpy_float64", """
        import numpy as np

        def sinusoidal_positions(n_positions, d_model):
            t = np.arange(n_positions)[:, None]
            angle = t / 10000.0 ** (np.arange(0, d_model, 2) / d_model)
            pe = np.zeros((n_positions, d_model))
            pe[:, 0::2] = np.sin(angle)
            pe[:, 1::2] = np.cos(angle)
            return torch.from_numpy(pe)
    """),
    _m("positions", "multiplied_not_divided", """
        def sinusoidal_positions(n_positions, d_model):
            t = torch.arange(n_positions, dtype=torch.float32)[:, None]
            angle = t * 10000.0 ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
            pe = torch.zeros(n_positions, d_model)
            pe[:, 0::2] = torch.sin(angle)
            pe[:, 1::2] = torch.cos(angle)
            return pe
    """),
]

# --------------------------------------------------------------------------- encoder

_ENCODER_INIT = """
class EncoderLayer(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads)
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def ffn(self, x):
        return self.linear2(self.dropout(F.relu(self.linear1(x))))

    def forward(self, x, mask=None):
"""


def _encoder(body: str, init: str = _ENCODER_INIT) -> str:
    return init + _body(body, 2)


_CORRECT_ENCODER = """\
if self.norm_first:
    x = x + self.dropout(self.self_attn(self.norm1(x), mask))
    x = x + self.dropout(self.ffn(self.norm2(x)))
else:
    x = self.norm1(x + self.dropout(self.self_attn(x, mask)))
    x = self.norm2(x + self.dropout(self.ffn(x)))
return x
"""

_ENCODER = [
    _m("encoder", "pre_norm_residual_after_norm", _encoder("""\
        if self.norm_first:
            x = self.norm1(x)
            x = x + self.dropout(self.self_attn(x, mask))
            x = self.norm2(x)
            x = x + self.dropout(self.ffn(x))
        else:
            x = self.norm1(x + self.dropout(self.self_attn(x, mask)))
            x = self.norm2(x + self.dropout(self.ffn(x)))
        return x
        """)),
    _m("encoder", "post_norm_normalises_sublayer_only", _encoder("""\
        if self.norm_first:
            x = x + self.dropout(self.self_attn(self.norm1(x), mask))
            x = x + self.dropout(self.ffn(self.norm2(x)))
        else:
            x = x + self.norm1(self.dropout(self.self_attn(x, mask)))
            x = x + self.norm2(self.dropout(self.ffn(x)))
        return x
        """)),
    _m("encoder", "norm_first_ignored", _encoder("""\
        x = self.norm1(x + self.dropout(self.self_attn(x, mask)))
        x = self.norm2(x + self.dropout(self.ffn(x)))
        return x
        """)),
    _m("encoder", "one_norm_for_both_sublayers", _encoder(
        _CORRECT_ENCODER.replace("self.norm2(", "self.norm1("))),
    _m("encoder", "one_layernorm_module", _encoder(_CORRECT_ENCODER, _ENCODER_INIT.replace(
        "self.norm1 = nn.LayerNorm(d_model)\n        self.norm2 = nn.LayerNorm(d_model)",
        "self.norm1 = self.norm2 = nn.LayerNorm(d_model)"))),
    _m("encoder", "no_relu", _encoder(_CORRECT_ENCODER, _ENCODER_INIT.replace(
        "self.dropout(F.relu(self.linear1(x)))", "self.dropout(self.linear1(x))"))),
    _m("encoder", "mask_not_passed", _encoder(
        _CORRECT_ENCODER.replace(", mask)", ")"))),
    _m("encoder", "norms_swapped", _encoder(
        _CORRECT_ENCODER.replace("norm1", "normX").replace("norm2", "norm1")
        .replace("normX", "norm2"))),
    # a shortcut: the prescribed parts, run by PyTorch's layer
    _m("encoder", "calls_torch_encoder_layer", _encoder("""\
        a = self.self_attn
        params = {
            "self_attn.in_proj_weight": torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]),
            "self_attn.in_proj_bias": torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias]),
            "self_attn.out_proj.weight": a.out_proj.weight, "self_attn.out_proj.bias": a.out_proj.bias}
        for name in ("linear1", "linear2", "norm1", "norm2"):
            params[f"{name}.weight"] = getattr(self, name).weight
            params[f"{name}.bias"] = getattr(self, name).bias
        B, T, _ = x.shape
        blocked = None
        if mask is not None:
            blocked = ~mask.expand(B, a.n_heads, T, T).reshape(B * a.n_heads, T, T)
        return torch.func.functional_call(self.torch_layer, params, (x,), {"src_mask": blocked})
        """, _ENCODER_INIT.replace(
        "        self.dropout = nn.Dropout(dropout)\n",
        "        self.dropout = nn.Dropout(dropout)\n"
        "        self.torch_layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout,\n"
        "                                                      batch_first=True, norm_first=norm_first)\n"))),
]

# ------------------------------------------------------------------------- causal LM

_LM_CLASS = """
class CausalTransformerLM(nn.Module):
    def __init__(self, vocab_size, d_model=128, n_heads=4, n_layers=2, d_ff=512, max_len=256,
                 dropout=0.1, norm_first=True, positions="learned"):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.tok_emb.weight, std=0.02)
        if positions == "learned":
            self.pos_emb = nn.Embedding(max_len, d_model)
            nn.init.normal_(self.pos_emb.weight, std=0.02)
        else:
            self.register_buffer("pos_table", sinusoidal_positions(max_len, d_model))
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            [EncoderLayer(d_model, n_heads, d_ff, dropout, norm_first) for _ in range(n_layers)])
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight

    def forward(self, ids):
        B, T = ids.shape
        pos = self.pos_emb.weight[:T] if hasattr(self, "pos_emb") else self.pos_table[:T]
        x = self.drop(self.tok_emb(ids) + pos)
        mask = causal_mask(T, ids.device)
        for layer in self.layers:
            x = layer(x, mask)
        return self.head(self.norm(x))
"""


def _lm(old: str, new: str) -> str:
    assert old in _LM_CLASS, old
    return _LM_CLASS.replace(old, new)


_CAUSAL_LM = [
    _m("causal_lm", "mask_triu", """
        def causal_mask(T, device=None):
            return torch.ones(T, T, dtype=torch.bool, device=device).triu()
    """),
    _m("causal_lm", "mask_without_diagonal", """
        def causal_mask(T, device=None):
            return torch.ones(T, T, dtype=torch.bool, device=device).tril(-1)
    """),
    _m("causal_lm", "mask_true_is_blocked", """
        def causal_mask(T, device=None):
            return torch.ones(T, T, dtype=torch.bool, device=device).triu(1)
    """),
    _m("causal_lm", "mask_not_passed", _lm("x = layer(x, mask)", "x = layer(x)")),
    _m("causal_lm", "no_positions", _lm("x = self.drop(self.tok_emb(ids) + pos)",
                                        "x = self.drop(self.tok_emb(ids))")),
    _m("causal_lm", "untied_head", _lm("        self.head.weight = self.tok_emb.weight\n", "")),
    _m("causal_lm", "no_final_norm", _lm("return self.head(self.norm(x))",
                                         "return self.head(x)")),
    _m("causal_lm", "embeddings_default_init", _lm(
        "nn.init.normal_(self.tok_emb.weight, std=0.02)", "pass").replace(
        "nn.init.normal_(self.pos_emb.weight, std=0.02)", "pass")),
    _m("causal_lm", "inline_mask_without_diagonal", _lm(
        "mask = causal_mask(T, ids.device)",
        "mask = torch.ones(T, T, dtype=torch.bool, device=ids.device).tril(-1)")),
    # shortcuts: the stack of layers from torch.nn (as the chapter's TorchCausalLM)
    _m("causal_lm", "torch_transformer_encoder", _lm(
        """        self.layers = nn.ModuleList(
            [EncoderLayer(d_model, n_heads, d_ff, dropout, norm_first) for _ in range(n_layers)])
""", """        layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout, batch_first=True,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.layers = self.encoder.layers
""").replace("""        for layer in self.layers:
            x = layer(x, mask)
""", """        x = self.encoder(x, mask=~mask)
""")),
    _m("causal_lm", "torch_encoder_layers", _lm(
        "[EncoderLayer(d_model, n_heads, d_ff, dropout, norm_first) for _ in range(n_layers)])",
        "[nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout, batch_first=True,\n"
        "                                norm_first=norm_first) for _ in range(n_layers)])").replace(
        "x = layer(x, mask)", "x = layer(x, src_mask=~mask)")),
]

# ------------------------------------------------------------------------- schedules

_LINEAR = """
def linear_warmup_decay(step, warmup_steps, total_steps):
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
"""
_NOAM = """
def inverse_sqrt_schedule(step, d_model, warmup_steps):
    return d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)
"""

_SCHEDULES = [
    _m("schedules", "warmup_exponent_half", _LINEAR + dedent("""
        def inverse_sqrt_schedule(step, d_model, warmup_steps):
            return d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -0.5)
    """)),
    _m("schedules", "no_d_model_factor", _LINEAR + dedent("""
        def inverse_sqrt_schedule(step, d_model, warmup_steps):
            return min(step ** -0.5, step * warmup_steps ** -1.5)
    """)),
    _m("schedules", "noam_max_not_min", _LINEAR + dedent("""
        def inverse_sqrt_schedule(step, d_model, warmup_steps):
            return d_model ** -0.5 * max(step ** -0.5, step * warmup_steps ** -1.5)
    """)),
    _m("schedules", "linear_off_by_one", _NOAM + dedent("""
        def linear_warmup_decay(step, warmup_steps, total_steps):
            step = step + 1
            if step < warmup_steps:
                return step / max(1, warmup_steps)
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    """)),
    _m("schedules", "decay_ends_at_total_minus_warmup", _NOAM + dedent("""
        def linear_warmup_decay(step, warmup_steps, total_steps):
            if step < warmup_steps:
                return step / warmup_steps
            return max(0.0, 1 - step / (total_steps - warmup_steps))
    """)),
    _m("schedules", "no_clamp_after_total", _NOAM + dedent("""
        def linear_warmup_decay(step, warmup_steps, total_steps):
            if step < warmup_steps:
                return step / warmup_steps
            return (total_steps - step) / max(1, total_steps - warmup_steps)
    """)),
    _m("schedules", "decay_over_total_steps", _NOAM + dedent("""
        def linear_warmup_decay(step, warmup_steps, total_steps):
            if step < warmup_steps:
                return step / warmup_steps
            return max(0.0, (total_steps - step) / total_steps)
    """)),
    # a shortcut: the library's schedule, read off a throwaway optimizer
    _m("schedules", "linear_from_transformers", _NOAM + dedent("""
        def linear_warmup_decay(step, warmup_steps, total_steps):
            from transformers import get_linear_schedule_with_warmup

            opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
            return get_linear_schedule_with_warmup(opt, warmup_steps, total_steps).lr_lambdas[0](step)
    """)),
]

MUTANTS: list[Mutant] = _ATTENTION + _HEADS + _MHA + _POSITIONS + _ENCODER + _CAUSAL_LM + _SCHEDULES
