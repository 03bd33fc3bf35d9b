"""The Chapter 4 model checks (embeddings, encoder, MLM head, export): pass on the solution,
reject every mutant, teach; and the hidden tests pass on the solution and reject mutants.

For each exercise: the check passes on the solution's definitions; every mutant in
`tests/mutants/bert/model.py` is rejected with an AssertionError naming the learner's
function or class; a stub is reported as "not implemented"; an answer that wraps the
library is rejected. Each hidden-test block passes on the solution and fails on at least
one mutant with the visible check switched off.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.checks.bert import model as checks
from tests.check_contract import contract_tests, hidden_block_tests, run_check
from tests.mutants import StubModule, apply, stub_function
from tests.mutants.bert.model import DIAGNOSES, MUTANTS

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "04_bert.md"

# exercise id -> (check, names of the learner objects it takes, names its messages use)
CHECKS = {
    "embeddings": (checks.check_embeddings, ["BertEmbeddings"], "BertEmbeddings"),
    "encoder": (checks.check_encoder, ["Bert", "load_hf_weights"], "Bert|load_hf_weights"),
    "mlm": (checks.check_mlm_head, ["MLMHead", "mlm_loss"], "MLMHead|mlm_loss"),
    "export": (checks.check_export, ["Bert", "load_hf_weights", "to_hf_state_dict"],
               "Bert|load_hf_weights|to_hf_state_dict"),
}

# the solution fixture and the generic tests (tests/check_contract.py)
globals().update(contract_tests(CHECKS, MUTANTS, DIAGNOSES, module=checks, solution=SOLUTION,
                                min_mutants=5))
globals().update(hidden_block_tests(CHECKS, solution=SOLUTION))


# ------------------------------------------------------------------------ wrapping

# what the message says when an answer calls (or returns) the library itself
_WRAPPED = {
    "embeddings": "your code calls BertEmbeddings.forward",
    "encoder": "your code calls BertModel.forward",
    "mlm": "your code calls BertLMPredictionHead.forward",
    "export": "MiniLM's weights unchanged",  # the library's weights, not the model's
}


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_check_rejects_an_answer_wrapping_the_library(solution, exercise):
    (mutant,) = [m for m in MUTANTS if m.id == f"{exercise}/wrap_library"]
    _, _, names = CHECKS[exercise]
    with pytest.raises(AssertionError, match=rf"^({names})") as info:
        run_check(CHECKS, exercise, apply(mutant, solution))
    assert _WRAPPED[exercise] in str(info.value), str(info.value)


# --------------------------------------------------------------------- export needs 4


def test_export_without_the_encoder_says_it_needs_it(solution):
    with pytest.raises(AssertionError, match=r"(?s)^to_hf_state_dict: .*needs exercise 'encoder'"
                       r".*Bert\(.*not implemented yet"):
        checks.check_export(StubModule, solution["load_hf_weights"], solution["to_hf_state_dict"])


def test_export_with_a_wrong_encoder_says_it_needs_it(solution):
    (mutant,) = [m for m in MUTANTS if m.id == "encoder/relu"]
    namespace = apply(mutant, solution)
    with pytest.raises(AssertionError, match=r"(?s)^to_hf_state_dict: .*needs exercise 'encoder'"
                       r".*check_encoder"):
        checks.check_export(namespace["Bert"], namespace["load_hf_weights"],
                            solution["to_hf_state_dict"])


def test_half_done_mlm_names_the_missing_function(solution):
    with pytest.raises(AssertionError, match=r"(?s)^mlm_loss.*not implemented yet"):
        checks.check_mlm_head(solution["MLMHead"], stub_function)
