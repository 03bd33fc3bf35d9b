"""The Chapter 6 visible checks (adapters, LoRA, freezing, L2-SP, distillation, probing,
multi-task): pass on the solution, reject every mutant, teach.

For each exercise: the check passes on the solution's definitions; every mutant in
`tests/mutants/adaptation.py` is rejected with an AssertionError naming the function; a stub
is reported as "not implemented". Each hidden-test block passes on the solution and leaves the
global RNG alone. The checks' own references are tied to the real thing: peft's LoRA layer is
the formula of Hu et al., the stored adapter outputs are Houlsby et al.'s formula on the stored
weights, the stored L2-SP values and distillation losses are the papers' formulas written out
here, and the check refuses an answer built on peft.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder import expected
from autograder.checks import adaptation as checks
from tests.check_contract import contract_tests, hidden_block_tests
from tests.mutants import Mutant, StubModule, apply, stub_function
from tests.mutants.adaptation import DIAGNOSES, MUTANTS

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "06_adaptation.md"

# exercise id -> (check, names of the learner objects it takes, names its messages use)
CHECKS = {
    "adapters": (checks.check_adapters, ["Adapter", "add_adapters"], "Adapter|add_adapters"),
    "lora": (checks.check_lora, ["LoRALinear", "add_lora"], "LoRALinear|add_lora"),
    "freezing": (checks.check_freezing, ["freeze", "bitfit", "parameter_count"],
                 "freeze|bitfit|parameter_count"),
    "l2sp": (checks.check_l2sp, ["anchor", "l2sp_penalty"], "anchor|l2sp_penalty"),
    "distillation": (checks.check_distillation, ["distillation_loss", "teacher_logits"],
                     "distillation_loss|teacher_logits"),
    "probing": (checks.check_probing, ["first_pieces", "control_labels", "probe_score"],
                "first_pieces|control_labels|probe_score"),
    "multitask": (checks.check_multitask, ["task_probabilities", "task_schedule", "MultiTask"],
                  "task_probabilities|task_schedule|MultiTask"),
}

globals().update(contract_tests(CHECKS, MUTANTS, DIAGNOSES, module=checks,
                                solution=SOLUTION, min_mutants=4))
globals().update(hidden_block_tests(CHECKS, solution=SOLUTION))


# ---------------------------------------------------------------- half-done exercises

def test_half_done_adapters_name_the_missing_function(solution):
    with pytest.raises(AssertionError, match=r"(?s)^add_adapters.*not implemented"):
        checks.check_adapters(solution["Adapter"], stub_function)


def test_half_done_multitask_names_the_missing_class(solution):
    with pytest.raises(AssertionError, match=r"(?s)^MultiTask.*not implemented"):
        checks.check_multitask(solution["task_probabilities"], solution["task_schedule"], StubModule)


# ------------------------------------------------------- the references vs the real thing

def test_stored_adapter_output_is_houlsbys_formula():
    stored = expected.case("adaptation", "adapters")
    adapter = nn.Module()
    adapter.down, adapter.up = nn.Linear(checks._H, checks._M), nn.Linear(checks._M, checks._H)
    checks._adapter_weights(adapter)
    h = stored["h"]
    with torch.no_grad():
        want = h + adapter.up(F.gelu(adapter.down(h)))
    assert torch.allclose(stored["out"], want, atol=1e-6)


def test_peft_reference_is_hu_et_al_formula():
    base = nn.Linear(5, 4)
    A, B = torch.randn(3, 5), torch.randn(4, 3)
    ref = checks._peft_linear(base, 3, 6.0, A, B)
    x = torch.randn(2, 5)
    with torch.no_grad():
        assert torch.allclose(ref(x), base(x) + 6.0 / 3 * x @ A.T @ B.T, atol=1e-5)


def test_stored_l2sp_is_li_et_al_formula():
    stored = expected.case("adaptation", "l2sp")
    for k, (alpha, beta, _) in enumerate(checks._L2SP_RUNS):
        model, w0 = checks._l2sp_case(k, checks._plain_anchor)
        value = sum(alpha / 2 * (p - w0[n]).square().sum() if n in w0 else beta / 2 * p.square().sum()
                    for n, p in model.named_parameters() if p.requires_grad)
        assert math.isclose(float(value.detach()), float(stored[f"run{k}/value"]), rel_tol=1e-6)


def test_stored_distillation_is_hintons_formula():
    stored = expected.case("adaptation", "distillation")
    for k, (T, alpha) in enumerate(checks._DISTIL_RUNS):
        s, t, y = checks._distil_inputs(k)
        p = F.softmax(t / T, -1)
        kl = (p * (p.log() - F.log_softmax(s / T, -1))).sum(-1).mean()
        want = alpha * T * T * kl + (1 - alpha) * F.cross_entropy(s, y)
        assert math.isclose(float(want), float(stored[f"run{k}/loss"]), rel_tol=1e-9)


def test_stored_first_pieces_are_the_first_positions():
    stored = expected.case("adaptation", "probing")
    for k, word_ids in enumerate(checks._SENTENCES):
        first = [word_ids.index(w) for w in range(1 + max(w for w in word_ids if w is not None))]
        assert torch.equal(stored[f"s{k}/words"], stored[f"s{k}/states"][first])


def test_lora_answer_built_on_peft_is_refused(solution):
    shortcut = Mutant("lora", "peft_inside", """
import torch.nn as nn
from peft import LoraConfig
from peft.tuners.lora import Linear as PeftLinear

class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        config = LoraConfig(r=r, lora_alpha=alpha)
        self.inner = PeftLinear(base, "default", config=config, r=r, lora_alpha=alpha)
    def forward(self, x):
        return self.inner(x)
""")
    with pytest.raises(AssertionError, match="the implementation this exercise asks for"):
        checks.check_lora(*[apply(shortcut, solution)[n] for n in ("LoRALinear", "add_lora")])
