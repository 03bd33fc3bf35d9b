"""The Chapter 5 visible checks of the fine-tuning side (stlr, discriminative, unfreezing,
concat_pool, classifier): pass on the solution, reject every mutant, teach.

For each exercise: the check passes on the solution's definitions; every mutant in
`tests/mutants/ulmfit/finetune.py` is rejected with an AssertionError naming the function;
a stub is reported as "not implemented". Each hidden-test block passes on the solution,
leaves the global RNG alone and rejects at least one mutant on its own. The checks' own
references are tied to the real thing: the paper's Eq. 3 meets the STLR rules, torch.optim
moves a parameter with a zero gradient but not one without, nn.LSTM carried across chunks is
one pass, the reference head is the solution's, the padded-row reference is masked pooling.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from autograder.checks.ulmfit import finetune as checks
from tests.check_contract import contract_tests, hidden_block_tests
from tests.mutants import StubModule, stub_function
from tests.mutants.ulmfit.finetune import DIAGNOSES, MUTANTS

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "05_ulmfit.md"

# exercise id -> (check, names of the learner objects it takes, names its messages use)
CHECKS = {
    "stlr": (checks.check_stlr, ["stlr"], "stlr"),
    "discriminative": (checks.check_discriminative, ["discriminative_groups"],
                       "discriminative_groups"),
    "unfreezing": (checks.check_unfreezing, ["freeze_to", "train_mode"], "freeze_to|train_mode"),
    "concat_pool": (checks.check_concat_pool, ["concat_pool"], "concat_pool"),
    "classifier": (checks.check_classifier, ["ClassifierHead", "TextClassifier"],
                   "ClassifierHead|TextClassifier"),
}

# the solution fixture and the generic tests (tests/check_contract.py)
globals().update(contract_tests(CHECKS, MUTANTS, DIAGNOSES, module=checks,
                                solution=SOLUTION, min_mutants=5))


globals().update(hidden_block_tests(CHECKS, solution=SOLUTION))


# ---------------------------------------------------------------- half-done exercises

def test_half_done_unfreezing_names_the_missing_function(solution):
    with pytest.raises(AssertionError, match=r"(?s)^train_mode.*not implemented"):
        checks.check_unfreezing(solution["freeze_to"], stub_function)


def test_half_done_classifier_names_the_missing_class(solution):
    with pytest.raises(AssertionError, match=r"(?s)^TextClassifier.*not implemented"):
        checks.check_classifier(solution["ClassifierHead"], StubModule)


def test_classifier_with_concat_pool_stubbed_names_concat_pool(solution):
    """TextClassifier.forward calls the learner's concat_pool: a stub there is named."""
    namespace = {**solution, "concat_pool": stub_function}
    forward = solution["TextClassifier"].forward  # its globals: a namespace without the stub
    cls = type("TextClassifier", (solution["TextClassifier"],), {
        "forward": type(forward)(forward.__code__, namespace, forward.__name__,
                                 forward.__defaults__, forward.__closure__)})
    with pytest.raises(AssertionError, match=r"(?s)^TextClassifier.*not implemented yet "
                       r"\(raised in `stub_function`\)"):
        checks.check_classifier(solution["ClassifierHead"], cls)


# ------------------------------------------------------- the references vs the real thing

def _paper_stlr(t, T, cut_frac=0.1, ratio=32):
    """Eq. 3 of Howard & Ruder (2018) as printed (valid when T * cut_frac is whole)."""
    cut = math.floor(T * cut_frac)
    p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    return (1 + max(0.0, p) * (ratio - 1)) / ratio


@pytest.mark.parametrize("run", [r for r in checks._STLR_RUNS
                                 if abs(r[0] * r[1] - round(r[0] * r[1])) < 1e-9])
def test_paper_eq3_meets_the_stlr_rules(run):
    T, cut_frac, ratio = run
    values = torch.tensor([_paper_stlr(t, T, cut_frac, ratio) for t in range(T + 4)],
                          dtype=torch.float64)
    checks.examine("the paper's Eq. 3", values, holds=checks._stlr_rules(T, cut_frac, ratio))


def test_stlr_rules_pin_the_schedule_down(solution):
    """Any sequence meeting the five rules is the solution's: the rules are a definition."""
    for T, cut_frac, ratio in checks._STLR_RUNS:
        cut, low = checks._cut(T, cut_frac), 1 / ratio
        # the two lines through (0, low), (cut, 1) and (cut, 1), (T, low), then flat
        line = [low + (1 - low) * t / cut if t <= cut else
                max(low, 1 - (1 - low) * (t - cut) / (T - cut)) for t in range(T + 4)]
        assert all(abs(a - solution["stlr"](t, T, cut_frac, ratio)) < 1e-12
                   for t, a in enumerate(line))


@pytest.mark.parametrize("opt", ["adam", "adamw"])
def test_torch_optim_moves_a_zero_gradient_but_skips_a_missing_one(opt):
    """The premise of check_unfreezing: with momentum (and weight decay) a zeroed gradient still
    moves a parameter; a parameter whose .grad is None is skipped, bit for bit."""
    make = {"adam": lambda ps: torch.optim.Adam(ps, lr=0.1),
            "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.1, weight_decay=0.1)}[opt]
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    optimizer = make([a, b])
    for _ in range(2):
        optimizer.zero_grad()
        ((a * 2).sum() + (b * 3).sum()).backward()
        optimizer.step()
    a0, b0 = a.detach().clone(), b.detach().clone()
    optimizer.zero_grad()
    b.requires_grad_(False)
    (a * 0).sum().backward()  # a: zero gradient; b: none
    optimizer.step()
    assert not torch.equal(a.detach(), a0)
    assert b.grad is None and torch.equal(b.detach(), b0)


def test_the_stand_in_encoder_carried_across_chunks_is_one_pass():
    """The eval invariance the classifier check uses: nn.LSTM run chunk by chunk with its state
    carried equals one pass; reset per chunk, it does not."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(20)
        encoder = checks._Encoder()
    ids = checks._tc_ids()
    hidden, outs = None, []
    for start in range(0, ids.shape[1], checks._BPTT):
        out, hidden = encoder(ids[:, start:start + checks._BPTT], hidden)
        outs.append(out)
    assert torch.allclose(torch.cat(outs, 1), encoder.full(ids), atol=1e-6)
    assert not torch.allclose(encoder.chunks_reset(ids, checks._BPTT), encoder.full(ids),
                              atol=1e-4)
    assert [c[0] for c in encoder.calls] == [4, 4, 2]


def test_reference_head_is_the_solutions(solution):
    head = solution["ClassifierHead"](checks._IN, checks._CLASSES, checks._HIDDEN, checks._P)
    assert [checks._describe(m) for m in head.layers] == checks._WANT_LAYERS
    ref = checks._reference_head(checks._IN, checks._CLASSES, checks._HIDDEN, checks._P)
    ref.load_state_dict(head.layers.state_dict())
    x = torch.randn(5, checks._IN, generator=torch.Generator().manual_seed(0))
    assert torch.equal(ref.eval()(x), head.eval()(x))


def test_rows_alone_is_masked_concat_pooling():
    """The check's padded-row reference (each row pooled without its padding) equals pooling
    with the mask, written out here with masked_fill / sum (padding on both sides too)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 7, 3, generator=g)
    pos = torch.arange(7)
    mask = torch.stack([pos < 7, pos >= 4, (pos >= 1) & (pos < 5), pos < 2])
    m = mask.unsqueeze(-1)
    last = x[torch.arange(4), torch.tensor([6, 6, 4, 1])]
    maxed = x.masked_fill(~m, float("-inf")).amax(1)
    mean = (x * m).sum(1) / m.sum(1)
    assert torch.allclose(checks._rows_alone(x, mask), torch.cat([last, maxed, mean], 1),
                          atol=1e-6)

