"""Mutants of Chapter 2 (ELMo): wrong answers a student would really write.

Each `source` redefines the exercise's function(s)/class inside a copy of the solution
namespace (`tests.mutants.apply`), with its own imports. Classes are written out in full
(not subclassed) so they do not depend on the solution's attribute names; they use the
solution's other exercises where a student would (CharCNN uses `Highway`, the Tagger
uses `ScalarMix`). The `features` mutants call the chapter's BiLM through
`_bilm_states` below, the one place that knows the BiLM's forward API.
"""

from __future__ import annotations

from textwrap import dedent

from . import Mutant

_IMPORTS = """\
import torch
import torch.nn as nn
import torch.nn.functional as F
"""


def _m(exercise: str, name: str, source: str) -> Mutant:
    return Mutant(exercise, name, _IMPORTS + dedent(source))


# --------------------------------------------------------------------------- charids

def _char_ids(body: str) -> str:
    return dedent("""
        def char_ids(tokens, max_word_len=50):
            out = torch.zeros(len(tokens), max_word_len, dtype=torch.long)
            for i, tok in enumerate(tokens):
        """) + body


_CHARIDS = [
    _m("charids", "eow_lost_on_truncation", _char_ids("""\
        ids = ([1] + [b + 3 for b in tok.encode("utf-8")] + [2])[:max_word_len]
        out[i, :len(ids)] = torch.tensor(ids)
    return out
""")),
    _m("charids", "no_bow", _char_ids("""\
        ids = [b + 3 for b in tok.encode("utf-8")][:max_word_len - 1] + [2]
        out[i, :len(ids)] = torch.tensor(ids)
    return out
""")),
    _m("charids", "pads_with_ones", """
        def char_ids(tokens, max_word_len=50):
            out = torch.ones(len(tokens), max_word_len, dtype=torch.long)
            for i, tok in enumerate(tokens):
                ids = [1] + [b + 3 for b in tok.encode("utf-8")[:max_word_len - 2]] + [2]
                out[i, :len(ids)] = torch.tensor(ids)
            return out
    """),
    _m("charids", "ord_not_bytes", _char_ids("""\
        ids = [1] + [ord(c) + 3 for c in tok[:max_word_len - 2]] + [2]
        out[i, :len(ids)] = torch.tensor(ids)
    return out
""")),
    _m("charids", "no_offset", _char_ids("""\
        ids = [1] + list(tok.encode("utf-8")[:max_word_len - 2]) + [2]
        out[i, :len(ids)] = torch.tensor(ids)
    return out
""")),
    _m("charids", "truncates_one_short", _char_ids("""\
        ids = [1] + [b + 3 for b in tok.encode("utf-8")[:max_word_len - 3]] + [2]
        out[i, :len(ids)] = torch.tensor(ids)
    return out
""")),
]

# --------------------------------------------------------------------------- highway

_HIGHWAY_INIT = """
class Highway(nn.Module):
    def __init__(self, dim, n_layers=1):
        super().__init__()
        self.dim = dim
        self.layers = nn.ModuleList([nn.Linear(dim, 2 * dim) for _ in range(n_layers)])
        for layer in self.layers:
            nn.init.constant_(layer.bias[dim:], -2.0)

    def forward(self, x):
        for layer in self.layers:
"""


def _highway(body: str, init: str = _HIGHWAY_INIT) -> str:
    return init + body


_HIGHWAY = [
    _m("highway", "gate_wrong_branch", _highway("""\
            h, g = layer(x).chunk(2, dim=-1)
            g = torch.sigmoid(g)
            x = g * x + (1 - g) * F.relu(h)
        return x
""")),
    _m("highway", "no_carry", _highway("""\
            h, g = layer(x).chunk(2, dim=-1)
            x = torch.sigmoid(g) * F.relu(h)
        return x
""")),
    _m("highway", "gate_without_sigmoid", _highway("""\
            h, g = layer(x).chunk(2, dim=-1)
            x = g * F.relu(h) + (1 - g) * x
        return x
""")),
    _m("highway", "split_swapped", _highway("""\
            g, h = layer(x).chunk(2, dim=-1)
            g = torch.sigmoid(g)
            x = g * F.relu(h) + (1 - g) * x
        return x
""")),
    _m("highway", "zero_gate_bias", _highway("""\
            h, g = layer(x).chunk(2, dim=-1)
            g = torch.sigmoid(g)
            x = g * F.relu(h) + (1 - g) * x
        return x
""", _HIGHWAY_INIT.replace("nn.init.constant_(layer.bias[dim:], -2.0)",
                           "nn.init.zeros_(layer.bias)"))),
    _m("highway", "one_layer_repeated", _highway("""\
            h, g = layer(x).chunk(2, dim=-1)
            g = torch.sigmoid(g)
            x = g * F.relu(h) + (1 - g) * x
        return x
""", _HIGHWAY_INIT.replace("nn.ModuleList([nn.Linear(dim, 2 * dim) for _ in range(n_layers)])",
                           "nn.ModuleList([nn.Linear(dim, 2 * dim)] * n_layers)"))),
    _m("highway", "first_layer_twice", _HIGHWAY_INIT.rsplit("        for layer", 1)[0] + """\
        for _ in self.layers:
            h, g = self.layers[0](x).chunk(2, dim=-1)
            g = torch.sigmoid(g)
            x = g * F.relu(h) + (1 - g) * x
        return x
"""),
    _m("highway", "first_layer_only", _HIGHWAY_INIT.rsplit("        for layer", 1)[0] + """\
        h, g = self.layers[0](x).chunk(2, dim=-1)
        g = torch.sigmoid(g)
        return g * F.relu(h) + (1 - g) * x
"""),
]

# --------------------------------------------------------------------------- charcnn

_CHARCNN_INIT = """
class CharCNN(nn.Module):
    def __init__(self, n_chars=259, char_dim=16, filters=((1, 32), (2, 32), (3, 64), (4, 128)),
                 n_highway=1, out_dim=128):
        super().__init__()
        self.embed = nn.Embedding(n_chars, char_dim, padding_idx=0)
        self.convs = nn.ModuleList([nn.Conv1d(char_dim, n, w) for w, n in filters])
        total = sum(n for _, n in filters)
        self.highway = Highway(total, n_highway)
        self.proj = nn.Linear(total, out_dim)

    def forward(self, chars):
        B, T, L = chars.shape
"""


def _charcnn(body: str, init: str = _CHARCNN_INIT) -> str:
    return init + body


_CHARCNN = [
    _m("charcnn", "max_over_channels", _charcnn("""\
        e = self.embed(chars.reshape(B * T, L)).transpose(1, 2)
        h = torch.cat([conv(e).max(dim=1).values for conv in self.convs], dim=-1)
        h = self.highway(F.relu(h))
        return self.proj(h).reshape(B, T, -1)
""")),
    _m("charcnn", "mean_pool", _charcnn("""\
        e = self.embed(chars.reshape(B * T, L)).transpose(1, 2)
        h = torch.cat([conv(e).mean(dim=-1) for conv in self.convs], dim=-1)
        h = self.highway(F.relu(h))
        return self.proj(h).reshape(B, T, -1)
""")),
    _m("charcnn", "tokens_mixed", _charcnn("""\
        e = self.embed(chars.transpose(1, 2).reshape(B * T, L)).transpose(1, 2)
        h = torch.cat([conv(e).max(dim=-1).values for conv in self.convs], dim=-1)
        h = self.highway(F.relu(h))
        return self.proj(h).reshape(B, T, -1)
""")),
    _m("charcnn", "output_reshaped_wrong", _charcnn("""\
        e = self.embed(chars.reshape(B * T, L)).transpose(1, 2)
        h = torch.cat([conv(e).max(dim=-1).values for conv in self.convs], dim=-1)
        h = self.highway(F.relu(h))
        return self.proj(h).reshape(T, B, -1).transpose(0, 1)
""")),
    _m("charcnn", "no_highway", _charcnn("""\
        e = self.embed(chars.reshape(B * T, L)).transpose(1, 2)
        h = torch.cat([conv(e).max(dim=-1).values for conv in self.convs], dim=-1)
        return self.proj(F.relu(h)).reshape(B, T, -1)
""")),
    _m("charcnn", "no_relu", _charcnn("""\
        e = self.embed(chars.reshape(B * T, L)).transpose(1, 2)
        h = torch.cat([conv(e).max(dim=-1).values for conv in self.convs], dim=-1)
        return self.proj(self.highway(h)).reshape(B, T, -1)
""")),
    _m("charcnn", "no_relu_no_highway", _charcnn("""\
        e = self.embed(chars.reshape(B * T, L)).transpose(1, 2)
        h = torch.cat([conv(e).max(dim=-1).values for conv in self.convs], dim=-1)
        return self.proj(h).reshape(B, T, -1)
""")),
    _m("charcnn", "no_padding_idx", _charcnn("""\
        e = self.embed(chars.reshape(B * T, L)).transpose(1, 2)
        h = torch.cat([conv(e).max(dim=-1).values for conv in self.convs], dim=-1)
        h = self.highway(F.relu(h))
        return self.proj(h).reshape(B, T, -1)
""", _CHARCNN_INIT.replace("nn.Embedding(n_chars, char_dim, padding_idx=0)",
                           "nn.Embedding(n_chars, char_dim)"))),
]

# --------------------------------------------------------------------------- targets

_TARGETS = [
    _m("targets", "bwd_sees_current", """
        def lm_targets(ids, lengths):
            T = ids.shape[1]
            real = torch.arange(T)[None, :] < lengths[:, None]
            fwd = torch.full_like(ids, -100)
            fwd[:, :-1] = ids[:, 1:]
            fwd[torch.arange(T)[None, :] >= lengths[:, None] - 1] = -100
            bwd = torch.where(real, ids, torch.full_like(ids, -100))
            return fwd, bwd
    """),
    _m("targets", "fwd_shifted_wrong_way", """
        def lm_targets(ids, lengths):
            T = ids.shape[1]
            pos = torch.arange(T)[None, :]
            fwd = torch.full_like(ids, -100)
            bwd = torch.full_like(ids, -100)
            fwd[:, 1:] = ids[:, :-1]
            bwd[:, 1:] = ids[:, :-1]
            fwd[pos >= lengths[:, None]] = -100
            bwd[pos >= lengths[:, None]] = -100
            return fwd, bwd
    """),
    _m("targets", "padding_not_ignored", """
        def lm_targets(ids, lengths):
            fwd = torch.full_like(ids, -100)
            bwd = torch.full_like(ids, -100)
            fwd[:, :-1] = ids[:, 1:]
            bwd[:, 1:] = ids[:, :-1]
            return fwd, bwd
    """),
    _m("targets", "roll_wraps_around", """
        def lm_targets(ids, lengths):
            pos = torch.arange(ids.shape[1])[None, :]
            fwd = torch.roll(ids, -1, dims=1)
            bwd = torch.roll(ids, 1, dims=1)
            fwd[pos >= lengths[:, None]] = -100
            bwd[pos >= lengths[:, None]] = -100
            return fwd, bwd
    """),
    _m("targets", "padding_by_id", """
        def lm_targets(ids, lengths):
            fwd = torch.full_like(ids, -100)
            bwd = torch.full_like(ids, -100)
            fwd[:, :-1] = ids[:, 1:]
            bwd[:, 1:] = ids[:, :-1]
            fwd[fwd == 0] = -100
            bwd[bwd == 0] = -100
            return fwd, bwd
    """),
    _m("targets", "last_real_token_kept", """
        def lm_targets(ids, lengths):
            pos = torch.arange(ids.shape[1])[None, :]
            fwd = torch.full_like(ids, -100)
            bwd = torch.full_like(ids, -100)
            fwd[:, :-1] = ids[:, 1:]
            bwd[:, 1:] = ids[:, :-1]
            fwd[pos >= lengths[:, None]] = -100
            bwd[pos >= lengths[:, None]] = -100
            return fwd, bwd
    """),
]

# ------------------------------------------------------------------------------ loss

_CE = """
def _ce(logits, targets, **kw):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), **kw)
"""

_LOSS = [
    _m("loss", "sum_not_mean", _CE + """
def bilm_loss(fwd_logits, bwd_logits, fwd_targets, bwd_targets):
    return _ce(fwd_logits, fwd_targets) + _ce(bwd_logits, bwd_targets)
"""),
    _m("loss", "forward_only", _CE + """
def bilm_loss(fwd_logits, bwd_logits, fwd_targets, bwd_targets):
    return _ce(fwd_logits, fwd_targets)
"""),
    _m("loss", "padding_counted", _CE + """
def bilm_loss(fwd_logits, bwd_logits, fwd_targets, bwd_targets):
    f = _ce(fwd_logits, fwd_targets, reduction="none").mean()
    b = _ce(bwd_logits, bwd_targets, reduction="none").mean()
    return (f + b) / 2
"""),
    _m("loss", "pooled_tokens", _CE + """
def bilm_loss(fwd_logits, bwd_logits, fwd_targets, bwd_targets):
    return _ce(torch.cat([fwd_logits, bwd_logits]), torch.cat([fwd_targets, bwd_targets]))
"""),
    _m("loss", "log_of_softmax", """
        def bilm_loss(fwd_logits, bwd_logits, fwd_targets, bwd_targets):
            def ce(logits, targets):
                keep = targets != -100
                p = torch.softmax(logits, dim=-1)[keep]
                return -torch.log(p.gather(-1, targets[keep][:, None])).mean()
            return (ce(fwd_logits, fwd_targets) + ce(bwd_logits, bwd_targets)) / 2
    """),
    _m("loss", "ignored_scored_as_word_0", """
        def bilm_loss(fwd_logits, bwd_logits, fwd_targets, bwd_targets):
            def ce(logits, targets):  # clamp so that gather accepts the -100s
                logp = torch.log_softmax(logits, dim=-1)
                return -logp.gather(-1, targets.clamp(min=0)[..., None]).mean()
            return (ce(fwd_logits, fwd_targets) + ce(bwd_logits, bwd_targets)) / 2
    """),
]

# ------------------------------------------------------------------------ scalarmix

_MIX_INIT = """
class ScalarMix(nn.Module):
    def __init__(self, n_layers, layer_norm=False):
        super().__init__()
        self.scalars = nn.Parameter(torch.zeros(n_layers))
        self.gamma = nn.Parameter(torch.ones(1))
        self.layer_norm = layer_norm

    @staticmethod
    def _norm(layers, mask):
        L, B, T, D = layers.shape
        if mask is None:
            mask = torch.ones(B, T, dtype=torch.bool)
        m = mask[None, :, :, None].to(layers.dtype)
        n = m.sum(dim=(2, 3), keepdim=True) * D
        mean = (layers * m).sum(dim=(2, 3), keepdim=True) / n
        var = (((layers - mean) * m) ** 2).sum(dim=(2, 3), keepdim=True) / n
        return (layers - mean) / torch.sqrt(var + 1e-12)

    def forward(self, layers, mask=None):
"""


def _mix(body: str) -> str:
    return _MIX_INIT + body


_SCALARMIX = [
    _m("scalarmix", "no_softmax", _mix("""\
        if self.layer_norm:
            layers = self._norm(layers, mask)
        return self.gamma * (self.scalars[:, None, None, None] * layers).sum(0)
""")),
    _m("scalarmix", "softmax_wrong_axis", _mix("""\
        if self.layer_norm:
            layers = self._norm(layers, mask)
        w = torch.softmax(self.scalars[:, None], dim=-1)
        return self.gamma * (w[:, :, None, None] * layers).sum(0)
""")),
    _m("scalarmix", "no_gamma", _mix("""\
        if self.layer_norm:
            layers = self._norm(layers, mask)
        w = torch.softmax(self.scalars, dim=0)
        return (w[:, None, None, None] * layers).sum(0)
""")),
    _m("scalarmix", "layer_norm_counts_padding", _mix("""\
        if self.layer_norm:
            layers = self._norm(layers, None)
        w = torch.softmax(self.scalars, dim=0)
        return self.gamma * (w[:, None, None, None] * layers).sum(0)
""")),
    _m("scalarmix", "layer_norm_per_token", _mix("""\
        if self.layer_norm:
            layers = F.layer_norm(layers, layers.shape[-1:])
        w = torch.softmax(self.scalars, dim=0)
        return self.gamma * (w[:, None, None, None] * layers).sum(0)
""")),
    _m("scalarmix", "weights_reversed", _mix("""\
        if self.layer_norm:
            layers = self._norm(layers, mask)
        w = torch.softmax(self.scalars, dim=0).flip(0)
        return self.gamma * (w[:, None, None, None] * layers).sum(0)
""")),
    _m("scalarmix", "layer_norm_unbiased", _mix("""\
        if self.layer_norm:
            L, B, T, D = layers.shape
            m = (torch.ones(B, T) if mask is None else mask.float())[None, :, :, None]
            n = m.sum(dim=(2, 3), keepdim=True) * D
            mean = (layers * m).sum(dim=(2, 3), keepdim=True) / n
            var = (((layers - mean) * m) ** 2).sum(dim=(2, 3), keepdim=True) / (n - 1)
            layers = (layers - mean) / torch.sqrt(var + 1e-12)
        w = torch.softmax(self.scalars, dim=0)
        return self.gamma * (w[:, None, None, None] * layers).sum(0)
""")),
    _m("scalarmix", "layer_norm_per_batch", _mix("""\
        if self.layer_norm:
            L, B, T, D = layers.shape
            m = (torch.ones(B, T) if mask is None else mask.float())[None, :, :, None]
            n = m.sum(dim=(1, 2, 3), keepdim=True) * D
            mean = (layers * m).sum(dim=(1, 2, 3), keepdim=True) / n
            var = (((layers - mean) * m) ** 2).sum(dim=(1, 2, 3), keepdim=True) / n
            layers = (layers - mean) / torch.sqrt(var + 1e-12)
        w = torch.softmax(self.scalars, dim=0)
        return self.gamma * (w[:, None, None, None] * layers).sum(0)
""")),
    _m("scalarmix", "layer_norm_after_mix", _mix("""\
        w = torch.softmax(self.scalars, dim=0)
        mixed = (w[:, None, None, None] * layers).sum(0)
        if self.layer_norm:
            mixed = self._norm(mixed[None], mask)[0]
        return self.gamma * mixed
""")),
    _m("scalarmix", "scalars_detached", _mix("""\
        if self.layer_norm:
            layers = self._norm(layers, mask)
        w = torch.softmax(self.scalars.detach(), dim=0)
        return self.gamma * (w[:, None, None, None] * layers).sum(0)
""")),
]

# ------------------------------------------------------------------------- features

# The one place that knows the chapter BiLM's forward API: bilm(chars, mask) returns a dict
# with "token" x (B, T, H) and per-layer "forward" and "backward" states (B, T, H), the
# backward ones in the backward LSTM's reading order (`reverse_padded` aligns them).
_BILM_STATES = """
def _bilm_states(bilm, chars, mask, align=True):
    out = bilm(chars, mask)
    lengths = mask.sum(1)
    bwd = [reverse_padded(b, lengths) if align else b for b in out["backward"]]
    return out["token"], list(out["forward"]), bwd
"""


def _features(body: str) -> str:
    return _IMPORTS + _BILM_STATES + dedent(body)


_FEATURES = [
    Mutant("features", "train_mode", _features("""
        def contextual_features(bilm, chars, mask):
            with torch.no_grad():
                x, fwd, bwd = _bilm_states(bilm, chars, mask)
                layers = [torch.cat([x, x], -1)]
                layers += [torch.cat([f, b], -1) for f, b in zip(fwd, bwd)]
            return torch.stack(layers)
    """)),
    Mutant("features", "grad_kept", _features("""
        def contextual_features(bilm, chars, mask):
            bilm.eval()
            x, fwd, bwd = _bilm_states(bilm, chars, mask)
            layers = [torch.cat([x, x], -1)]
            layers += [torch.cat([f, b], -1) for f, b in zip(fwd, bwd)]
            return torch.stack(layers)
    """)),
    Mutant("features", "grad_switched_off_globally", _features("""
        def contextual_features(bilm, chars, mask):
            bilm.eval()
            torch.set_grad_enabled(False)
            x, fwd, bwd = _bilm_states(bilm, chars, mask)
            layers = [torch.cat([x, x], -1)]
            layers += [torch.cat([f, b], -1) for f, b in zip(fwd, bwd)]
            return torch.stack(layers)
    """)),
    Mutant("features", "backward_not_realigned", _features("""
        def contextual_features(bilm, chars, mask):
            bilm.eval()
            with torch.no_grad():
                x, fwd, bwd = _bilm_states(bilm, chars, mask, align=False)
                layers = [torch.cat([x, x], -1)]
                layers += [torch.cat([f, b], -1) for f, b in zip(fwd, bwd)]
            return torch.stack(layers)
    """)),
    Mutant("features", "flipped_over_padding", _features("""
        def contextual_features(bilm, chars, mask):
            bilm.eval()
            with torch.no_grad():
                x, fwd, bwd = _bilm_states(bilm, chars, mask, align=False)
                layers = [torch.cat([x, x], -1)]
                layers += [torch.cat([f, b.flip(1)], -1) for f, b in zip(fwd, bwd)]
            return torch.stack(layers)
    """)),
    Mutant("features", "directions_swapped", _features("""
        def contextual_features(bilm, chars, mask):
            bilm.eval()
            with torch.no_grad():
                x, fwd, bwd = _bilm_states(bilm, chars, mask)
                layers = [torch.cat([x, x], -1)]
                layers += [torch.cat([b, f], -1) for f, b in zip(fwd, bwd)]
            return torch.stack(layers)
    """)),
    Mutant("features", "no_token_layer", _features("""
        def contextual_features(bilm, chars, mask):
            bilm.eval()
            with torch.no_grad():
                x, fwd, bwd = _bilm_states(bilm, chars, mask)
                layers = [torch.cat([f, b], -1) for f, b in zip(fwd, bwd)]
            return torch.stack(layers)
    """)),
]

# --------------------------------------------------------------------------- tagger

_TAGGER_INIT = """
class Tagger(nn.Module):
    def __init__(self, n_layers, dim, n_tags, hidden=64):
        super().__init__()
        self.mix = ScalarMix(n_layers, layer_norm=True)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, n_tags)

    def forward(self, features, mask):
"""

_PACKED = """\
        lengths = mask.long().sum(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                   enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])
        return self.out(h)
"""


def _tagger(body: str, init: str = _TAGGER_INIT) -> str:
    return init + body


_TAGGER = [
    _m("tagger", "mask_ignored", _tagger("""\
        x = self.mix(features)
        return self.out(self.lstm(x)[0])
""")),
    _m("tagger", "padding_leaks_into_lstm", _tagger("""\
        x = self.mix(features, mask)
        return self.out(self.lstm(x)[0])
""")),
    _m("tagger", "padding_leaks_into_mix", _tagger("""\
        x = self.mix(features)
""" + _PACKED)),
    _m("tagger", "lstm_not_batch_first", _tagger("""\
        x = self.mix(features, mask)
        return self.out(self.lstm(x * mask[..., None])[0])
""", _TAGGER_INIT.replace("batch_first=True, bidirectional", "bidirectional"))),
    _m("tagger", "top_layer_only", _tagger("""\
        x = features[-1]
""" + _PACKED)),
    _m("tagger", "span_f1_token_accuracy", """
        def span_f1(gold, pred):
            pairs = [(g, p) for gs, ps in zip(gold, pred) for g, p in zip(gs, ps)]
            return sum(g == p for g, p in pairs) / len(pairs)
    """),
    _m("tagger", "span_f1_ignores_type", """
        from seqeval.metrics import f1_score

        def span_f1(gold, pred):
            strip = lambda tags: [[t if t == "O" else t[:2] + "X" for t in s] for s in tags]
            return float(f1_score(strip(gold), strip(pred)))
    """),
    _m("tagger", "span_f1_mean_over_sentences", """
        from seqeval.metrics import f1_score

        def span_f1(gold, pred):
            scores = [f1_score([g], [p]) for g, p in zip(gold, pred)]
            return float(sum(scores) / len(scores))
    """),
    _m("tagger", "span_f1_type_runs", """
        def _spans(tags):
            spans, start = set(), None
            for i, tag in enumerate(list(tags) + ["O"]):
                kind = None if tag == "O" else tag[2:]
                if start is not None and kind != tags[start][2:]:
                    spans.add((tags[start][2:], start, i))
                    start = None
                if kind is not None and start is None:
                    start = i
            return spans

        def span_f1(gold, pred):
            tp = n_gold = n_pred = 0
            for g, p in zip(gold, pred):
                gs, ps = _spans(g), _spans(p)
                tp += len(gs & ps)
                n_gold += len(gs)
                n_pred += len(ps)
            if tp == 0:
                return 0.0
            precision, recall = tp / n_pred, tp / n_gold
            return 2 * precision * recall / (precision + recall)
    """),
    _m("tagger", "span_f1_percent", """
        from seqeval.metrics import f1_score

        def span_f1(gold, pred):
            return 100 * float(f1_score(gold, pred))
    """),
]

MUTANTS: list[Mutant] = (
    _CHARIDS + _HIGHWAY + _CHARCNN + _TARGETS + _LOSS + _SCALARMIX + _FEATURES + _TAGGER
)
