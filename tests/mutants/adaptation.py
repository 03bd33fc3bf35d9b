"""Mutants of Chapter 6 (adapting a pretrained model): wrong answers a student would really
write, each rejected by its exercise's visible check (tests/test_checks_adaptation.py) and
caught by the hidden tests of the graded cell (tests/test_chapters.py).

Each `source` redefines the exercise's function(s)/class inside a copy of the solution
namespace (`tests.mutants.apply`), with its own imports so it runs in any namespace.
"""

from __future__ import annotations

from textwrap import dedent

from . import Mutant

_IMPORTS = """\
import math
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
"""


def _m(exercise: str, name: str, source: str) -> Mutant:
    return Mutant(exercise, name, _IMPORTS + dedent(source))


# ---------------------------------------------------------------------------- adapters

def _adapter(forward: str = "h + self.up(F.gelu(self.down(h)))", zero_up: bool = True) -> str:
    init = ("nn.init.zeros_(self.up.weight)\n                nn.init.zeros_(self.up.bias)" if zero_up
            else "pass")
    return f"""
        class Adapter(nn.Module):
            def __init__(self, hidden, bottleneck):
                super().__init__()
                self.down = nn.Linear(hidden, bottleneck)
                self.up = nn.Linear(bottleneck, hidden)
                {init}

            def forward(self, h):
                return {forward}
    """


def _add(body: str, trainable: str = "isinstance(module, (Adapter, nn.LayerNorm))") -> str:
    return f"""
        def add_adapters(layers, bottleneck):
            adapters = []
            for layer in layers:
{body}
            for layer in layers:
                layer.requires_grad_(False)
                for module in layer.modules():
                    if {trainable}:
                        module.requires_grad_(True)
            return adapters
    """


_BOTH = """\
                for sub in (layer.attention.output, layer.output):
                    adapter = Adapter(sub.dense.out_features, bottleneck)
                    sub.dense = nn.Sequential(sub.dense, adapter)
                    adapters.append(adapter)"""

_ADAPTERS = [
    _m("adapters", "no_residual", _adapter("self.up(F.gelu(self.down(h)))")),
    _m("adapters", "random_up_projection", _adapter(zero_up=False)),
    _m("adapters", "relu", _adapter("h + self.up(torch.relu(self.down(h)))")),
    _m("adapters", "body_left_trainable", _add(_BOTH, trainable="True")),
    _m("adapters", "layernorm_frozen", _add(_BOTH, trainable="isinstance(module, Adapter)")),
    _m("adapters", "feed_forward_only", _add("""\
                adapter = Adapter(layer.output.dense.out_features, bottleneck)
                layer.output.dense = nn.Sequential(layer.output.dense, adapter)
                adapters.append(adapter)""")),
    # the adapter before the projection: the same count, the wrong place
    _m("adapters", "before_projection", _add("""\
                for sub in (layer.attention.output, layer.output):
                    adapter = Adapter(sub.dense.in_features, bottleneck)
                    sub.dense = nn.Sequential(adapter, sub.dense)
                    adapters.append(adapter)""")),
]

# -------------------------------------------------------------------------------- lora


def _lora(init_b: str = "torch.zeros(base.out_features, r)", scaling: str = "alpha / r",
          forward: str = "self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling",
          merged: str = "self.base.weight + self.scaling * self.lora_B @ self.lora_A",
          freeze: str = "base.requires_grad_(False)") -> str:
    return f"""
        class LoRALinear(nn.Module):
            def __init__(self, base, r, alpha):
                super().__init__()
                self.base = base
                {freeze}
                self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
                nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
                self.lora_B = nn.Parameter({init_b})
                self.scaling = {scaling}

            def forward(self, x):
                return {forward}

            def merged(self):
                out = nn.Linear(self.base.in_features, self.base.out_features)
                with torch.no_grad():
                    out.weight.copy_({merged})
                    out.bias.copy_(self.base.bias)
                return out
    """


_LORA = [
    _m("lora", "scaling_alpha", _lora(scaling="alpha")),
    _m("lora", "random_b", _lora(init_b="torch.randn(base.out_features, r) * 0.01")),
    _m("lora", "base_trainable", _lora(freeze="pass")),
    _m("lora", "merged_without_scaling", _lora(merged="self.base.weight + self.lora_B @ self.lora_A")),
    _m("lora", "merged_transposed", _lora(merged="self.base.weight + self.scaling * (self.lora_B @ self.lora_A).T")),
    _m("lora", "add_lora_wraps_key", """
        def add_lora(layers, r, alpha, targets=("query", "value")):
            added = []
            for layer in layers:
                layer.requires_grad_(False)
                attention = layer.attention.self
                for name in ("query", "key", "value"):
                    lora = LoRALinear(getattr(attention, name), r, alpha)
                    setattr(attention, name, lora)
                    if name in targets:
                        added.append(lora)
            return added
    """),
    _m("lora", "add_lora_body_trainable", """
        def add_lora(layers, r, alpha, targets=("query", "value")):
            added = []
            for layer in layers:
                attention = layer.attention.self
                for name in targets:
                    lora = LoRALinear(getattr(attention, name), r, alpha)
                    setattr(attention, name, lora)
                    added.append(lora)
            return added
    """),
]

# ---------------------------------------------------------------------------- freezing

_FREEZING = [
    # zeroes the gradients of the frozen parameters instead of freezing them
    _m("freezing", "zeroed_gradients", """
        def freeze(model, keep):
            for name, p in model.named_parameters():
                p.requires_grad = True
                if not keep(name, p):
                    p.register_hook(lambda g: torch.zeros_like(g))
            return list(model.parameters())
    """),
    _m("freezing", "froze_p_data", """
        def freeze(model, keep):
            for name, p in model.named_parameters():
                p.data.requires_grad = bool(keep(name, p))
            return [p for name, p in model.named_parameters() if keep(name, p)]
    """),
    _m("freezing", "returns_every_parameter", """
        def freeze(model, keep):
            for name, p in model.named_parameters():
                p.requires_grad = bool(keep(name, p))
            return list(model.parameters())
    """),
    _m("freezing", "bitfit_skips_layernorm", """
        def bitfit(name, parameter):
            return name.endswith("bias") and "LayerNorm" not in name
    """),
    _m("freezing", "bitfit_one_dimensional", """
        def bitfit(name, parameter):
            return parameter.dim() == 1
    """),
    _m("freezing", "counts_tensors", """
        def parameter_count(model):
            params = list(model.parameters())
            return sum(1 for p in params if p.requires_grad), len(params)
    """),
    _m("freezing", "counts_tied_twice", """
        def parameter_count(model):
            params = [p for _, p in model.named_parameters(remove_duplicate=False)]
            return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
    """),
]

# -------------------------------------------------------------------------------- l2sp


def _penalty(pull: str = "(p - w0[name])", factor: str = "alpha / 2", new_factor: str = "beta / 2",
             skip_frozen: bool = True, norm: str = ".square().sum()") -> str:
    skip = "if not p.requires_grad:\n                    continue" if skip_frozen else "pass"
    return f"""
        def l2sp_penalty(model, w0, alpha, beta):
            sp, new = 0.0, 0.0
            for name, p in model.named_parameters():
                {skip}
                if name in w0:
                    sp = sp + {pull}{norm}
                else:
                    new = new + p{norm}
            return torch.as_tensor({factor} * sp + {new_factor} * new)
    """


_L2SP = [
    _m("l2sp", "weight_decay", _penalty(pull="p")),
    _m("l2sp", "aliased_w0", """
        def anchor(model):
            return {name: p.detach() for name, p in model.named_parameters()}
    """),
    _m("l2sp", "w0_requires_grad", """
        def anchor(model):
            return {name: p.clone() for name, p in model.named_parameters()}
    """),
    _m("l2sp", "no_half", _penalty(factor="alpha", new_factor="beta")),
    _m("l2sp", "frozen_counted", _penalty(skip_frozen=False)),
    _m("l2sp", "norm_not_squared", _penalty(norm=".norm()")),
    _m("l2sp", "head_not_penalised", _penalty(new_factor="0.0")),
]

# ------------------------------------------------------------------------ distillation


def _distil(soft: str = "alpha * T * T * kl", kl: str = "F.kl_div(ls, lt, reduction='batchmean', log_target=True)",
            hard: str = "(1 - alpha) * F.cross_entropy(student_logits, labels)") -> str:
    return f"""
        def distillation_loss(student_logits, teacher_logits, labels, T=2.0, alpha=0.5):
            ls = F.log_softmax(student_logits / T, dim=-1)
            lt = F.log_softmax(teacher_logits / T, dim=-1)
            kl = {kl}
            return {soft} + {hard}
    """


_DISTILLATION = [
    _m("distillation", "no_t_squared", _distil(soft="alpha * kl")),
    _m("distillation", "kl_swapped", _distil(kl="F.kl_div(lt, ls, reduction='batchmean', log_target=True)")),
    _m("distillation", "mean_over_elements", _distil(kl="F.kl_div(ls, lt, reduction='mean', log_target=True)")),
    _m("distillation", "hard_term_at_t", _distil(hard="(1 - alpha) * F.cross_entropy(student_logits / T, labels)")),
    _m("distillation", "teacher_in_train_mode", """
        def teacher_logits(teacher, *inputs):
            with torch.no_grad():
                return teacher(*inputs)
    """),
    _m("distillation", "teacher_with_gradients", """
        def teacher_logits(teacher, *inputs):
            teacher.eval()
            return teacher(*inputs)
    """),
]

# ----------------------------------------------------------------------------- probing

_PROBING = [
    _m("probing", "last_piece", """
        def first_pieces(states, word_ids):
            last = {}
            for t, w in enumerate(word_ids):
                if w is not None:
                    last[w] = t
            return states[[last[w] for w in range(len(last))]]
    """),
    _m("probing", "mean_of_pieces", """
        def first_pieces(states, word_ids):
            n = 1 + max(w for w in word_ids if w is not None)
            return torch.stack([states[[t for t, w in enumerate(word_ids) if w == i]].mean(0) for i in range(n)])
    """),
    _m("probing", "control_per_occurrence", """
        def control_labels(words, labels, seed):
            g = torch.Generator().manual_seed(seed)
            pool = torch.tensor(labels)
            return pool[torch.randint(len(pool), (len(words),), generator=g)].tolist()
    """),
    _m("probing", "control_uniform", """
        def control_labels(words, labels, seed):
            g = torch.Generator().manual_seed(seed)
            types = list(dict.fromkeys(words))
            classes = sorted(set(labels))
            draws = torch.randint(len(classes), (len(types),), generator=g).tolist()
            label_of = {w: classes[d] for w, d in zip(types, draws)}
            return [label_of[w] for w in words]
    """),
    _m("probing", "control_global_rng", """
        def control_labels(words, labels, seed):
            pool = torch.tensor(labels)
            types = list(dict.fromkeys(words))
            draws = pool[torch.randint(len(pool), (len(types),))].tolist()
            label_of = dict(zip(types, draws))
            return [label_of[w] for w in words]
    """),
    _m("probing", "fitted_on_test_split", """
        def probe_score(train_x, train_y, test_x, test_y, C=1.0, metric=accuracy_score):
            mu, sd = test_x.mean(0), test_x.std(0).clamp(min=1e-6)
            fit = LogisticRegression(C=C, max_iter=1000).fit(((test_x - mu) / sd).numpy(), np.asarray(test_y))
            return float(metric(np.asarray(test_y), fit.predict(((test_x - mu) / sd).numpy())))
    """),
    _m("probing", "test_statistics", """
        def probe_score(train_x, train_y, test_x, test_y, C=1.0, metric=accuracy_score):
            mu, sd = train_x.mean(0), train_x.std(0).clamp(min=1e-6)
            fit = LogisticRegression(C=C, max_iter=1000).fit(((train_x - mu) / sd).numpy(), np.asarray(train_y))
            mt, st = test_x.mean(0), test_x.std(0).clamp(min=1e-6)
            return float(metric(np.asarray(test_y), fit.predict(((test_x - mt) / st).numpy())))
    """),
    _m("probing", "metric_arguments_swapped", """
        def probe_score(train_x, train_y, test_x, test_y, C=1.0, metric=accuracy_score):
            mu, sd = train_x.mean(0), train_x.std(0).clamp(min=1e-6)
            fit = LogisticRegression(C=C, max_iter=1000).fit(((train_x - mu) / sd).numpy(), np.asarray(train_y))
            return float(metric(fit.predict(((test_x - mu) / sd).numpy()), np.asarray(test_y)))
    """),
]

# --------------------------------------------------------------------------- multitask

_MULTITASK = [
    _m("multitask", "power_t", """
        def task_probabilities(sizes, temperature=1.0):
            n = torch.as_tensor(sizes, dtype=torch.float64)
            p = n ** temperature
            return p / p.sum()
    """),
    _m("multitask", "not_normalised", """
        def task_probabilities(sizes, temperature=1.0):
            return torch.as_tensor(sizes, dtype=torch.float64) ** (1.0 / temperature)
    """),
    _m("multitask", "schedule_global_rng", """
        def task_schedule(sizes, steps, temperature, generator):
            p = task_probabilities(sizes, temperature)
            return torch.multinomial(p, steps, replacement=True).tolist()
    """),
    _m("multitask", "schedule_ignores_temperature", """
        def task_schedule(sizes, steps, temperature, generator):
            p = task_probabilities(sizes, 1.0)
            return torch.multinomial(p, steps, replacement=True, generator=generator).tolist()
    """),
    _m("multitask", "heads_in_a_plain_dict", """
        class MultiTask(nn.Module):
            def __init__(self, encoder, heads):
                super().__init__()
                self.encoder = encoder
                self.heads = dict(heads)

            def forward(self, task, *inputs):
                return self.heads[task](self.encoder(*inputs))
    """),
    _m("multitask", "encoder_called_twice", """
        class MultiTask(nn.Module):
            def __init__(self, encoder, heads):
                super().__init__()
                self.encoder = encoder
                self.heads = nn.ModuleDict(heads)

            def forward(self, task, *inputs):
                self.encoder(*inputs)  # a warm-up call, left in
                return self.heads[task](self.encoder(*inputs))
    """),
]

MUTANTS = [*_ADAPTERS, *_LORA, *_FREEZING, *_L2SP, *_DISTILLATION, *_PROBING, *_MULTITASK]

# mutant id -> text its visible check's message must contain (the likely bug, named)
DIAGNOSES = {
    "adapters/no_residual": "own residual connection",
    "adapters/random_up_projection": "starts at zero",
    "adapters/relu": "ReLU where the paper",
    "adapters/body_left_trainable": "freeze every other weight",
    "adapters/layernorm_frozen": "LayerNorms stay trainable",
    "adapters/feed_forward_only": "in both sublayers of every layer",
    "adapters/before_projection": "the original nn.Linear first",
    "lora/scaling_alpha": "alpha / r",
    "lora/random_b": "B starts at zero",
    "lora/base_trainable": "freeze the base layer",
    "lora/merged_without_scaling": "without the scaling",
    "lora/merged_transposed": "of shape (out, in)",
    "lora/add_lora_wraps_key": "only the projections named in targets",
    "lora/add_lora_body_trainable": "freeze every other parameter",
    "freezing/zeroed_gradients": "no parameter's requires_grad changed",
    "freezing/froze_p_data": "not on p.data",
    "freezing/returns_every_parameter": "exactly the trainable parameters",
    "freezing/bitfit_skips_layernorm": "LayerNorm's bias is a bias too",
    "freezing/bitfit_one_dimensional": "a 1-D parameter is not always a bias",
    "freezing/counts_tensors": "count elements",
    "freezing/counts_tied_twice": "count it once",
    "l2sp/weight_decay": "that is weight decay",
    "l2sp/aliased_w0": "shares memory with the live weights",
    "l2sp/w0_requires_grad": "w0 is a constant",
    "l2sp/no_half": "missing the 1/2",
    "l2sp/frozen_counted": "frozen parameters counted",
    "l2sp/norm_not_squared": "the squared norm",
    "l2sp/head_not_penalised": "the new parameters",
    "distillation/no_t_squared": "not scaled by T^2",
    "distillation/kl_swapped": "KL's arguments swapped",
    "distillation/mean_over_elements": "batchmean",
    "distillation/hard_term_at_t": "the student at T = 1",
    "distillation/teacher_in_train_mode": "eval mode",
    "distillation/teacher_with_gradients": "torch.no_grad()",
    "probing/last_piece": "the last piece of each word",
    "probing/mean_of_pieces": "the mean of a word's pieces",
    "probing/control_per_occurrence": "one label per word *type*",
    "probing/control_uniform": "not uniformly over the classes",
    "probing/control_global_rng": "the global random state must not",
    "probing/fitted_on_test_split": "fitted on the test split",
    "probing/test_statistics": "with the training split's mean",
    "probing/metric_arguments_swapped": "the true labels first",
    "multitask/power_t": "the power is 1 / temperature",
    "multitask/not_normalised": "normalise",
    "multitask/schedule_global_rng": "the generator passed in",
    "multitask/schedule_ignores_temperature": "torch.multinomial(task_probabilities(sizes, temperature)",
    "multitask/heads_in_a_plain_dict": "nn.ModuleDict(heads)",
    "multitask/encoder_called_twice": "call the shared encoder once",
}
