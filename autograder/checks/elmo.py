"""Visible checks for Chapter 2, "ELMo: from words to words-in-context".

One check per exercise. Each takes the learner's function(s) or class, runs small
seeded cases and property tests, and raises `AssertionError` naming the function,
what was expected, what was got, and the likely bug. A passing check returns None.

    check_char_ids(char_ids)
    check_highway(Highway)
    check_char_cnn(CharCNN)
    check_lm_targets(lm_targets)
    check_bilm_loss(bilm_loss)
    check_scalar_mix(ScalarMix)
    check_contextual_features(contextual_features, BiLM)
    check_tagger(Tagger, span_f1)

The checks run in the learner's kernel: they import only torch, use their own seeded
generators, and leave the global random state as they found it. The character
vocabulary is PAD = 0, BOW = 1, EOW = 2, UTF-8 byte b -> b + 3 (259 ids).

The checks carry no answer: where one needs an exercise's right output, it reads the
value that `course release` computed from the solution on the same fixed inputs and
weights (`PROBES` at the end, stored in autograder/expected/elmo.safetensors), or asks
torch (F.cross_entropy for the loss's parts). The wrong answers behind a "likely bug" are
each written as the wrong thing, or as a relation to the stored right value; the rest are
property tests (padding, independence of tokens and sentences, gradients).
"""

from __future__ import annotations

import copy
import inspect

import torch
from torch import nn

from .. import expected
from ..expected import Probe
from ._common import (
    FLOATS,
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
    "check_char_ids",
    "check_highway",
    "check_char_cnn",
    "check_lm_targets",
    "check_bilm_loss",
    "check_scalar_mix",
    "check_contextual_features",
    "check_tagger",
]

PAD, BOW, EOW, OFFSET = 0, 1, 2, 3
IGNORE = -100
MODULE = "elmo"  # the stored expected values: autograder/expected/elmo.safetensors


def _stored(probe: str) -> dict[str, torch.Tensor]:
    """The fields of one probe, made from the solution by `course release` (see PROBES)."""
    return expected.case(MODULE, probe)


def _positions(diff: torch.Tensor) -> list[int]:
    """Positions t (dim 0 of a (T, ...) tensor) whose entries differ from zero."""
    return [int(t) for t in diff.flatten(1).abs().amax(1).gt(0).nonzero().flatten()]


def _padded_batch(char_ids, sentences, max_word_len: int) -> torch.Tensor:
    """(B, T, L) input characters of padded sentences, built with the given `char_ids`
    (a probe passes the solution's): a padding token is all PAD."""
    T = max(len(s) for s in sentences)
    out = torch.zeros(len(sentences), T, max_word_len, dtype=torch.long)
    for b, sentence in enumerate(sentences):
        out[b, :len(sentence)] = char_ids(list(sentence), max_word_len)
    return out


# ------------------------------------------------------------------------ 1. char ids

# (tokens, max_word_len): the rows expected of each are stored (probe "charids")
_CHARID_CASES = [
    (["the", "cat", "a"], 8),
    (["héllo", "€5", "x"], 10),
    (["abcdefghij", "abcd", "abcde", "ab"], 6),  # too long; exactly L - 2; L - 1; short
]
_CHARID_DEFAULT = ["hi", "there"]
_CHARID_LONG = (["ß" * 40], 50)


def _probe_char_ids(char_ids) -> dict:
    fields = {f"case{i}": char_ids(list(tokens), L) for i, (tokens, L) in enumerate(_CHARID_CASES)}
    fields["default"] = char_ids(list(_CHARID_DEFAULT))
    fields["long"] = char_ids(list(_CHARID_LONG[0]), _CHARID_LONG[1])
    return fields


def _explain_char_row(got: list[int], want: list[int], word: str, L: int) -> str:
    """The likely bug of a wrong row `got`, by its relation to the right row `want`."""
    raw = list(word.encode("utf-8"))
    end = want.index(EOW)  # the right row: BOW, want[1:end] (the kept bytes + 3), EOW, PAD...
    body = want[1:end]
    if got and want and got[0] != BOW:
        if raw and got[0] == raw[0] + OFFSET:
            return "the word must start with BOW (id 1): [BOW] + bytes + [EOW]"
        return "position 0 holds BOW (id 1)"
    if len(raw) > L - 2:
        if got[-1] != EOW and got[1:L] == [b + OFFSET for b in raw[: L - 1]]:
            return (f"EOW was cut off: a word longer than max_word_len - 2 = {L - 2} bytes keeps "
                    "its first max_word_len - 2 bytes, then BOW and EOW are added (truncate the "
                    "bytes first, not the finished id list)")
        if got[-1] != EOW:
            return "a truncated word must still end with EOW (id 2) in its last slot"
        if got[1:-1] == [b + OFFSET for b in raw[-(L - 2):]]:
            return "keep the FIRST max_word_len - 2 bytes of a long word, not the last ones"
        return f"a long word keeps BOW, its first {L - 2} bytes, and EOW"
    if got[1:end] == [v - OFFSET for v in body]:
        return "byte b has id b + 3 (ids 0, 1, 2 are PAD, BOW and EOW): add the offset 3"
    if any(ord(c) > 127 for c in word) and got[1:1 + len(word)] == [ord(c) + OFFSET for c in word]:
        return ("characters were numbered with ord(); use the UTF-8 bytes, word.encode('utf-8'): "
                "'é' is two bytes, and ord('€') = 8364 would fall outside the 259 ids")
    if got[1:end] != body:
        return "the middle of the row is the word's UTF-8 bytes, each plus 3"
    if got[end] != EOW:
        return "after the last byte comes EOW (id 2)"
    if any(v != PAD for v in got[end + 1:]):
        return "pad the rest of the row with PAD = 0 (torch.zeros, then fill the start)"
    return "[BOW] + [b + 3 for b in word.encode('utf-8')] + [EOW], right-padded with 0"


@one_thread()
def check_char_ids(char_ids) -> None:
    """BOW + UTF-8 bytes (+3) + EOW, right-padded with 0; long words keep BOW and EOW."""
    name = "char_ids"
    stored = _stored("charids")
    for i, (tokens, L) in enumerate(_CHARID_CASES):
        where = f"{name}({tokens!r}, max_word_len={L})"
        got = call(char_ids, list(tokens), L, where=where)
        expect_tensor(got, where)
        expect_dtype(got, torch.long, where, "ids are integers: build the tensor with "
                     "dtype=torch.long")
        expect_shape(got, (len(tokens), L), where,
                     "one row of max_word_len ids per token: (N, max_word_len)")
        for row_index, word in enumerate(tokens):
            want = stored[f"case{i}"][row_index].tolist()
            row = got[row_index].tolist()
            if row != want:
                fail(f"{where}: row {row_index} ({word!r})", str(want), str(row),
                     _explain_char_row(row, want, word, L))
    where = f"{name}({_CHARID_DEFAULT!r})"
    got = call(char_ids, list(_CHARID_DEFAULT), where=where)
    expect_shape(got, (2, 50), where, "the default max_word_len is 50")
    expect_equal(got[1], stored["default"][1], f"{where}: row 1 ('there')")
    (word,), L = _CHARID_LONG
    where = f"{name}(['ß' * 40], max_word_len={L})"
    got = call(char_ids, [word], L, where=where)
    expect_true(bool(((got >= 0) & (got < 259)).all()), f"{where}: ids",
                "every id must lie in 0..258 (PAD, BOW, EOW and 256 byte values)",
                expected="ids in 0..258", got=show(got))
    expect_equal(got[0], stored["long"][0], f"{where}: row 0",
                 "80 UTF-8 bytes: keep the first 48, between BOW and EOW")


# ------------------------------------------------------------------------- 2. highway

_HW_DIM = 4
# the gate settings of the one-layer case: a gate bias, or None (the random bias)
_HW_GATES = (("closed", -1000.0), ("open", 1000.0), ("random", None))


def _fill_linear(layer: nn.Linear, weight: torch.Tensor, bias: torch.Tensor) -> None:
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)


def _set_gate_bias(layer: nn.Linear, dim: int, value: float | None, bias: torch.Tensor) -> None:
    """The gate half of the bias (bias[dim:]) at `value`, or back at the stored `bias`."""
    with torch.no_grad():
        layer.bias.copy_(bias)
        if value is not None:
            layer.bias[dim:] = value


def _probe_highway(Highway) -> dict:  # noqa: N803 (the solution's class)
    dim, g = _HW_DIM, gen(21)
    x = torch.randn(2, 3, dim, generator=g)
    weight, bias = torch.randn(2 * dim, dim, generator=g), torch.randn(2 * dim, generator=g)
    model = Highway(dim).double().eval()
    layer = model.layers[0]
    _fill_linear(layer, weight, bias)
    fields = {"x": x, "weight": weight, "bias": bias}
    with torch.no_grad():
        for label, value in _HW_GATES:
            _set_gate_bias(layer, dim, value, bias)
            fields[label] = model(x.double())
    two = Highway(dim, n_layers=2).double().eval()
    first = Highway(dim).double().eval()  # the first layer alone: a wrong answer's value
    for k, lay in enumerate(two.layers):
        fields[f"weight{k}"] = torch.randn(2 * dim, dim, generator=g)
        fields[f"bias{k}"] = torch.randn(2 * dim, generator=g)
        _fill_linear(lay, fields[f"weight{k}"], fields[f"bias{k}"])
    _fill_linear(first.layers[0], fields["weight0"], fields["bias0"])
    flat = torch.randn(5, dim, generator=g)
    with torch.no_grad():
        fields.update(flat=flat, two=two(flat.double()), first_only=first(flat.double()),
                      first_twice=first(first(flat.double())))
    return fields


def _highway_alternatives(x, layer, dim):
    """Wrong one-layer highways a learner writes, each on its own (none is the answer)."""
    z = torch.nn.functional.linear(x.double(), layer.weight.detach().double(),
                                   layer.bias.detach().double())
    first, second = z[..., :dim], z[..., dim:]  # [transform | gate] pre-activations
    x = x.double()
    s = torch.sigmoid(second)
    s_first = torch.sigmoid(first)
    return [
        (s * x + (1 - s) * torch.relu(first),
         "the gate is on the wrong branch: y = g * relu(W_h x) + (1 - g) * x, so a closed gate "
         "(g near 0, the negative bias at init) carries x through unchanged"),
        (s * torch.relu(first),
         "the carry term is missing: y = g * relu(W_h x) + (1 - g) * x"),
        (second * torch.relu(first) + (1 - second) * x,
         "the gate must go through a sigmoid, g = sigmoid(W_g x), so it lies in (0, 1)"),
        (s_first * torch.relu(second) + (1 - s_first) * x,
         "the Linear's output is split as [transform | gate]: the first dim outputs are the "
         "transform W_h x, the last dim outputs the gate"),
        (s * first + (1 - s) * x, "the transform branch needs its ReLU: relu(W_h x)"),
        (torch.relu(s * first + (1 - s) * x),
         "the ReLU belongs on the transform branch only, not on the mixed output"),
    ]


@one_thread()
def check_highway(Highway) -> None:  # noqa: N803 (the learner's class)
    """y = g * relu(W_h x) + (1 - g) * x per layer, g = sigmoid(W_g x); carry by default."""
    name = "Highway"
    dim = _HW_DIM
    where = f"{name}({dim})"
    model = build(Highway, where, dim)
    layers = getattr(model, "layers", None)
    expect_true(isinstance(layers, nn.ModuleList), f"{where}: self.layers",
                "store the layers as self.layers = nn.ModuleList([...]) so that they are "
                "registered (a plain list hides them from .parameters())",
                expected="an nn.ModuleList", got=type(layers).__name__)
    expect_true(len(layers) == 1, f"{where}: len(self.layers)", "n_layers defaults to 1",
                expected=1, got=len(layers))
    layer = layers[0]
    expect_true(isinstance(layer, nn.Linear) and layer.in_features == dim
                and layer.out_features == 2 * dim, f"{where}: self.layers[0]",
                "one nn.Linear(dim, 2 * dim) per layer: its output is split [transform | gate]",
                expected=f"Linear(in_features={dim}, out_features={2 * dim})", got=repr(layer))
    gate_bias = layer.bias.detach()[dim:]
    expect_true(bool((gate_bias < 0).all()), f"{where}: gate bias at init (layers[0].bias[dim:])",
                "initialise the gate bias negative (e.g. nn.init.constant_(bias[dim:], -2)) so "
                "that a new highway layer mostly carries its input", expected="all < 0",
                got=show(gate_bias))

    stored = _stored("highway")
    x = stored["x"]
    _fill_linear(layer, stored["weight"], stored["bias"])
    model.eval()
    labels = {"closed": "closed (gate bias -1000): y must equal x",
              "open": "open (gate bias +1000): y must equal relu(W_h x + b_h)",
              "random": "random weights"}
    for label, value in _HW_GATES:
        _set_gate_bias(layer, dim, value, stored["bias"])
        here = (f"{where} with the gate {labels[label]}" if value is not None
                else f"{where}, {labels[label]}")
        with torch.no_grad():
            got = call(model, x, where=f"{here}: forward(x (2, 3, {dim}))")
        expect_shape(got, (2, 3, dim), here, "a highway layer keeps the shape of its input")
        want = stored[label]
        if not close(got, want):
            hint = which(got, _highway_alternatives(x, layer, dim),
                         "y = g * relu(W_h x) + (1 - g) * x with [W_h x | W_g x] = layer(x)")
            expect_close(got, want, here, hint, atol=1e-5, rtol=1e-4)

    where = f"{name}({dim}, n_layers=2)"
    model = build(Highway, where, dim, n_layers=2, seed=1)
    layers = getattr(model, "layers", None)
    expect_true(isinstance(layers, nn.ModuleList) and len(layers) == 2, f"{where}: self.layers",
                "n_layers Linear layers in self.layers", expected="2 layers",
                got=f"{len(layers) if layers is not None else 'no'} layers")
    expect_true(layers[0] is not layers[1], f"{where}: self.layers",
                "[nn.Linear(...)] * n repeats ONE layer n times; build a new nn.Linear per layer "
                "(a list comprehension)", expected="2 distinct layers", got="the same layer twice")
    for k, lay in enumerate(layers):
        _fill_linear(lay, stored[f"weight{k}"], stored[f"bias{k}"])
    flat = stored["flat"]
    with torch.no_grad():
        got = call(model, flat, where=f"{where}: forward(x (5, {dim}))")
    expect_shape(got, (5, dim), where)
    want = stored["two"]
    if not close(got, want):
        hint = which(got, [(stored["first_only"],
                            "only the first layer was applied: loop over every layer in "
                            "self.layers, feeding each one's output to the next"),
                           (stored["first_twice"],
                            "the first layer was applied twice: use each layer of self.layers "
                            "in turn")],
                     "apply the layers in order, each to the previous layer's output")
        expect_close(got, want, where, hint, atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------ 3. char CNN

_CNN_KW = dict(n_chars=40, char_dim=5, filters=((1, 3), (2, 4), (3, 5)), n_highway=1, out_dim=6)
_CNN_WORDS = [["ab", "c", "dab"], ["bead", "f"]]


_CNN_DEFAULT_WORDS = [["default", "sizes"]]


def _letters(chars: torch.Tensor) -> torch.Tensor:
    """Map the letters a..z of character ids into the small test vocabulary (ids 3..28),
    keeping PAD/BOW/EOW."""
    return torch.where(chars >= OFFSET, chars - ord("a"), chars)


def _find_charcnn_parts(model, kw, where):
    embs = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    expect_true(len(embs) == 1, f"{where}: character embedding",
                "one nn.Embedding(n_chars, char_dim, padding_idx=0)",
                expected="exactly one nn.Embedding", got=f"{len(embs)}")
    emb = embs[0]
    expect_true(emb.num_embeddings == kw["n_chars"] and emb.embedding_dim == kw["char_dim"],
                f"{where}: character embedding", "nn.Embedding(n_chars, char_dim, padding_idx=0)",
                expected=f"Embedding({kw['n_chars']}, {kw['char_dim']})", got=repr(emb))
    expect_true(emb.padding_idx == PAD, f"{where}: character embedding padding_idx",
                "PAD characters (id 0) must embed to zeros and never train: padding_idx=0",
                expected=PAD, got=emb.padding_idx)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    want = [(kw["char_dim"], n, w) for w, n in kw["filters"]]
    got = [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs]
    expect_true(got == want, f"{where}: convolutions (in_channels, out_channels, width)",
                "one nn.Conv1d(char_dim, n_filters, width) per (width, n_filters) in filters, "
                "in that order (kept in an nn.ModuleList)", expected=str(want), got=str(got))
    total = sum(n for _, n in kw["filters"])
    highways = [m for m in model.modules()
                if isinstance(getattr(m, "layers", None), nn.ModuleList)
                and any(isinstance(lay, nn.Linear) for lay in m.layers)]
    expect_true(len(highways) == 1, f"{where}: highway",
                f"a Highway(total_filters, n_highway) module; here total_filters = {total}",
                expected="one Highway module (with .layers)", got=f"{len(highways)}")
    highway = highways[0]
    shapes = [(lay.in_features, lay.out_features) for lay in highway.layers]
    expect_true(shapes == [(total, 2 * total)] * kw["n_highway"], f"{where}: highway layers",
                "the highway runs on the concatenated pooled filters: Highway(sum of n_filters, "
                "n_highway)", expected=str([(total, 2 * total)] * kw["n_highway"]), got=str(shapes))
    inside = {id(m) for m in highway.modules()}
    projs = [m for m in model.modules() if isinstance(m, nn.Linear) and id(m) not in inside]
    expect_true(len(projs) == 1 and projs[0].in_features == total
                and projs[0].out_features == kw["out_dim"], f"{where}: projection",
                "one nn.Linear(total_filters, out_dim) after the highway",
                expected=f"Linear({total}, {kw['out_dim']})",
                got=", ".join(repr(p) for p in projs) or "none")
    return emb, convs, highway, projs[0]


def _charcnn_weights(parts, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Deterministic weights for every part of a CharCNN (the PAD row of the embedding 0)."""
    emb, convs, highway, proj = parts
    weights = {"embed": torch.randn(emb.weight.shape, generator=g)}
    weights["embed"][PAD] = 0.0
    for k, conv in enumerate(convs):
        weights[f"conv{k}.weight"] = torch.randn(conv.weight.shape, generator=g) * 0.5
        weights[f"conv{k}.bias"] = torch.randn(conv.bias.shape, generator=g) * 0.5
    for k, lay in enumerate(highway.layers):
        weights[f"highway{k}.weight"] = torch.randn(lay.weight.shape, generator=g) * 0.3
        weights[f"highway{k}.bias"] = torch.randn(lay.bias.shape, generator=g)
    weights["proj.weight"] = torch.randn(proj.weight.shape, generator=g) * 0.3
    weights["proj.bias"] = torch.randn(proj.bias.shape, generator=g)
    return weights


def _fill_charcnn(parts, weights: dict[str, torch.Tensor]) -> None:
    """Load `weights` (from `_charcnn_weights`) into the parts found by `_find_charcnn_parts`."""
    emb, convs, highway, proj = parts
    with torch.no_grad():
        emb.weight.copy_(weights["embed"])
        for k, conv in enumerate(convs):
            conv.weight.copy_(weights[f"conv{k}.weight"])
            conv.bias.copy_(weights[f"conv{k}.bias"])
        for k, lay in enumerate(highway.layers):
            _fill_linear(lay, weights[f"highway{k}.weight"], weights[f"highway{k}.bias"])
        _fill_linear(proj, weights["proj.weight"], weights["proj.bias"])


def _probe_char_cnn(CharCNN, char_ids) -> dict:  # noqa: N803 (the solution's objects)
    kw = _CNN_KW
    model = CharCNN(**kw)
    parts = _find_charcnn_parts(model, kw, "CharCNN (solution)")
    weights = _charcnn_weights(parts, gen(31))
    _fill_charcnn(parts, weights)
    chars = _letters(_padded_batch(char_ids, _CNN_WORDS, 10))  # (2, 3, 10)
    with torch.no_grad():
        out = model.double().eval()(chars)
    fields = {f"w/{key}": value for key, value in weights.items()}
    fields.update(chars=chars, out=out,
                  default_chars=_padded_batch(char_ids, _CNN_DEFAULT_WORDS, 50))
    return fields


def _skips_highway(model, kw, where, chars, out) -> bool:
    """Does the output stay the same when the highway's weights change (a copy's)?"""
    twin = copy.deepcopy(model)
    _, _, highway, _ = _find_charcnn_parts(twin, kw, where)
    with torch.no_grad():
        for lay in highway.layers:
            lay.weight.mul_(-3.0).add_(0.5)
            lay.bias.fill_(2.0)
        again = call(twin, chars, where=where)
    return close(again, out, atol=1e-6)


def _no_relu_after_pool(model, kw, where, chars) -> bool:
    """With every filter negative (conv bias -1000, a copy's), a ReLU after the max-pool
    zeroes all pooled features: every token must then get the same vector."""
    twin = copy.deepcopy(model)
    _, convs, _, _ = _find_charcnn_parts(twin, kw, where)
    with torch.no_grad():
        for conv in convs:
            conv.bias.fill_(-1000.0)
        out = call(twin, chars, where=where).reshape(-1, kw["out_dim"])
    return not close(out, out[:1].expand_as(out), atol=1e-6)


@one_thread()
def check_char_cnn(CharCNN) -> None:  # noqa: N803 (the learner's class)
    """Per-token char CNN: embed, convolve, max over positions, ReLU, highway, project."""
    name = "CharCNN"
    kw = _CNN_KW
    shown = ", ".join(f"{k}={v}" for k, v in kw.items())
    where = f"{name}({shown})"
    model = build(CharCNN, where, **kw)
    model.eval()
    parts = _find_charcnn_parts(model, kw, where)
    stored = _stored("charcnn")
    _fill_charcnn(parts, {key[2:]: value for key, value in stored.items()
                          if key.startswith("w/")})

    chars = stored["chars"]  # (2, 3, 10); sentence 1 has one padding token
    # every word leaves >= 3 (the widest filter) PAD characters
    shape_hint = ("nn.Conv1d wants (N, channels, length): embed (B*T, L) ids to (B*T, L, C), "
                  "transpose to (B*T, C, L), convolve, then max over the LAST dim (the character "
                  "positions), giving (B*T, n_filters) per filter width")

    def encode(ch, label):
        here = f"{where}: forward(chars {tuple(ch.shape)}{label})"
        with torch.no_grad():
            out = call(model, ch, where=here, hint=shape_hint)
        expect_tensor(out, here)
        expect_shape(out, (*ch.shape[:2], kw["out_dim"]), here,
                     "one out_dim vector per token: (B, T, out_dim)")
        expect_finite(out, here)
        return out

    out = encode(chars, "")
    for b, sentence in enumerate(_CNN_WORDS):
        for t, word in enumerate(sentence):
            alone = encode(chars[b:b + 1, t:t + 1], f", token {word!r} alone")
            expect_close(alone[0, 0], out[b, t],
                         f"{where}: token ({b}, {t}) {word!r} encoded alone vs in the batch",
                         "each token must be encoded independently of its neighbours: reshape "
                         "(B, T, L) to (B*T, L) and convolve over the L characters of each "
                         "token, never across tokens (check every reshape/view/transpose)",
                         atol=1e-5)
    longer = torch.cat([chars, torch.zeros(2, 3, 6, dtype=torch.long)], dim=-1)
    out_long = encode(longer, ", 6 more PAD characters per token")
    real = torch.tensor([[True, True, True], [True, True, False]])
    expect_close(out_long[real], out[real], f"{where}: words padded to 16 vs 10 characters",
                 "appending PAD characters changed a word's vector: pool with the MAX over "
                 "character positions (a mean over character positions, or a sum, counts the "
                 "padding)", atol=1e-5)
    want = stored["out"]
    if not close(out, want):
        here = f"{where}: forward(chars (2, 3, 10)) with changed weights"
        no_relu = _no_relu_after_pool(model, kw, here, chars)
        no_highway = _skips_highway(model, kw, here, chars, out)
        if no_relu and no_highway:
            hint = "ReLU and highway are both skipped: pooled filters -> ReLU -> highway -> projection"
        elif no_highway:
            hint = ("the highway is skipped (changing its weights changes nothing): pooled "
                    "filters -> ReLU -> highway -> projection")
        elif no_relu:
            hint = ("the ReLU after the max-pool is missing: with every filter negative, the "
                    "ReLU makes all pooled features 0, so every token gets the same vector")
        else:
            hint = ("embed -> Conv1d per width -> max over positions -> concat -> ReLU -> "
                    "highway -> projection, using the modules created in __init__")
        expect_close(out, want, f"{where}: forward(chars (2, 3, 10))", hint, atol=1e-5)

    kw2 = dict(kw, n_highway=2)
    where2 = f"{name}(..., n_highway=2)"
    model2 = build(CharCNN, where2, **kw2)
    _find_charcnn_parts(model2, kw2, where2)

    where = f"{name}()"
    model = build(CharCNN, where)
    model.eval()
    chars = stored["default_chars"]
    with torch.no_grad():
        out = call(model, chars, where=f"{where}: forward(chars (1, 2, 50))")
    expect_shape(out, (1, 2, 128), f"{where}: forward(chars (1, 2, 50))",
                 "the defaults are n_chars=259, char_dim=16, four filter widths, out_dim=128")


# -------------------------------------------------------------------------- 4. targets

# padding holds id 7, a real word id: only `lengths` says where a sentence ends
_TARGET_IDS = [[11, 12, 13, 14, 15], [21, 22, 23, 7, 7], [31, 7, 7, 7, 7]]
_TARGET_CASES = [(_TARGET_IDS, [5, 3, 1]), ([row[:4] for row in _TARGET_IDS[:2]], [4, 4])]


def _probe_lm_targets(lm_targets) -> dict:
    fields = {}
    for i, (ids, lengths) in enumerate(_TARGET_CASES):
        ids, lengths = torch.tensor(ids), torch.tensor(lengths)
        fwd, bwd = lm_targets(ids.clone(), lengths.clone())
        fields.update({f"ids{i}": ids, f"lengths{i}": lengths, f"fwd{i}": fwd, f"bwd{i}": bwd})
    return fields


@one_thread()
def check_lm_targets(lm_targets) -> None:
    """fwd[t] = ids[t+1], bwd[t] = ids[t-1]; -100 past the ends and on padding."""
    name = "lm_targets"
    stored = _stored("targets")
    cases = [(stored[f"ids{i}"], stored[f"lengths{i}"], stored[f"fwd{i}"], stored[f"bwd{i}"])
             for i in range(len(_TARGET_CASES))]
    for ids, lengths, want_f, want_b in cases:
        where = f"{name}(ids={ids.tolist()}, lengths={lengths.tolist()})"
        keep = ids.clone(), lengths.clone()
        out = call(lm_targets, ids, lengths, where=where)
        expect_equal(ids, keep[0], f"{name}: ids after the call",
                     "the input ids were modified in place: build new target tensors (clone)")
        expect_equal(lengths, keep[1], f"{name}: lengths after the call",
                     "lengths was modified in place")
        expect_true(isinstance(out, (tuple, list)) and len(out) == 2, f"{where}: return value",
                    "return two tensors, `fwd, bwd`", expected="a tuple (fwd, bwd)",
                    got=f"{type(out).__name__}: {show(out)}")
        B, T = ids.shape
        pos = torch.arange(T)
        real = pos[None, :] < lengths[:, None]
        for got, want, label in ((out[0], want_f, "fwd"), (out[1], want_b, "bwd")):
            here = f"{where}: {label}"
            expect_tensor(got, here)
            expect_dtype(got, torch.long, here, "targets are word ids: a LongTensor")
            expect_shape(got, (B, T), here, "one target per position: (B, T)")
            if torch.equal(got, want):
                continue
            bad = (got != want).nonzero()[0].tolist()
            b, t = bad
            nxt = torch.cat([ids[:, 1:], ids[:, :1]], 1)
            prv = torch.cat([ids[:, -1:], ids[:, :-1]], 1)
            g = got[real]
            pad_wrong = bool((got[~real] != IGNORE).any())
            pad_hint = ("padding positions (t >= lengths[b]) must be -100: find them with "
                        "`lengths` (here the padding holds id 7, an ordinary word id)"
                        + ("; and the last real token has no next token, so its forward "
                           "target is -100 too" if label == "fwd" else ""))
            if label == "fwd":
                if torch.equal(g, ids[real]):
                    hint = "the forward target is the token itself: fwd[t] = ids[t+1], the NEXT token"
                elif torch.equal(g, prv[real]) or torch.equal(got[:, 1:][real[:, 1:]],
                                                               ids[:, :-1][real[:, 1:]]):
                    hint = ("shifted the wrong way: the forward LM reads left to right and "
                            "predicts the NEXT token, fwd[t] = ids[t+1]")
                elif t == int(lengths[b]) - 1 and int(got[b, t]) in (int(ids[b, 0]),):
                    hint = ("the last real token wrapped around to the first (torch.roll): it "
                            "has no next token, so its target is -100")
                elif pad_wrong:
                    hint = pad_hint
                elif t == int(lengths[b]) - 1:
                    hint = ("the last real token of a sentence has no next token: its forward "
                            "target is -100 (it was given the padding id)")
                else:
                    hint = "fwd[b, t] = ids[b, t+1] for t < lengths[b] - 1, else -100"
            else:
                if torch.equal(g, ids[real]):
                    hint = ("the backward LM sees the current token: its target at t is the "
                            "PREVIOUS token, bwd[t] = ids[t-1] (it reads right to left and "
                            "predicts what came before)")
                elif torch.equal(g, nxt[real]) or torch.equal(got[:, :-1][real[:, 1:]],
                                                               ids[:, 1:][real[:, 1:]]):
                    hint = ("shifted the wrong way: the backward LM predicts the PREVIOUS "
                            "token, bwd[t] = ids[t-1]")
                elif t == 0:
                    hint = ("the first token has no previous token: bwd[:, 0] = -100 (torch.roll "
                            "wraps the last token around)")
                elif pad_wrong:
                    hint = pad_hint
                else:
                    hint = "bwd[b, t] = ids[b, t-1] for 1 <= t < lengths[b], else -100"
            fail(f"{here} at position (b={b}, t={t}); lengths[{b}] = {int(lengths[b])}",
                 f"{want.tolist()}", f"{got.tolist()}", hint)


# ----------------------------------------------------------------------------- 5. loss

_LOSS_TARGETS = ([[1, 2, 3, IGNORE], [4, 5, IGNORE, IGNORE]],
                 [[IGNORE, 0, 6, 2], [IGNORE, IGNORE, IGNORE, IGNORE]])
_LOSS_SCALES = (1.0, 3.0)


def _probe_bilm_loss(bilm_loss) -> dict:
    g = gen(51)
    B, T, V = 2, 4, 7
    fwd_t, bwd_t = (torch.tensor(t) for t in _LOSS_TARGETS)
    fields = {"fwd_targets": fwd_t, "bwd_targets": bwd_t}
    for i, scale in enumerate(_LOSS_SCALES):
        fl = torch.randn(B, T, V, generator=g) * scale
        bl = torch.randn(B, T, V, generator=g) * scale
        leaves = [t.double().requires_grad_(True) for t in (fl, bl)]
        loss = bilm_loss(*leaves, fwd_t.clone(), bwd_t.clone())
        loss.backward()
        fields.update({f"fwd_logits{i}": fl, f"bwd_logits{i}": bl, f"loss{i}": loss.detach(),
                       f"fwd_grad{i}": leaves[0].grad, f"bwd_grad{i}": leaves[1].grad})
    # large logits: a confident, wrong prediction
    fl = torch.zeros(1, 2, 3)
    fl[0, :, 0] = 200.0
    bl = fl.flip(-1).clone()
    ft, bt = torch.tensor([[1, 0]]), torch.tensor([[2, 2]])
    with torch.no_grad():
        loss = bilm_loss(fl.double(), bl.double(), ft.clone(), bt.clone())
    fields.update(big_fwd_logits=fl, big_bwd_logits=bl, big_fwd_targets=ft, big_bwd_targets=bt,
                  big_loss=loss)
    return fields


def _token_nll(logits, targets):
    """Per-position cross-entropies (torch's F.cross_entropy), 0 where the target is -100."""
    V = logits.shape[-1]
    nll = torch.nn.functional.cross_entropy(logits.detach().double().reshape(-1, V),
                                            targets.reshape(-1), ignore_index=IGNORE,
                                            reduction="none")
    return nll.reshape(targets.shape), targets != IGNORE


def _bilm_alternatives(fl, bl, ft, bt, want):
    """Wrong biLM losses a learner writes, each on its own or by its relation to the right
    value `want` (none is the answer)."""
    (fnll, fkeep), (bnll, bkeep) = _token_nll(fl, ft), _token_nll(bl, bt)
    fs, fn, bs, bn = fnll.sum(), fkeep.sum(), bnll.sum(), bkeep.sum()
    wrong_dim = []
    for logits, targets in ((fl, ft), (bl, bt)):
        logp = torch.log_softmax(logits.detach().double(), 1)
        keep = targets != IGNORE
        nll = -logp.gather(-1, targets.clamp(min=0)[..., None])[..., 0] * keep
        wrong_dim.append(nll.sum() / keep.sum())
    sent = []
    for nll, keep in ((fnll, fkeep), (bnll, bkeep)):
        n = keep.sum(1)
        ok = n > 0
        sent.append((nll.sum(1)[ok] / n[ok]).mean())
    return [
        (2 * want, "the two directions are summed: the biLM loss is their MEAN, (fwd + bwd) / 2"),
        (fs / fn, "only the forward LM's loss: average it with the backward LM's"),
        (bs / bn, "only the backward LM's loss: average it with the forward LM's"),
        ((fs / fnll.numel() + bs / bnll.numel()) / 2,
         "padding was counted: the ignored positions (-100) add 0 to the sum but still count "
         "in the mean; average over the kept tokens only (F.cross_entropy with "
         "ignore_index=-100 does it)"),
        ((fs + bs) / (fn + bn),
         f"one mean over the tokens of both directions pooled; the biLM loss is the mean of the "
         f"two directions' token means (here they keep {int(fn)} and {int(bn)} tokens)"),
        ((wrong_dim[0] + wrong_dim[1]) / 2,
         "log_softmax/softmax over the wrong dim: normalise over the vocabulary, the last dim"),
        ((sent[0] + sent[1]) / 2,
         "a mean of per-sentence means; average over all kept tokens of the batch instead"),
        ((fs + bs) / 2, "summed over the tokens: take the mean over the kept tokens"),
        ((_ce_all(fl, ft) + _ce_all(bl, bt)) / 2,
         "the ignored positions (-100) were scored as word 0 (clamped, not masked): leave "
         "them out of both the sum and the count"),
    ]


def _ce_all(logits, targets):
    """Every position scored, the -100 targets as word 0 (a wrong loss)."""
    logp = torch.log_softmax(logits.detach().double(), -1)
    return -logp.gather(-1, targets.clamp(min=0)[..., None]).mean()


@one_thread()
def check_bilm_loss(bilm_loss) -> None:
    """Mean of the forward and backward token-mean cross-entropies, -100 ignored."""
    name = "bilm_loss"
    stored = _stored("loss")
    fwd_t, bwd_t = stored["fwd_targets"], stored["bwd_targets"]
    for i, _ in enumerate(_LOSS_SCALES):
        fl = stored[f"fwd_logits{i}"].requires_grad_(True)
        bl = stored[f"bwd_logits{i}"].requires_grad_(True)
        B, T, V = fl.shape
        where = (f"{name}(fwd_logits {B}x{T}x{V}, bwd_logits {B}x{T}x{V}, "
                 f"fwd_targets={fwd_t.tolist()}, bwd_targets={bwd_t.tolist()})")
        got = call(bilm_loss, fl, bl, fwd_t.clone(), bwd_t.clone(), where=where,
                   hint="targets of -100 mark positions to ignore: they are no vocabulary index "
                   "(F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), "
                   "ignore_index=-100) skips them)")
        expect_tensor(got, where)
        expect_shape(got, (), where, "the loss is one number: a 0-dim tensor")
        expect_dtype(got, FLOATS, where)
        want = stored[f"loss{i}"]
        if not close(got, want, atol=1e-5, rtol=1e-5):
            hint = which(got, _bilm_alternatives(fl, bl, fwd_t, bwd_t, want),
                         "(token-mean CE of the forward LM + token-mean CE of the backward "
                         "LM) / 2, over the targets that are not -100")
            expect_close(got, want, where, hint, atol=1e-5, rtol=1e-5)
        expect_true(got.requires_grad and got.grad_fn is not None, f"{where}: autograd",
                    "the loss must stay in the autograd graph: no .item(), no torch.tensor(...) "
                    "around it, no torch.no_grad()", expected="a loss with grad_fn",
                    got="a tensor without grad_fn")
        call(got.backward, where=f"{where}: loss.backward()")
        for leaf, targets, label in ((fl, fwd_t, "fwd"), (bl, bwd_t, "bwd")):
            grad = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
            ignored = grad[targets == IGNORE]
            expect_true(bool((ignored == 0).all()), f"{where}: gradient of {label}_logits at the "
                        "ignored positions", "positions whose target is -100 must not take "
                        "part in the loss", expected="zero", got=show(ignored))
            expect_close(grad, stored[f"{label}_grad{i}"], f"{where}: gradient w.r.t. {label}_logits",
                         "the value is right but not its gradient: don't detach any part",
                         atol=1e-6, rtol=1e-4)

    # large logits: a stable log-softmax stays finite
    where = f"{name} with logits of 200 (a confident, wrong prediction)"
    got = call(bilm_loss, stored["big_fwd_logits"], stored["big_bwd_logits"],
               stored["big_fwd_targets"], stored["big_bwd_targets"], where=where)
    expect_finite(got, where, "log(softmax(x)) is not stable: softmax rounds to 0 and log(0) = "
                  "-inf; use F.cross_entropy or F.log_softmax")
    expect_close(got, stored["big_loss"], where, atol=1e-3, rtol=1e-5)


# ------------------------------------------------------------------------ 6. ScalarMix

def _param(model, attr: str, shape: tuple[int, ...], init: float, where: str) -> nn.Parameter:
    p = getattr(model, attr, None)
    expect_true(isinstance(p, nn.Parameter), f"{where}: self.{attr}",
                f"self.{attr} = nn.Parameter(...) so that it is learned with the model",
                expected="an nn.Parameter", got=type(p).__name__)
    expect_shape(p, shape, f"{where}: self.{attr}")
    expect_true(bool((p.detach() == init).all()), f"{where}: self.{attr} at init",
                f"initialise {attr} to {init:g} (scalars zeros: equal layer weights; gamma one)",
                expected=f"all {init:g}", got=show(p.detach()))
    return p


def _fill_mix(mix, scalars: torch.Tensor, gamma: torch.Tensor) -> None:
    """Set a ScalarMix's prescribed parameters, `scalars` and `gamma`."""
    with torch.no_grad():
        mix.scalars.copy_(scalars)
        mix.gamma.copy_(gamma)


def _mix_layers() -> tuple[torch.Tensor, torch.Tensor]:
    """(layers (3, 2, 4, 5), mask (2, 4)): per layer and sentence a different offset and
    spread, so that a layer norm has work to do."""
    g = gen(61)
    layers = torch.randn(3, 2, 4, 5, generator=g)
    layers = layers * torch.tensor([0.5, 3.0, 1.5])[:, None, None, None] + \
        torch.tensor([[2.0, -1.0], [0.0, 4.0], [-3.0, 1.0]])[:, :, None, None]
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    return layers, mask


def _probe_scalar_mix(ScalarMix) -> dict:  # noqa: N803 (the solution's class)
    layers, mask = _mix_layers()
    L, B, T, D = layers.shape
    scalars, gamma = torch.tensor([1.0, -0.5, 2.0]), torch.tensor([1.7])
    x = layers.double()
    plain, normed = ScalarMix(L).double(), ScalarMix(L, layer_norm=True).double()
    backwards = ScalarMix(L).double()  # the layers' weights in reverse order: a wrong answer
    one = ScalarMix(1, layer_norm=True).double()  # a layer norm alone (weight 1, gamma 1)
    _fill_mix(plain, scalars, gamma)
    _fill_mix(normed, scalars, gamma)
    _fill_mix(backwards, scalars.flip(0), gamma)
    with torch.no_grad():
        mixed = plain(x)
        return {
            "layers": layers, "mask": mask, "scalars": scalars, "gamma": gamma,
            "mix": mixed, "mix_reversed": backwards(x), "ln": normed(x, mask),
            # wrong answers' values: the layer norm over the whole batch at once, per token
            # (like nn.LayerNorm(D)), or applied to the mix instead of to each layer
            "ln_per_batch": normed(x.reshape(L, 1, B * T, D), mask.reshape(1, B * T))
            .reshape(B, T, D),
            "ln_per_token": plain(torch.nn.functional.layer_norm(x, (D,), eps=1e-12)),
            "ln_of_mix": one(mixed[None], mask),
        }


@one_thread()
def check_scalar_mix(ScalarMix) -> None:  # noqa: N803 (the learner's class)
    """gamma * sum_l softmax(s)_l h_l; optional layer norm over each sentence's real entries."""
    name = "ScalarMix"
    stored = _stored("scalarmix")
    layers, mask = stored["layers"], stored["mask"].bool()
    L, B, T, D = layers.shape
    padded = ~mask

    where = f"{name}({L})"
    mix = build(ScalarMix, where, L)
    scalars = _param(mix, "scalars", (L,), 0.0, where)
    gamma = _param(mix, "gamma", (1,), 1.0, where)
    here = f"{where}: forward(layers ({L}, {B}, {T}, {D})) at init"
    got = call(mix, layers, where=here)
    expect_shape(got, (B, T, D), here, "the mix has the shape of one layer: (B, T, D)")
    want = layers.double().mean(0)  # equal weights: the plain average of the layers
    if not close(got, want):
        hint = which(got, [(layers.sum(0), "softmax over a size-1 axis gives weight 1 to every "
                            "layer (a sum): take the softmax over the n_layers scalars, dim 0"),
                           (torch.zeros(B, T, D), "the weights are the raw scalars (all 0 at "
                            "init): normalise them with a softmax over the layers")],
                     "with all scalars 0 the softmax weights are 1/n_layers each: the mean")
        expect_close(got, want, here, hint, atol=1e-5)

    _fill_mix(mix, stored["scalars"], stored["gamma"])
    s, gm = stored["scalars"].double(), float(stored["gamma"])
    here = f"{where} with scalars=[1, -0.5, 2], gamma=1.7: forward(layers)"
    got = call(mix, layers, where=here)
    want = stored["mix"]
    if not close(got, want):
        x = layers.double()
        raw = s[:, None, None, None]
        hint = which(got, [
            (want / gm, "gamma is missing: multiply the mix by self.gamma"),
            (gm * (raw * x).sum(0),
             "the raw scalars are used as weights: apply a softmax over the layers first"),
            (gm * (raw * x).sum(0) / s.sum(),
             "the scalars are divided by their sum; ELMo normalises them with a softmax"),
            (gm * x.sum(0), "softmax over a size-1 axis gives weight 1 to every layer: take the "
             "softmax over the n_layers scalars (dim 0)"),
            (gm * (raw.exp() * x).sum(0),
             "exp(scalars) without dividing by their sum: use torch.softmax"),
            (stored["mix_reversed"], "the weights are applied to the layers in reverse order"),
        ], "gamma * sum over l of softmax(scalars)[l] * layers[l]")
        expect_close(got, want, here, hint, atol=1e-5)
    got_masked = call(mix, layers, mask, where=f"{here} with a mask")
    expect_close(got_masked, got, f"{here}: with vs without a mask (layer_norm=False)",
                 "without layer norm the mask changes nothing: each token is mixed on its own",
                 atol=1e-6)
    mix.zero_grad(set_to_none=True)
    call(got.sum().backward, where=f"{here}: .sum().backward()",
         hint="the output is cut off from the parameters: use self.scalars and self.gamma "
         "themselves in forward (not .data, .detach(), .item() or torch.tensor(...))")
    for p, label in ((scalars, "scalars"), (gamma, "gamma")):
        grad = p.grad
        expect_true(grad is not None and bool(grad.abs().sum() > 0),
                    f"{where}: gradient of self.{label}",
                    f"self.{label} must be learned: use the parameter itself in forward (not "
                    ".data, .detach() or .item())", expected="non-zero",
                    got="None" if grad is None else show(grad))

    where = f"{name}({L}, layer_norm=True)"
    mix = build(ScalarMix, where, L, layer_norm=True)
    _param(mix, "scalars", (L,), 0.0, where)
    _param(mix, "gamma", (1,), 1.0, where)
    _fill_mix(mix, stored["scalars"], stored["gamma"])
    here = f"{where}: forward(layers, mask={mask.int().tolist()})"
    got = call(mix, layers, mask, where=here)
    expect_shape(got, (B, T, D), here)
    expect_finite(got[mask], here)
    noisy = layers.clone()
    noisy[:, padded] = torch.randn(L, int(padded.sum()), D, generator=gen(62)) * 100 + 50
    got_noisy = call(mix, noisy, mask, where=f"{here} (other padding values)")
    expect_close(got_noisy[mask], got[mask],
                 f"{here}: outputs at the real tokens when the padded entries change",
                 "the padded entries leaked into the layer norm: compute each sentence's mean "
                 "and variance over its UNMASKED entries only (multiply by the mask and divide "
                 "by the number of real entries, n_real_tokens * D)", atol=1e-4)
    want = stored["ln"]
    if not close(got[mask], want[mask], atol=1e-4):
        n = mask.sum(1).double() * D  # real entries per sentence
        alts = [
            (want * torch.sqrt((n - 1) / n)[:, None, None],
             "the variance is divided by N - 1; a layer norm uses the population variance "
             "(divide by N, unbiased=False)"),
            (stored["ln_per_token"],
             "normalised per token over D (like nn.LayerNorm(D)); ELMo normalises each layer "
             "over all the unmasked (T, D) entries of a sentence: one mean and one variance "
             "per sentence and layer"),
            (stored["ln_per_batch"],
             "one mean and variance for the whole batch; compute them per sentence (and per "
             "layer), over that sentence's real entries"),
            (stored["mix"], "layer_norm=True must normalise each layer before mixing"),
            (gm * stored["ln_of_mix"],
             "the layer norm was applied to the mix; normalise each layer h_l BEFORE "
             "weighting and summing"),
            (stored["ln_of_mix"],
             "the layer norm was applied to the mix; normalise each layer h_l BEFORE "
             "weighting and summing"),
        ]
        got_m = got.detach().clone()
        got_m[~mask] = 0
        hint = which(got_m, [(a.masked_fill(~mask[..., None], 0), h) for a, h in alts],
                     "per sentence and layer: (h - mean) / sqrt(var + eps), mean and "
                     "(population) variance over the unmasked (T, D) entries; then mix",
                     atol=1e-4)
        expect_close(got[mask], want[mask], f"{here}: outputs at the real tokens", hint,
                     atol=1e-4)
    here_none = f"{where}: forward(layers, mask=None)"
    got_none = call(mix, layers, where=here_none)
    expect_close(got_none, call(mix, layers, torch.ones(B, T, dtype=torch.bool), where=here_none),
                 f"{here_none} vs an all-True mask", "mask=None means every token is real",
                 atol=1e-5)


# ------------------------------------------------------------------- 7. features

_BILM_SMALL = {
    "vocab_size": 23, "n_vocab": 23, "n_words": 23, "n_tokens": 23, "num_words": 23,
    "n_chars": 259, "num_chars": 259, "char_dim": 4, "filters": ((1, 4), (2, 4), (3, 8)),
    "n_highway": 1, "dim": 8, "d_model": 8, "out_dim": 8, "token_dim": 8, "embed_dim": 8,
    "proj_dim": 8, "hidden": 8, "hidden_dim": 8, "hidden_size": 8, "d_hidden": 8,
    "n_layers": 2, "num_layers": 2, "dropout": 0.5, "p_dropout": 0.5, "max_word_len": 12,
    "char_cnn": {"char_dim": 4, "filters": ((1, 4), (2, 4), (3, 8)), "n_highway": 1},
}
_FEATURE_SENTENCES = [["the", "bank", "of", "the", "river"], ["a", "bank", "loan"]]
_FEATURE_CHANGED = [["the", "loan", "of", "the", "river"], _FEATURE_SENTENCES[1]]  # token 1
_FEATURE_WIDTH = 12  # max_word_len of the stored characters (every word fits)


def _probe_feature_chars(char_ids) -> dict:
    L = _FEATURE_WIDTH
    return {"chars": _padded_batch(char_ids, _FEATURE_SENTENCES, L),
            "changed": _padded_batch(char_ids, _FEATURE_CHANGED, L),
            "alone": _padded_batch(char_ids, _FEATURE_SENTENCES[1:], L)}


def _width(chars: torch.Tensor, L: int) -> torch.Tensor:
    """The stored characters at another max_word_len: more PAD, or cut (a cut word only
    loses its EOW; the features check tests properties, which hold for any ids)."""
    if L <= chars.shape[-1]:
        return chars[..., :L].clone()
    return torch.cat([chars, chars.new_zeros(*chars.shape[:-1], L - chars.shape[-1])], -1)


def _make_bilm(BiLM, bilm_kwargs: dict, where: str):  # noqa: N803
    """(a small BiLM, how to show it, the keyword arguments it was built with)."""
    if isinstance(BiLM, nn.Module):
        return copy.deepcopy(BiLM), "the given BiLM", dict(bilm_kwargs)
    kwargs: dict = {}
    if isinstance(BiLM, type):
        params = inspect.signature(BiLM).parameters
        kwargs = {k: v for k, v in _BILM_SMALL.items() if k in params}
        missing = [k for k, p in params.items() if k != "self" and p.default is p.empty
                   and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                   and k not in kwargs and k not in bilm_kwargs]
        expect_true(not missing, f"{where}: building a small BiLM",
                    "pass the missing sizes to the check: check_contextual_features(..., "
                    "BiLM, name=value)", expected="known constructor arguments",
                    got=f"required arguments {missing}")
    kwargs.update(bilm_kwargs)
    shown = ", ".join(f"{k}={'{...}' if isinstance(v, dict) else v}" for k, v in kwargs.items())
    hint = ("the chapter's BiLM is built from your CharCNN and Highway: make check_char_cnn "
            "and check_highway pass first")
    return build(BiLM, f"{where}: BiLM({shown})", hint=hint, **kwargs), f"BiLM({shown})", kwargs


@one_thread()
def check_contextual_features(contextual_features, BiLM, **bilm_kwargs) -> None:  # noqa: N803
    """Frozen biLM features: eval mode, no graph, [x; x] then [fwd; bwd] aligned per token.

    `BiLM` is the chapter's biLM class (built small from its signature; `bilm_kwargs`
    override the sizes) or an instance (copied).
    """
    name = "contextual_features"
    bilm, shown, used = _make_bilm(BiLM, bilm_kwargs, name)
    for m in bilm.modules():  # dropout on: a train-mode forward pass would be random
        if isinstance(m, nn.Dropout):
            m.p = 0.5
        elif isinstance(m, nn.RNNBase) and m.num_layers > 1:
            m.dropout = 0.5
    bilm.train()
    L = int(used.get("max_word_len", _BILM_SMALL["max_word_len"]))
    stored = {key: _width(value, L) for key, value in _stored("features").items()}
    chars = stored["chars"]
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    where = f"{name}({shown} in train mode, chars (2, 5, {L}), mask={mask.int().tolist()})"

    seen: list[tuple[str, bool]] = []
    names = {m: n or "bilm" for n, m in bilm.named_modules()}
    hooks = [m.register_forward_pre_hook(lambda mod, args: seen.append((names[mod],
                                                                        mod.training)))
             for m in bilm.modules()]
    grad_mode = torch.is_grad_enabled()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            out = call(contextual_features, bilm, chars.clone(), mask.clone(), where=where)
    finally:
        for h in hooks:
            h.remove()
        switched_off = grad_mode and not torch.is_grad_enabled()
        torch.set_grad_enabled(grad_mode)
    expect_true(not switched_off, f"{where}: autograd after the call",
                "torch.set_grad_enabled(False) / torch.no_grad() without `with` switched "
                "autograd off for the rest of the notebook: use `with torch.no_grad():`",
                expected="grad mode still on", got="grad mode switched off")
    expect_true(bool(seen), f"{where}: calls into the biLM",
                "run the biLM on the characters (bilm(chars, mask))",
                expected="the biLM's modules to run", got="no module of the biLM was called")
    training = sorted({n for n, t in seen if t})
    expect_true(not training, f"{where}: mode of the biLM while computing features",
                "the biLM ran in training mode, so dropout made the features random: call "
                "bilm.eval() before the forward pass (frozen features come from eval mode)",
                expected="eval mode (module.training False)",
                got=f"training mode in {show(training)}")
    expect_tensor(out, where)
    n_layers = used.get("n_layers", used.get("num_layers"))
    want_layers = None if n_layers is None else int(n_layers) + 1
    expect_shape(out, (want_layers, 2, 5, None), where,
                 "(n_layers + 1, B, T, 2H): layer 0 is the token encoder's [x; x], then one "
                 "[forward; backward] layer per LSTM layer")
    expect_true(out.shape[0] >= 2 and out.shape[-1] % 2 == 0, f"{where}: shape",
                "(n_layers + 1, B, T, 2H)", expected="(>= 2, 2, 5, an even size)",
                got=str(tuple(out.shape)))
    expect_true(not out.requires_grad and out.grad_fn is None, f"{where}: requires_grad",
                "frozen features carry no autograd graph: compute them under "
                "`with torch.no_grad():` (the graph would keep every activation in memory "
                "and backpropagate into the biLM)", expected=False, got=out.requires_grad)
    expect_finite(out[:, mask], where)
    H = out.shape[-1] // 2
    expect_close(out[0, ..., H:][mask], out[0, ..., :H][mask],
                 f"{where}: layer 0, second half vs first half",
                 "layer 0 is the context-free token vector x duplicated, [x; x], so it has "
                 "the size 2H of the LSTM layers")

    bilm.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        again = call(contextual_features, bilm, chars.clone(), mask.clone(), where=where)
    expect_close(again[:, mask], out[:, mask], f"{where}: called twice",
                 "the same sentences must give the same features: call bilm.eval() (dropout "
                 "off) and use no randomness", atol=1e-6)

    # one token changes: forward states change from t on, backward states up to t
    t = 1
    changed = stored["changed"]
    other = call(contextual_features, bilm, changed, mask.clone(),
                 where=f"{name}(..., sentence 0 with token {t} changed)")
    diff = (other - out)[:, 0]  # (layers, T, 2H)
    expect_true(_positions(diff[0]) == [t], f"{where}: positions where layer 0 changes when "
                f"token {t} of sentence 0 changes", "layer 0 is the context-free token encoder "
                "output, [x; x]: only the changed token's vector may change (if "
                "contextual_features does that, your CharCNN mixes tokens: see check_char_cnn)",
                expected=str([t]), got=str(_positions(diff[0])))
    for k in range(1, out.shape[0]):
        f_pos, b_pos = _positions(diff[k, :, :H]), _positions(diff[k, :, H:])
        here = (f"{where}: positions whose layer-{k} features change when token {t} of "
                "sentence 0 (5 tokens) changes")
        expect_true(bool(f_pos) and min(f_pos) == t, f"{here}, forward half [:H]",
                    "the forward LM at position s reads tokens 0..s: a change at token t "
                    "shows from position t on, never before (is the forward half the "
                    "forward LM's states?)", expected=f"starting at {t}", got=str(f_pos))
        if not (b_pos and max(b_pos) == t):
            flipped = bool(b_pos) and min(b_pos) == 4 - t
            hint = ("the backward states are in the backward LM's reading order: position s "
                    "must hold the state that has read tokens s..end. Put them back in token "
                    "order, reversing each sentence over its own length (reverse_padded)"
                    if flipped else
                    "the backward LM at position s reads tokens s..end: a change at token t "
                    "shows at positions <= t only (is the second half the backward LM's "
                    "states, re-aligned to token positions?)")
            fail(f"{here}, backward half [H:]", f"ending at {t}", str(b_pos), hint)

    # a padded sentence gives the features it has alone
    alone = call(contextual_features, bilm, stored["alone"],
                 torch.ones(1, 3, dtype=torch.bool),
                 where=f"{name}(..., sentence 1 alone, unpadded)")
    expect_close(out[:, 1, :3], alone[:, 0], f"{where}: sentence 1 (3 tokens + 2 padding) vs "
                 "alone", "padding changed a real token's features: re-align the backward "
                 "states per sentence (reverse over lengths[b], not over the padded T), and "
                 "pass the mask to the biLM", atol=1e-5)


# --------------------------------------------------------------------- 8. tagger

# (gold, pred, token accuracy, what the case tests): the entity F1 of each, seqeval's
# default (conlleval) span matching, is stored (probe "span_f1")
_F1_CASES = [
    ([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "O", "O", "B-LOC"]], 0.75,
     "a 2-token PER tagged as 1 token is a wrong span: only LOC matches (P = R = 1/2)"),
    ([["B-PER", "I-PER", "O"]], [["B-ORG", "I-ORG", "O"]], 1 / 3,
     "right boundaries, wrong type: an entity counts only if its type matches too"),
    ([["B-PER", "B-PER", "O"]], [["B-PER", "I-PER", "O"]], 2 / 3,
     "gold has two adjacent 1-token PERs (each B- starts a new entity); the prediction is one "
     "2-token PER: no span matches"),
    ([["B-PER"], ["B-LOC", "O", "B-LOC", "O", "B-LOC", "O", "O"]],
     [["B-PER"], ["O", "O", "O", "O", "O", "O", "O"]], 5 / 8,
     "micro-averaged over all entities of all sentences: TP = 1, 1 predicted, 4 gold, "
     "so P = 1, R = 1/4, F1 = 0.4 (not the mean of per-sentence or per-type F1s, 0.5)"),
    ([["O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-ORG", "O"]],
     [["O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-ORG", "O"]], 1.0,
     "identical tags: F1 = 1"),
]


def _probe_span_f1(span_f1) -> dict:
    return {f"f1_{i}": float(span_f1([list(s) for s in gold], [list(s) for s in pred]))
            for i, (gold, pred, _, _) in enumerate(_F1_CASES)}


def _check_span_f1(span_f1) -> None:
    name = "span_f1"
    stored = _stored("span_f1")
    for i, (gold, pred, acc, why) in enumerate(_F1_CASES):
        want = float(stored[f"f1_{i}"])
        where = f"{name}(gold={gold}, pred={pred})"
        got = call(span_f1, [list(s) for s in gold], [list(s) for s in pred], where=where)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        expect_true(isinstance(got, (int, float)) or type(got).__name__.startswith("float"),
                    f"{where}: return value", "return the F1 as a Python float",
                    expected="a float", got=f"{type(got).__name__}: {show(got)}")
        got = float(got)
        if abs(got - want) > 1e-6:
            if abs(got - 100 * want) < 1e-4 and want > 0:
                hint = "return a fraction in [0, 1], not a percentage"
            elif abs(got - acc) < 1e-6:
                hint = (f"this is the token accuracy ({acc:.3g}); span F1 counts whole entities: "
                        + why)
            else:
                hint = ("entity-level F1 over (type, start, end) spans, e.g. "
                        "seqeval.metrics.f1_score(gold, pred): " + why)
            fail(where, want, got, hint)


@one_thread()
def check_tagger(Tagger, span_f1) -> None:  # noqa: N803 (the learner's class)
    """Tagger: (L, B, T, D) features -> (B, T, n_tags) logits, padding-proof; span-level F1."""
    name = "Tagger"
    n_layers, dim, n_tags, hidden = 3, 6, 5, 8
    where = f"{name}({n_layers}, {dim}, {n_tags}, hidden={hidden})"
    model = build(Tagger, where, n_layers, dim, n_tags, hidden=hidden)
    mixes = [m for m in model.modules() if isinstance(getattr(m, "scalars", None), nn.Parameter)]
    expect_true(len(mixes) == 1 and tuple(mixes[0].scalars.shape) == (n_layers,),
                f"{where}: ScalarMix", "mix the feature layers with a ScalarMix(n_layers, ...) "
                "created in __init__ (its weights are learned with the tagger)",
                expected=f"one ScalarMix with {n_layers} scalars",
                got=", ".join(str(tuple(m.scalars.shape)) for m in mixes) or "none")
    with torch.no_grad():  # unequal layer weights, so that every layer visibly counts
        mixes[0].scalars.copy_(torch.tensor([0.3, -0.2, 0.1]))
    model.eval()
    g = gen(81)
    B, T = 3, 5
    feats = torch.randn(n_layers, B, T, dim, generator=g)
    mask = torch.tensor([[True] * 5, [True] * 2 + [False] * 3, [True] * 4 + [False]])
    feats[:, ~mask] = 0.0

    def logits(x, m, label):
        here = f"{where}: forward(features {tuple(x.shape)}, mask{label})"
        with torch.no_grad():
            out = call(model, x, m, where=here)
        expect_tensor(out, here)
        expect_shape(out, (*m.shape, n_tags), here, "one row of tag logits per token: "
                     "(B, T, n_tags)")
        expect_finite(out[m], here)
        return out, here

    out, here = logits(feats, mask, "")
    changed = feats.clone()
    changed[:, 0] += torch.randn(n_layers, T, dim, generator=g)
    out2, _ = logits(changed, mask, ", sentence 0 changed")
    expect_close(out2[1:][mask[1:]], out[1:][mask[1:]], f"{where}: logits of sentences 1, 2 "
                 "when only sentence 0's features change", "sentences got mixed: an nn.LSTM "
                 "without batch_first=True reads (B, T, D) as (T, B, D)", atol=1e-5)
    noisy = feats.clone()
    noisy[:, ~mask] = torch.randn(n_layers, int((~mask).sum()), dim, generator=g) * 10 + 5
    other, _ = logits(noisy, mask, ", other padding values")
    hint_pad = ("the features at padded positions reached real tokens: pass the mask to the "
                "ScalarMix, and run the BiLSTM over each sentence's real tokens only "
                "(nn.utils.rnn.pack_padded_sequence with the lengths, enforce_sorted=False): "
                "the backward direction otherwise starts in the padding")
    expect_close(other[mask], out[mask], f"{here}: logits of real tokens when the padded "
                 "features change", hint_pad, atol=1e-5)
    for b in (1, 2):
        n = int(mask[b].sum())
        alone, _ = logits(feats[:, b:b + 1, :n], torch.ones(1, n, dtype=torch.bool),
                          f" (sentence {b} alone)")
        expect_close(alone[0], out[b, :n], f"{where}: sentence {b} ({n} tokens + {T - n} padding) "
                     "alone vs in the batch", hint_pad, atol=1e-5)
    for layer in range(n_layers):
        bumped = feats.clone()
        bumped[layer, 0, 2] += 1.0
        out3, _ = logits(bumped, mask, f", layer {layer} changed at token (0, 2)")
        expect_true(not close(out3[0, 2], out[0, 2], atol=1e-7), f"{where}: logits at token "
                    f"(0, 2) when feature layer {layer} changes there", "every feature layer "
                    "enters the ScalarMix: mix features (all n_layers), not one layer of them",
                    expected="changed", got="unchanged")
    model.train()
    model.zero_grad(set_to_none=True)
    with torch.random.fork_rng(devices=[]):  # dropout draws: fixed, and the learner's RNG kept
        torch.manual_seed(0)
        out = call(model, feats, mask, where=f"{where}: forward in train mode")
    loss = torch.nn.functional.cross_entropy(out[mask], torch.arange(int(mask.sum())) % n_tags)
    call(loss.backward, where=f"{where}: loss.backward()")
    grad = mixes[0].scalars.grad
    expect_true(grad is not None and bool(grad.abs().sum() > 0),
                f"{where}: gradient of the ScalarMix scalars", "the layer weights are learned "
                "with the tagger: don't detach the mix", expected="non-zero",
                got="None" if grad is None else show(grad))

    _check_span_f1(span_f1)


# ------------------------------------------------------------------ expected values

# What `course release` runs on the chapter's solution to store the values the checks
# compare with (autograder/expected/elmo.safetensors): each `make` builds fixed inputs
# (and weights), calls the solution's objects and returns inputs and outputs.
PROBES = {
    "charids": Probe(("char_ids",), _probe_char_ids),
    "highway": Probe(("Highway",), _probe_highway),
    "charcnn": Probe(("CharCNN", "char_ids"), _probe_char_cnn),
    "targets": Probe(("lm_targets",), _probe_lm_targets),
    "loss": Probe(("bilm_loss",), _probe_bilm_loss),
    "scalarmix": Probe(("ScalarMix",), _probe_scalar_mix),
    "features": Probe(("char_ids",), _probe_feature_chars),
    "span_f1": Probe(("span_f1",), _probe_span_f1),
}
