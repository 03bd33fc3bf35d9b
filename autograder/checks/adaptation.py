"""Visible checks for Chapter 6, "Adapting a pretrained model": one check per exercise.

Each calls the learner's code on small, seeded inputs and raises `AssertionError` naming the
function, what was expected, what was got, and the likely bug. The references are the real
libraries (`transformers.BertModel` for where adapters and LoRA go, `peft`'s LoRA layer,
`torch.optim.AdamW`, scikit-learn), invariances, and the solution's outputs on fixed inputs
stored by `course release` (`PROBES`, autograder/expected/adaptation.safetensors); no check
holds an answer. A passing check returns None.

    check_adapters(Adapter, add_adapters)
        a fresh Adapter is the identity with a zero up-projection; with stored weights, its
        output vs the solution's; add_adapters on a small BertModel: nn.Sequential(projection,
        adapter) in both sublayers of every layer, the model's output unchanged (exactly), the
        trainable parameters exactly the adapters' and LayerNorms', their count the formula,
        and with stored adapter weights the model's output vs the solution's
    check_lora(LoRALinear, add_lora)
        shapes, frozen base, B = 0 and the base's output at the start, scaling alpha / r;
        with random B, outputs vs peft's LoRA Linear holding the same A, B, rank and alpha
        (an answer built on peft is refused); merged() vs the layer; add_lora on a small
        BertModel: the targets wrapped, others untouched, output unchanged, only A and B
        trainable
    check_freezing(freeze, bitfit, parameter_count)
        the returned list is exactly the trainable parameters; BitFit's pattern on a small
        BertModel; three AdamW steps with weight decay on that list leave every frozen
        parameter bit-identical (torch.equal); parameter_count on a model with tied weights
    check_l2sp(anchor, l2sp_penalty)
        anchor: every parameter, equal values, no gradient, no shared memory (an in-place
        update of the weights leaves it alone); the penalty's value and gradients vs the
        solution's on fixed weights (some frozen, a new head), in several settings
    check_distillation(distillation_loss, teacher_logits)
        the loss and its gradient in float64 vs the solution's for several T and alpha;
        teacher_logits on a teacher with dropout in train mode: the eval-mode output, no
        gradient, the teacher left in eval mode
    check_probing(first_pieces, control_labels, probe_score)
        first pieces vs the solution's on sentences with split words; control labels: one per
        word type, reproducible from the seed alone, drawn from the empirical distribution,
        not the real labels; the probe on data built so that fitting on the test split, or
        standardising with its statistics, gives another score
    check_multitask(task_probabilities, task_schedule, MultiTask)
        p_i / p_j = (n_i / n_j) ** (1 / T) and a sum of 1; the schedule vs the solution's from
        the same generator, and the global RNG untouched; MultiTask's heads registered, each
        task through its own head, a loss of one task reaching no other task's head

The checks leave the global random state and the autograd mode as they found them.
"""

from __future__ import annotations

import collections
import math
import numbers
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import expected
from ..expected import Probe
from ._common import (
    call,
    close,
    expect_close,
    expect_equal,
    expect_shape,
    expect_tensor,
    expect_true,
    fail,
    forbid,
    gen,
    one_thread,
    show,
)

__all__ = [
    "check_adapters",
    "check_lora",
    "check_freezing",
    "check_l2sp",
    "check_distillation",
    "check_probing",
    "check_multitask",
]


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Inside: a fixed global seed; afterwards the learner's global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _bert(seed: int, layers: int = 2, hidden: int = 16, heads: int = 2) -> nn.Module:
    """A small transformers.BertModel with weights drawn here (not by transformers' own
    initialisation, which may change between versions), in eval mode."""
    import transformers

    config = transformers.BertConfig(vocab_size=50, hidden_size=hidden, num_hidden_layers=layers,
                                     num_attention_heads=heads, intermediate_size=2 * hidden,
                                     max_position_embeddings=32, hidden_act="gelu")
    with _seeded(seed):
        model = transformers.BertModel(config, add_pooling_layer=False)
    g = gen(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            base = 1.0 if "LayerNorm.weight" in name else 0.0
            p.copy_(base + 0.2 * torch.randn(p.shape, generator=g))
    return model.eval()


def _inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids (2, 7), attention_mask): the second row padded after 5 tokens."""
    ids = torch.randint(0, 50, (2, 7), generator=gen(seed))
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 5:] = 0
    return ids, mask


@torch.no_grad()
def _output(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return model(ids, attention_mask=mask).last_hidden_state


def _fill(modules, seed: int, names: tuple[str, ...]) -> None:
    """Give each module's parameters called `names` (e.g. up.weight) values from one generator."""
    g = gen(seed)
    with torch.no_grad():
        for module in modules:
            for name in names:
                p = module.get_parameter(name)
                p.copy_(0.3 * torch.randn(p.shape, generator=g))


def _trainable(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def _names(names) -> str:
    names = sorted(names)
    return ", ".join(names[:4]) + (f", ... ({len(names)} in all)" if len(names) > 4 else "")


# ------------------------------------------------------------------------- 1. adapters

_H, _M, _LAYERS = 16, 4, 3


def _adapter_weights(adapter: nn.Module) -> None:
    _fill([adapter], 21, ("down.weight", "down.bias", "up.weight", "up.bias"))


def _probe_adapters(Adapter, add_adapters) -> dict[str, Any]:
    adapter = Adapter(_H, _M)
    _adapter_weights(adapter)
    h = torch.randn(3, 5, _H, generator=gen(22))
    model = _bert(23, _LAYERS, _H)
    added = add_adapters(model.encoder.layer, _M)
    _fill(added, 24, ("down.weight", "down.bias", "up.weight", "up.bias"))
    ids, mask = _inputs(25)
    with torch.no_grad():
        return {"h": h, "out": adapter(h), "model_out": _output(model, ids, mask)}


def _adapter_parts(adapter: nn.Module, where: str) -> None:
    for name, shape in (("down", (_M, _H)), ("up", (_H, _M))):
        part = getattr(adapter, name, None)
        expect_true(isinstance(part, nn.Linear), f"{where}.{name}",
                    f"build self.{name} as an nn.Linear ({'hidden -> bottleneck' if name == 'down' else 'bottleneck -> hidden'})",
                    expected="an nn.Linear", got=type(part).__name__)
        expect_shape(part.weight, shape, f"{where}.{name}.weight",
                     "down is nn.Linear(hidden, bottleneck), up is nn.Linear(bottleneck, hidden)")


def check_adapters(Adapter, add_adapters) -> None:
    where = f"Adapter({_H}, {_M})"
    with _seeded(0), one_thread():
        adapter = call(Adapter, _H, _M, where=where)
        expect_true(isinstance(adapter, nn.Module), where, "subclass nn.Module and call super().__init__()",
                    expected="an nn.Module", got=type(adapter).__name__)
        _adapter_parts(adapter, where)
        for name in ("weight", "bias"):
            value = adapter.up.get_parameter(name)
            expect_true(not bool(value.detach().abs().gt(0).any()), f"{where}.up.{name}",
                        "the up-projection starts at zero (nn.init.zeros_ on its weight and bias), "
                        "so that a new adapter is the identity and the model starts unchanged",
                        expected="all zeros", got=show(value))
        stored = expected.case("adaptation", "adapters")
        h = stored["h"]
        out = call(adapter, h, where=f"{where}(h)")
        expect_tensor(out, f"{where}(h)")
        expect_true(torch.equal(out, h), f"{where}(h) with a zero up-projection",
                    "the adapter has its own residual connection: return h + up(GELU(down(h)))"
                    if close(out, torch.zeros_like(h)) else "a new adapter must return h exactly",
                    expected=show(h), got=show(out))
        _adapter_weights(adapter)
        out = call(adapter, h, where=f"{where}(h), trained weights")
        with torch.no_grad():
            inner = adapter.down(h)
            wrong = [(lambda: h + adapter.up(torch.relu(inner)), "ReLU where the paper (and BERT) use GELU"),
                     (lambda: h + adapter.up(torch.tanh(inner)), "tanh where the paper (and BERT) use GELU"),
                     (lambda: adapter.up(F.gelu(inner)), "no residual: return h + up(GELU(down(h)))"),
                     (lambda: h + adapter.up(inner), "no nonlinearity between down and up")]
        hint = next((text for alt, text in wrong if close(out, alt())), "compute h + up(GELU(down(h)))")
        expect_close(out, stored["out"], f"{where}(h) with stored weights", hint, atol=1e-5, rtol=1e-4)

        model = _bert(23, _LAYERS, _H)
        ids, mask = _inputs(25)
        before = _output(model, ids, mask)
        projections = [(i, sub, sub.dense) for i, layer in enumerate(model.encoder.layer)
                       for sub in (layer.attention.output, layer.output)]
        where = f"add_adapters(layers, {_M})"
        added = call(add_adapters, model.encoder.layer, _M, where=where)
        expect_true(isinstance(added, (list, tuple)) and len(added) == 2 * _LAYERS, where,
                    "return the list of the new adapters: one after attention and one after the "
                    "feed-forward network, in both sublayers of every layer", expected=f"a list of {2 * _LAYERS} adapters",
                    got=f"{type(added).__name__} of {len(added) if hasattr(added, '__len__') else '?'}")
        for k, (i, sub, dense) in enumerate(projections):
            part = "attention.output.dense" if k % 2 == 0 else "output.dense"
            seq = sub.dense
            expect_true(isinstance(seq, nn.Sequential) and len(seq) == 2 and seq[0] is dense
                        and seq[1] is added[k], f"{where}: layer {i}'s {part}",
                        "replace each projection by nn.Sequential(projection, adapter): the original "
                        "nn.Linear first, then the adapter, in both sublayers of every layer (the list "
                        "in order: attention, then feed-forward, layer by layer)",
                        expected="nn.Sequential(the original nn.Linear, the new adapter)",
                        got=type(seq).__name__ if not isinstance(seq, nn.Sequential)
                        else "nn.Sequential(" + ", ".join(type(m).__name__ for m in seq) + ")")
        after = _output(model, ids, mask)
        expect_true(torch.equal(after, before), f"{where}: the model's output with fresh adapters",
                    "fresh adapters must leave the pretrained model's output exactly as it was",
                    expected=show(before), got=show(after))
        adapter_params = {n for n, p in model.encoder.layer.named_parameters()
                          if any(p is q for a in added for q in a.parameters())}
        norms = {n for n in dict(model.encoder.layer.named_parameters()) if "LayerNorm" in n}
        want = adapter_params | norms
        got = _trainable(model.encoder.layer)
        if got != want:
            extra, missing = got - want, want - got
            hint = ("freeze every other weight of the layers (requires_grad = False): only the adapters "
                    "and the LayerNorms are trained" if extra else
                    "the LayerNorms stay trainable (Houlsby et al. train them with the adapters)"
                    if missing <= norms else "the adapters' own parameters must be trainable")
            fail(f"{where}: trainable parameters", f"the adapters' and LayerNorms' ({len(want)})",
                 f"{len(got)}; " + (f"trainable but should be frozen: {_names(extra)}" if extra else
                                    f"frozen but should be trained: {_names(missing)}"), hint)
        count = sum(p.numel() for p in model.encoder.layer.parameters() if p.requires_grad)
        formula = _LAYERS * (2 * (2 * _H * _M + _M + _H) + 2 * 2 * _H)
        expect_equal(count, formula, f"{where}: trainable parameter values",
                     "each adapter has 2Hm + m + H parameters, two per layer, and two LayerNorms of 2H")
        _fill(added, 24, ("down.weight", "down.bias", "up.weight", "up.bias"))
        expect_close(_output(model, ids, mask), stored["model_out"],
                     f"{where}: the model's output with stored adapter weights",
                     "the adapter goes after the projection and before dropout, the residual sum and "
                     "LayerNorm, in both sublayers", atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------- 2. lora

_LORA_RUNS = ((2, 4.0, 6, 5), (4, 8.0, 8, 8), (1, 16.0, 3, 7))  # (r, alpha, in, out)
_ASKS_LORA = "write the low-rank update"


def _peft_shortcuts() -> list[tuple[Any, str]]:
    try:
        from peft.tuners.lora import layer as lora_layer
    except ImportError:
        return []
    return [(lora_layer.Linear, "__init__"), (lora_layer.LoraLayer, "update_layer")]


def _peft_linear(base: nn.Linear, r: int, alpha: float, A: torch.Tensor, B: torch.Tensor) -> nn.Module:
    """peft's LoRA layer around a copy of `base`, holding A and B."""
    import copy

    try:
        from peft import LoraConfig
        from peft.tuners.lora import Linear as PeftLinear
    except ImportError as err:
        raise AssertionError("check_lora: the reference library peft is not installed\n"
                             "  likely bug: none in your code; install the course's dependencies "
                             "(pip install peft) and run the check again") from err
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0)
    ref = PeftLinear(copy.deepcopy(base), "default", config=config, r=r, lora_alpha=alpha)
    with torch.no_grad():
        ref.lora_A["default"].weight.copy_(A)
        ref.lora_B["default"].weight.copy_(B)
    return ref.eval()


def check_lora(LoRALinear, add_lora) -> None:
    with _seeded(0), one_thread():
        for k, (r, alpha, d_in, d_out) in enumerate(_LORA_RUNS):
            g = gen(30 + k)
            base = nn.Linear(d_in, d_out)
            where = f"LoRALinear(nn.Linear({d_in}, {d_out}), r={r}, alpha={alpha})"
            with forbid(_peft_shortcuts(), where, _ASKS_LORA):
                lora = call(LoRALinear, base, r, alpha, where=where)
            expect_true(isinstance(lora, nn.Module), where, "subclass nn.Module and call super().__init__()",
                        expected="an nn.Module", got=type(lora).__name__)
            for name, shape in (("lora_A", (r, d_in)), ("lora_B", (d_out, r))):
                value = getattr(lora, name, None)
                expect_true(isinstance(value, nn.Parameter), f"{where}.{name}",
                            f"make {name} an nn.Parameter, so that it is trained",
                            expected="an nn.Parameter", got=type(value).__name__)
                expect_shape(value, shape, f"{where}.{name}",
                             "A is (r, in_features) and B is (out_features, r): B A has the weight's shape")
            expect_true(not base.weight.requires_grad and not base.bias.requires_grad, f"{where}: the base layer",
                        "freeze the base layer (base.requires_grad_(False)): LoRA trains A and B only",
                        expected="requires_grad False", got="requires_grad True")
            expect_true(not bool(lora.lora_B.detach().ne(0).any()), f"{where}.lora_B at the start",
                        "B starts at zero (A random), so that the layer starts as the base layer",
                        expected="all zeros", got=show(lora.lora_B))
            bound = 1 / math.sqrt(d_in) + 1e-6
            A = lora.lora_A.detach()
            expect_true(bool(A.ne(0).any()) and float(A.abs().max()) <= bound, f"{where}.lora_A at the start",
                        "initialise A like nn.Linear's weight: nn.init.kaiming_uniform_(A, a=math.sqrt(5)), "
                        f"uniform on ±1/sqrt(in_features) = ±{bound:.4g}; a zero A would leave B without a gradient",
                        expected=f"random values within ±{bound:.4g}", got=show(A))
            scaling = getattr(lora, "scaling", None)
            expect_true(isinstance(scaling, numbers.Real) and abs(float(scaling) - alpha / r) < 1e-12,
                        f"{where}.scaling", "scaling is alpha / r (Hu et al. §4.1), so that the update's "
                        "size does not change with the rank" if scaling == alpha else "scaling = alpha / r",
                        expected=alpha / r, got=scaling)
            x = torch.randn(2, 3, d_in, generator=g)
            with torch.no_grad():
                got = call(lora, x, where=f"{where}(x)")
                expect_close(got, base(x), f"{where}(x) at the start (B = 0)",
                             "with B = 0 the layer must return base(x)", atol=1e-6, rtol=1e-5)
                lora.lora_B.copy_(torch.randn(d_out, r, generator=g))
                want = _peft_linear(base, r, alpha, lora.lora_A.detach(), lora.lora_B.detach())(x)
                got = call(lora, x, where=f"{where}(x)")
                BA = lora.lora_B @ lora.lora_A
                hint = next((text for scale, text in (
                    (alpha, "scaling alpha instead of alpha / r"), (1.0, "the update is not scaled by alpha / r"),
                    (alpha / r * 2, "the update counted twice")) if close(got, base(x) + scale * x @ BA.T)),
                    "h = W x + b + (alpha / r) B A x, with A applied first")
                expect_close(got, want, f"{where}(x) vs peft's LoRA layer with the same A, B", hint,
                             atol=1e-5, rtol=1e-4)
                merged = call(lora.merged, where=f"{where}.merged()",
                              hint="the merged weight is W + scaling * (B @ A), of shape (out, in)")
                expect_true(isinstance(merged, nn.Linear), f"{where}.merged()", "return a new nn.Linear",
                            expected="an nn.Linear", got=type(merged).__name__)
                m_out = merged(x)
                hint = ("merged weight W + B A without the scaling" if close(m_out, base(x) + x @ BA.T)
                        else "the merged weight is W + scaling * (B @ A), of shape (out, in), with the base's bias")
                expect_close(m_out, got, f"{where}.merged()(x) vs the layer", hint, atol=1e-5, rtol=1e-4)
                expect_true(merged is not base and merged.weight is not base.weight, f"{where}.merged()",
                            "build a new nn.Linear: merging must not overwrite the frozen base in place",
                            expected="a new layer", got="the base layer itself")

        model = _bert(33, 2, _H)
        ids, mask = _inputs(34)
        before = _output(model, ids, mask)
        originals = [(layer.attention.self.query, layer.attention.self.key, layer.attention.self.value)
                     for layer in model.encoder.layer]
        where = "add_lora(layers, 2, 4.0, targets=('query', 'value'))"
        with forbid(_peft_shortcuts(), where, _ASKS_LORA):
            added = call(add_lora, model.encoder.layer, 2, 4.0, targets=("query", "value"), where=where)
        expect_true(isinstance(added, (list, tuple)) and len(added) == 4, where,
                    "return the list of the new LoRALinear modules, one per target per layer",
                    expected="a list of 4", got=f"{type(added).__name__} of {len(added) if hasattr(added, '__len__') else '?'}")
        for i, (layer, (q, k, v)) in enumerate(zip(model.encoder.layer, originals)):
            att = layer.attention.self
            expect_true(att.query is added[2 * i] and att.value is added[2 * i + 1]
                        and getattr(att.query, "base", None) is q and getattr(att.value, "base", None) is v,
                        f"{where}: layer {i}'s query and value",
                        "replace layer.attention.self.query (and .value) by LoRALinear(the original layer, r, alpha)",
                        expected="LoRALinear around the original nn.Linear", got=f"{type(att.query).__name__}, {type(att.value).__name__}")
            expect_true(att.key is k, f"{where}: layer {i}'s key", "wrap only the projections named in targets",
                        expected="the original nn.Linear", got=type(att.key).__name__)
        expect_close(_output(model, ids, mask), before, f"{where}: the model's output at the start",
                     "fresh LoRA updates (B = 0) must leave the model's output unchanged", atol=1e-6, rtol=1e-5)
        want = {n for n, p in model.encoder.layer.named_parameters() if n.endswith(("lora_A", "lora_B"))}
        got = _trainable(model.encoder.layer)
        expect_true(got == want, f"{where}: trainable parameters",
                    "freeze every other parameter of the layers: LoRA trains A and B only",
                    expected=f"the {len(want)} lora_A and lora_B", got=f"{len(got)}: {_names(got - want) or _names(got)}")


# ------------------------------------------------------------------------- 3. freezing

class _TiedHead(nn.Module):
    """A body and a decoder that shares the embedding matrix (as a tied language model does)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(12, 4)
        self.mix = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.decoder = nn.Linear(4, 12)
        self.decoder.weight = self.embed.weight

    def forward(self, ids):
        return self.decoder(self.norm(self.mix(self.embed(ids))))


def check_freezing(freeze, bitfit, parameter_count) -> None:
    with _seeded(0), one_thread():
        model = _bert(40, 2, _H)
        names = dict(model.named_parameters())
        where = "freeze(model, bitfit)"
        params = call(freeze, model, bitfit, where=where)
        want = {n for n in names if n.endswith(".bias")}
        got = _trainable(model)
        if got != want:
            extra, missing = got - want, want - got
            if not any(names[n].requires_grad is False for n in names):
                hint = ("no parameter's requires_grad changed: set p.requires_grad on the parameters "
                        "themselves (model.named_parameters()), not on p.data or a copy")
            elif missing and all("LayerNorm" in n for n in missing):
                hint = "LayerNorm's bias is a bias too: BitFit trains every bias term"
            elif extra and all(names[n].dim() == 1 for n in extra):
                hint = "a 1-D parameter is not always a bias (LayerNorm's weight is 1-D): train the parameters named bias"
            else:
                hint = "set requires_grad to keep(name, parameter) for every parameter; bitfit keeps the names ending in bias"
            fail(f"{where}: trainable parameters", f"the {len(want)} biases",
                 f"{len(got)}; " + (f"trainable but should be frozen: {_names(extra)}" if extra else "")
                 + (f"frozen but should be trained: {_names(missing)}" if missing else ""), hint)
        expect_true(isinstance(params, (list, tuple)) and len(params) == len(want)
                    and all(any(p is names[n] for p in params) for n in want), f"{where}: the returned list",
                    "return exactly the trainable parameters (the list to give the optimiser): handing it "
                    "frozen ones costs memory, and leaving one out leaves it untrained",
                    expected=f"the {len(want)} trainable parameters",
                    got=f"{len(params) if hasattr(params, '__len__') else type(params).__name__} items")
        frozen = {n: p.detach().clone() for n, p in names.items() if n not in want}
        opt = torch.optim.AdamW(params, lr=0.05, weight_decay=0.5)
        ids, mask = _inputs(41)
        for _ in range(3):
            model(ids, attention_mask=mask).last_hidden_state.square().mean().backward()
            opt.step()
            opt.zero_grad()
        moved = [n for n, p in model.named_parameters() if n in frozen and not torch.equal(p, frozen[n])]
        expect_true(not moved, f"{where}: frozen parameters after 3 AdamW steps (weight decay 0.5)",
                    "a frozen parameter must not move: requires_grad = False (no gradient, skipped by the "
                    "optimiser); zeroing its gradient is not enough, AdamW's weight decay still shrinks it",
                    expected="bit-identical", got=f"{len(moved)} moved: {_names(moved)}")

        tied = _TiedHead()
        total = 12 * 4 + 4 * 4 + 4 + 2 * 4 + 12  # the shared matrix once
        for keep, n_train, label in ((lambda n, p: True, total, "all trainable"),
                                     (lambda n, p: n.startswith("norm."), 8, "only the LayerNorm trainable")):
            for p in tied.parameters():
                p.requires_grad = True
            call(freeze, tied, keep, where=f"freeze(tied model, {label})")
            counted = call(parameter_count, tied, where="parameter_count(tied model)")
            expect_true(isinstance(counted, tuple) and len(counted) == 2, "parameter_count(model)",
                        "return a tuple (trainable, total)", expected="(trainable, total)", got=show(counted))
            hint = ("count elements (p.numel()), not parameter tensors"
                    if counted[1] == len(list(tied.parameters())) else
                    "a tied (shared) weight is one parameter: count it once (model.parameters() lists it once; "
                    "named_parameters(remove_duplicate=False) or a loop over modules counts it twice)"
                    if counted[1] == total + 12 * 4 else "(trainable values, all values)")
            expect_equal(tuple(int(c) for c in counted), (n_train, total),
                         f"parameter_count(model with a tied decoder, {label})", hint)


# ----------------------------------------------------------------------------- 4. l2sp

# (alpha, beta, freeze the second layer?)
_L2SP_RUNS = ((0.1, 0.01, False), (1.0, 0.0, False), (0.3, 0.7, True))


def _l2sp_model(seed: int) -> nn.Module:
    with _seeded(seed):
        model = nn.ModuleDict({"body": nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 3)),
                               "head": nn.Linear(3, 2)})
    return model


def _l2sp_case(k: int, anchor_fn) -> tuple[nn.Module, dict]:
    """The model of run k, its pretrained start (the body's) and the trained weights."""
    alpha, beta, freeze_second = _L2SP_RUNS[k]
    model = _l2sp_model(50 + k)
    w0 = {n: t for n, t in anchor_fn(model).items() if n.startswith("body.")}
    g = gen(60 + k)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=g))  # fine-tuning moved everything
    if freeze_second:
        model["body"][2].requires_grad_(False)
    return model, w0


def _probe_l2sp(anchor, l2sp_penalty) -> dict[str, Any]:
    out = {}
    for k, (alpha, beta, _) in enumerate(_L2SP_RUNS):
        model, w0 = _l2sp_case(k, anchor)
        value = l2sp_penalty(model, w0, alpha, beta)
        value.backward()
        out[f"run{k}/value"] = value.detach().double()
        for n, p in model.named_parameters():
            if p.grad is not None:
                out[f"run{k}/grad/{n}"] = p.grad
    return out


def _plain_anchor(model):  # the checks' own way to take the start, to test the penalty alone
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def check_l2sp(anchor, l2sp_penalty) -> None:
    with _seeded(0), one_thread():
        model = _l2sp_model(49)
        where = "anchor(model)"
        w0 = call(anchor, model, where=where)
        names = dict(model.named_parameters())
        expect_true(isinstance(w0, dict) and set(w0) == set(names), where,
                    "return {name: copy} for every parameter of model.named_parameters()",
                    expected=f"a dict with keys {_names(names)}",
                    got=f"{type(w0).__name__}" + (f" with keys {_names(w0)}" if isinstance(w0, dict) else ""))
        for n, p in names.items():
            expect_tensor(w0[n], f"{where}[{n!r}]")
            expect_true(torch.equal(w0[n], p.detach()), f"{where}[{n!r}]", "w0 holds the parameter's values",
                        expected=show(p), got=show(w0[n]))
            expect_true(not w0[n].requires_grad, f"{where}[{n!r}]",
                        "w0 is a constant: detach it (outside autograd), or the penalty's gradient flows into it",
                        expected="requires_grad False", got="requires_grad True")
        with torch.no_grad():
            for p in names.values():
                p.add_(1.0)  # an optimiser step, in place
        aliased = [n for n, p in names.items() if torch.equal(w0[n], p.detach())]
        expect_true(not aliased, f"{where} after an in-place update of the weights",
                    "w0 shares memory with the live weights, so it moves with them and the penalty is always "
                    "zero: p.detach() is the same storage, copy it with p.detach().clone()",
                    expected="w0 unchanged", got=f"w0 moved with the weights: {_names(aliased)}")

        stored = expected.case("adaptation", "l2sp")
        for k, (alpha, beta, freeze_second) in enumerate(_L2SP_RUNS):
            model, start = _l2sp_case(k, _plain_anchor)
            where = f"l2sp_penalty(model, w0, alpha={alpha}, beta={beta})" + (
                " with the body's second layer frozen" if freeze_second else "")
            value = call(l2sp_penalty, model, start, alpha, beta, where=where)
            expect_tensor(value, where, "return a 0-dim tensor built from the parameters (autograd "
                          "differentiates it), not a Python float")
            expect_true(value.dim() == 0 and value.requires_grad, where,
                        "return a 0-dim tensor that autograd can differentiate: sum the squared distances "
                        "of the parameters themselves (no .item(), no .detach())",
                        expected="a 0-dim tensor with requires_grad", got=show(value))
            params = {n: p for n, p in model.named_parameters()}
            train = {n: p for n, p in params.items() if p.requires_grad}
            with torch.no_grad():
                sq = {n: float((p - start[n]).square().sum()) if n in start else None for n, p in params.items()}
                norm = {n: float(p.square().sum()) for n, p in params.items()}
            sp = sum(sq[n] for n in train if n in start)
            new = sum(norm[n] for n in train if n not in start)
            alternatives = [
                (alpha / 2 * sum(norm[n] for n in train if n in start) + beta / 2 * new,
                 "the pretrained weights are pulled towards 0 (that is weight decay): pull them towards w0, "
                 "alpha / 2 * ||w - w0||^2"),
                (alpha * sp + beta * new, "missing the 1/2: alpha / 2 * ||w - w0||^2 + beta / 2 * ||w||^2"),
                (alpha / 2 * sum(sq[n] for n in start) + beta / 2 * sum(norm[n] for n in params if n not in start),
                 "frozen parameters counted: penalise only the parameters with requires_grad"),
                (alpha / 2 * sp, "the new parameters (those not in w0, the head) get beta / 2 * ||w||^2"),
                (alpha / 2 * sum(math.sqrt(sq[n]) for n in train if n in start)
                 + beta / 2 * sum(math.sqrt(norm[n]) for n in train if n not in start),
                 "the squared norm, not the norm: (w - w0).square().sum(), not (w - w0).norm()"),
                (alpha / 2 * sp + beta / 2 * (new + sum(norm[n] for n in train if n in start)),
                 "beta applies to the new parameters only"),
            ]
            want = stored[f"run{k}/value"]
            hint = next((text for v, text in alternatives if abs(float(value.detach()) - v) < 1e-6 * max(1, abs(v))
                         and abs(v - float(want)) > 1e-9), "alpha / 2 * sum over w0's trainable parameters of "
                        "||w - w0||^2 + beta / 2 * sum over the other trainable ones of ||w||^2")
            expect_close(value.detach().double(), want, where, hint, atol=1e-6, rtol=1e-6)
            value.backward()
            for n, p in params.items():
                key = f"run{k}/grad/{n}"
                if key in stored:
                    g = p.grad
                    expect_true(g is not None, f"{where}: gradient of {n}", "build the penalty from the "
                                "parameters themselves so that autograd reaches every trainable one",
                                expected="a gradient", got="None")
                    expect_close(g, stored[key], f"{where}: gradient of {n}",
                                 "alpha (w - w0) on a pretrained weight, beta w on a new one", atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------------- 5. distillation

_DISTIL_RUNS = ((2.0, 0.5), (1.0, 0.9), (4.0, 0.3), (8.0, 1.0))  # (T, alpha)


def _distil_inputs(k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = gen(70 + k)
    # 3 classes: at T = 2, a KL averaged over 4 classes would look like a missing T^2
    return (2 * torch.randn(6, 3, generator=g, dtype=torch.float64),
            3 * torch.randn(6, 3, generator=g, dtype=torch.float64),
            torch.randint(0, 3, (6,), generator=g))


def _probe_distillation(distillation_loss, teacher_logits) -> dict[str, Any]:
    out = {}
    for k, (T, alpha) in enumerate(_DISTIL_RUNS):
        s, t, y = _distil_inputs(k)
        s.requires_grad_(True)
        loss = distillation_loss(s, t, y, T=T, alpha=alpha)
        loss.backward()
        out[f"run{k}/loss"], out[f"run{k}/grad"] = loss.detach(), s.grad
    return out


def _kl(p_log: torch.Tensor, q_log: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per example from log-probabilities, averaged over the batch."""
    return (p_log.exp() * (p_log - q_log)).sum(-1).mean()


def check_distillation(distillation_loss, teacher_logits) -> None:
    stored = expected.case("adaptation", "distillation")
    with _seeded(0), one_thread():
        for k, (T, alpha) in enumerate(_DISTIL_RUNS):
            s, t, y = _distil_inputs(k)
            s.requires_grad_(True)
            where = f"distillation_loss(student_logits, teacher_logits, labels, T={T}, alpha={alpha})"
            loss = call(distillation_loss, s, t, y, T=T, alpha=alpha, where=where)
            expect_tensor(loss, where)
            expect_true(loss.dim() == 0 and loss.dtype == torch.float64 and loss.requires_grad, where,
                        "return a 0-dim tensor in the logits' dtype (float64 here) that autograd can "
                        "differentiate", expected="0-dim float64 with requires_grad",
                        got=f"shape {tuple(loss.shape)}, {loss.dtype}, requires_grad {loss.requires_grad}")
            with torch.no_grad():
                ls, lt = F.log_softmax(s / T, -1), F.log_softmax(t / T, -1)
                ce, ce_T = F.cross_entropy(s, y), F.cross_entropy(s / T, y)
                hard = (1 - alpha) * ce
                alternatives = [
                    (alpha * _kl(lt, ls) + hard, "the soft term is not scaled by T^2: its gradients shrink as "
                     "1/T^2 (Hinton et al. §2), so multiply KL by T * T"),
                    (alpha * T * T * _kl(ls, lt) + hard, "KL's arguments swapped: the teacher's distribution is "
                     "the target, KL(teacher || student); F.kl_div(student_log_probs, teacher_probs) computes that"),
                    (alpha * T * T * _kl(lt, ls) / s.shape[1] + hard, "KL averaged over every element "
                     "(reduction='mean'): average over the batch, reduction='batchmean'"),
                    (alpha * T * T * _kl(lt, ls) + (1 - alpha) * ce_T, "the hard term uses the student at T = 1"),
                    (alpha * T * T * _kl(lt, F.log_softmax(s, -1)) + hard, "soften both distributions by T"),
                    ((1 - alpha) * T * T * _kl(lt, ls) + alpha * ce, "alpha weights the soft term, 1 - alpha the hard one"),
                ]
            hint = next((text for v, text in alternatives if abs(float(loss.detach()) - float(v)) < 1e-9
                         and abs(float(v) - float(stored[f"run{k}/loss"])) > 1e-9),
                        "alpha * T^2 * KL(softmax(t/T) || softmax(s/T)), batch mean, + (1 - alpha) * CE(s, y)")
            expect_close(loss.detach(), stored[f"run{k}/loss"], where, hint, atol=1e-9, rtol=1e-9)
            loss.backward()
            expect_close(s.grad, stored[f"run{k}/grad"], f"{where}: gradient on the student's logits",
                         "build the loss from the student's logits with differentiable operations",
                         atol=1e-9, rtol=1e-7)

        with _seeded(1):
            teacher = nn.Sequential(nn.Linear(5, 16), nn.Dropout(0.5), nn.Linear(16, 3))
        x = torch.randn(8, 5, generator=gen(80))
        with torch.no_grad():
            want = teacher.eval()(x)
        teacher.train()
        where = "teacher_logits(teacher, x), the teacher in train mode"
        got = call(teacher_logits, teacher, x, where=where)
        expect_tensor(got, where)
        expect_true(not got.requires_grad, where,
                    "run the teacher under torch.no_grad(): its weights are not trained, and a graph "
                    "through it would be built at every step for nothing", expected="requires_grad False",
                    got="requires_grad True")
        expect_close(got, want, where, "switch the teacher to eval mode (teacher.eval()): in train mode "
                     "dropout makes its targets random", atol=1e-6, rtol=1e-5)
        expect_true(not teacher.training and not any(m.training for m in teacher.modules()), where,
                    "leave the teacher in eval mode", expected="teacher.training False", got="True")


# -------------------------------------------------------------------------- 6. probing

_SENTENCES = (  # word_ids of [CLS] pieces [SEP]: split words, one-piece words, truncation
    [None, 0, 1, 1, 2, None],
    [None, 0, 0, 0, 1, 2, 2, 3, None],
    [None, 0, None],
    [None, 0, 1, 2, 3, 4, 4, None],
)


def _probe_probing(first_pieces, control_labels, probe_score) -> dict[str, Any]:
    g = gen(90)
    out = {}
    for k, word_ids in enumerate(_SENTENCES):
        states = torch.randn(len(word_ids), 5, generator=g)
        out[f"s{k}/states"], out[f"s{k}/words"] = states, first_pieces(states, word_ids)
    return out


def _data(seed: int, n: int = 240, shift: float = 0.0):
    g = gen(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).long()
    x[:, 0] += shift
    return x, y


def check_probing(first_pieces, control_labels, probe_score) -> None:
    import numpy as np

    stored = expected.case("adaptation", "probing")
    with _seeded(0), one_thread():
        for k, word_ids in enumerate(_SENTENCES):
            states = stored[f"s{k}/states"]
            where = f"first_pieces(states, {word_ids})"
            got = call(first_pieces, states, list(word_ids), where=where)
            last = {w: t for t, w in enumerate(word_ids) if w is not None}
            n = len(last)
            expect_shape(got, (n, states.shape[1]), where, "one row per word: n_words = 1 + the largest "
                         "word index; [CLS] and [SEP] (word id None) are not words")
            hint = ("the last piece of each word: take the first position of each word id" if close(
                got, states[[last[w] for w in range(n)]]) else
                    "the mean of a word's pieces: take the state of its first piece" if close(
                got, torch.stack([states[[t for t, w in enumerate(word_ids) if w == i]].mean(0) for i in range(n)]))
                    else "row i is the state at the first position whose word id is i")
            expect_close(got, stored[f"s{k}/words"], where, hint, atol=0, rtol=0)

        g = gen(91)
        words = [f"w{int(i)}" for i in torch.randint(0, 60, (3000,), generator=g)]
        labels = [int(v) for v in torch.multinomial(torch.tensor([0.7, 0.2, 0.1]), 3000, True, generator=g)]
        where = "control_labels(words, labels, seed=3)"
        before = torch.get_rng_state()
        got = call(control_labels, words, labels, 3, where=where)
        expect_true(torch.equal(before, torch.get_rng_state()), where,
                    "draw with torch.Generator().manual_seed(seed) only: the global random state must not "
                    "change (and the control labels must depend on the seed alone)",
                    expected="the global RNG untouched", got="it advanced")
        expect_true(isinstance(got, (list, tuple)) and len(got) == len(words), where,
                    "return one label per occurrence, a list like labels", expected=f"a list of {len(words)}",
                    got=f"{type(got).__name__} of {len(got) if hasattr(got, '__len__') else '?'}")
        got = [int(v) for v in got]
        per_type = collections.defaultdict(set)
        for w, c in zip(words, got):
            per_type[w].add(c)
        mixed = [w for w, s in per_type.items() if len(s) > 1]
        expect_true(not mixed, where, "one label per word *type*, drawn once: every occurrence of a word "
                    "gets the same control label (a label per occurrence is noise, which no probe can fit)",
                    expected="one label per word", got=f"{len(mixed)} words with several, e.g. {mixed[0] if mixed else ''!r}")
        expect_true(got != labels, where, "the control labels are random, not the real labels",
                    expected="random labels per type", got="the real labels")
        again = call(control_labels, words, labels, 3, where=where)
        other = call(control_labels, words, labels, 4, where="control_labels(words, labels, seed=4)")
        expect_true([int(v) for v in again] == got and [int(v) for v in other] != got, where,
                    "draw from torch.Generator().manual_seed(seed): the same seed gives the same labels, "
                    "another seed other labels", expected="reproducible from the seed",
                    got="the same for another seed" if [int(v) for v in other] == got else "different on a second call")
        many = [f"v{i}" for i in range(4000)]
        share = sum(call(control_labels, many, [1] * 400 + [0] * 3600, 5, where=where)) / 4000
        expect_true(abs(share - 0.1) < 0.03, "control_labels(4,000 words, 10% labelled 1, seed=5)",
                    "draw each type's label from the empirical distribution of the labels (sample one of "
                    "the real labels), not uniformly over the classes" if abs(share - 0.5) < 0.05
                    else "draw each type's label from the empirical distribution of `labels`",
                    expected="about 10% ones", got=f"{share:.1%} ones")

        x, y = _data(92)
        xt, yt = _data(93, n=200)
        where = "probe_score(train_x, train_y, test_x, test_y)"
        score = call(probe_score, x, y.numpy(), xt, yt.numpy(), where=where)
        expect_true(isinstance(score, numbers.Real) and not isinstance(score, bool), where,
                    "return the metric's value as a float", expected="a float", got=show(score))
        expect_true(float(score) > 0.9, f"{where} on linearly separable data", "fit "
                    "LogisticRegression on the standardised training features and score its predictions "
                    "on the test features", expected="accuracy above 0.9", got=f"{float(score):.3f}")
        noise = torch.randint(0, 2, (len(y),), generator=gen(94))
        score = float(call(probe_score, x, noise.numpy(), xt, yt.numpy(), where=where))
        expect_true(score < 0.75, f"{where} with random training labels",
                    "the probe is fitted on the test split: fit it on (train_x, train_y) only; a probe fitted on "
                    "the test split measures how well a classifier memorises it", expected="about chance (0.5)",
                    got=f"{score:.3f}")
        xs, ys = _data(95, n=200, shift=1.5)
        keep = ys == 1
        xs, ys = xs[keep], ys[keep]
        score = float(call(probe_score, x, y.numpy(), xs, ys.numpy(), where=where))
        expect_true(score > 0.97, f"{where} on a shifted test split of one class",
                    "standardise the test features with the training split's mean and standard deviation: "
                    "statistics of the test split are information from the test split", expected="above 0.97",
                    got=f"{score:.3f}")
        seen = []

        def metric(y_true, y_pred):
            seen.append((np.asarray(y_true).copy(), np.asarray(y_pred).copy()))
            return 0.25 + float(np.mean(np.asarray(y_true)))

        score = call(probe_score, x, y.numpy(), xt, yt.numpy(), metric=metric, where=f"{where[:-1]}, metric=m)")
        expect_true(len(seen) == 1 and np.array_equal(seen[0][0], yt.numpy()) and abs(float(score) - (0.25 + float(np.mean(yt.numpy())))) < 1e-12,
                    f"{where[:-1]}, metric=m)", "return metric(test_y, predictions): the true labels first, as "
                    "scikit-learn's metrics take them", expected="m(test_y, predictions), called once",
                    got=f"{len(seen)} calls" if len(seen) != 1 else "another value or argument order")


# ------------------------------------------------------------------------ 7. multitask

_SIZES = (100, 400, 1600, 25)


def _probe_multitask(task_probabilities, task_schedule, MultiTask) -> dict[str, Any]:
    return {f"T{T}": torch.tensor(task_schedule(list(_SIZES), 50, T, gen(100 + i)))
            for i, T in enumerate((1.0, 2.0, 5.0))}


def check_multitask(task_probabilities, task_schedule, MultiTask) -> None:
    with _seeded(0), one_thread():
        for T in (1.0, 2.0, 3.0, 1e6):
            where = f"task_probabilities({list(_SIZES)}, temperature={T:g})"
            p = call(task_probabilities, list(_SIZES), T, where=where)
            expect_tensor(p, where)
            expect_shape(p, (len(_SIZES),), where)
            expect_true(p.dtype == torch.float64, where, "return a float64 tensor", expected="torch.float64",
                        got=str(p.dtype))
            n = torch.tensor(_SIZES, dtype=torch.float64)
            ratio = (n / n[0]) ** (1 / T)
            hint = next((text for alt, text in (
                (n ** T / (n ** T).sum(), "the power is 1 / temperature, not temperature: p_i ~ n_i ** (1 / T)"),
                (n ** (1 / T), "normalise: divide by the sum so the probabilities add up to 1"),
                (torch.full_like(n, 1 / len(n)), "uniform whatever T: p_i ~ n_i ** (1 / T)"))
                if close(p, alt, atol=1e-9)), "p_i = n_i ** (1 / T) / sum_j n_j ** (1 / T)")
            expect_close(p / p[0], ratio, f"{where}: p_i / p_0", hint, atol=1e-9, rtol=1e-9)
            expect_close(p.sum(), 1.0, f"{where}: the sum", hint, atol=1e-12, rtol=0)

        stored = expected.case("adaptation", "multitask")
        for i, T in enumerate((1.0, 2.0, 5.0)):
            where = f"task_schedule({list(_SIZES)}, 50, {T:g}, generator)"
            before = torch.get_rng_state()
            got = call(task_schedule, list(_SIZES), 50, T, gen(100 + i), where=where)
            expect_true(torch.equal(before, torch.get_rng_state()), where,
                        "draw with the generator passed in (torch.multinomial(..., generator=generator)), not "
                        "the global random state", expected="the global RNG untouched", got="it advanced")
            expect_true(isinstance(got, (list, tuple)) and len(got) == 50, where,
                        "return a list of `steps` task indices", expected="a list of 50",
                        got=f"{type(got).__name__} of {len(got) if hasattr(got, '__len__') else '?'}")
            expect_equal(torch.tensor([int(v) for v in got]), stored[f"T{T}"], where,
                         "torch.multinomial(task_probabilities(sizes, temperature), steps, replacement=True, "
                         "generator=generator).tolist(): independent draws, with replacement")

        encoder = nn.Linear(3, 4)
        heads = {"a": nn.Linear(4, 2), "b": nn.Linear(4, 5)}
        where = "MultiTask(encoder, {'a': nn.Linear(4, 2), 'b': nn.Linear(4, 5)})"
        model = call(MultiTask, encoder, heads, where=where)
        expect_true(isinstance(model, nn.Module), where, "subclass nn.Module and call super().__init__()",
                    expected="an nn.Module", got=type(model).__name__)
        ids = {id(p) for p in model.parameters()}
        missing = [name for name, h in heads.items() if not all(id(p) in ids for p in h.parameters())]
        expect_true(not missing and all(id(p) in ids for p in encoder.parameters()), f"{where}.parameters()",
                    "register the heads as submodules (nn.ModuleDict(heads)): a plain dict hides them from "
                    ".parameters(), so the optimiser never trains them and .to(device) never moves them",
                    expected="the encoder's and every head's parameters",
                    got=f"heads missing: {missing}" if missing else "the encoder's missing")
        x = torch.randn(2, 3, generator=gen(101))
        with torch.no_grad():
            wants = {task: head(encoder(x)) for task, head in heads.items()}
        calls = []
        hook = encoder.register_forward_hook(lambda *args: calls.append(1))
        try:
            for task, want in wants.items():
                calls.clear()
                out = call(model, task, x, where=f"MultiTask.forward({task!r}, x)")
                expect_close(out, want, f"MultiTask.forward({task!r}, x)", "run the encoder once, then heads[task] on its "
                             "output", atol=1e-6, rtol=1e-5)
                expect_true(len(calls) == 1, f"MultiTask.forward({task!r}, x)", "call the shared encoder once per forward",
                            expected="1 call of the encoder", got=f"{len(calls)}")
        finally:
            hook.remove()
        model.zero_grad()
        call(model, "b", x, where="MultiTask.forward('b', x)").sum().backward()
        reached = [n for n, p in heads["a"].named_parameters() if p.grad is not None and bool(p.grad.ne(0).any())]
        expect_true(not reached and encoder.weight.grad is not None, "MultiTask.forward('b', x): gradients",
                    "a loss of task b reaches the shared encoder and b's head only, never a's",
                    expected="encoder and head b only", got=f"head a reached: {reached}" if reached else "the encoder not reached")


PROBES = {
    "adapters": Probe(("Adapter", "add_adapters"), _probe_adapters),
    "l2sp": Probe(("anchor", "l2sp_penalty"), _probe_l2sp),
    "distillation": Probe(("distillation_loss", "teacher_logits"), _probe_distillation),
    "probing": Probe(("first_pieces", "control_labels", "probe_score"), _probe_probing),
    "multitask": Probe(("task_probabilities", "task_schedule", "MultiTask"), _probe_multitask),
}
