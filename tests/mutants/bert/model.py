"""Mutants of Chapter 4 (BERT), the model part: wrong answers a student would really write for
the embeddings, the encoder and its weight loading, the MLM head and loss, and the export.

Each `source` redefines the exercise's class/function(s) inside a copy of the solution
namespace (`tests.mutants.apply`), with its own imports so it runs in any namespace.
"""

from __future__ import annotations

from textwrap import dedent

from .. import Mutant

_IMPORTS = """\
import functools
import torch
import torch.nn as nn
import torch.nn.functional as F
"""


def _m(exercise: str, name: str, source: str) -> Mutant:
    return Mutant(exercise, name, _IMPORTS + dedent(source))


# ------------------------------------------------------------------------ embeddings

_EMB_INIT = """
class BertEmbeddings(nn.Module):
    def __init__(self, vocab_size, hidden, max_positions=512, type_vocab_size=2, eps=1e-12,
                 dropout=0.1, pad_id=0):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden, padding_idx=pad_id)
        self.position_embeddings = nn.Embedding(max_positions, hidden)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)
"""


def _emb(name: str, forward: str, init: str = _EMB_INIT) -> Mutant:
    """A BertEmbeddings mutant: the solution's constructor (or `init`) and this forward."""
    return _m("embeddings", name, dedent(init) + "\n" + _indent(dedent(forward)))


def _indent(text: str) -> str:
    return "".join("    " + line if line.strip() else line for line in text.splitlines(True))


_EMB_FORWARD_OK = """
def forward(self, input_ids, token_type_ids=None):
    B, T = input_ids.shape
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    positions = torch.arange(T, device=input_ids.device)
    x = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
         + self.token_type_embeddings(token_type_ids))
    return self.dropout(self.LayerNorm(x))
"""

_EMBEDDINGS = [
    _emb("eps_default", _EMB_FORWARD_OK, _EMB_INIT.replace("nn.LayerNorm(hidden, eps=eps)",
                                                           "nn.LayerNorm(hidden)")),
    _emb("no_positions", """
        def forward(self, input_ids, token_type_ids=None):
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
            return self.dropout(self.LayerNorm(x))
    """),
    _emb("no_segments", """
        def forward(self, input_ids, token_type_ids=None):
            positions = torch.arange(input_ids.shape[1])
            x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
            return self.dropout(self.LayerNorm(x))
    """),
    _emb("positions_from_1", """
        def forward(self, input_ids, token_type_ids=None):
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            positions = torch.arange(1, input_ids.shape[1] + 1)
            x = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
                 + self.token_type_embeddings(token_type_ids))
            return self.dropout(self.LayerNorm(x))
    """),
    _emb("layernorm_before_sum", """
        def forward(self, input_ids, token_type_ids=None):
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            positions = torch.arange(input_ids.shape[1])
            x = (self.LayerNorm(self.word_embeddings(input_ids))
                 + self.position_embeddings(positions) + self.token_type_embeddings(token_type_ids))
            return self.dropout(x)
    """),
    _emb("no_layernorm", """
        def forward(self, input_ids, token_type_ids=None):
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            positions = torch.arange(input_ids.shape[1])
            x = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
                 + self.token_type_embeddings(token_type_ids))
            return self.dropout(x)
    """),
    _emb("dropout_before_layernorm", """
        def forward(self, input_ids, token_type_ids=None):
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            positions = torch.arange(input_ids.shape[1])
            x = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
                 + self.token_type_embeddings(token_type_ids))
            return self.LayerNorm(self.dropout(x))
    """),
    _emb("dropout_in_eval", """
        def forward(self, input_ids, token_type_ids=None):
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            positions = torch.arange(input_ids.shape[1])
            x = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
                 + self.token_type_embeddings(token_type_ids))
            return F.dropout(self.LayerNorm(x), 0.1, training=True)
    """),
    _emb("no_dropout", """
        def forward(self, input_ids, token_type_ids=None):
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            positions = torch.arange(input_ids.shape[1])
            x = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
                 + self.token_type_embeddings(token_type_ids))
            return self.LayerNorm(x)
    """),
    _emb("none_skips_segments", """
        def forward(self, input_ids, token_type_ids=None):
            positions = torch.arange(input_ids.shape[1])
            x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
            if token_type_ids is not None:
                x = x + self.token_type_embeddings(token_type_ids)
            return self.dropout(self.LayerNorm(x))
    """),
    _emb("no_padding_idx", _EMB_FORWARD_OK,
         _EMB_INIT.replace("nn.Embedding(vocab_size, hidden, padding_idx=pad_id)",
                           "nn.Embedding(vocab_size, hidden)")),
    _m("embeddings", "wrap_library", """
        from transformers import BertConfig
        from transformers.models.bert.modeling_bert import BertEmbeddings as _Library

        class BertEmbeddings(_Library):
            def __init__(self, vocab_size, hidden, max_positions=512, type_vocab_size=2,
                         eps=1e-12, dropout=0.1, pad_id=0):
                super().__init__(BertConfig(
                    vocab_size=vocab_size, hidden_size=hidden, max_position_embeddings=max_positions,
                    type_vocab_size=type_vocab_size, layer_norm_eps=eps,
                    hidden_dropout_prob=dropout, pad_token_id=pad_id))
    """),
]


# ---------------------------------------------------------------------------- encoder

_BERT = """
class Bert(nn.Module):
    def __init__(self, vocab_size=30522, hidden=384, layers=6, heads=12, ffn=1536,
                 max_positions=512, type_vocab_size=2, eps=1e-12, dropout=0.1, pad_id=0,
                 make_layer=None):
        super().__init__()
        self.embeddings = BertEmbeddings(vocab_size, hidden, max_positions, type_vocab_size,
                                         eps, dropout, pad_id)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(LAYER_ARGS) for _ in range(layers))

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        x = self.embeddings(input_ids, token_type_ids)
        padding = None if attention_mask is None else PADDING
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=padding)
        return x
"""
_LAYER_OK = ("hidden, heads, ffn, dropout, activation='gelu', layer_norm_eps=eps, "
             "batch_first=True, norm_first=False")


def _bert(name: str, layer: str = _LAYER_OK, padding: str = "attention_mask == 0") -> Mutant:
    return _m("encoder", name, _BERT.replace("LAYER_ARGS", layer).replace("PADDING", padding))


_LOAD = """
def load_hf_weights(model, state_dict):
    sd = {k.removeprefix("bert."): v for k, v in state_dict.items()}
    ours = {}
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        ours[f"embeddings.{name}.weight"] = sd[f"embeddings.{name}.weight"]
    for p in ("weight", "bias"):
        ours[f"embeddings.LayerNorm.{p}"] = sd[f"embeddings.LayerNorm.{p}"]
    for i in range(len(model.layers)):
        hf, me = f"encoder.layer.{i}.", f"layers.{i}."
        for p in ("weight", "bias"):
            ours[me + f"self_attn.in_proj_{p}"] = torch.cat(
                [PROJ(n, p) for n in ORDER])
            ours[me + f"self_attn.out_proj.{p}"] = sd[hf + f"attention.output.dense.{p}"]
            ours[me + f"norm1.{p}"] = sd[hf + f"attention.output.LayerNorm.{p}"]
            ours[me + f"linear1.{p}"] = sd[hf + f"intermediate.dense.{p}"]
            ours[me + f"linear2.{p}"] = sd[hf + f"output.dense.{p}"]
            ours[me + f"norm2.{p}"] = sd[hf + f"output.LayerNorm.{p}"]
    model.load_state_dict(ours, strict=True)
    return model
"""
_PROJ_OK = 'sd[hf + f"attention.self.{n}.{p}"]'


def _load(name: str, order: str = '("query", "key", "value")', proj: str = _PROJ_OK) -> Mutant:
    return _m("encoder", name, _LOAD.replace("ORDER", order).replace("PROJ(n, p)", proj))


_ENCODER = [
    _bert("tanh_gelu", _LAYER_OK.replace("activation='gelu'",
                                         "activation=functools.partial(F.gelu, approximate='tanh')")),
    _bert("relu", _LAYER_OK.replace("activation='gelu', ", "")),
    _bert("pre_norm", _LAYER_OK.replace("norm_first=False", "norm_first=True")),
    _bert("eps_default", _LAYER_OK.replace("layer_norm_eps=eps, ", "")),
    _bert("mask_inverted", padding="attention_mask == 1"),
    _bert("mask_not_passed", padding="None"),
    _bert("mask_as_float", padding="attention_mask.float()"),
    _load("kqv_order", order='("key", "query", "value")'),
    _load("qk_transposed",
          proj='(sd[hf + f"attention.self.{n}.{p}"].t() if p == "weight" and n != "value" '
               'else sd[hf + f"attention.self.{n}.{p}"])'),
    _m("encoder", "skips_embedding_layernorm", """
        def load_hf_weights(model, state_dict):
            ours = {}
            for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
                ours[f"embeddings.{name}.weight"] = state_dict[f"embeddings.{name}.weight"]
            for i in range(len(model.layers)):
                hf, me = f"encoder.layer.{i}.", f"layers.{i}."
                for p in ("weight", "bias"):
                    ours[me + f"self_attn.in_proj_{p}"] = torch.cat(
                        [state_dict[hf + f"attention.self.{n}.{p}"] for n in ("query", "key", "value")])
                    ours[me + f"self_attn.out_proj.{p}"] = state_dict[hf + f"attention.output.dense.{p}"]
                    ours[me + f"norm1.{p}"] = state_dict[hf + f"attention.output.LayerNorm.{p}"]
                    ours[me + f"linear1.{p}"] = state_dict[hf + f"intermediate.dense.{p}"]
                    ours[me + f"linear2.{p}"] = state_dict[hf + f"output.dense.{p}"]
                    ours[me + f"norm2.{p}"] = state_dict[hf + f"output.LayerNorm.{p}"]
            model.load_state_dict(ours, strict=False)
            return model
    """),
    _m("encoder", "wrap_library", """
        from transformers import BertConfig, BertModel

        class Bert(nn.Module):
            def __init__(self, vocab_size=30522, hidden=384, layers=6, heads=12, ffn=1536,
                         max_positions=512, type_vocab_size=2, eps=1e-12, dropout=0.1, pad_id=0,
                         make_layer=None):
                super().__init__()
                self.hf = BertModel(BertConfig(
                    vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                    num_attention_heads=heads, intermediate_size=ffn,
                    max_position_embeddings=max_positions, type_vocab_size=type_vocab_size,
                    layer_norm_eps=eps, hidden_dropout_prob=dropout, pad_token_id=pad_id),
                    add_pooling_layer=False)

            def forward(self, input_ids, token_type_ids=None, attention_mask=None):
                return self.hf(input_ids=input_ids, token_type_ids=token_type_ids,
                               attention_mask=attention_mask).last_hidden_state

        def load_hf_weights(model, state_dict):
            model.hf.load_state_dict({k: v for k, v in state_dict.items()
                                      if not k.startswith("pooler.")}, strict=False)
            return model
    """),
]


# -------------------------------------------------------------------------------- mlm

_HEAD = """
class MLMHead(nn.Module):
    def __init__(self, word_embeddings, eps=1e-12):
        super().__init__()
        vocab_size, hidden = word_embeddings.weight.shape
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.decoder = nn.Linear(hidden, vocab_size)
        self.decoder.weight = word_embeddings.weight

    def forward(self, hidden):
        return self.decoder(self.LayerNorm(F.gelu(self.dense(hidden))))
"""


def _head(name: str, old: str, new: str) -> Mutant:
    assert old in _HEAD, old
    return _m("mlm", name, _HEAD.replace(old, new))


def _loss(name: str, body: str) -> Mutant:
    return _m("mlm", name, "def mlm_loss(head, hidden, labels):\n" + _indent(dedent(body)))


_MLM = [
    _loss("mean_over_all", """
        logits = head(hidden)
        losses = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
        return losses.mean()
    """),
    _loss("per_sequence_mean", """
        picked = labels != -100
        per_row = [F.cross_entropy(head(hidden[b][picked[b]]), labels[b][picked[b]])
                   for b in range(labels.shape[0])]
        return torch.stack(per_row).mean()
    """),
    _loss("ignore_index_0", """
        logits = head(hidden)
        return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=0)
    """),
    _loss("sum_not_mean", """
        picked = labels != -100
        return F.cross_entropy(head(hidden[picked]), labels[picked], reduction="sum")
    """),
    _loss("project_then_mask", """
        picked = labels != -100
        logits = head(hidden)
        return F.cross_entropy(logits[picked], labels[picked])
    """),
    _head("tanh_gelu", "F.gelu(self.dense(hidden))", "F.gelu(self.dense(hidden), approximate='tanh')"),
    _head("eps_default", "nn.LayerNorm(hidden, eps=eps)", "nn.LayerNorm(hidden)"),
    _head("decoder_copied", "self.decoder.weight = word_embeddings.weight",
          "self.decoder.weight = nn.Parameter(word_embeddings.weight.detach().clone())"),
    _head("no_decoder_bias", "nn.Linear(hidden, vocab_size)", "nn.Linear(hidden, vocab_size, bias=False)"),
    _head("bias_not_added", "return self.decoder(self.LayerNorm(F.gelu(self.dense(hidden))))",
          "return self.LayerNorm(F.gelu(self.dense(hidden))) @ self.decoder.weight.t()"),
    _m("mlm", "no_layernorm", """
        class MLMHead(nn.Module):
            def __init__(self, word_embeddings, eps=1e-12):
                super().__init__()
                vocab_size, hidden = word_embeddings.weight.shape
                self.dense = nn.Linear(hidden, hidden)
                self.decoder = nn.Linear(hidden, vocab_size)
                self.decoder.weight = word_embeddings.weight

            def forward(self, hidden):
                return self.decoder(F.gelu(self.dense(hidden)))
    """),
    _head("layernorm_before_gelu", "self.decoder(self.LayerNorm(F.gelu(self.dense(hidden))))",
          "self.decoder(F.gelu(self.LayerNorm(self.dense(hidden))))"),
    _m("mlm", "wrap_library", """
        from transformers import BertConfig
        from transformers.models.bert.modeling_bert import BertLMPredictionHead

        class MLMHead(nn.Module):
            def __init__(self, word_embeddings, eps=1e-12):
                super().__init__()
                vocab_size, hidden = word_embeddings.weight.shape
                self.inner = BertLMPredictionHead(BertConfig(
                    vocab_size=vocab_size, hidden_size=hidden, layer_norm_eps=eps))
                self.dense = self.inner.transform.dense
                self.LayerNorm = self.inner.transform.LayerNorm
                self.decoder = self.inner.decoder
                self.decoder.weight = word_embeddings.weight

            def forward(self, hidden):
                return self.inner(hidden)
    """),
]


# ----------------------------------------------------------------------------- export

_EXPORT_SRC = """
def to_hf_state_dict(model):
    sd = model.state_dict()
    out = {f"embeddings.{n}": sd[f"embeddings.{n}"] for n in (
        "word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight",
        "LayerNorm.weight", "LayerNorm.bias")}
    for i in range(len(model.layers)):
        hf, me = f"encoder.layer.{i}.", f"layers.{i}."
        for p in ("weight", "bias"):
            q, k, v = sd[me + f"self_attn.in_proj_{p}"].chunk(3)
            for n, t in (("query", q), ("key", k), ("value", v)):
                out[hf + f"attention.self.{n}.{p}"] = t
            out[hf + f"attention.output.dense.{p}"] = sd[me + f"self_attn.out_proj.{p}"]
            out[hf + f"attention.output.LayerNorm.{p}"] = sd[me + f"norm1.{p}"]
            out[hf + f"intermediate.dense.{p}"] = sd[me + f"linear1.{p}"]
            out[hf + f"output.dense.{p}"] = sd[me + f"linear2.{p}"]
            out[hf + f"output.LayerNorm.{p}"] = sd[me + f"norm2.{p}"]
    return {k: v.detach().clone().contiguous() for k, v in out.items()}
"""


def _export(name: str, *edits: tuple[str, str]) -> Mutant:
    source = _EXPORT_SRC
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new)
    return _m("export", name, source)


_CLONE = ("return {k: v.detach().clone().contiguous() for k, v in out.items()}",)

_EXPORTS = [
    _export("kqv_order", ("q, k, v = sd", "k, q, v = sd")),
    _export("chunk_dim1", (".chunk(3)", ".chunk(3, dim=-1)")),
    _export("norms_swapped", ('sd[me + f"norm1.{p}"]', 'sd[me + f"norm2.{p}"]'),
            ('out[hf + f"output.LayerNorm.{p}"] = sd[me + f"norm2.{p}"]',
             'out[hf + f"output.LayerNorm.{p}"] = sd[me + f"norm1.{p}"]')),
    _export("shared_views", (*_CLONE, "return {k: v.detach() for k, v in out.items()}")),
    _export("transposed_chunks",
            ('q, k, v = sd[me + f"self_attn.in_proj_{p}"].chunk(3)',
             'w = sd[me + f"self_attn.in_proj_{p}"]\n'
             '            q, k, v = w.T.chunk(3, dim=1) if w.ndim == 2 else w.chunk(3)')),
    _export("no_embedding_layernorm",
            ('"token_type_embeddings.weight",\n        "LayerNorm.weight", "LayerNorm.bias")',
             '"token_type_embeddings.weight")')),
    _m("export", "own_names", """
        def to_hf_state_dict(model):
            return {k: v.detach().clone() for k, v in model.state_dict().items()}
    """),
    _m("export", "returns_loaded", """
        _LOADED = {}

        def load_hf_weights(model, state_dict, _load=load_hf_weights):
            _LOADED[id(model)] = {k: v.clone() for k, v in state_dict.items()
                                  if k != "embeddings.position_ids" and not k.startswith("pooler.")}
            return _load(model, state_dict)

        def to_hf_state_dict(model):
            return _LOADED[id(model)]
    """),
    _m("export", "wrap_library", """
        def to_hf_state_dict(model):
            from transformers import BertModel
            from course.data import minilm_path
            hf = BertModel.from_pretrained(minilm_path(), add_pooling_layer=False)
            return {k: v.detach().clone() for k, v in hf.state_dict().items()}
    """),
]

MUTANTS: list[Mutant] = [*_EMBEDDINGS, *_ENCODER, *_MLM, *_EXPORTS]

# mutant id -> a fragment of the likely bug its message must name
DIAGNOSES: dict[str, str] = {
    "embeddings/eps_default": "eps is nn.LayerNorm's default 1e-5",
    "embeddings/no_positions": "position embeddings are missing",
    "embeddings/no_segments": "token-type (segment) embeddings are missing",
    "embeddings/positions_from_1": "positions start at 0",
    "embeddings/layernorm_before_sum": "not LayerNorm of the sum",
    "embeddings/no_layernorm": "not LayerNorm of the sum",
    "embeddings/dropout_before_layernorm": "dropout comes last, after the LayerNorm",
    "embeddings/dropout_in_eval": "dropout is active in eval mode",
    "embeddings/no_dropout": "dropout is not applied in train mode",
    "embeddings/none_skips_segments": "token_type_ids=None means every token is in segment 0",
    "embeddings/no_padding_idx": "padding_idx=pad_id",
    "embeddings/wrap_library": "your code calls BertEmbeddings.forward",
    "encoder/tanh_gelu": "tanh GELU: use exact GELU (activation='gelu'",
    "encoder/relu": "ReLU, nn.TransformerEncoderLayer's default",
    "encoder/pre_norm": "norm_first=False",
    "encoder/eps_default": "layer_norm_eps=eps",
    "encoder/mask_inverted": "attention_mask == 0",
    "encoder/mask_not_passed": "the attention mask is not used",
    "encoder/mask_as_float": "not attention_mask itself or a float 0/1 mask",
    "encoder/kqv_order": "yours behaves like the order (key, query, value)",
    "encoder/qk_transposed": "query and key weights are transposed",
    "encoder/skips_embedding_layernorm": "embeddings.LayerNorm.weight",
    "encoder/wrap_library": "your code calls BertModel.forward",
    "mlm/mean_over_all": "the mean is over all B*T positions",
    "mlm/per_sequence_mean": "averaged per sequence, then over the batch",
    "mlm/ignore_index_0": "labels are -100 at the positions that are not predicted",
    "mlm/sum_not_mean": "summed, not averaged",
    "mlm/project_then_mask": "the known ~2x saving",
    "mlm/tanh_gelu": "tanh GELU",
    "mlm/eps_default": "eps is nn.LayerNorm's default 1e-5",
    "mlm/decoder_copied": "a copy (nn.Parameter(w.clone()), or copy_) is not tied",
    "mlm/no_decoder_bias": "keeps its own bias",
    "mlm/bias_not_added": "the decoder's bias is not added",
    "mlm/no_layernorm": "self.LayerNorm = nn.LayerNorm(hidden, eps=eps)",
    "mlm/layernorm_before_gelu": "the decoder does not get a LayerNorm output",
    "mlm/wrap_library": "your code calls BertLMPredictionHead.forward",
    "export/kqv_order": "in_proj_weight stacks query, key, value in that order",
    "export/chunk_dim1": "split it along dim 0",
    "export/norms_swapped": "norm1 is attention.output.LayerNorm",
    "export/shared_views": "safetensors refuses shared tensors",
    "export/transposed_chunks": "it is transposed",
    "export/no_embedding_layernorm": "the embeddings' LayerNorm",
    "export/own_names": "your model's own names",
    "export/returns_loaded": "not the model's current parameters",
    "export/wrap_library": "not the model's current parameters",
}
