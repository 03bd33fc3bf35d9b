"""The Chapter 2 (ELMo) visible checks: pass on the solution, reject every mutant, teach.

For each exercise: the check passes on the solution's definitions; every mutant in
`tests/mutants/elmo.py` is rejected with an AssertionError naming the function; a stub
(raise NotImplementedError) is reported as "not implemented". ELMO_SOLUTION points the
tests at another solution file (any notebook `course.loader` reads).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from autograder import expected
from autograder.checks import elmo as checks
from tests.check_contract import contract_tests
from tests.mutants import StubModule, apply, stub_function
from tests.mutants.elmo import MUTANTS

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = Path(os.environ.get("ELMO_SOLUTION", ROOT / "solutions" / "02_elmo.md"))

# exercise id -> (check, names of the objects it takes, names its messages start with)
CHECKS = {
    "charids": (checks.check_char_ids, ["char_ids"], "char_ids"),
    "highway": (checks.check_highway, ["Highway"], "Highway"),
    "charcnn": (checks.check_char_cnn, ["CharCNN"], "CharCNN"),
    "targets": (checks.check_lm_targets, ["lm_targets"], "lm_targets"),
    "loss": (checks.check_bilm_loss, ["bilm_loss"], "bilm_loss"),
    "scalarmix": (checks.check_scalar_mix, ["ScalarMix"], "ScalarMix"),
    "features": (checks.check_contextual_features, ["contextual_features", "BiLM"],
                 "contextual_features"),
    "tagger": (checks.check_tagger, ["Tagger", "span_f1"], "Tagger|span_f1"),
}


# Mutants whose message must point at THE bug (not merely fail somewhere).
DIAGNOSES = {
    "charids/eow_lost_on_truncation": "EOW was cut off",
    "charids/no_bow": "start with BOW",
    "charids/pads_with_ones": "PAD = 0",
    "charids/ord_not_bytes": "UTF-8 bytes",
    "charids/no_offset": "offset 3",
    "charids/truncates_one_short": "EOW",
    "highway/gate_wrong_branch": "wrong branch",
    "highway/no_carry": "carry term",
    "highway/gate_without_sigmoid": "sigmoid",
    "highway/split_swapped": "[transform | gate]",
    "highway/zero_gate_bias": "gate bias negative",
    "highway/one_layer_repeated": "repeats ONE layer",
    "highway/first_layer_only": "only the first layer",
    "highway/first_layer_twice": "applied twice",
    "charcnn/max_over_channels": "max over the LAST dim",
    "charcnn/mean_pool": "mean over character positions",
    "charcnn/tokens_mixed": "independently",
    "charcnn/output_reshaped_wrong": "independently",
    "charcnn/no_highway": "highway is skipped",
    "charcnn/no_relu": "ReLU",
    "charcnn/no_padding_idx": "padding_idx=0",
    "charcnn/no_relu_no_highway": "both skipped",
    "targets/bwd_sees_current": "sees the current token",
    "targets/fwd_shifted_wrong_way": "wrong way",
    "targets/padding_not_ignored": "padding positions",
    "targets/roll_wraps_around": "torch.roll",
    "targets/padding_by_id": "`lengths`",
    "targets/last_real_token_kept": "last real token",
    "loss/sum_not_mean": "summed",
    "loss/forward_only": "only the forward",
    "loss/padding_counted": "padding was counted",
    "loss/pooled_tokens": "pooled",
    "loss/log_of_softmax": "not stable",
    "loss/ignored_scored_as_word_0": "word 0",
    "scalarmix/no_softmax": "softmax",
    "scalarmix/softmax_wrong_axis": "size-1 axis",
    "scalarmix/no_gamma": "gamma is missing",
    "scalarmix/layer_norm_counts_padding": "UNMASKED",
    "scalarmix/layer_norm_per_token": "per token",
    "scalarmix/scalars_detached": "self.scalars must be learned",
    "scalarmix/weights_reversed": "reverse order",
    "scalarmix/layer_norm_unbiased": "N - 1",
    "scalarmix/layer_norm_per_batch": "whole batch",
    "scalarmix/layer_norm_after_mix": "applied to the mix",
    "features/train_mode": "bilm.eval()",
    "features/grad_kept": "torch.no_grad()",
    "features/grad_switched_off_globally": "without `with`",
    "features/backward_not_realigned": "reading order",
    "features/flipped_over_padding": "lengths[b]",
    "features/directions_swapped": "forward half",
    "features/no_token_layer": "layer 0",
    "tagger/mask_ignored": "padded positions",
    "tagger/padding_leaks_into_lstm": "pack_padded_sequence",
    "tagger/padding_leaks_into_mix": "padded positions",
    "tagger/lstm_not_batch_first": "batch_first",
    "tagger/top_layer_only": "every feature layer",
    "tagger/span_f1_token_accuracy": "token accuracy",
    "tagger/span_f1_ignores_type": "wrong type",
    "tagger/span_f1_mean_over_sentences": "micro-averaged",
    "tagger/span_f1_type_runs": "adjacent",
    "tagger/span_f1_percent": "percentage",
}

# the solution fixture and the generic tests (tests/check_contract.py)
globals().update(contract_tests(CHECKS, MUTANTS, DIAGNOSES, module=checks, solution=SOLUTION,
                                stubbable=sorted(set(CHECKS) - {"features"})))


def test_every_mutant_has_a_diagnosis():
    assert set(DIAGNOSES) == {m.id for m in MUTANTS}


# ------------------------------------------------------------------------------ stubs


def test_features_stub_says_not_implemented(solution):
    with pytest.raises(AssertionError, match=r"(?s)^contextual_features.*not implemented yet"):
        checks.check_contextual_features(stub_function, solution["BiLM"])


def test_half_done_tagger_names_span_f1(solution):
    with pytest.raises(AssertionError, match=r"(?s)^span_f1.*not implemented yet"):
        checks.check_tagger(solution["Tagger"], stub_function)


def test_char_cnn_with_stubbed_highway_says_where(solution):
    namespace = dict(solution)
    namespace["Highway"] = StubModule
    namespace = apply(next(m for m in MUTANTS if m.id == "charcnn/no_relu"), namespace)
    with pytest.raises(AssertionError, match=r"^CharCNN.*not implemented yet"):
        checks.check_char_cnn(namespace["CharCNN"])


# --------------------------------------------------------------- the check's own facts

def test_span_f1_cases_agree_with_seqeval():
    from seqeval.metrics import f1_score

    stored = expected.case("elmo", "span_f1")
    for i, (gold, pred, accuracy, _) in enumerate(checks._F1_CASES):
        want = float(stored[f"f1_{i}"])
        assert abs(f1_score(gold, pred) - want) < 1e-9, (gold, pred)
        pairs = [(g, p) for gs, ps in zip(gold, pred) for g, p in zip(gs, ps)]
        assert abs(sum(g == p for g, p in pairs) / len(pairs) - accuracy) < 1e-9, (gold, pred)
        # where spans and tokens disagree, token accuracy differs from the entity F1
        assert want == 1.0 or abs(accuracy - want) > 0.05, (gold, pred)


def test_stored_values_are_the_solutions(solution):
    """autograder/expected/elmo.safetensors holds what the probes give on the solution now."""
    fresh = expected.generate(checks.PROBES, solution)
    stored = {f"{probe}/{field}": value for probe in checks.PROBES
              for field, value in expected.case("elmo", probe).items()}
    assert set(fresh) == set(stored)
    for key, value in fresh.items():
        assert value.dtype == stored[key].dtype and torch.allclose(
            value.double(), stored[key].double(), atol=1e-12, rtol=0), key


def test_stored_values_agree_with_torch():
    """The stored right answers agree with the library and the paper's formulas."""
    F = torch.nn.functional
    loss = expected.case("elmo", "loss")
    for i in range(len(checks._LOSS_SCALES)):
        parts = [F.cross_entropy(loss[f"{d}_logits{i}"].double().flatten(0, 1),
                                 loss[f"{d}_targets"].flatten(), ignore_index=-100)
                 for d in ("fwd", "bwd")]
        assert torch.allclose(loss[f"loss{i}"], (parts[0] + parts[1]) / 2, atol=1e-12)
    hw = expected.case("elmo", "highway")
    dim = checks._HW_DIM
    assert torch.allclose(hw["closed"], hw["x"].double(), atol=1e-9)  # the gate shut: carry
    z = hw["x"].double() @ hw["weight"].double().T + hw["bias"].double()
    assert torch.allclose(hw["open"], torch.relu(z[..., :dim]), atol=1e-9)  # wide open
    mix = expected.case("elmo", "scalarmix")
    x, w = mix["layers"].double(), torch.softmax(mix["scalars"].double(), 0)
    assert torch.allclose(mix["mix"], mix["gamma"].double() * torch.einsum("l,lbtd->btd", w, x))
    assert torch.allclose(mix["ln_per_token"],
                          mix["gamma"].double() * torch.einsum("l,lbtd->btd", w,
                                                               F.layer_norm(x, x.shape[-1:])),
                          atol=1e-4)


def test_checks_module_carries_no_reference():
    """No function of the shipped checks computes an exercise's answer (issue 13): the old
    references are gone, the char ids and right outputs come from the stored values."""
    for gone in ("_word_ids", "_chars", "_highway_ref", "_highway_parts", "_charcnn_ref",
                 "_bilm_ref", "_ce_parts", "_ln_ref", "_mix_ref", "_token_accuracy"):
        assert not hasattr(checks, gone), gone


def test_features_check_accepts_an_instance_and_size_overrides(solution):
    bilm_cls = solution["BiLM"]
    checks.check_contextual_features(solution["contextual_features"], bilm_cls, n_layers=1)
    import inspect

    params = inspect.signature(bilm_cls).parameters
    small = {k: v for k, v in checks._BILM_SMALL.items() if k in params}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        instance = bilm_cls(**small)
    before = {k: v.clone() for k, v in instance.state_dict().items()}
    checks.check_contextual_features(solution["contextual_features"], instance)
    after = instance.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "the check changed the model"


def test_checks_run_on_one_thread_and_restore_the_setting():
    import inspect

    threads = torch.get_num_threads()
    seen = []
    torch.set_num_threads(2)
    try:
        checks.check_lm_targets(lambda ids, lengths: seen.append(torch.get_num_threads())
                                or _reference_lm_targets(ids, lengths))
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    # the decorator keeps the signature the notebooks and docs show
    assert list(inspect.signature(checks.check_tagger).parameters) == ["Tagger", "span_f1"]


def _reference_lm_targets(ids, lengths):
    pos = torch.arange(ids.shape[1])[None, :]
    fwd, bwd = torch.full_like(ids, -100), torch.full_like(ids, -100)
    fwd[:, :-1], bwd[:, 1:] = ids[:, 1:], ids[:, :-1]
    fwd[pos >= lengths[:, None] - 1] = -100
    bwd[(pos >= lengths[:, None]) | (pos == 0)] = -100
    return fwd, bwd
