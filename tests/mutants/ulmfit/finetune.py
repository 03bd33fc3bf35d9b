"""Mutants of Chapter 5 (ULMFiT), fine-tuning side: stlr / discriminative / unfreezing /
concat_pool / classifier, wrong answers a student would really write.

Each `source` redefines the exercise's function(s)/class inside a copy of the solution
namespace (`tests.mutants.apply`), with its own imports so it runs in any namespace; a
TextClassifier mutant keeps the solution's __init__ (given in the notebook) and changes forward.
"""

from __future__ import annotations

from textwrap import dedent

from .. import Mutant

_IMPORTS = """\
import math
import torch
import torch.nn as nn
import torch.nn.functional as F
"""


def _m(exercise: str, name: str, source: str) -> Mutant:
    return Mutant(exercise, name, _IMPORTS + dedent(source))


# ----------------------------------------------------------------------------- stlr

def _stlr(cut: str, p_up: str, p_down: str, ret: str = "(1 + p * (ratio - 1)) / ratio",
          signature: str = "t, T, cut_frac=0.1, ratio=32") -> str:
    return f"""
        def stlr({signature}):
            cut = {cut}
            if t < cut:
                p = {p_up}
            else:
                p = {p_down}
            return {ret}
    """


_OK_CUT = "max(1, math.floor(T * cut_frac))"
_OK_DOWN = "max(0.0, 1 - (t - cut) / max(1, T - cut))"

_STLR = [
    _m("stlr", "ratio_in_denominator",
       _stlr(_OK_CUT, "t / cut", "max(0.0, 1 - (t - cut) / (cut * (ratio - 1)))")),
    _m("stlr", "cut_zero_starts_at_peak",
       _stlr("math.floor(T * cut_frac)", "t / cut", _OK_DOWN)),
    _m("stlr", "cut_zero_divides",
       _stlr("math.floor(T * cut_frac)", "t / cut",
             "max(0.0, 1 - (t - cut) / (cut * (1 / cut_frac - 1)))")),
    _m("stlr", "returns_p", _stlr(_OK_CUT, "t / cut", _OK_DOWN, ret="p")),
    _m("stlr", "args_swapped",
       _stlr(_OK_CUT, "t / cut", _OK_DOWN, signature="t, T, ratio=32, cut_frac=0.1")),
    _m("stlr", "peak_ceil", _stlr("max(1, math.ceil(T * cut_frac))", "t / cut", _OK_DOWN)),
    _m("stlr", "not_clamped", _stlr(_OK_CUT, "t / cut", "1 - (t - cut) / max(1, T - cut)")),
    _m("stlr", "paper_denominator",
       _stlr(_OK_CUT, "t / cut", "max(0.0, 1 - (t - cut) / (cut * (1 / cut_frac - 1)))")),
    _m("stlr", "peak_from_ratio", _stlr("max(1, math.floor(T / ratio))", "t / cut", _OK_DOWN)),
    # the shortcut: torch's one-cycle schedule (linear, no final division) read off a dummy
    # optimiser, instead of Eq. 3
    _m("stlr", "one_cycle_lr", """
        def stlr(t, T, cut_frac=0.1, ratio=32):
            opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=1.0, total_steps=T + 1, pct_start=cut_frac, anneal_strategy="linear",
                div_factor=ratio, final_div_factor=1.0, cycle_momentum=False)
            for _ in range(min(t, T)):
                opt.step()
                sched.step()
            return opt.param_groups[0]["lr"]
    """),
    _m("stlr", "cyclic_lr", """
        def stlr(t, T, cut_frac=0.1, ratio=32):
            cut = max(1, math.floor(T * cut_frac))
            opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
            sched = torch.optim.lr_scheduler.CyclicLR(
                opt, base_lr=1 / ratio, max_lr=1.0, step_size_up=cut, step_size_down=T - cut,
                cycle_momentum=False)
            for _ in range(min(t, T)):
                opt.step()
                sched.step()
            return opt.param_groups[0]["lr"]
    """),
]


# ------------------------------------------------------------------- discriminative

def _groups(dedup: str = "id(param) not in seen", lr: str = "lr / factor ** (n - 1 - k)",
            tail: str = "return out", params: str = "group.parameters() if isinstance(group, "
            "nn.Module) else group", order: str = "enumerate(groups)") -> str:
    return f"""
        def discriminative_groups(groups, lr, factor=2.6):
            seen, out = set(), []
            n = len(groups)
            for k, group in {order}:
                params = {params}
                mine = []
                for param in params:
                    if {dedup}:
                        seen.add(id(param))
                        mine.append(param)
                out.append({{"params": mine, "lr": {lr}}})
            {tail}
    """


_DISCRIMINATIVE = [
    _m("discriminative", "k_from_bottom", _groups(lr="lr / factor ** k")),
    _m("discriminative", "factor_multiplied", _groups(lr="lr * factor ** (n - 1 - k)")),
    _m("discriminative", "tied_twice", _groups(dedup="True")),
    _m("discriminative", "frozen_dropped",
       _groups(dedup="param.requires_grad and id(param) not in seen")),
    _m("discriminative", "returned_top_first", _groups(tail="return out[::-1]")),
    _m("discriminative", "tied_in_top_group", """
        def discriminative_groups(groups, lr, factor=2.6):
            seen, out = set(), []
            n = len(groups)
            for k in reversed(range(n)):
                group = groups[k]
                params = group.parameters() if isinstance(group, nn.Module) else group
                mine = [p for p in params if id(p) not in seen]
                seen.update(id(p) for p in mine)
                out.insert(0, {"params": mine, "lr": lr / factor ** (n - 1 - k)})
            return out
    """),
    _m("discriminative", "top_gets_lr_over_factor", _groups(lr="lr / factor ** (n - k)")),
    _m("discriminative", "modules_only", _groups(params="group.parameters()")),
    _m("discriminative", "dedup_with_a_list_of_tensors", """
        def discriminative_groups(groups, lr, factor=2.6):
            seen, out = [], []
            n = len(groups)
            for k, group in enumerate(groups):
                params = group.parameters() if isinstance(group, nn.Module) else group
                mine = []
                for param in params:
                    if param not in seen:
                        seen.append(param)
                        mine.append(param)
                out.append({"params": mine, "lr": lr / factor ** (n - 1 - k)})
            return out
    """),
    _m("discriminative", "default_factor_2", """
        def discriminative_groups(groups, lr, factor=2):
            seen, out = set(), []
            n = len(groups)
            for k, group in enumerate(groups):
                params = group.parameters() if isinstance(group, nn.Module) else group
                mine = [p for p in params if id(p) not in seen]
                seen.update(id(p) for p in mine)
                out.append({"params": mine, "lr": lr / factor ** (n - 1 - k)})
            return out
    """),
]


# ----------------------------------------------------------------------- unfreezing

_TRAIN_MODE_OK = """
        def train_mode(model, groups, n):
            model.train()
            for group in groups[: max(0, len(groups) - n)]:
                for module in group.modules():
                    if isinstance(module, nn.modules.batchnorm._BatchNorm):
                        module.eval()
"""

_FREEZE_OK = """
        def freeze_to(groups, n):
            cut = max(0, len(groups) - n)
            for k, group in enumerate(groups):
                for param in group.parameters():
                    param.requires_grad_(k >= cut)
"""

_UNFREEZING = [
    _m("unfreezing", "zero_grad_hooks", """
        def freeze_to(groups, n):
            cut = max(0, len(groups) - n)
            for k, group in enumerate(groups):
                for param in group.parameters():
                    param.requires_grad_(True)
                    if k < cut:
                        param.register_hook(lambda g: torch.zeros_like(g))
    """),
    _m("unfreezing", "zeroes_grad_keeps_requires_grad", """
        def freeze_to(groups, n):
            cut = max(0, len(groups) - n)
            for k, group in enumerate(groups):
                for param in group.parameters():
                    if k < cut and param.grad is not None:
                        param.grad.zero_()
    """),
    _m("unfreezing", "bottom_first", """
        def freeze_to(groups, n):
            for k, group in enumerate(groups):
                for param in group.parameters():
                    param.requires_grad_(k < n)
    """),
    _m("unfreezing", "n_frozen_not_n_trainable", """
        def freeze_to(groups, n):
            for k, group in enumerate(groups):
                for param in group.parameters():
                    param.requires_grad_(k >= n)
    """),
    _m("unfreezing", "minus_zero_slice", """
        def freeze_to(groups, n):
            for group in groups:
                for param in group.parameters():
                    param.requires_grad_(False)
            for group in groups[-n:]:
                for param in group.parameters():
                    param.requires_grad_(True)
    """),
    _m("unfreezing", "never_unfreezes", """
        def freeze_to(groups, n):
            for group in groups[: max(0, len(groups) - n)]:
                for param in group.parameters():
                    param.requires_grad_(False)
    """),
    _m("unfreezing", "frozen_batchnorm_trains", """
        def train_mode(model, groups, n):
            model.train()
    """),
    _m("unfreezing", "whole_model_eval", """
        def train_mode(model, groups, n):
            model.eval()
    """),
    _m("unfreezing", "no_model_train", """
        def train_mode(model, groups, n):
            for group in groups[: max(0, len(groups) - n)]:
                for module in group.modules():
                    if isinstance(module, nn.modules.batchnorm._BatchNorm):
                        module.eval()
    """),
    _m("unfreezing", "frozen_groups_eval", """
        def train_mode(model, groups, n):
            model.train()
            for group in groups[: max(0, len(groups) - n)]:
                group.eval()
    """),
    _m("unfreezing", "train_mode_off_by_one", """
        def train_mode(model, groups, n):
            model.train()
            for group in groups[:n]:
                for module in group.modules():
                    if isinstance(module, nn.modules.batchnorm._BatchNorm):
                        module.eval()
    """),
]


# ---------------------------------------------------------------------- concat_pool

def _pool(last: str = "outputs[torch.arange(outputs.shape[0]), last_pos]",
          maxed: str = "outputs.masked_fill(~m, float('-inf')).max(1).values",
          mean: str = "(outputs * m).sum(1) / m.sum(1).clamp(min=1)",
          cat: str = "torch.cat([last, maxed, mean], dim=1)") -> str:
    return f"""
        def concat_pool(outputs, mask):
            m = mask.unsqueeze(-1)
            last_pos = (mask.long() * torch.arange(mask.shape[1])).argmax(1)
            last = {last}
            maxed = {maxed}
            mean = {mean}
            return {cat}
    """


_CONCAT_POOL = [
    _m("concat_pool", "pads_in_max", _pool(maxed="outputs.max(1).values")),
    _m("concat_pool", "pads_in_mean", _pool(mean="outputs.mean(1)")),
    _m("concat_pool", "mean_divides_by_T", _pool(mean="(outputs * m).sum(1) / outputs.shape[1]")),
    _m("concat_pool", "h_last_at_minus_one", _pool(last="outputs[:, -1]")),
    _m("concat_pool", "order_max_mean_last", _pool(cat="torch.cat([maxed, mean, last], dim=1)")),
    _m("concat_pool", "mean_over_batch", _pool(mean="(outputs * m).sum(0) / m.sum(0)")),
    _m("concat_pool", "last_by_length",
       _pool(last="outputs[torch.arange(outputs.shape[0]), mask.sum(1) - 1]")),
    _m("concat_pool", "max_fills_zero", _pool(maxed="outputs.masked_fill(~m, 0.0).max(1).values")),
    _m("concat_pool", "stacked", _pool(cat="torch.stack([last, maxed, mean], dim=1)")),
]


# ----------------------------------------------------------------------- classifier

def _head(layers: str, forward: str = "return self.layers(x)") -> str:
    return f"""
        class ClassifierHead(nn.Module):
            def __init__(self, in_dim, n_classes, hidden=50, p=(0.2, 0.1)):
                super().__init__()
                self.layers = nn.Sequential({layers})

            def forward(self, x):
                {forward}
    """


_BLOCK2 = "nn.BatchNorm1d(hidden), nn.Dropout(p[1]), nn.Linear(hidden, n_classes)"


def _text_classifier(forward: str) -> str:
    """A TextClassifier with the given __init__ and this forward body."""
    return """
        class TextClassifier(nn.Module):
            def __init__(self, encoder, n_classes, hidden=50, p=(0.2, 0.1), bptt=70):
                super().__init__()
                self.encoder = encoder
                self.bptt = bptt
                E = encoder.embed.weight.shape[1]
                self.head = ClassifierHead(3 * E, n_classes, hidden, p)

            def forward(self, ids, mask):
    """ + forward


_CLASSIFIER = [
    _m("classifier", "head_without_batchnorm", _head(
        "nn.Dropout(p[0]), nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(p[1]), "
        "nn.Linear(hidden, n_classes)")),
    _m("classifier", "relu_after_last_linear", _head(
        "nn.BatchNorm1d(in_dim), nn.Dropout(p[0]), nn.Linear(in_dim, hidden), nn.ReLU(), "
        f"{_BLOCK2}, nn.ReLU()")),
    _m("classifier", "linear_before_batchnorm", _head(
        "nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.Dropout(p[0]), nn.ReLU(), "
        "nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.Dropout(p[1]), "
        "nn.Linear(hidden, n_classes)")),
    _m("classifier", "dropout_after_linear", _head(
        "nn.BatchNorm1d(in_dim), nn.Linear(in_dim, hidden), nn.Dropout(p[0]), nn.ReLU(), "
        "nn.BatchNorm1d(hidden), nn.Linear(hidden, n_classes), nn.Dropout(p[1])")),
    _m("classifier", "dropout_rates_swapped", _head(
        "nn.BatchNorm1d(in_dim), nn.Dropout(p[1]), nn.Linear(in_dim, hidden), nn.ReLU(), "
        "nn.BatchNorm1d(hidden), nn.Dropout(p[0]), nn.Linear(hidden, n_classes)")),
    _m("classifier", "softmax_output", _head(
        "nn.BatchNorm1d(in_dim), nn.Dropout(p[0]), nn.Linear(in_dim, hidden), nn.ReLU(), "
        f"{_BLOCK2}", forward="return self.layers(x).softmax(-1)")),
    _m("classifier", "bpt3c_detaches_between_chunks", _text_classifier("""
                hidden, outs = None, []
                for start in range(0, ids.shape[1], self.bptt):
                    out, hidden = self.encoder(ids[:, start:start + self.bptt], hidden)
                    hidden = detach(hidden)
                    outs.append(out)
                return self.head(concat_pool(torch.cat(outs, dim=1), mask))
    """)),
    _m("classifier", "bpt3c_resets_per_chunk", _text_classifier("""
                outs = []
                for start in range(0, ids.shape[1], self.bptt):
                    out, _ = self.encoder(ids[:, start:start + self.bptt])
                    outs.append(out)
                return self.head(concat_pool(torch.cat(outs, dim=1), mask))
    """)),
    _m("classifier", "pools_last_chunk", _text_classifier("""
                hidden = None
                for start in range(0, ids.shape[1], self.bptt):
                    out, hidden = self.encoder(ids[:, start:start + self.bptt], hidden)
                return self.head(concat_pool(out, mask[:, start:start + self.bptt]))
    """)),
    _m("classifier", "mask_ignored", _text_classifier("""
                hidden, outs = None, []
                for start in range(0, ids.shape[1], self.bptt):
                    out, hidden = self.encoder(ids[:, start:start + self.bptt], hidden)
                    outs.append(out)
                outs = torch.cat(outs, dim=1)
                return self.head(concat_pool(outs, torch.ones_like(mask)))
    """)),
    _m("classifier", "one_pass_no_chunks", _text_classifier("""
                out, _ = self.encoder(ids)
                return self.head(concat_pool(out, mask))
    """)),
    _m("classifier", "encoder_under_no_grad", _text_classifier("""
                hidden, outs = None, []
                with torch.no_grad():
                    for start in range(0, ids.shape[1], self.bptt):
                        out, hidden = self.encoder(ids[:, start:start + self.bptt], hidden)
                        outs.append(out)
                return self.head(concat_pool(torch.cat(outs, dim=1), mask))
    """)),
]

MUTANTS = [*_STLR, *_DISCRIMINATIVE, *_UNFREEZING, *_CONCAT_POOL, *_CLASSIFIER]

# mutant id -> a fragment its message must contain (the likely bug named)
DIAGNOSES = {
    "stlr/ratio_in_denominator": "ratio in the denominator",
    "stlr/cut_zero_starts_at_peak": "cut = 0 for T * cut_frac < 1",
    "stlr/cut_zero_divides": "cut = 0 for T * cut_frac < 1",
    "stlr/returns_p": "returned p, not the multiplier",
    "stlr/args_swapped": "cut_frac and ratio swapped",
    "stlr/peak_ceil": "the peak (multiplier 1) is at t = 8, not at cut",
    "stlr/not_clamped": "not clamped after T",
    "stlr/paper_denominator": "equals T - cut only when T * cut_frac is a whole number",
    "stlr/peak_from_ratio": "the peak (multiplier 1) is at t = 3, not at cut",
    "stlr/one_cycle_lr": "your code calls OneCycleLR.__init__",
    "stlr/cyclic_lr": "your code calls CyclicLR.__init__",
    "discriminative/k_from_bottom": "groups reversed",
    "discriminative/factor_multiplied": "factor multiplied instead of divided",
    "discriminative/tied_twice": "the tied embedding in two groups",
    "discriminative/frozen_dropped": "frozen parameters dropped",
    "discriminative/returned_top_first": "the groups come out top first",
    "discriminative/tied_in_top_group": "goes in the LOWEST one only",
    "discriminative/top_gets_lr_over_factor": "off by one: the top group got lr/2.6",
    "discriminative/modules_only": ": raised AttributeError",
    "discriminative/dedup_with_a_list_of_tensors": ": raised RuntimeError",
    "discriminative/default_factor_2": "the default factor is 2.6",
    "unfreezing/zero_grad_hooks": "frozen by zeroing grads: Adam still moved the frozen weights",
    "unfreezing/zeroes_grad_keeps_requires_grad": "the frozen groups still have requires_grad=True",
    "unfreezing/bottom_first": "the bottom groups unfrozen first",
    "unfreezing/n_frozen_not_n_trainable": "off by one: 1 groups frozen instead of 1 trainable",
    "unfreezing/minus_zero_slice": "groups[-0:] is the whole list",
    "unfreezing/never_unfreezes": "a group frozen by an earlier call",
    "unfreezing/frozen_batchnorm_trains": "BatchNorm of the frozen groups left in train mode",
    "unfreezing/whole_model_eval": "left the whole model in eval",
    "unfreezing/no_model_train": "left the whole model in eval",
    "unfreezing/frozen_groups_eval": "the whole frozen groups were put in eval",
    "unfreezing/train_mode_off_by_one": "BatchNorm of the frozen groups left in train mode",
    "concat_pool/pads_in_max": "pads inside max",
    "concat_pool/pads_in_mean": "pads inside mean",
    "concat_pool/mean_divides_by_T": "the mean divides by T",
    "concat_pool/h_last_at_minus_one": "h_last taken at position -1",
    "concat_pool/order_max_mean_last": "in the order [max, mean, h_last]",
    "concat_pool/mean_over_batch": "mean over the batch axis",
    "concat_pool/last_by_length": "h_last taken at mask.sum(1) - 1",
    "concat_pool/max_fills_zero": "filled with 0 inside max",
    "concat_pool/stacked": "not torch.stack",
    "classifier/head_without_batchnorm": "head without BatchNorm",
    "classifier/relu_after_last_linear": "ReLU after the last Linear",
    "classifier/linear_before_batchnorm": "Linear before BatchNorm",
    "classifier/dropout_after_linear": "dropout after the Linear",
    "classifier/dropout_rates_swapped": "the dropout rates are swapped",
    "classifier/softmax_output": "returned probabilities",
    "classifier/bpt3c_detaches_between_chunks": "BPT3C detaching the hidden state between chunks",
    "classifier/bpt3c_resets_per_chunk": "BPT3C resetting the hidden state per chunk",
    "classifier/pools_last_chunk": "pooled only the last chunk",
    "classifier/mask_ignored": "the padding was pooled",
    "classifier/one_pass_no_chunks": "the encoder was called once on all 10 tokens",
    "classifier/encoder_under_no_grad": "the encoder got no gradient",
}
