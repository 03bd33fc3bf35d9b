"""Visible checks for Chapter 4, "BERT": the model (embeddings, encoder, MLM head, export).

One check per exercise. Each builds the learner's module under a fixed seed, gives it the
same weights as the real library and the same inputs, and compares; expected values come
from `transformers` (MiniLM's weights, or a small seeded random BertConfig), never from an
implementation kept here. A passing check returns None.

    check_embeddings(BertEmbeddings)
        vs transformers' BertEmbeddings: a small random config, and MiniLM's embeddings
    check_encoder(Bert, load_hf_weights)
        vs transformers' BertModel with MiniLM's weights, on tokenized Rotten Tomatoes pairs
    check_mlm_head(MLMHead, mlm_loss)
        vs transformers' BertForMaskedLM (a small random config): logits, loss, tying, and
        the rows that reach the vocabulary projection
    check_export(Bert, load_hf_weights, to_hf_state_dict)
        round trip: model.safetensors + config.json read back by BertModel.from_pretrained

Every call of the learner's code runs inside `_reference.no_wrapping`: an answer that calls
transformers' BERT modules fails with a message saying what the exercise asks. Likely bugs
are named from symptoms: transformers run with one setting changed (hidden_act="relu" or
"gelu_pytorch_tanh", layer_norm_eps=1e-5, position ids from 1, query and key swapped), or
properties of the output (the same token at two positions gives the same vector).

Tolerances: float32 within atol 1e-5 + rtol 1e-4. MiniLM's six layers agree with
transformers to ~3e-6 on this machine, so the whole encoder is held to 1e-5 as well; only
the export round trip (perturbed weights, a second load) allows atol 1e-4. The checks
leave the global random state and the grad mode as they found them.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
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
    examine,
    expect_true,
    fail,
    gen,
    one_thread,
    run,
    show,
)
from . import _reference as _R

__all__ = ["check_embeddings", "check_encoder", "check_mlm_head", "check_export"]

ATOL, RTOL = 1e-5, 1e-4
_LIKE = 2e-5  # a symptom (transformers with one setting changed) matched within this

_ASKS = {
    "embeddings": "add the token, position and segment embeddings and normalise them",
    "encoder": "build BERT's encoder from nn.TransformerEncoderLayer and load MiniLM's weights",
    "mlm": "write BERT's masked-LM head and loss",
    "export": "map your model's weights back to transformers' names",
}


def _guard(fn: Callable[..., Any], where: str, exercise: str) -> Callable[..., Any]:
    """`fn` (the learner's) runs with the library it is compared with switched off."""
    return _R.guarded(fn, where, _ASKS[exercise])


def _lookup(module: Any, dotted: str) -> Any:
    """module.a.b.c, or None where a part is missing."""
    for part in dotted.split("."):
        module = getattr(module, part, None)
    return module


def _copy_into(model: nn.Module, weights: Mapping[str, torch.Tensor], where: str,
               hints: Mapping[str, str]) -> None:
    """Give the learner's parameters (by the stub's names) the library's values."""
    for name, value in weights.items():
        target = _lookup(model, name)
        hint = next(h for prefix, h in hints.items() if name.startswith(prefix))
        expect_true(isinstance(target, torch.Tensor), f"{where}: {name}", hint,
                    expected=f"a parameter of shape {tuple(value.shape)}",
                    got="nothing by that name" if target is None else type(target).__name__)
        expect_true(tuple(target.shape) == tuple(value.shape), f"{where}: {name}: shape", hint,
                    expected=str(tuple(value.shape)), got=str(tuple(target.shape)))
    with torch.no_grad():
        for name, value in weights.items():
            _lookup(model, name).copy_(value)


def _forked(fn: Callable[[], Any]) -> Any:
    """`fn()` without touching the global random state (library models draw their init)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return fn()


def _minilm() -> Any:
    return _forked(_R.hf_model)


def _quote(text: str, n: int = 40) -> str:
    return repr(text if len(text) <= n else text[: n - 3] + "...")


# ---------------------------------------------------------------------------- inputs

@functools.cache
def _short() -> tuple[str, ...]:
    """Short Rotten Tomatoes sentences (4 to 10 words), in the data's order."""
    return tuple(s for s in _R.sentences() if 4 <= len(s.split()) <= 10)[:12]


def _pairs() -> list[tuple[str, str]]:
    s = _short()
    return [(s[i], s[i + 4]) for i in range(4)]


@functools.cache
def _encoded(kind: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, token_type_ids, attention_mask) from MiniLM's tokenizer. kind: "pair" (one
    pair, no padding), "batch" (the four pairs, padded), "sentence" (one sentence)."""
    tok = _R.tokenizer()
    if kind == "pair":
        enc = tok(*_pairs()[0], return_tensors="pt")
    elif kind == "batch":
        a, b = zip(*_pairs())
        enc = tok(list(a), list(b), padding=True, return_tensors="pt")
    else:
        enc = tok(_short()[8], return_tensors="pt")
    return enc["input_ids"], enc["token_type_ids"], enc["attention_mask"]


def _inputs(kind: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return tuple(t.clone() for t in _encoded(kind))


def _hidden(model: Any, ids, types, mask) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state


@functools.cache
def _minilm_out(kind: str, no_mask: bool = False) -> torch.Tensor:
    ids, types, mask = _inputs(kind)
    return _hidden(_minilm(), ids, types, torch.ones_like(mask) if no_mask else mask)


def _pad_more(ids, types, mask, n: int = 5):
    extra = torch.zeros(ids.shape[0], n, dtype=ids.dtype)
    return tuple(torch.cat([t, extra], 1) for t in (ids, types, mask))


def _sizes() -> dict[str, Any]:
    c = _R.config()
    return dict(vocab_size=c.vocab_size, hidden=c.hidden_size, layers=c.num_hidden_layers,
                heads=c.num_attention_heads, ffn=c.intermediate_size,
                max_positions=c.max_position_embeddings, type_vocab_size=c.type_vocab_size,
                eps=c.layer_norm_eps)


_BERT = ("Bert(vocab_size=30522, hidden=384, layers=6, heads=12, ffn=1536, max_positions=512, "
         "type_vocab_size=2, eps=1e-12)")


# ------------------------------------------------------- transformers, one setting changed

_QKV = ("query", "key", "value")


@functools.cache
def _variant(name: str, kind: str = "pair") -> torch.Tensor:
    """MiniLM's output, as transformers computes it with one setting changed, on `kind`."""
    from transformers import BertModel

    settings = {"relu": {"hidden_act": "relu"}, "tanh": {"hidden_act": "gelu_pytorch_tanh"},
                "eps_layers": {"layer_norm_eps": 1e-5}, "eps_all": {"layer_norm_eps": 1e-5}}
    with _R._quiet():
        model = _forked(lambda: BertModel.from_pretrained(
            _R.minilm_dir(), add_pooling_layer=False, **settings.get(name, {})).eval())
    if name == "eps_layers":  # only the encoder layers' LayerNorms, not the embeddings'
        model.embeddings.LayerNorm.eps = _R.config().layer_norm_eps
    with torch.no_grad():
        for layer in model.encoder.layer:
            attn = layer.attention.self
            if name.startswith("order_"):  # in_proj rows stacked in another order
                order = name.removeprefix("order_").split("_")
                old = {n: (getattr(attn, n).weight.clone(), getattr(attn, n).bias.clone())
                       for n in _QKV}
                for n, src in zip(_QKV, order):
                    getattr(attn, n).weight.copy_(old[src][0])
                    getattr(attn, n).bias.copy_(old[src][1])
            if name == "qk_transposed":
                for n in ("query", "key"):
                    w = getattr(attn, n).weight
                    w.copy_(w.t().clone())
    return _hidden(model, *_inputs(kind))


_WRONG_ORDERS = [("key", "query", "value"), ("query", "value", "key"), ("value", "key", "query"),
                 ("key", "value", "query"), ("value", "query", "key")]


def _order_bug(order: tuple[str, ...]) -> Bug:
    return Bug(f"in_proj_weight (and in_proj_bias) must stack MiniLM's rows in the order query, "
               f"key, value: torch.cat([query, key, value]); yours behaves like the order "
               f"({', '.join(order)})", like=lambda *_: _variant("order_" + "_".join(order)),
               atol=_LIKE)


# ------------------------------------------------------------------------- 1. embeddings

_SMALL = dict(vocab_size=50, hidden_size=16, max_position_embeddings=20, type_vocab_size=2,
              pad_token_id=3)
_EMB_WHERE = "BertEmbeddings(50, 16, max_positions=20, type_vocab_size=2, pad_id=3)"
_EMB_NAMES = ("word_embeddings.weight", "position_embeddings.weight",
              "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias")
_EMB_HINTS = {"": "name the parts as transformers' BertEmbeddings does (the stub shows them): "
              "word_embeddings (nn.Embedding(vocab_size, hidden)), position_embeddings "
              "(nn.Embedding(max_positions, hidden)), token_type_embeddings "
              "(nn.Embedding(type_vocab_size, hidden)), LayerNorm (nn.LayerNorm(hidden)), dropout"}


def _small_config(**changes):
    from transformers import BertConfig

    settings = dict(_SMALL, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                    hidden_act="gelu", layer_norm_eps=1e-12, hidden_dropout_prob=0.1)
    settings.update(changes)
    return BertConfig(**settings)


@functools.cache
def _small_embedding_weights() -> dict[str, torch.Tensor]:
    """BERT-sized values (std 0.02, as BERT initialises), so LayerNorm's eps is visible."""
    g = gen(0)
    s = _SMALL
    shapes = {"word_embeddings.weight": (s["vocab_size"], s["hidden_size"]),
              "position_embeddings.weight": (s["max_position_embeddings"], s["hidden_size"]),
              "token_type_embeddings.weight": (s["type_vocab_size"], s["hidden_size"])}
    weights = {n: torch.randn(shape, generator=g) * 0.02 for n, shape in shapes.items()}
    weights["LayerNorm.weight"] = 1 + 0.1 * torch.randn(s["hidden_size"], generator=g)
    weights["LayerNorm.bias"] = 0.1 * torch.randn(s["hidden_size"], generator=g)
    return weights


def _hf_embeddings(config, weights: Mapping[str, torch.Tensor]):
    from transformers.models.bert.modeling_bert import BertEmbeddings

    module = _forked(lambda: BertEmbeddings(config))
    module.load_state_dict(dict(weights))
    return module.eval()


@functools.cache
def _small_embeddings(eps: float = 1e-12):
    return _hf_embeddings(_small_config(layer_norm_eps=eps), _small_embedding_weights())


def _embedding_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Three rows of 12 ids. Rows 0 and 1 hold the same ids, row 0 all in segment 0, row 1 from
    position 5 in segment 1; row 0 repeats its token of position 2 at position 7."""
    g = gen(1)
    ids = torch.randint(0, _SMALL["vocab_size"], (3, 12), generator=g)
    ids[0, 7] = ids[0, 2]
    ids[0, 10] = _SMALL["pad_token_id"]
    ids[1] = ids[0]
    types = torch.zeros(3, 12, dtype=torch.long)
    types[1, 5:] = 1
    types[2, 6:] = 1
    return ids, types


def _hf_emb(module, ids, types=None, positions=None) -> torch.Tensor:
    with torch.no_grad():
        return module(input_ids=ids, token_type_ids=types, position_ids=positions)


def _normalised(out: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> bool:
    """Is every row gamma * z + beta with z of mean 0 and variance 1 (a LayerNorm output)?"""
    z = (out.detach().double() - weights["LayerNorm.bias"].double()) / weights[
        "LayerNorm.weight"].double()
    return bool((z.mean(-1).abs() < 1e-3).all() and ((z.var(-1, unbiased=False) - 1).abs()
                                                     < 0.05).all())


def _has_zeros(out: torch.Tensor, share: float = 0.02) -> bool:
    return isinstance(out, torch.Tensor) and float((out.detach() == 0).double().mean()) > share


_DROPOUT_IN_EVAL = ("dropout is active in eval mode (about 10% of the outputs are 0): use the "
                    "module self.dropout = nn.Dropout(dropout), or F.dropout(x, p, "
                    "training=self.training); model.eval() must make it the identity")
_LAYERNORM = ("the output is not LayerNorm of the sum: add word + position + token-type "
              "embeddings first, then apply self.LayerNorm once to the sum (not to each part, "
              "and not before adding)")


def _embedding_bugs(weights, eps_variant, positions_from_1) -> list[Bug]:
    return [
        Bug("LayerNorm's eps is nn.LayerNorm's default 1e-5; BERT uses 1e-12: "
            "nn.LayerNorm(hidden, eps=eps)", like=eps_variant, atol=_LIKE),
        Bug("positions start at 0: position ids are torch.arange(T), not 1..T",
            like=positions_from_1, atol=_LIKE),
        Bug(_DROPOUT_IN_EVAL, when=lambda out, *_: _has_zeros(out)),
        Bug("the same token in the same segment gives the same vector at positions 2 and 7 of row "
            "0: the position embeddings are missing (add self.position_embeddings(torch.arange(T)))",
            when=lambda out, ids, *_: ids.shape == (3, 12) and close(out[0, 2], out[0, 7])),
        Bug("rows 0 and 1 hold the same ids, in segments 0 and 1 from position 5, yet give the same "
            "vectors there: the token-type (segment) embeddings are missing (add "
            "self.token_type_embeddings(token_type_ids))",
            when=lambda out, ids, *_: ids.shape == (3, 12) and close(out[0, 5:], out[1, 5:])),
        *([] if weights is None else
          [Bug(_LAYERNORM, when=lambda out, *_: not _normalised(out, weights))]),
    ]


def _embedding_case(where, fn, args, want, weights, eps_variant, positions_from_1, shape):
    return Case(where, fn, args, out=Out(dtype=torch.float32, shape=shape, finite=True),
                want=want, atol=ATOL, rtol=RTOL,
                bugs=_embedding_bugs(weights, eps_variant, positions_from_1),
                hint="embeddings = dropout(LayerNorm(word + position + token_type)), positions "
                "0..T-1, compared in eval mode with transformers' BertEmbeddings")


def _dropout_rules(eval_out: torch.Tensor, p: float) -> list[Holds]:
    """What train mode must give: dropout after the LayerNorm, at rate p."""
    def after(out, *_):
        kept = out != 0
        return bool(close(out[kept], eval_out[kept] / (1 - p)))

    return [
        Holds("in train mode, vs eval mode", lambda out, *_: not close(out, eval_out),
              "dropout is not applied in train mode: end with self.dropout(...), an "
              "nn.Dropout(dropout)", expected="a different output (about 10% of it zeroed)",
              got="the eval-mode output"),
        Holds("in train mode: share of zeros", lambda out, *_: _has_zeros(out),
              "dropout comes last, after the LayerNorm: dropout(LayerNorm(x)); dropout before "
              "the LayerNorm leaves no zeros in the output",
              expected=f"about {p:.0%} of the entries exactly 0",
              got=lambda out, *_: f"{float((out == 0).double().mean()):.1%}"),
        Holds("in train mode: the kept entries", after,
              "dropout comes last, after the LayerNorm: every kept entry is the eval-mode output "
              f"scaled by 1/(1 - p) = {1 / (1 - p):.4g}",
              expected="eval output / (1 - p) wherever the output is not 0",
              got="other values"),
    ]


@one_thread()
def check_embeddings(BertEmbeddings) -> None:  # noqa: N803 (the learner's class)
    """Token + position + segment embeddings, LayerNorm (eps 1e-12), then dropout."""
    weights = _small_embedding_weights()
    model = build(_guard(BertEmbeddings, _EMB_WHERE, "embeddings"), _EMB_WHERE, 50, 16, 20, 2,
                  seed=0, pad_id=3)
    _copy_into(model, weights, _EMB_WHERE, _EMB_HINTS)
    examine(_EMB_WHERE, model, holds=[Holds(
        "word_embeddings.padding_idx", lambda m: getattr(m.word_embeddings, "padding_idx", None) == 3,
        "pass padding_idx=pad_id to the word nn.Embedding, as transformers does, so the [PAD] "
        "row gets no gradient", expected=3,
        got=lambda m: show(getattr(m.word_embeddings, "padding_idx", None)))])
    ids, types = _embedding_inputs()
    T = ids.size(1)  # the positions
    ref = _small_embeddings()
    want = _hf_emb(ref, ids, types)
    eps_variant = lambda *_: _hf_emb(_small_embeddings(1e-5), ids, types)
    from_1 = lambda *_: _hf_emb(ref, ids, types, torch.arange(1, T + 1)[None])
    where = f"{_EMB_WHERE}(input_ids, token_type_ids)  # 3 rows of 12 random ids, eval mode"
    fwd = _guard(model, where, "embeddings")
    model.eval()
    eval_out, _ = run(
        _embedding_case(where, fwd, (ids, types), want, weights, eps_variant, from_1, (3, T, 16)),
        Case(f"{_EMB_WHERE}(input_ids)  # token_type_ids=None, eval mode", fwd, (ids,),
             want=_hf_emb(ref, ids), atol=ATOL, rtol=RTOL,
             call_hint="token_type_ids=None means every token is in segment 0: "
             "torch.zeros_like(input_ids)",
             hint="token_type_ids=None means every token is in segment 0: "
             "torch.zeros_like(input_ids)"))
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        examine(f"{_EMB_WHERE}(input_ids, token_type_ids)", call(fwd, ids, types, where=where),
                holds=_dropout_rules(eval_out, 0.1))
    model.eval()
    _check_minilm_embeddings(BertEmbeddings)


def _check_minilm_embeddings(BertEmbeddings) -> None:  # noqa: N803
    """MiniLM's sizes and embedding weights, on the tokenized pairs."""
    c = _R.config()
    where = "BertEmbeddings(30522, 384, max_positions=512, type_vocab_size=2)  # MiniLM's sizes"
    model = build(_guard(BertEmbeddings, where, "embeddings"), where, c.vocab_size,
                  c.hidden_size, c.max_position_embeddings, c.type_vocab_size, seed=0)
    sd = _R.state_dict()
    weights = {n: sd[f"embeddings.{n}"] for n in _EMB_NAMES}
    _copy_into(model, weights, where, _EMB_HINTS)
    model.eval()
    ids, types, _ = _inputs("batch")
    call_where = (f"{where.split('  #')[0]}(input_ids, token_type_ids)  # MiniLM's embedding "
                  f"weights, the pair {_quote(_pairs()[0][0])} | {_quote(_pairs()[0][1])} and 3 "
                  "more, eval mode")
    hf = _minilm().embeddings
    eps_variant = lambda *_: _hf_emb(_hf_embeddings(
        type(c).from_dict({**c.to_dict(), "layer_norm_eps": 1e-5}), weights),
        ids, types)
    from_1 = lambda *_: _hf_emb(hf, ids, types,
                                torch.arange(1, ids.shape[1] + 1)[None])
    run(_embedding_case(call_where, _guard(model, call_where, "embeddings"), (ids, types),
                        _hf_emb(hf, ids, types), None, eps_variant, from_1,
                        (*ids.shape, c.hidden_size)))


# --------------------------------------------------------------------------- 2. encoder

_LOAD = "load_hf_weights(model, MiniLM's state_dict)"
_LOAD_HINT = ("map every MiniLM weight to your model's name: embeddings.* keep theirs; "
              "encoder.layer.{i}.attention.self.query/key/value -> layers.{i}.self_attn.in_proj_* "
              "(concatenated), attention.output.dense -> self_attn.out_proj, attention.output."
              "LayerNorm -> norm1, intermediate.dense -> linear1, output.dense -> linear2, "
              "output.LayerNorm -> norm2; skip embeddings.position_ids and pooler.*")


def _load_minilm(Bert, load_hf_weights, exercise: str):  # noqa: N803
    """The learner's Bert with MiniLM's sizes, loaded by the learner's load_hf_weights; and its
    parameters as they were before the load."""
    model = build(_guard(Bert, _BERT, exercise), _BERT, seed=0, **_sizes(),
                  hint="Bert(...) builds BertEmbeddings and an nn.ModuleList of "
                  "nn.TransformerEncoderLayer(hidden, heads, ffn, dropout, activation='gelu', "
                  "layer_norm_eps=eps, batch_first=True, norm_first=False)")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    sd = {k: v.clone() for k, v in _R.state_dict().items()}
    got = call(_guard(load_hf_weights, _LOAD, exercise), model, sd, where=_LOAD, hint=_LOAD_HINT)
    expect_true(got is model, f"{_LOAD}: return value",
                "return the model the weights were loaded into (return model), so calls chain: "
                "to_hf_state_dict(load_hf_weights(Bert(), sd))",
                expected="the model passed in", got=f"{type(got).__name__}: {show(got)}")
    return model, before


def _unloaded(model: nn.Module, before: Mapping[str, torch.Tensor]) -> list[str]:
    return [n for n, p in model.named_parameters()
            if n in before and torch.equal(p.detach(), before[n])]


def _pre_norm(model: nn.Module) -> bool:
    layers = getattr(model, "layers", None) or []
    return any(getattr(layer, "norm_first", False) is True for layer in layers)


def _encoder_bugs(model: nn.Module, before: Mapping[str, torch.Tensor]) -> list[Bug]:
    """Output on the one pair (no padding) -> the likely bug; first match wins."""
    return [
        Bug(lambda *_: f"after load_hf_weights these parameters still hold their initial values: "
            f"{', '.join(_unloaded(model, before)[:4])}"
            f"{' ...' if len(_unloaded(model, before)) > 4 else ''}. {_LOAD_HINT} "
            "(load_state_dict(..., strict=True) names a missed key)",
            when=lambda *_: bool(_unloaded(model, before))),
        Bug("the layers use ReLU, nn.TransformerEncoderLayer's default: MiniLM's hidden_act is "
            "'gelu', so pass activation='gelu'", like=lambda *_: _variant("relu"), atol=_LIKE),
        Bug("tanh GELU: use exact GELU (activation='gelu'; F.gelu without approximate='tanh'), "
            "MiniLM's hidden_act='gelu'", like=lambda *_: _variant("tanh"), atol=_LIKE),
        Bug("norm_first=True is pre-norm; BERT normalises after each residual add (post-norm): "
            "norm_first=False", when=lambda *_: _pre_norm(model)),
        Bug("the layers' LayerNorm eps is nn.TransformerEncoderLayer's default 1e-5; MiniLM uses "
            "1e-12: pass layer_norm_eps=eps", like=lambda *_: _variant("eps_layers"), atol=_LIKE),
        Bug("LayerNorm eps 1e-5 everywhere; MiniLM uses 1e-12 (layer_norm_eps=eps in the layers, "
            "eps in BertEmbeddings)", like=lambda *_: _variant("eps_all"), atol=_LIKE),
        *[_order_bug(order) for order in _WRONG_ORDERS],
        Bug("query and key weights are transposed: nn.Linear and nn.MultiheadAttention store "
            "weights as (out, in), as transformers does: copy them as they are, without .T",
            like=lambda *_: _variant("qk_transposed"), atol=_LIKE),
    ]


_ENCODER_HINT = ("each layer is attention -> add & LayerNorm (norm1) -> linear1, GELU, linear2 -> "
                 "add & LayerNorm (norm2), post-norm, as transformers' BertLayer; check every "
                 "weight's place in load_hf_weights")
_INVERTED = ("src_key_padding_mask is a bool tensor, True at the tokens to IGNORE (padding): "
             "pass attention_mask == 0 (not attention_mask == 1, which masks every real token, "
             "and not attention_mask itself or a float 0/1 mask)")
_MASK_HINT = ("the real tokens of padded rows differ: the padding must be masked out in every "
              "layer with src_key_padding_mask = (attention_mask == 0), a bool tensor, True at the "
              "pads (a 0/1 float mask is ADDED to the attention scores and blocks nothing)")


def _call_where(kind: str) -> str:
    if kind == "pair":
        a, b = _pairs()[0]
        return f"Bert(MiniLM)(input_ids, token_type_ids, attention_mask) on the pair {a!r} | {b!r}"
    return "Bert(MiniLM)(input_ids, token_type_ids, attention_mask)"


@one_thread()
def check_encoder(Bert, load_hf_weights) -> None:  # noqa: N803 (the learner's class)
    """MiniLM loaded into the learner's Bert equals transformers' BertModel on real tokens."""
    model, before = _load_minilm(Bert, load_hf_weights, "encoder")
    model.eval()
    H = _R.config().hidden_size
    with torch.no_grad():
        ids, types, mask = _inputs("pair")
        where = _call_where("pair") + "  # eval mode"
        fwd = _guard(model, where, "encoder")
        (single,) = run(Case(
            where, fwd, (ids, types, mask),
            out=Out(dtype=torch.float32, shape=(1, ids.shape[1], H), finite=True,
                    finite_hint="NaN: a token whose every key is masked gets NaN; " + _INVERTED),
            want=_minilm_out("pair"), atol=ATOL, rtol=RTOL, bugs=_encoder_bugs(model, before),
            hint=_ENCODER_HINT))
        _check_padding(fwd, H)
        run(Case(_call_where("pair").replace(", attention_mask)", ")") + "  # attention_mask=None",
                 fwd, (ids, types), want=single, atol=ATOL, rtol=RTOL,
                 call_hint="attention_mask=None means every token is real: no padding mask",
                 hint="attention_mask=None means every token is real: pass "
                 "src_key_padding_mask=None"),
             Case(f"Bert(MiniLM)(input_ids) on the sentence {_short()[8]!r}  # no types, no mask",
                  fwd, (_inputs("sentence")[0],), want=_minilm_out("sentence"), atol=ATOL,
                  rtol=RTOL, call_hint="token_type_ids=None means all zeros and "
                  "attention_mask=None means no padding",
                  hint="token_type_ids=None means all zeros (segment 0) and attention_mask=None "
                  "means no padding"))


def _check_padding(fwd, H: int) -> None:
    """The four pairs padded to one length: real tokens as transformers; more padding, same."""
    ids, types, mask = _inputs("batch")
    where = _call_where("batch")
    out = call(fwd, ids, types, mask, where=where)
    Out(dtype=torch.float32, shape=(*ids.shape, H)).verify(out, where)
    real = mask.bool()
    examine(f"{where}: the real tokens", out[real],
            out=Out(finite=True, finite_hint="NaN: a token whose every key is masked gets NaN; "
                    + _INVERTED))
    want, no_mask = _minilm_out("batch"), _minilm_out("batch", no_mask=True)
    for row, (a, b) in enumerate(_pairs()):
        n = int(mask[row].sum())
        examine(f"{where} on the pair {a!r} | {b!r} (row {row} of 4, {n} real tokens, padded to "
                f"{ids.shape[1]})", out[row, :n], want=want[row, :n], atol=ATOL, rtol=RTOL,
                bugs=[Bug("the attention mask is not used: the pads are attended as if they were "
                          "words; pass src_key_padding_mask=(attention_mask == 0) to every layer",
                          like=lambda row=row, n=n: no_mask[row, :n], atol=_LIKE)],
                hint=_MASK_HINT)
    more = _pad_more(ids, types, mask)
    out2 = call(fwd, *more, where=where)
    T = ids.size(1)  # the real positions
    examine(f"{where} with 5 more padding tokens per row: the real tokens",
            out2[:, :T][real] if isinstance(out2, torch.Tensor) and out2.ndim == 3 else out2,
            want=out[real], atol=ATOL, rtol=RTOL,
            hint="adding padding changed the outputs of the real tokens: " + _MASK_HINT)


# -------------------------------------------------------------------------------- 3. MLM

_MLM_WHERE = "MLMHead(word_embeddings)"
_LOSS_WHERE = "mlm_loss(head, hidden, labels)"
_HEAD_HINTS = {
    "dense": "the head is dense (nn.Linear(hidden, hidden)) -> GELU -> LayerNorm (eps) -> decoder, "
             "named as the stub shows (dense, LayerNorm, decoder), as transformers' "
             "BertPredictionHeadTransform",
    "LayerNorm": "the head is dense -> GELU -> LayerNorm -> decoder: self.LayerNorm = "
                 "nn.LayerNorm(hidden, eps=eps), as transformers' BertPredictionHeadTransform",
    "decoder": "the decoder keeps its own bias, one per vocabulary entry (transformers' "
               "cls.predictions.bias): nn.Linear(hidden, vocab_size) with bias=True, its weight "
               "replaced by the word embeddings",
}
_TIED = ("tie the decoder to the word embeddings: self.decoder.weight = word_embeddings.weight "
         "(one Parameter used twice); a copy (nn.Parameter(w.clone()), or copy_) is not tied: "
         "training would move the two apart")


def _small_mlm(hidden_act: str = "gelu", eps: float = 1e-12):
    """A BertForMaskedLM of the small config, its head given visible values (seeded)."""
    from transformers import BertForMaskedLM

    config = _small_config(hidden_act=hidden_act, layer_norm_eps=eps)
    model = _forked(lambda: BertForMaskedLM(config)).eval()
    g, H = gen(10), config.hidden_size
    transform = model.cls.predictions.transform
    with torch.no_grad():
        model.bert.embeddings.word_embeddings.weight.copy_(
            torch.randn(config.vocab_size, H, generator=g))
        transform.dense.weight.copy_(torch.randn(H, H, generator=g) * 2 / H ** 0.5)
        transform.dense.bias.copy_(torch.randn(H, generator=g) * 1e-4)
        transform.LayerNorm.weight.copy_(1 + 0.2 * torch.randn(H, generator=g))
        transform.LayerNorm.bias.copy_(0.2 * torch.randn(H, generator=g))
        model.cls.predictions.decoder.bias.copy_(0.5 * torch.randn(config.vocab_size,
                                                                    generator=g))
    return model


def _head_weights(model) -> dict[str, torch.Tensor]:
    t = model.cls.predictions.transform
    return {"dense.weight": t.dense.weight, "dense.bias": t.dense.bias,
            "LayerNorm.weight": t.LayerNorm.weight, "LayerNorm.bias": t.LayerNorm.bias,
            "decoder.bias": model.cls.predictions.decoder.bias}


def _cls(model, hidden) -> torch.Tensor:
    with torch.no_grad():
        return model.cls(hidden)


class _Rows:
    """Counts the rows that reach the head and its decoder (the vocabulary projection)."""

    def __init__(self, head: nn.Module):
        self.head, self.decoder, self.last = head, getattr(head, "decoder", None), None
        self.head_rows: list[int] = []
        self.decoder_rows: list[int] = []
        self.decoder_inputs: list[torch.Tensor] = []

    def __enter__(self):
        forward = self.head.forward

        def counted(x, *args, **kwargs):
            self.head_rows.append(x.numel() // x.shape[-1])
            return forward(x, *args, **kwargs)

        self.head.forward = counted
        if isinstance(self.decoder, nn.Module):
            self.hook = self.decoder.register_forward_pre_hook(self._seen)
        return self

    def _seen(self, module, inputs):
        x = inputs[0]
        self.decoder_rows.append(x.numel() // x.shape[-1])
        self.decoder_inputs.append(x.detach().clone())

    def __exit__(self, *exc):
        del self.head.forward
        if isinstance(self.decoder, nn.Module):
            self.hook.remove()
        return False

    def rows(self) -> int | None:
        seen = self.decoder_rows or self.head_rows
        return sum(seen) if seen else None


def _mlm_inputs():
    """3 rows of 8 ids; 1, 2 and 4 of their positions masked (labels != -100), 7 of 24."""
    g = gen(3)
    ids = torch.randint(5, _SMALL["vocab_size"], (3, 8), generator=g)
    labels = torch.full_like(ids, -100)
    for row, cols in enumerate(([2], [1, 5], [0, 3, 4, 7])):
        labels[row, cols] = ids[row, cols]
    return ids, labels


def _decoder_input_normalised(rows: _Rows, weights) -> bool:
    if not rows.decoder_inputs:
        return True  # nothing to say
    x = rows.decoder_inputs[-1].double()
    z = (x - weights["LayerNorm.bias"].double()) / weights["LayerNorm.weight"].double()
    return bool((z.mean(-1).abs() < 1e-3).all() and ((z.var(-1, unbiased=False) - 1).abs()
                                                     < 0.05).all())


def _logits_case(where, head, hidden, hf, weights, rows, extra: list[Bug]) -> Case:
    V = hf.config.vocab_size
    return Case(where, _guard(head, where, "mlm"), (hidden,),
                out=Out(dtype=torch.float32, shape=(*hidden.shape[:-1], V),
                        shape_hint="one score per vocabulary entry: (..., vocab_size)"),
                want=_cls(hf, hidden), atol=ATOL, rtol=RTOL, keeps={"hidden": hidden},
                bugs=[*extra,
                      Bug("the decoder's bias is not added: logits = decoder(x) with its own "
                          "bias (transformers' cls.predictions.bias), not x @ weight.T",
                          like=lambda h: _cls(hf, h) - weights["decoder.bias"]),
                      Bug("the decoder does not get a LayerNorm output: dense -> GELU -> "
                          "LayerNorm -> decoder", when=lambda *_: not _decoder_input_normalised(
                              rows, weights))],
                hint="logits = decoder(LayerNorm(gelu(dense(hidden)))), as transformers' "
                "BertLMPredictionHead")


@one_thread()
def check_mlm_head(MLMHead, mlm_loss) -> None:  # noqa: N803 (the learner's class)
    """The head (dense, GELU, LayerNorm, tied decoder + bias) and the masked-only loss."""
    hf = _small_mlm()
    words = hf.bert.embeddings.word_embeddings
    head = build(_guard(MLMHead, _MLM_WHERE, "mlm"), _MLM_WHERE, words, seed=0)
    examine(_MLM_WHERE, head, holds=[Holds(
        "decoder.weight", lambda h: _lookup(h, "decoder.weight") is words.weight, _TIED,
        expected="the word-embedding Parameter itself (head.decoder.weight is "
        "word_embeddings.weight)",
        got=lambda h: "another tensor with the same values" if close(
            _lookup(h, "decoder.weight"), words.weight) else show(_lookup(h, "decoder.weight")))])
    weights = {k: v.detach().clone() for k, v in _head_weights(hf).items()}
    _copy_into(head, weights, _MLM_WHERE, _HEAD_HINTS)
    head.eval()
    g = gen(4)
    big = torch.randn(2, 5, 16, generator=g)
    small = 1e-3 * torch.randn(2, 5, 16, generator=g)
    tanh = _small_mlm("gelu_pytorch_tanh")
    eps = _small_mlm(eps=1e-5)
    for model in (tanh, eps):
        model.load_state_dict(hf.state_dict())
    with torch.no_grad(), _Rows(head) as rows:
        run(_logits_case(f"{_MLM_WHERE}(hidden)  # hidden of shape (2, 5, 16), N(0, 1)", head, big,
                         hf, weights, rows,
                         [Bug("tanh GELU: use exact GELU (F.gelu(x), not approximate='tanh'), as "
                              "transformers' hidden_act='gelu'", like=lambda h: _cls(tanh, h),
                              atol=_LIKE)]),
            _logits_case(f"{_MLM_WHERE}(hidden)  # hidden of scale 1e-3, where LayerNorm's eps "
                         "matters", head, small, hf, weights, rows,
                         [Bug("LayerNorm's eps is nn.LayerNorm's default 1e-5; BERT uses 1e-12: "
                              "nn.LayerNorm(hidden, eps=eps)", like=lambda h: _cls(eps, h),
                              atol=_LIKE)]))
    _check_loss(hf, head, mlm_loss)
    _check_tied_step(head, words)


def _check_loss(hf, head: nn.Module, mlm_loss) -> None:
    ids, labels = _mlm_inputs()
    with torch.no_grad():
        out = hf(input_ids=ids, labels=labels, output_hidden_states=True)
    hidden, want, logits = out.hidden_states[-1].detach(), out.loss.detach(), out.logits.detach()
    B, T, V = logits.shape
    M = int((labels != -100).sum())
    where = (f"{_LOSS_WHERE}  # hidden (3, 8, 16) from a small BertForMaskedLM, {M} of {B * T} "
             "labels != -100")
    flat, targets = logits.reshape(-1, V), labels.reshape(-1)
    per_row = lambda *_: torch.stack([F.cross_entropy(logits[b], labels[b])
                                      for b in range(B)]).mean()
    with torch.no_grad(), _Rows(head) as rows:
        run(Case(where, _guard(mlm_loss, where, "mlm"), (head, hidden, labels),
                 keeps={"hidden": hidden, "labels": labels},
                 out=Out(dtype=FLOATS, shape=(), shape_hint="the loss is one number: the mean "
                         "cross-entropy over the masked positions"),
                 call_hint="labels are -100 at the positions that are not predicted: select "
                 "labels != -100 first (F.cross_entropy's ignore_index is -100; not 0)",
                 want=want, atol=ATOL, rtol=RTOL, what="the loss (transformers' "
                 "BertForMaskedLM(..., labels=labels).loss)",
                 bugs=[Bug("the mean is over all B*T positions (the unmasked ones count as 0): "
                           "average over the masked positions only (labels != -100)",
                           like=lambda *_: F.cross_entropy(flat, targets, reduction="sum")
                           / targets.numel()),
                       Bug("averaged per sequence, then over the batch: every masked token counts "
                           "once, so take one mean over all masked positions of the batch",
                           like=per_row),
                       Bug("summed, not averaged: the loss is the mean cross-entropy over the "
                           "masked positions",
                           like=lambda *_: F.cross_entropy(flat, targets, reduction="sum"))],
                 hint="select hidden[labels != -100], project only those rows with the head, "
                 "then F.cross_entropy against labels[labels != -100]"))
    seen = rows.rows()
    expect_true(seen is not None, f"{where}: calls of the head", "call the head on the selected "
                "hidden states: logits = head(hidden[labels != -100])", expected="one or more",
                got="none")
    expect_true(seen == M, f"{where}: rows that reach the vocabulary projection (head.decoder)",
                "select the masked positions BEFORE the vocabulary projection: "
                "logits = head(hidden[labels != -100]) is (M, vocab_size); projecting every "
                "position and masking afterwards gives the same loss, but computes B*T rows of "
                "logits to keep M of them (about 15%): gathering first is the known ~2x saving "
                "of BERT's pretraining step", expected=f"{M} (the masked positions)",
                got=f"{seen}" + (" (every position, B*T)" if seen == B * T else ""))


def _check_tied_step(head: nn.Module, words: nn.Embedding) -> None:
    """A gradient step on the head's parameters moves the word embeddings (one Parameter)."""
    start = words.weight.detach().clone()
    x = torch.randn(4, words.weight.shape[1], generator=gen(5))
    where = f"{_MLM_WHERE}: an SGD step on head.parameters()"
    with torch.enable_grad():
        head.zero_grad()
        out = call(_guard(head, where, "mlm"), x, where=where)
        out.logsumexp(-1).mean().backward()
        torch.optim.SGD(head.parameters(), lr=1.0).step()
    expect_true(not torch.equal(words.weight.detach(), start),
                f"{where}: the word embeddings", _TIED,
                expected="moved (the decoder's weight is the embedding matrix)", got="unchanged")


# ---------------------------------------------------------------------------- 4. export

_EXPORT = "to_hf_state_dict(model)"
_NEEDS = ("to_hf_state_dict: the export check builds your Bert and loads MiniLM with your "
          "load_hf_weights, so it needs exercise 'encoder' (check_encoder) to pass first")


def _hf_keys() -> dict[str, torch.Tensor]:
    """MiniLM's weights as BertModel(add_pooling_layer=False) names them."""
    return {k: v for k, v in _R.state_dict().items()
            if k != "embeddings.position_ids" and not k.startswith("pooler.")}


def _key_hint(got: set[str], model: nn.Module) -> str:
    want = set(_hf_keys())
    missing, extra = sorted(want - got), sorted(got - want)
    ours = set(model.state_dict())
    if extra and set(extra) <= ours:
        return ("these are your model's own names: export under transformers' names "
                "(embeddings.*, encoder.layer.{i}.attention.self.query.weight, ...)")
    if extra and all(k.startswith("bert.") for k in extra):
        return "BertModel's names have no 'bert.' prefix (that is BertForMaskedLM's)"
    if any(k.startswith("embeddings.LayerNorm") for k in missing):
        return "the embeddings' LayerNorm (embeddings.LayerNorm.weight/bias) is missing"
    return ("export exactly the keys transformers' BertModel has (no pooler, no position_ids); "
            f"missing: {missing[:3]}{' ...' if len(missing) > 3 else ''}, unexpected: "
            f"{extra[:3]}{' ...' if len(extra) > 3 else ''}")


def _check_layout(exported: Any, note: str, model: nn.Module) -> None:
    """A dict of transformers' keys, with their shapes and dtypes."""
    expect_true(isinstance(exported, Mapping), f"{_EXPORT}  # {note}",
                "return a dict: transformers' name -> tensor", expected="a dict of tensors",
                got=type(exported).__name__)
    want = _hf_keys()
    got = set(exported)
    expect_true(got == set(want), f"{_EXPORT}: keys  # {note}", _key_hint(got, model),
                expected=f"{len(want)} keys, as BertModel(add_pooling_layer=False).state_dict()",
                got=f"{len(got)} keys, missing {len(set(want) - got)}, unexpected "
                f"{len(got - set(want))}")
    for key in want:
        t, at = exported[key], f"{_EXPORT}[{key!r}]"
        expect_true(isinstance(t, torch.Tensor), f"{at}  # {note}", "every value is a tensor",
                    expected="a tensor", got=type(t).__name__)
        hint = ("in_proj_weight is (3*hidden, hidden): split it along dim 0, the rows "
                "(.chunk(3)), not dim 1" if "attention.self" in key else
                "each tensor has the shape transformers gives it")
        expect_true(tuple(t.shape) == tuple(want[key].shape), f"{at}: shape  # {note}", hint,
                    expected=str(tuple(want[key].shape)), got=str(tuple(t.shape)))
        expect_true(t.dtype == want[key].dtype, f"{at}: dtype  # {note}",
                    "keep the weights' dtype (float32)", expected=str(want[key].dtype),
                    got=str(t.dtype))


def _check_storage(exported: Mapping[str, torch.Tensor], note: str) -> None:
    """What safetensors.torch.save_file needs: contiguous tensors that share no memory."""
    storages: dict[int, str] = {}
    for key in _hf_keys():
        t, at = exported[key], f"{_EXPORT}[{key!r}]"
        expect_true(t.is_contiguous(), f"{at}: contiguous  # {note}",
                    "safetensors saves only contiguous tensors: a transposed or strided view is "
                    "not; .contiguous() (or .clone()) it", expected="a contiguous tensor",
                    got=f"strides {t.stride()}")
        ptr = t.untyped_storage().data_ptr()
        expect_true(ptr not in storages, f"{at}: memory  # {note}",
                    "these tensors share memory (views of one tensor, e.g. the chunks of "
                    "in_proj_weight); safetensors refuses shared tensors: .clone() each one",
                    expected="its own memory",
                    got=f"the same storage as {storages.get(ptr)!r}")
        storages[ptr] = key


def _holds_which(t: torch.Tensor, want: Mapping[str, torch.Tensor]) -> str | None:
    """The library key whose tensor `t` equals exactly, if any."""
    return next((k for k, v in want.items() if v.shape == t.shape and torch.equal(t, v)), None)


def _identity_hint(key: str, t: torch.Tensor, want: Mapping[str, torch.Tensor]) -> str:
    other = _holds_which(t, want)
    if other is not None:
        strip = lambda k: k.split(".", 3)[-1]  # drop encoder.layer.{i}.
        pair = {strip(key).rsplit(".", 1)[0], strip(other).rsplit(".", 1)[0]}
        if pair <= {f"attention.self.{n}" for n in _QKV}:
            why = "in_proj_weight stacks query, key, value in that order: q, k, v = .chunk(3)"
        elif pair == {"attention.output.LayerNorm", "output.LayerNorm"}:
            why = ("norm1 is attention.output.LayerNorm (after attention), norm2 is "
                   "output.LayerNorm (after the feed-forward)")
        else:
            why = "each of your weights goes back to the name load_hf_weights read it from"
        return f"it holds MiniLM's {other!r}: {why}"
    if t.ndim == 2 and t.shape[0] == t.shape[1] and torch.equal(t.t(), want[key]):
        return ("it is transposed: nn.Linear, in_proj_weight and transformers all store "
                "(out, in); split in_proj_weight's rows (.chunk(3)), with no .T")
    return "export must give back exactly the tensors load_hf_weights loaded (a round trip)"


def _perturb(model: nn.Module) -> None:
    """Move every parameter a little, deterministically: the export must read them now."""
    g = gen(7)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=g))


@one_thread()
def check_export(Bert, load_hf_weights, to_hf_state_dict) -> None:  # noqa: N803
    """Export to transformers' names, exactly; safetensors + from_pretrained computes the same."""
    try:
        model, _ = _load_minilm(Bert, load_hf_weights, "export")
        model.eval()
        ids, types, mask = _inputs("pair")
        with torch.no_grad():
            got = call(_guard(model, _call_where("pair"), "export"), ids, types, mask,
                       where=_call_where("pair"))
        expect_true(close(got, _minilm_out("pair")), _call_where("pair"),
                    "run check_encoder(Bert, load_hf_weights) and fix what it reports",
                    expected="transformers' BertModel output", got="something else")
    except AssertionError as err:
        raise AssertionError(f"{_NEEDS}:\n{err}") from err
    want = _hf_keys()
    note = "your Bert, loaded with MiniLM by load_hf_weights"
    where = f"{_EXPORT}  # {note}"
    exported = call(_guard(to_hf_state_dict, where, "export"), model, where=where)
    _check_layout(exported, note, model)
    for key in want:
        expect_true(torch.equal(exported[key], want[key]), f"{_EXPORT}[{key!r}]  # {note}",
                    _identity_hint(key, exported[key], want),
                    expected=f"MiniLM's {key!r}, exactly", got=show(exported[key]))
    _check_storage(exported, note)
    _perturb(model)
    note = "after every parameter moved by 0.01 * N(0, 1) (seeded)"
    where = f"{_EXPORT}  # {note}"
    exported = call(_guard(to_hf_state_dict, where, "export"), model, where=where)
    _check_layout(exported, note, model)
    _check_storage(exported, note)
    stale = all(torch.equal(exported[k], want[k]) for k in want)
    expect_true(not stale, f"{_EXPORT}: the exported weights  # {note}",
                "the export returns the weights as they were loaded (MiniLM's), not the "
                "model's current parameters: read model.state_dict() when exporting",
                expected="the model's current (moved) weights", got="MiniLM's weights unchanged")
    _round_trip(model, exported, where)
    _file_round_trip(Bert, to_hf_state_dict)


def _round_trip(model: nn.Module, exported: Mapping[str, torch.Tensor], where: str) -> None:
    """MiniLM-sized: the exported weights loaded into transformers' BertModel (in memory: a
    90 MB file is more than a grading sandbox lets a job write) compute what the model does."""
    from transformers import BertModel

    with _R._quiet():
        loaded = _forked(lambda: BertModel(_R.config(), add_pooling_layer=False))
    try:
        loaded.load_state_dict(dict(exported), strict=True)
    except RuntimeError as err:
        fail(f"{where}: BertModel.load_state_dict(exported, strict=True)", "every name known",
             f"{type(err).__name__}: {str(err).splitlines()[0]}",
             "export exactly BertModel's names (no pooler, no position_ids)")
    _same_outputs(loaded.eval(), model, _inputs("batch"), f"{where}, loaded into "
                  "transformers' BertModel")


def _same_outputs(loaded: nn.Module, model: nn.Module, inputs, where: str) -> None:
    ids, types, mask = inputs
    want = _hidden(loaded, ids, types, mask)
    fwd = _guard(model, _call_where("batch"), "export")
    with torch.no_grad():
        got = call(fwd, ids, types, mask, where=_call_where("batch"))
    real = mask.bool()
    examine(f"{where}: its last_hidden_state vs your model's (real tokens)",
            got[real], want=want[real], atol=1e-4, rtol=RTOL,
            hint="transformers, given your exported weights, does not compute what your model "
            "computes: every weight must go to the name transformers reads it from")


_SMALL_BERT = dict(vocab_size=120, hidden=32, layers=2, heads=4, ffn=64, max_positions=40)


def _file_round_trip(Bert, to_hf_state_dict) -> None:  # noqa: N803
    """A small Bert of the learner's, exported, written with safetensors and read back by
    `BertModel.from_pretrained`: the files a `transformers` user receives."""
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel

    where = f"Bert({', '.join(f'{k}={v}' for k, v in _SMALL_BERT.items())})"
    model = build(_guard(Bert, where, "export"), where, seed=3, **_SMALL_BERT).eval()
    _perturb(model)
    exported = call(_guard(to_hf_state_dict, f"{_EXPORT}  # {where}", "export"), model,
                    where=f"{_EXPORT}  # {where}")
    config = BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=40, layer_norm_eps=1e-12)
    with tempfile.TemporaryDirectory() as folder:
        try:
            save_file(dict(exported), str(Path(folder) / "model.safetensors"))
        except (RuntimeError, ValueError) as err:
            fail(f"{_EXPORT}  # {where}: safetensors.torch.save_file", "the file written",
                 f"{type(err).__name__}: {err}", "save_file takes a dict of contiguous tensors "
                 "that share no memory")
        config.save_pretrained(folder)
        with _R._quiet():
            loaded = _forked(lambda: BertModel.from_pretrained(folder, add_pooling_layer=False))
    g = gen(11)
    ids = torch.randint(1, 120, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    types = torch.zeros_like(ids)
    types[:, 5:] = 1
    _same_outputs(loaded.eval(), model, (ids, types, mask),
                  f"{where}, exported, saved as model.safetensors and read back by "
                  "BertModel.from_pretrained")
