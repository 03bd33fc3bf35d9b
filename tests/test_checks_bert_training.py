"""The Chapter 4 visible checks for masking, pooling and the optimiser: pass on the solution,
reject every mutant, teach.

For each exercise: the check passes on the solution's definitions; every mutant in
`tests/mutants/bert/training.py` is rejected with an AssertionError naming the function;
a stub is reported as "not implemented"; an answer that calls the library it is compared
with fails saying so. The hidden tests (in solutions/04_bert.md) pass on
the solution and reject at least one mutant each. The checks' own references are tied to
the libraries: transformers' masking collator meets the check's rates, transformers'
Trainer exempts the same parameters from weight decay, sentence-transformers' MiniLM
normalises.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from autograder.checks.bert import _reference as R
from autograder.checks.bert import training as checks
from tests.check_contract import contract_tests, hidden_block_tests
from tests.mutants import apply, stub_function
from tests.mutants.bert.training import DIAGNOSES, MUTANTS, minilm_sentence_transformer

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "04_bert.md"

# exercise id -> (check, names of the learner objects it takes, names its messages use)
CHECKS = {
    "masking": (checks.check_masking, ["mask_tokens"], "mask_tokens"),
    "pooling": (checks.check_pooling, ["mean_pool", "cls_pool", "SentenceClassifier"],
                "mean_pool|cls_pool|SentenceClassifier"),
    "optimizer": (checks.check_optimizer, ["param_groups", "warmup_linear"],
                  "param_groups|warmup_linear"),
}

# the solution fixture and the generic tests (tests/check_contract.py)
globals().update(contract_tests(CHECKS, MUTANTS, DIAGNOSES, module=checks,
                                solution=SOLUTION, min_mutants=5))
globals().update(hidden_block_tests(CHECKS, solution=SOLUTION))


def _check(exercise: str, namespace: dict) -> None:
    check, names, _ = CHECKS[exercise]
    try:
        check(*[namespace[n] for n in names])
    finally:
        torch.set_grad_enabled(True)


# ------------------------------------------------------------------ wrapping the library

WRAPPERS = {
    "masking": ["masking/wraps_collator"],
    "pooling": ["pooling/classifier_wraps_encode", "pooling/mean_wraps_pooling_module"],
    "optimizer": ["optimizer/wraps_schedule", "optimizer/wraps_schedule_imported_early"],
}


@pytest.mark.parametrize("mutant_id", [m for ids in WRAPPERS.values() for m in ids])
def test_check_rejects_an_answer_wrapping_the_library(solution, mutant_id):
    (mutant,) = [m for m in MUTANTS if m.id == mutant_id]
    _, _, names = CHECKS[mutant.exercise]
    with pytest.raises(AssertionError, match=rf"^({names})") as info:
        _check(mutant.exercise, apply(mutant, solution))
    assert "your code calls" in str(info.value) and "yourself" in str(info.value)


def test_the_guard_leaves_the_library_as_it_was(solution):
    import transformers
    import transformers.optimization as optimization

    before = (transformers.get_linear_schedule_with_warmup,
              optimization._get_linear_schedule_with_warmup_lr_lambda,
              checks._pooling_module().forward,
              transformers.DataCollatorForLanguageModeling.torch_mask_tokens)
    for mutant_id in [m for ids in WRAPPERS.values() for m in ids]:
        (mutant,) = [m for m in MUTANTS if m.id == mutant_id]
        with pytest.raises(AssertionError):
            _check(mutant.exercise, apply(mutant, solution))
    assert before == (transformers.get_linear_schedule_with_warmup,
                      optimization._get_linear_schedule_with_warmup_lr_lambda,
                      checks._pooling_module().forward,
                      transformers.DataCollatorForLanguageModeling.torch_mask_tokens)


# ---------------------------------------------------------------- half-done exercises

def test_half_done_pooling_names_the_missing_function(solution):
    with pytest.raises(AssertionError, match=r"(?s)^cls_pool.*not implemented"):
        checks.check_pooling(solution["mean_pool"], stub_function, solution["SentenceClassifier"])


def test_half_done_optimizer_names_the_missing_function(solution):
    with pytest.raises(AssertionError, match=r"(?s)^warmup_linear.*not implemented"):
        checks.check_optimizer(solution["param_groups"], stub_function)


# ------------------------------------------------------- the references vs the libraries

@pytest.mark.parametrize("p", [0.15, 0.3])
def test_transformers_collator_meets_the_masking_rates(p):
    """DataCollatorForLanguageModeling.torch_mask_tokens draws differently from the solution,
    yet passes every rule and rate the check applies: the rates are the library's."""
    from transformers import DataCollatorForLanguageModeling

    ids, special = checks._batch(1, 1000, 256, 1000, checks._V, checks._CLS, checks._SEP,
                                 checks._PAD)
    collator = DataCollatorForLanguageModeling(R.tokenizer(), mlm_probability=p)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        out = collator.torch_mask_tokens(ids.clone(), special_tokens_mask=special)
    checks.examine("DataCollatorForLanguageModeling.torch_mask_tokens", out, holds=[
        *checks._rules(ids, special, checks._V, p),
        *checks._rate_rules(ids, special, checks._MASK, checks._V, p),
        checks._spread(ids, special, checks._MASK, checks._V)])


def test_decay_rule_is_transformers_trainers():
    """The check's rule (trainer_pt_utils.get_parameter_names with nn.LayerNorm and 'bias')
    exempts what transformers' Trainer.get_decay_parameter_names exempts."""
    from transformers import Trainer

    model = checks._tiny()
    decayed = set(Trainer.get_decay_parameter_names(None, model))
    exempt = checks._exempt(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(exempt) == trainable
    assert {n for n, e in exempt.items() if not e} == decayed & trainable


def test_multipliers_are_transformers_formula():
    from transformers.optimization import _get_linear_schedule_with_warmup_lr_lambda as lr_lambda

    for W, T in ((3, 10), (0, 5), (4, 9)):
        want = [lr_lambda(s, num_warmup_steps=W, num_training_steps=T) for s in range(T + 3)]
        assert list(checks._hf_multipliers(W, T, T + 3)) == want


def test_minilm_loads_without_its_normalize_folder():
    """modules.json names 2_Normalize, which the shipped model lacks: sentence-transformers
    loads it anyway (Normalize has no weights) and encode returns unit vectors."""
    assert not (R.minilm_dir() / "2_Normalize").exists()
    model = minilm_sentence_transformer()
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling", "Normalize"]
    norms = checks._st_embeddings().norm(dim=-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-6)


def test_mean_pool_of_minilm_is_the_sentence_embedding_exactly(solution):
    hidden, mask = checks._minilm_hidden()
    pooled = torch.nn.functional.normalize(solution["mean_pool"](hidden, mask), dim=-1)
    assert (pooled - checks._st_embeddings()).abs().max() < 1e-6


def test_the_refused_decay_rule_would_pass_without_the_guard(solution):
    """param_groups built from the Trainer's own decay names is the answer: without the guard
    the check could not tell it from one; with it, it is refused, and the library is restored."""
    from transformers import Trainer

    from tests.mutants import apply
    from tests.mutants.bert.training import MUTANTS

    (mutant,) = [m for m in MUTANTS if m.id == "optimizer/groups_from_trainer"]
    param_groups = apply(mutant, solution)["param_groups"]
    model = checks._tiny()
    got = [[id(p) for p in g["params"]] for g in param_groups(model, 0.3)]
    want = [[id(p) for p in g["params"]] for g in solution["param_groups"](model, 0.3)]
    assert [sorted(g) for g in got] == [sorted(g) for g in want]
    with pytest.raises(AssertionError, match="your code calls Trainer.get_decay_parameter_names"):
        checks.check_optimizer(param_groups, solution["warmup_linear"])
    assert Trainer.get_decay_parameter_names(None, model)  # restored
