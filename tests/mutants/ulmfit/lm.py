"""Mutants of Chapter 5 (ULMFiT), the language model: LM batches, AWD-LSTM's dropouts, the
tied language model and AR/TAR. Wrong answers a student would really write.

Each `source` redefines the exercise's function(s)/class inside a copy of the solution
namespace (`tests.mutants.apply`), with its own imports so it runs in any namespace; a
mutant of AWDLSTM runs the solution's dropouts from that namespace, as the notebook would.
"""

from __future__ import annotations

from textwrap import dedent

from .. import Mutant

_IMPORTS = """\
import math
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call
"""


def _m(exercise: str, name: str, source: str) -> Mutant:
    return Mutant(exercise, name, _IMPORTS + dedent(source))


# ------------------------------------------------------------------------ lm_batches

def _windows(body: str) -> str:
    return """
        def lm_windows(rows, lengths):
            start = 0
            for t in lengths:
    """ + body


def _bptt(base: str = "bptt if float(torch.rand((), generator=generator)) < p_full else bptt / 2",
          length: str = "max(min_len, round(float(torch.normal(float(base), std, (), "
                        "generator=generator))))",
          cut: str = "t = min(t, n_columns - 1 - covered)",
          until: str = "covered < n_columns - 1") -> str:
    return f"""
        def bptt_lengths(n_columns, bptt, generator, p_full=0.95, std=5.0, min_len=5):
            lengths, covered = [], 0
            while {until}:
                base = {base}
                t = {length}
                {cut}
                lengths.append(t)
                covered += t
            return lengths
    """


_LM_BATCHES = [
    _m("lm_batches", "batchify_strided", """
        def batchify(ids, batch_size):
            L = len(ids) // batch_size
            return ids[: L * batch_size].view(L, batch_size).t()
    """),
    _m("lm_batches", "batchify_transposed", """
        def batchify(ids, batch_size):
            L = len(ids) // batch_size
            return ids[: L * batch_size].view(L, batch_size)
    """),
    _m("lm_batches", "batchify_no_trim", """
        def batchify(ids, batch_size):
            return ids.view(batch_size, -1)
    """),
    _m("lm_batches", "batchify_ceil", """
        def batchify(ids, batch_size):
            L = -(-len(ids) // batch_size)
            ids = torch.cat([ids, ids.new_zeros(L * batch_size - len(ids))])
            return ids.view(batch_size, L)
    """),
    _m("lm_batches", "bptt_covers_n_columns", _bptt(cut="t = min(t, n_columns - covered)",
                                                    until="covered < n_columns")),
    _m("lm_batches", "bptt_no_min_len", _bptt(
        length="round(float(torch.normal(float(base), std, (), generator=generator)))")),
    _m("lm_batches", "bptt_never_half", _bptt(base="bptt")),
    _m("lm_batches", "bptt_p_full_swapped", _bptt(
        base="bptt / 2 if float(torch.rand((), generator=generator)) < p_full else bptt")),
    _m("lm_batches", "bptt_global_rng", _bptt(
        base="bptt if float(torch.rand(())) < p_full else bptt / 2")),
    _m("lm_batches", "bptt_std_ignored", _bptt(
        length="max(min_len, round(float(torch.normal(float(base), 1.0, (), "
               "generator=generator))))")),
    _m("lm_batches", "bptt_last_not_cut", _bptt(cut="pass")),
    _m("lm_batches", "windows_not_shifted", _windows("""
                t = min(t, rows.shape[1] - 1 - start)
                if t <= 0:
                    return
                yield rows[:, start:start + t], rows[:, start:start + t]
                start += t
    """)),
    _m("lm_batches", "windows_restart_at_zero", _windows("""
                t = min(t, rows.shape[1] - 1)
                yield rows[:, :t], rows[:, 1:t + 1]
    """)),
    _m("lm_batches", "windows_overlap", _windows("""
                t = min(t, rows.shape[1] - 1 - start)
                if t <= 0:
                    return
                yield rows[:, start:start + t], rows[:, start + 1:start + 1 + t]
                start += t - 1
    """)),
    _m("lm_batches", "windows_past_the_end", _windows("""
                if start >= rows.shape[1] - 1:
                    return
                yield rows[:, start:start + t], rows[:, start + 1:start + 1 + t]
                start += t
    """)),
    _m("lm_batches", "windows_drop_the_cut_window", _windows("""
                if start + t > rows.shape[1] - 1:
                    return
                yield rows[:, start:start + t], rows[:, start + 1:start + 1 + t]
                start += t
    """)),
    _m("lm_batches", "windows_empty_at_the_end", _windows("""
                t = min(t, rows.shape[1] - 1 - start)
                yield rows[:, start:start + t], rows[:, start + 1:start + 1 + t]
                start += t
    """)),
    _m("lm_batches", "detach_returns_input", """
        def detach(hidden):
            return hidden
    """),
    _m("lm_batches", "detach_only_h", """
        def detach(hidden):
            if isinstance(hidden, torch.Tensor):
                return hidden.detach()
            if all(isinstance(h, torch.Tensor) for h in hidden):
                return type(hidden)([hidden[0].detach(), *hidden[1:]])
            return type(hidden)(detach(h) for h in hidden)
    """),
    _m("lm_batches", "detach_zeros", """
        def detach(hidden):
            if isinstance(hidden, torch.Tensor):
                return torch.zeros_like(hidden).detach()
            return type(hidden)(detach(h) for h in hidden)
    """),
    _m("lm_batches", "detach_always_list", """
        def detach(hidden):
            if isinstance(hidden, torch.Tensor):
                return hidden.detach()
            return [detach(h) for h in hidden]
    """),
]


# --------------------------------------------------------------------------- dropout

def _locked(body: str) -> str:
    return """
        class LockedDropout(nn.Module):
            def __init__(self, p):
                super().__init__()
                self.p = p

            def forward(self, x):
    """ + body


def _embedding(body: str) -> str:
    return """
        def embedding_dropout(ids, weight, p, training, padding_idx=None):
    """ + body


def _weight_drop(body: str, init: str = "") -> str:
    return """
        class WeightDropLSTM(nn.Module):
            def __init__(self, input_size, hidden_size, p):
                super().__init__()
                self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
                self.p = p
    """ + init + """
            def forward(self, x, state=None):
    """ + body


_DROPOUT = [
    _m("dropout", "locked_mask_per_step", _locked("""
                return F.dropout(x, self.p, training=self.training)
    """)),
    _m("dropout", "locked_no_rescale", _locked("""
                if not self.training or self.p == 0:
                    return x
                return x * x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - self.p)
    """)),
    _m("dropout", "locked_on_in_eval", _locked("""
                if self.p == 0:
                    return x
                mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - self.p)
                return x * mask / (1 - self.p)
    """)),
    _m("dropout", "locked_one_mask_for_the_batch", _locked("""
                if not self.training or self.p == 0:
                    return x
                mask = x.new_empty(1, 1, x.shape[2]).bernoulli_(1 - self.p) / (1 - self.p)
                return x * mask
    """)),
    _m("dropout", "locked_drops_time_steps", _locked("""
                if not self.training or self.p == 0:
                    return x
                mask = x.new_empty(x.shape[0], x.shape[1], 1).bernoulli_(1 - self.p)
                return x * mask / (1 - self.p)
    """)),
    _m("dropout", "locked_keeps_with_p", _locked("""
                if not self.training or self.p == 0:
                    return x
                mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(self.p) / self.p
                return x * mask
    """)),
    _m("dropout", "locked_in_place", _locked("""
                if not self.training or self.p == 0:
                    return x
                mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - self.p)
                return x.mul_(mask / (1 - self.p))
    """)),
    _m("dropout", "embedding_per_occurrence", _embedding("""
            return F.dropout(F.embedding(ids, weight, padding_idx), p, training=training)
    """)),
    _m("dropout", "embedding_whole_vectors_per_position", _embedding("""
            out = F.embedding(ids, weight, padding_idx)
            if training and p > 0:
                mask = out.new_empty(*out.shape[:-1], 1).bernoulli_(1 - p) / (1 - p)
                out = out * mask
            return out
    """)),
    _m("dropout", "embedding_no_rescale", _embedding("""
            if training and p > 0:
                mask = torch.empty(weight.shape[0], 1).bernoulli_(1 - p)
                weight = weight * mask
            return F.embedding(ids, weight, padding_idx)
    """)),
    _m("dropout", "embedding_on_in_eval", _embedding("""
            if p > 0:
                mask = torch.empty(weight.shape[0], 1).bernoulli_(1 - p) / (1 - p)
                weight = weight * mask
            return F.embedding(ids, weight, padding_idx)
    """)),
    _m("dropout", "embedding_ignores_padding_idx", _embedding("""
            if training and p > 0:
                mask = torch.empty(weight.shape[0], 1).bernoulli_(1 - p) / (1 - p)
                weight = weight * mask
            return F.embedding(ids, weight)
    """)),
    _m("dropout", "embedding_in_place", _embedding("""
            if training and p > 0:
                mask = torch.empty(weight.shape[0], 1).bernoulli_(1 - p) / (1 - p)
                weight.data.mul_(mask)
            return F.embedding(ids, weight, padding_idx)
    """)),
    _m("dropout", "weight_drop_in_place", _weight_drop("""
                if self.training and self.p > 0:
                    w = self.lstm.weight_hh_l0
                    w.data = F.dropout(w.data, self.p, training=True)
                return self.lstm(x, state)
    """)),
    _m("dropout", "weight_drop_on_weight_ih", _weight_drop("""
                if not self.training or self.p == 0:
                    return self.lstm(x, state)
                weights = dict(self.lstm.named_parameters())
                weights["weight_ih_l0"] = F.dropout(weights["weight_ih_l0"], self.p, training=True)
                return functional_call(self.lstm, weights, (x, state))
    """)),
    _m("dropout", "weight_drop_not_rescaled", _weight_drop("""
                if not self.training or self.p == 0:
                    return self.lstm(x, state)
                weights = dict(self.lstm.named_parameters())
                w = weights["weight_hh_l0"]
                weights["weight_hh_l0"] = w * torch.empty_like(w).bernoulli_(1 - self.p)
                return functional_call(self.lstm, weights, (x, state))
    """)),
    # the AWD-LSTM repo's old hack: the parameter deleted, a raw copy trained instead
    _m("dropout", "weight_drop_raw_parameter_hack", _weight_drop("""
                w = F.dropout(self.weight_hh_raw, self.p, training=self.training)
                setattr(self.lstm, "weight_hh_l0", w)
                return self.lstm(x, state)
    """, init="""
                w = self.lstm.weight_hh_l0
                del self.lstm._parameters["weight_hh_l0"]
                self.weight_hh_raw = nn.Parameter(w.data)
                self.lstm.weight_hh_l0 = w.data
    """)),
    _m("dropout", "weight_drop_on_in_eval", _weight_drop("""
                if self.p == 0:
                    return self.lstm(x, state)
                weights = dict(self.lstm.named_parameters())
                weights["weight_hh_l0"] = F.dropout(weights["weight_hh_l0"], self.p, training=True)
                return functional_call(self.lstm, weights, (x, state))
    """)),
    _m("dropout", "weight_drop_mask_drawn_once", _weight_drop("""
                if not self.training or self.p == 0:
                    return self.lstm(x, state)
                weights = dict(self.lstm.named_parameters())
                weights["weight_hh_l0"] = weights["weight_hh_l0"] * self.mask / (1 - self.p)
                return functional_call(self.lstm, weights, (x, state))
    """, init="""
                self.mask = torch.empty_like(self.lstm.weight_hh_l0).bernoulli_(1 - p)
    """)),
    _m("dropout", "weight_drop_detached", _weight_drop("""
                if not self.training or self.p == 0:
                    return self.lstm(x, state)
                weights = dict(self.lstm.named_parameters())
                weights["weight_hh_l0"] = F.dropout(weights["weight_hh_l0"].detach(), self.p,
                                                    training=True)
                return functional_call(self.lstm, weights, (x, state))
    """)),
    _m("dropout", "weight_drop_ignores_state", _weight_drop("""
                if not self.training or self.p == 0:
                    return self.lstm(x)
                weights = dict(self.lstm.named_parameters())
                weights["weight_hh_l0"] = F.dropout(weights["weight_hh_l0"], self.p, training=True)
                return functional_call(self.lstm, weights, (x,))
    """)),
]


# -------------------------------------------------------------------- language_model

_AWD_INIT = """
        class AWDLSTM(nn.Module):
            def __init__(self, vocab_size, emb_dim, hidden_dim, n_layers=3, pad_id=1,
                         embed_p=0.02, input_p=0.25, hidden_p=0.15, weight_p=0.2):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
                self.embed_p = embed_p
                self.input_drop = LockedDropout(input_p)
                sizes = [emb_dim] + [hidden_dim] * (n_layers - 1) + [emb_dim]
                self.layers = nn.ModuleList(WeightDropLSTM(sizes[i], sizes[i + 1], weight_p)
                                            for i in range(n_layers))
                self.hidden_drops = nn.ModuleList(LockedDropout(hidden_p)
                                                  for _ in range(n_layers - 1))
"""


def _awd_forward(embed: str = "embedding_dropout(ids, self.embed.weight, self.embed_p, "
                              "self.training, self.embed.padding_idx)",
                 input_drop: str = "self.input_drop(x)",
                 layer: str = "layer(x, None if hidden is None else hidden[i])",
                 keep: str = "state",
                 between: str = "i < len(self.hidden_drops)",
                 init: str = _AWD_INIT) -> str:
    return init + f"""
            def forward(self, ids, hidden=None):
                x = {embed}
                x = {input_drop}
                new_hidden = []
                for i, layer in enumerate(self.layers):
                    x, state = {layer}
                    new_hidden.append({keep})
                    if {between}:
                        x = self.hidden_drops[i](x)
                return x, new_hidden
    """


def _lm(init: str = "self.decoder.weight = encoder.embed.weight",
        decode: str = "self.decoder(dropped)",
        encode: str = "self.encoder(ids, hidden)") -> str:
    return f"""
        class LanguageModel(nn.Module):
            def __init__(self, encoder, output_p=0.1):
                super().__init__()
                self.encoder = encoder
                V, E = encoder.embed.weight.shape
                self.output_drop = LockedDropout(output_p)
                self.decoder = nn.Linear(E, V)
                {init}

            def forward(self, ids, hidden=None):
                raw, hidden = {encode}
                dropped = self.output_drop(raw)
                return {decode}, hidden, raw, dropped
    """


def _ar_tar(ar: str = "dropped.pow(2).mean()",
            tar: str = "(raw[:, 1:] - raw[:, :-1]).pow(2).mean()",
            total: str = "alpha * ar + beta * tar") -> str:
    return f"""
        def ar_tar(raw, dropped, alpha=2.0, beta=1.0):
            ar = {ar}
            tar = {tar}
            return {total}
    """


_LANGUAGE_MODEL = [
    _m("language_model", "decoder_copied_not_tied", _lm(
        init="self.decoder.weight = nn.Parameter(encoder.embed.weight.clone())")),
    _m("language_model", "decoder_shares_storage_new_parameter", _lm(
        init="self.decoder.weight = nn.Parameter(encoder.embed.weight)")),
    _m("language_model", "decoder_untied", _lm(init="pass")),
    # the last layer stays hidden_dim wide; the LM still runs, decoding from hidden_dim
    _m("language_model", "last_layer_hidden_dim_wide", _awd_forward(init="""
        class AWDLSTM(nn.Module):
            def __init__(self, vocab_size, emb_dim, hidden_dim, n_layers=3, pad_id=1,
                         embed_p=0.02, input_p=0.25, hidden_p=0.15, weight_p=0.2):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
                self.embed_p = embed_p
                self.input_drop = LockedDropout(input_p)
                sizes = [emb_dim] + [hidden_dim] * n_layers
                self.layers = nn.ModuleList(WeightDropLSTM(sizes[i], sizes[i + 1], weight_p)
                                            for i in range(n_layers))
                self.hidden_drops = nn.ModuleList(LockedDropout(hidden_p)
                                                  for _ in range(n_layers - 1))
    """) + _lm(init="self.decoder = nn.Linear(encoder.layers[-1].lstm.hidden_size, V)")),
    _m("language_model", "locked_dropout_after_last_layer", _awd_forward(
        between="True", init=_AWD_INIT.replace("range(n_layers - 1)", "range(n_layers)"))),
    _m("language_model", "hidden_state_ignored", _awd_forward(layer="layer(x)")),
    _m("language_model", "hidden_only_h", _awd_forward(keep="state[0]")),
    _m("language_model", "no_input_dropout", _awd_forward(input_drop="x")),
    _m("language_model", "no_hidden_dropout", _awd_forward(between="False")),
    _m("language_model", "embedding_dropout_in_eval", _awd_forward(
        embed="embedding_dropout(ids, self.embed.weight, self.embed_p, True, "
              "self.embed.padding_idx)")),
    _m("language_model", "embedding_dropout_no_padding_idx", _awd_forward(
        embed="embedding_dropout(ids, self.embed.weight, self.embed_p, self.training)")),
    _m("language_model", "embedding_then_plain_dropout", _awd_forward(
        embed="F.dropout(self.embed(ids), self.embed_p, training=self.training)")),
    _m("language_model", "embed_p_and_input_p_swapped", _awd_forward(
        embed="embedding_dropout(ids, self.embed.weight, self.input_drop.p, self.training, "
              "self.embed.padding_idx)",
        input_drop="LockedDropout(self.embed_p).train(self.training)(x)")),
    _m("language_model", "weight_p_not_passed", _awd_forward(
        init=_AWD_INIT.replace("sizes[i + 1], weight_p)", "sizes[i + 1], 0.0)"))),
    _m("language_model", "decoder_reads_raw", _lm(decode="self.decoder(raw)")),
    _m("language_model", "lm_ignores_hidden", _lm(encode="self.encoder(ids)")),
    _m("language_model", "ar_on_raw", _ar_tar(ar="raw.pow(2).mean()")),
    _m("language_model", "tar_over_batch_axis", _ar_tar(tar="(raw[1:] - raw[:-1]).pow(2).mean()")),
    _m("language_model", "tar_without_square", _ar_tar(
        tar="(raw[:, 1:] - raw[:, :-1]).abs().mean()")),
    _m("language_model", "ar_tar_sums", _ar_tar(ar="dropped.pow(2).sum()",
                                                tar="(raw[:, 1:] - raw[:, :-1]).pow(2).sum()")),
    _m("language_model", "ar_tar_alpha_beta_swapped", _ar_tar(total="beta * ar + alpha * tar")),
    _m("language_model", "ar_tar_item", _ar_tar(
        total="float((alpha * ar + beta * tar).detach())")),
]

MUTANTS = [*_LM_BATCHES, *_DROPOUT, *_LANGUAGE_MODEL]

# mutant id -> a fragment of the likely-bug text its message must contain
DIAGNOSES = {
    "lm_batches/batchify_strided": "rows laid out wrongly",
    "lm_batches/batchify_transposed": "not view(L, batch_size)",
    "lm_batches/batchify_no_trim": "drop the last len(ids) % batch_size tokens",
    "lm_batches/bptt_covers_n_columns": "the last column is never an input",
    "lm_batches/bptt_no_min_len": "no min_len",
    "lm_batches/bptt_never_half": "never bptt / 2",
    "lm_batches/bptt_p_full_swapped": "p_full is the probability of the FULL length",
    "lm_batches/bptt_global_rng": "changed with torch's global seed",
    "lm_batches/bptt_std_ignored": "the std argument is ignored",
    "lm_batches/bptt_last_not_cut": "the last window runs past the end",
    "lm_batches/windows_not_shifted": "targets equal inputs: not shifted",
    "lm_batches/windows_restart_at_zero": "every window restarts at column 0",
    "lm_batches/windows_overlap": "they overlap",
    "lm_batches/windows_past_the_end": "targets shorter than inputs",
    "lm_batches/windows_drop_the_cut_window": "cut it, don't drop it",
    "lm_batches/windows_empty_at_the_end": "a window with no columns",
    "lm_batches/detach_returns_input": "hidden has a grad_fn: detach returned the input",
    "lm_batches/detach_only_h": "only h was detached",
    "lm_batches/detach_zeros": "don't reset it to zeros",
    "lm_batches/detach_always_list": "a tuple for a tuple",
    "dropout/locked_mask_per_step": "mask differs across time steps: a new dropout mask",
    "dropout/locked_no_rescale": "no 1/(1-p) rescale: kept values equal the input",
    "dropout/locked_on_in_eval": "still dropping in eval",
    "dropout/locked_one_mask_for_the_batch": "one mask for the whole batch",
    "dropout/locked_drops_time_steps": "whole time steps are dropped",
    "dropout/locked_keeps_with_p": "p is the probability of DROPPING",
    "dropout/locked_in_place": "don't change x in place",
    "dropout/embedding_per_occurrence": "embedding dropout per occurrence instead of per word type",
    "dropout/embedding_whole_vectors_per_position": "(B, T, 1) mask on the vectors",
    "dropout/embedding_no_rescale": "no 1/(1-p) rescale",
    "dropout/embedding_on_in_eval": "still dropping in eval",
    "dropout/embedding_ignores_padding_idx": "padding_idx ignored",
    "dropout/embedding_in_place": "don't change weight in place",
    "dropout/weight_drop_in_place": "the parameter was changed in place",
    "dropout/weight_drop_on_weight_ih": "weight dropout on weight_ih instead of weight_hh",
    "dropout/weight_drop_not_rescaled": "weight dropout not rescaled",
    "dropout/weight_drop_raw_parameter_hack": "the AWD-LSTM repo's old hack",
    "dropout/weight_drop_on_in_eval": "still dropping in eval",
    "dropout/weight_drop_mask_drawn_once": "the same mask under every seed",
    "dropout/weight_drop_detached": "no gradient reached the parameter",
    "dropout/weight_drop_ignores_state": "the state passed in was ignored",
    "language_model/decoder_copied_not_tied": "decoder weight is a copy: not the same storage",
    "language_model/decoder_shares_storage_new_parameter": "another Parameter",
    "language_model/decoder_untied": "the decoder has a weight of its own",
    "language_model/last_layer_hidden_dim_wide": "last layer hidden_dim wide instead of emb_dim",
    "language_model/locked_dropout_after_last_layer": "raw already dropped",
    "language_model/hidden_state_ignored": "hidden state ignored",
    "language_model/hidden_only_h": "hidden returned as only h",
    "language_model/no_input_dropout": "no input dropout",
    "language_model/no_hidden_dropout": "no locked dropout between layers 0 and 1",
    "language_model/embedding_dropout_in_eval": "still dropping in eval",
    "language_model/embedding_dropout_no_padding_idx": "padding_idx not passed",
    "language_model/embedding_then_plain_dropout": "per occurrence instead of per word type",
    "language_model/embed_p_and_input_p_swapped": "embed_p and input_p swapped",
    "language_model/weight_p_not_passed": "no DropConnect in training",
    "language_model/decoder_reads_raw": "the decoder reads raw",
    "language_model/lm_ignores_hidden": "LanguageModel ignores hidden",
    "language_model/ar_on_raw": "AR on raw instead of dropped",
    "language_model/tar_over_batch_axis": "TAR over the batch axis",
    "language_model/tar_without_square": "TAR without the square",
    "language_model/ar_tar_sums": "sums instead of means",
    "language_model/ar_tar_alpha_beta_swapped": "alpha and beta swapped",
    "language_model/ar_tar_item": "return the loss term as a 0-d tensor",
}
