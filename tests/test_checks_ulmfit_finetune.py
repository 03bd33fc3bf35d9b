"""The Chapter 5 visible checks of the fine-tuning side (stlr, discriminative, unfreezing,
concat_pool, classifier): pass on the solution, reject every mutant, teach.

For each exercise: the check passes on the solution's definitions; every mutant in
`tests/mutants/ulmfit/finetune.py` is rejected with an AssertionError naming the function;
a stub is reported as "not implemented". Each hidden-test block passes on the solution,
leaves the global RNG alone and rejects at least one mutant on its own. The checks' own
references are tied to the real thing: the paper's Eq. 3 meets the STLR rules, the stored
schedules peak where Eq. 3 says, torch.optim moves a parameter with a zero gradient but not
one without, nn.LSTM carried across chunks is one pass, the stored head outputs are the
nn.Sequential of torch.nn layers holding the stored weights, the stored features are masked
pooling written out here, and the shortcuts the STLR check refuses would pass without the
guard.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from autograder import expected
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


def _cut(T, cut_frac):
    return max(1, math.floor(T * cut_frac))


@pytest.mark.parametrize("run", [r for r in checks._STLR_RUNS
                                 if abs(r[0] * r[1] - round(r[0] * r[1])) < 1e-9])
def test_paper_eq3_meets_the_stlr_rules(run):
    T, cut_frac, ratio = run
    values = torch.tensor([_paper_stlr(t, T, cut_frac, ratio) for t in range(T + 4)],
                          dtype=torch.float64)
    checks.examine("the paper's Eq. 3", values,
                   holds=checks._stlr_rules(T, cut_frac, ratio, _cut(T, cut_frac)))


def test_stored_schedules_peak_at_cut():
    """The check reads cut off the stored schedule: it is max(1, floor(T * cut_frac))."""
    for k, (T, cut_frac, ratio) in enumerate(checks._STLR_RUNS):
        assert checks._peak(checks._stored_stlr(k)) == _cut(T, cut_frac)


def test_stlr_rules_pin_the_schedule_down(solution):
    """Any sequence meeting the five rules is the solution's: the rules are a definition."""
    for T, cut_frac, ratio in checks._STLR_RUNS:
        cut, low = _cut(T, cut_frac), 1 / ratio
        # the two lines through (0, low), (cut, 1) and (cut, 1), (T, low), then flat
        line = [low + (1 - low) * t / cut if t <= cut else
                max(low, 1 - (1 - low) * (t - cut) / (T - cut)) for t in range(T + 4)]
        assert all(abs(a - solution["stlr"](t, T, cut_frac, ratio)) < 1e-12
                   for t, a in enumerate(line))


def test_stored_groups_are_the_lowest_group_rule_and_eq2():
    """The stored groups: each parameter in the lowest group holding it, frozen ones kept, the
    top group lr and each below 1/factor of the one above (Eq. 2), as written out here."""
    rnn = lambda p: {f"{p}.{n}" for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                           "bias_hh_l0")}  # noqa: E731
    want = [[{"embed.weight"}, rnn("rnn1"), rnn("rnn2"), {"decoder.bias"}],
            [{"0.weight", "0.bias"}, {"2.weight", "2.bias"}, {"3.weight", "3.bias"}]]
    for k, case in enumerate(checks._groups_cases()):
        groups, lrs = checks._stored_groups(k, case)
        assert groups == want[k]
        n, factor = len(case.groups), case.factor or 2.6
        assert all(abs(x - case.lr / factor ** (n - 1 - j)) < 1e-15 for j, x in enumerate(lrs))


def test_stored_unfreezing_is_the_top_n_groups():
    """The stored trainable groups are the top n of the 4 (all for n >= 4, none for 0), and
    train_mode leaves only the frozen groups' BatchNorm layers in eval."""
    stored = expected.case("ulmfit", "unfreezing")
    for n in {*checks._FREEZE_SEQUENCE, 1, 3}:
        assert checks._top(n) == set(range(max(0, 4 - n), 4)), n
    for n in (1, 3):
        names = list(checks._modes(checks._net()))
        frozen = [g for g in checks._GROUP_NAMES[:4 - n]]
        want = [not (x.split(".")[0] in frozen and x.endswith(".1") and x.startswith("block"))
                for x in names]
        assert stored[f"modes{n}"].tolist() == want, n


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


def _spec_head():
    """The head the exercise describes, from torch.nn (here, not in the shipped checks)."""
    i, h, n, p = checks._IN, checks._HIDDEN, checks._CLASSES, checks._P
    return torch.nn.Sequential(torch.nn.BatchNorm1d(i), torch.nn.Dropout(p[0]),
                               torch.nn.Linear(i, h), torch.nn.ReLU(), torch.nn.BatchNorm1d(h),
                               torch.nn.Dropout(p[1]), torch.nn.Linear(h, n))


def test_stored_head_is_the_spec_in_torch_nn():
    """The stored layers and logits are the spec's nn.Sequential holding the stored weights."""
    stored = expected.case("ulmfit", "head")
    ref = _spec_head()
    assert checks._decode_layers(stored["layers"]) == [checks._describe(m) for m in ref]
    ref.load_state_dict({k[len("w.layers."):]: v for k, v in stored.items() if k.startswith("w.")})
    assert torch.allclose(ref.eval()(stored["x"]), stored["eval"], atol=1e-6)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        assert torch.allclose(ref.train()(stored["x"]), stored["train"], atol=1e-6)


def _masked_pool(x, mask):
    """Concat pooling written out row by row: each row's real positions only."""
    rows = []
    for b in range(x.shape[0]):
        real = x[b][mask[b]]
        rows.append(torch.cat([real[-1], real.max(0).values, real.mean(0)]))
    return torch.stack(rows)


def test_stored_features_are_masked_concat_pooling():
    """The stored features (the solution's) are [h_last, max, mean] over each row's real
    tokens, written out here (padding on the right, the left and both in one batch)."""
    stored = expected.case("ulmfit", "concat_pool")
    for name, *_ in checks._pool_inputs():
        x, mask = stored[f"{name}.outputs"], stored[f"{name}.mask"]
        assert torch.allclose(stored[f"{name}.features"], _masked_pool(x, mask), atol=1e-6), name


def test_stored_classifier_is_one_pass_of_the_stand_in():
    """The stored logits are the head on concat pooling of one nn.LSTM pass (eval mode), the
    padded rows each pooled without their padding."""
    stored = expected.case("ulmfit", "text_classifier")
    encoder = checks._Encoder()
    encoder.load_state_dict({k[len("w.encoder."):]: v for k, v in stored.items()
                             if k.startswith("w.encoder.")})
    head = _spec_head()
    head.load_state_dict({k[len("w.head.layers."):]: v for k, v in stored.items()
                          if k.startswith("w.head.")})
    head.eval()
    with torch.no_grad():
        every = torch.ones_like(stored["mask"])
        full = encoder.full(stored["ids"])
        assert torch.allclose(head(_masked_pool(full, every)), stored["eval"], atol=1e-5)
        padded = encoder.full(stored["padded_ids"])
        assert torch.allclose(head(_masked_pool(padded, stored["mask"])), stored["padded"],
                              atol=1e-5)


@pytest.mark.parametrize("mutant", ["stlr/cyclic_lr"])
def test_the_refused_shortcut_would_pass_without_the_guard(solution, mutant):
    """CyclicLR (triangular, step_size_up = cut, step_size_down = T - cut) is Eq. 3 itself:
    without the guard the check could not tell it from an answer; with it, it is refused."""
    import warnings

    from tests.mutants import apply

    (m,) = [m for m in MUTANTS if m.id == mutant]
    stlr = apply(m, solution)["stlr"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for T, cut_frac, ratio in checks._STLR_RUNS:
            assert all(abs(stlr(t, T, cut_frac, ratio) - solution["stlr"](t, T, cut_frac, ratio))
                       < 1e-12 for t in range(T + 4))
    with pytest.raises(AssertionError, match="your code calls CyclicLR"):
        checks.check_stlr(stlr)

