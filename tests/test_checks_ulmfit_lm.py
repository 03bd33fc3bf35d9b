"""The Chapter 5 visible checks of the language model (LM batches, AWD-LSTM's dropouts, the
tied language model): pass on the solution, reject every mutant, teach.

For each exercise: the check passes on the solution's definitions; every mutant in
`tests/mutants/ulmfit/lm.py` is rejected with an AssertionError naming the function or
class; a stub is reported as "not implemented". The hidden-test blocks pass on the solution,
leave the global RNG as they found it, and each rejects at least one mutant on its own. The
checks' own references are tied to torch: the stored AWDLSTM outputs are nn.LSTM layers on
the stored weights (written out here, not in the shipped checks), the mask read off the
gradient's zeros is the mask F.dropout drew, and nn.LSTM run with that dropped matrix is the
solution's WeightDropLSTM; the stored batches, windows and AR/TAR values are the exercises'
definitions written out here.
"""

from __future__ import annotations

from pathlib import Path
from types import FunctionType

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from autograder import expected
from autograder.checks.ulmfit import lm as checks
from tests.check_contract import contract_tests, hidden_block_tests, run_check
from tests.mutants import StubModule, apply, stub_function
from tests.mutants.ulmfit.lm import DIAGNOSES, MUTANTS

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "05_ulmfit.md"

# exercise id -> (check, names of the learner objects it takes, names its messages use)
CHECKS = {
    "lm_batches": (checks.check_lm_batches, ["batchify", "bptt_lengths", "lm_windows", "detach"],
                   "batchify|bptt_lengths|lm_windows|detach"),
    "dropout": (checks.check_dropout, ["embedding_dropout", "LockedDropout", "WeightDropLSTM"],
                "embedding_dropout|LockedDropout|WeightDropLSTM"),
    "language_model": (checks.check_language_model, ["AWDLSTM", "LanguageModel", "ar_tar"],
                       "AWDLSTM|LanguageModel|ar_tar"),
}

# the solution fixture and the generic tests (tests/check_contract.py)
globals().update(contract_tests(CHECKS, MUTANTS, DIAGNOSES, module=checks,
                                solution=SOLUTION, min_mutants=5))


globals().update(hidden_block_tests(CHECKS, solution=SOLUTION))


# ---------------------------------------------------------------- half-done exercises

def test_half_done_lm_batches_names_the_missing_function(solution):
    with pytest.raises(AssertionError, match=r"(?s)^lm_windows.*not implemented"):
        checks.check_lm_batches(solution["batchify"], solution["bptt_lengths"], stub_function,
                                solution["detach"])


def test_half_done_dropout_names_the_missing_class(solution):
    with pytest.raises(AssertionError, match=r"(?s)^WeightDropLSTM.*not implemented"):
        checks.check_dropout(solution["embedding_dropout"], solution["LockedDropout"],
                             StubModule)


def test_half_done_language_model_names_the_missing_class(solution):
    with pytest.raises(AssertionError, match=r"(?s)^LanguageModel.*not implemented"):
        checks.check_language_model(solution["AWDLSTM"], StubModule, solution["ar_tar"])


def test_language_model_says_when_exercise_2_is_to_blame(solution):
    """AWDLSTM runs the learner's dropouts: a LockedDropout with a mask per time step fails
    check_language_model too, and the message points at check_dropout."""
    (mutant,) = [m for m in MUTANTS if m.id == "dropout/locked_mask_per_step"]
    namespace = apply(mutant, solution)
    # the notebook's AWDLSTM looks its dropouts up in the learner's namespace
    awd = type("AWDLSTM", (solution["AWDLSTM"],), {})
    for name in ("__init__", "forward"):
        fn = getattr(solution["AWDLSTM"], name)
        setattr(awd, name, FunctionType(fn.__code__, namespace, name, fn.__defaults__,
                                        fn.__closure__))
    with pytest.raises(AssertionError, match=r"^AWDLSTM") as info:
        run_check(CHECKS, "language_model", {**namespace, "AWDLSTM": awd})
    assert "check_dropout" in str(info.value) and "time step" in str(info.value)


# ------------------------------------------------------- the references vs torch itself

def _lstm_stack(weights, x, hidden=None):
    """nn.LSTM layers loaded from `weights` (fields w.layers.<i>.lstm.*), one after the other:
    the AWD-LSTM in eval, written out here (not in the shipped checks)."""
    states = []
    for i in range(3):
        w = {k: weights[f"w.layers.{i}.lstm.{k}"] for k in checks._LSTM_KEYS}
        lstm = nn.LSTM(w["weight_ih_l0"].shape[1], w["weight_hh_l0"].shape[1], batch_first=True)
        lstm.load_state_dict(w)
        with torch.no_grad():
            x, state = lstm(x, None if hidden is None else hidden[i])
        states.append(state)
    return x, states


def test_stored_awd_outputs_are_nn_lstm_layers_on_the_embedding():
    """The stored eval outputs of AWDLSTM are nn.LSTM layers on F.embedding(ids), with and
    without the stored state; with equal sizes such a stack is torch's multi-layer nn.LSTM."""
    stored = expected.case("ulmfit", "awd")
    x = F.embedding(stored["ids"], stored["w.embed.weight"])
    hidden = [(stored[f"given.h0_{i}"], stored[f"given.c0_{i}"]) for i in range(3)]
    for name, given in (("none", None), ("given", hidden)):
        out, states = _lstm_stack(stored, x, given)
        assert torch.allclose(out, stored[f"{name}.output"], atol=1e-6)
        for i, (h, c) in enumerate(states):
            assert torch.allclose(h, stored[f"{name}.h{i}"], atol=1e-6)
            assert torch.allclose(c, stored[f"{name}.c{i}"], atol=1e-6)
    torch.manual_seed(0)
    deep = nn.LSTM(6, 6, num_layers=3, batch_first=True)
    same = {f"w.layers.{i}.lstm.{k}": getattr(deep, f"{k[:-1]}{i}").detach() for i in range(3)
            for k in checks._LSTM_KEYS}
    x = torch.randn(2, 5, 6)
    with torch.no_grad():
        assert torch.allclose(_lstm_stack(same, x)[0], deep(x)[0], atol=1e-6)


def test_stored_batches_and_windows_are_the_definitions():
    stored = expected.case("ulmfit", "batchify")
    for name, _, B, _ in checks._batchify_inputs():
        ids, rows = stored[f"{name}.ids"], stored[f"{name}.rows"]
        L = len(ids) // B
        assert torch.equal(rows, torch.stack([ids[b * L:(b + 1) * L] for b in range(B)]))
    for k, (B, L, lengths) in enumerate(checks._WINDOWS):
        rows, start, want = checks._rows(B, L), 0, []
        for t in lengths:
            t = min(t, L - 1 - start)
            if t > 0:
                want.append((rows[:, start:start + t], rows[:, start + 1:start + t + 1]))
                start += t
        got = checks._stored_windows(k)
        assert len(got) == len(want)
        assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(got, want))


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_the_mask_read_off_the_gradient_is_the_mask_f_dropout_drew(p):
    """F.dropout's kept entries are exactly the non-zero entries of the parameter's gradient,
    and nn.LSTM run with W * mask / (1 - p) is the dropped forward itself."""
    torch.manual_seed(1)
    lstm = nn.LSTM(4, 16, batch_first=True)
    x = torch.randn(2, 4, 4)
    state = (torch.randn(1, 2, 16), torch.randn(1, 2, 16))
    weights = dict(lstm.named_parameters())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        dropped = F.dropout(weights["weight_hh_l0"], p, training=True)
    out, (h, c) = functional_call(lstm, {**weights, "weight_hh_l0": dropped}, (x, state))
    (out.sum() + h.sum() + c.sum()).backward()
    kept = lstm.weight_hh_l0.grad != 0
    assert torch.equal(kept, dropped != 0)
    rebuilt = checks._run_lstm(lstm, x, state, lstm.weight_hh_l0 * kept / (1 - p))
    assert torch.allclose(rebuilt[0], out, atol=1e-6)


def test_solution_weight_drop_is_nn_lstm_with_the_rebuilt_matrix(solution):
    """The check's reading of a training forward, on the solution: the mask from the gradient
    rebuilds the output exactly, and its share is near p."""
    model = checks.build(solution["WeightDropLSTM"], "WeightDropLSTM(4, 16, p=0.3)", 4, 16, 0.3)
    model.train()
    x = torch.randn(2, 4, 4, generator=checks.gen(0))
    state = (torch.randn(1, 2, 16, generator=checks.gen(1)),
             torch.randn(1, 2, 16, generator=checks.gen(2)))
    got = checks._train_step(model, "WeightDropLSTM", x, state, 3, (2, 4, 16))
    kept = checks._weight_grad_zeros(model, "WeightDropLSTM", 0.3)
    ref = checks._reference_lstm(model.state_dict(), "lstm.")
    want = checks._run_lstm(ref, x, state, model.lstm.weight_hh_l0 * kept / 0.7)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, atol=1e-6)
    assert abs(float((~kept).double().mean()) - 0.3) < 0.08


def test_stored_ar_tar_is_the_papers_formula():
    """The stored values are Merity et al.'s AR and TAR (F.mse_loss on (dropped, 0) and on
    consecutive time steps), and their parts."""
    stored = expected.case("ulmfit", "ar_tar")
    raw, dropped = stored["raw"], stored["dropped"]
    ar = F.mse_loss(dropped, torch.zeros_like(dropped))
    tar = F.mse_loss(raw[:, 1:], raw[:, :-1])
    for name, a, b in (("default", 2.0, 1.0), ("given", 0.5, 3.0), ("ar", 1.0, 0.0),
                       ("tar", 0.0, 1.0)):
        assert abs(float(stored[name]) - float(a * ar + b * tar)) < 1e-5, name
    assert abs(float(stored["ar_of_raw"]) - float(raw.pow(2).mean())) < 1e-6
    diffs = dropped[:, 1:] - dropped[:, :-1]
    assert abs(float(stored["tar_of_dropped"]) - float(diffs.pow(2).mean())) < 1e-6


def test_checks_are_fast(solution):
    import time

    for exercise in CHECKS:
        start = time.perf_counter()
        run_check(CHECKS, exercise, solution)
        assert time.perf_counter() - start < 2.0, exercise
