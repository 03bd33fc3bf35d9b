"""The Chapter 3 (Transformer) visible checks: pass on the solution, reject every mutant, teach.

For each exercise: the check passes on the solution's definitions; every mutant in
`tests/mutants/transformer.py` is rejected with an AssertionError naming the function and
the likely bug (a mutant that calls the library implementation the exercise asks for is
told so); a stub (raise NotImplementedError) is reported as "not implemented". The checks
hold no implementation of an exercise: the values they read from the library
(F.scaled_dot_product_attention's weights, nn.MultiheadAttention, nn.Transformer's mask)
and from the stored expected values agree with the formulas written out here (tests do
not ship), the stored values are the solution's and the linear schedule's are
transformers.get_linear_schedule_with_warmup's, and every wrong alternative a diagnosis
names really differs from the right answer. TRANSFORMER_SOLUTION points the tests at
another solution file (any notebook `course.loader` reads).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from autograder.checks import _common
from autograder.checks import transformer as checks
from tests.check_contract import contract_tests, run_check
from tests.mutants import StubModule, apply, stub_function
from tests.mutants.transformer import MUTANTS

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = Path(os.environ.get("TRANSFORMER_SOLUTION", ROOT / "solutions" / "03_transformer.md"))

# exercise id -> (check, names of the objects it takes, names its messages start with)
CHECKS = {
    "attention": (checks.check_attention, ["scaled_dot_product_attention"],
                  "scaled_dot_product_attention"),
    "heads": (checks.check_heads, ["split_heads", "merge_heads"], "split_heads|merge_heads"),
    "mha": (checks.check_multi_head_attention, ["MultiHeadAttention"], "MultiHeadAttention"),
    "positions": (checks.check_sinusoidal_positions, ["sinusoidal_positions"],
                  "sinusoidal_positions"),
    "encoder": (checks.check_encoder_layer, ["EncoderLayer"], "EncoderLayer"),
    "causal_lm": (checks.check_causal_lm, ["causal_mask", "CausalTransformerLM"],
                  "causal_mask|CausalTransformerLM"),
    "schedules": (checks.check_schedules, ["linear_warmup_decay", "inverse_sqrt_schedule"],
                  "linear_warmup_decay|inverse_sqrt_schedule"),
}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(exercise: str, namespace: dict) -> None:
    run_check(CHECKS, exercise, namespace)


# Mutants whose message must point at THE bug (not merely fail somewhere).
DIAGNOSES = {
    "attention/no_scale": "not scaled",
    "attention/scale_by_d": "divided by d_k",
    "attention/softmax_over_queries": "over the queries (dim=-2)",
    "attention/mask_after_softmax": "after the softmax",
    "attention/neg_inf_gives_nan": "-inf",
    "attention/mask_inverted": "inverted",
    "attention/naive_softmax": "overflowed",
    "attention/masked_scores_zero": "set to 0",
    "attention/empty_rows_uniform": "uniform weights",
    "attention/out_from_library": "your code calls torch.nn.functional.scaled_dot_product_attention",
    "attention/library_imported_by_name": "scaled_dot_product_attention (as `sdpa`)",
    "attention/out_from_torch_c_nn": "your code calls torch._C._nn.scaled_dot_product_attention",
    "heads/split_view_not_transpose": "view(B, n_heads, T, D)",
    "heads/split_transpose_wrong_axes": "transpose(1, 2)",
    "heads/split_round_robin": "round robin",
    "heads/merge_without_transpose": "without moving the head axis back",
    "heads/merge_view_non_contiguous": "contiguous",
    "heads/merge_features_interleaved": "interleaved",
    "mha/no_out_proj": "out_proj is not applied",
    "mha/heads_split_with_view": "SEQUENCE",
    "mha/k_v_swapped": "keys and values are swapped",
    "mha/mask_ignored": "mask was not passed",
    "mha/scaled_by_d_model": "1/sqrt(d_model)",
    "mha/one_head": "n_heads was ignored",
    "mha/weights_averaged_over_heads": "not averaged over heads",
    "mha/calls_multi_head_attention_forward": "your code calls torch.nn.functional.multi_head",
    "mha/calls_torch_multihead_attention": "your code calls MultiheadAttention.forward",
    "positions/sin_cos_swapped": "swapped",
    "positions/exponent_pair_index": "pair index i instead of 2i",
    "positions/exponent_per_dimension": "shares one frequency",
    "positions/halves_concatenated": "concatenated halves",
    "positions/base_1000": "not 1000",
    "positions/numpy_float64": "float32",
    "positions/multiplied_not_divided": "multiplied",
    "encoder/pre_norm_residual_after_norm": "NORMALISED input",
    "encoder/post_norm_normalises_sublayer_only": "only the sub-layer output was normalised",
    "encoder/norm_first_ignored": "norm_first was ignored",
    "encoder/one_norm_for_both_sublayers": "norm1 was used for both sub-layers",
    "encoder/one_layernorm_module": "its own LayerNorm",
    "encoder/no_relu": "ReLU",
    "encoder/mask_not_passed": "mask was not passed",
    "encoder/norms_swapped": "swapped",
    "encoder/calls_torch_encoder_layer": "your code calls TransformerEncoderLayer.forward",
    "causal_lm/mask_triu": "FUTURE",
    "causal_lm/mask_without_diagonal": "diagonal is missing",
    "causal_lm/mask_true_is_blocked": "True = blocked",
    "causal_lm/mask_not_passed": "without the causal mask",
    "causal_lm/no_positions": "no position embeddings",
    "causal_lm/untied_head": "tie the weights",
    "causal_lm/no_final_norm": "final LayerNorm is missing",
    "causal_lm/embeddings_default_init": "normal(0, 0.02)",
    "causal_lm/inline_mask_without_diagonal": "leaves out the diagonal",
    "causal_lm/torch_transformer_encoder": "your code calls TransformerEncoder.forward",
    "causal_lm/torch_encoder_layers": "your code calls TransformerEncoderLayer.forward",
    "schedules/warmup_exponent_half": "exponent -1.5",
    "schedules/no_d_model_factor": "d_model^-0.5 is missing",
    "schedules/noam_max_not_min": "min of the two",
    "schedules/linear_off_by_one": "off by one",
    "schedules/decay_ends_at_total_minus_warmup": "reaches 0 at step total_steps - warmup_steps",
    "schedules/no_clamp_after_total": "clamp",
    "schedules/decay_over_total_steps": "divides by total_steps",
    "schedules/linear_from_transformers": "your code calls LambdaLR.get_lr",
}

# the solution fixture and the generic tests (tests/check_contract.py)
globals().update(contract_tests(CHECKS, MUTANTS, DIAGNOSES, module=checks,
                                solution=SOLUTION, min_mutants=4))


def test_every_mutant_has_a_diagnosis():
    assert set(DIAGNOSES) == {m.id for m in MUTANTS}


def test_messages_show_where_and_how_far(solution):
    (mutant,) = [m for m in MUTANTS if m.id == "mha/k_v_swapped"]
    with pytest.raises(AssertionError) as info:
        _run("mha", apply(mutant, solution))
    message = str(info.value)
    assert message.startswith("MultiHeadAttention(12, 3): forward(x (2, 5, 12), mask=None)")
    assert "nn.MultiheadAttention" in message and "max abs diff" in message
    assert "expected: tensor of shape (2, 5, 12)" in message


# ------------------------------------------------------------------------------ stubs

def test_half_done_exercises_name_the_missing_part(solution):
    with pytest.raises(AssertionError, match=r"(?s)^CausalTransformerLM.*not implemented yet"):
        checks.check_causal_lm(solution["causal_mask"], StubModule)
    with pytest.raises(AssertionError, match=r"(?s)^merge_heads.*not implemented yet"):
        checks.check_heads(solution["split_heads"], stub_function)
    with pytest.raises(AssertionError, match=r"(?s)^inverse_sqrt_schedule.*not implemented yet"):
        checks.check_schedules(solution["linear_warmup_decay"], stub_function)


# --------------------------------------------------------------- the check's own facts

def _qkv(seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, 3, 4, 8, generator=g, dtype=dtype),
            torch.randn(2, 3, 6, 8, generator=g, dtype=dtype),
            torch.randn(2, 3, 6, 5, generator=g, dtype=dtype))


def _attention_by_formula(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v written out (the tests do not ship)."""
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, torch.finfo(s.dtype).min)
    w = torch.softmax(s, dim=-1)
    if mask is not None:
        w = w.masked_fill(~mask.any(-1, keepdim=True), 0.0)
    return w @ v, w


def test_attention_reference_is_the_formula_and_the_alternatives_are_wrong():
    q, k, v = _qkv()
    mask = torch.rand(4, 6, generator=torch.Generator().manual_seed(1)) > 0.5
    mask[0] = False  # a query with no key: PyTorch gives 0, and so does the formula
    for m in (None, mask):
        out, w = checks._library_attention(q, k, v, m)
        want_out, want_w = _attention_by_formula(q, k, v, m)
        assert torch.allclose(out, want_out, atol=1e-12)
        assert torch.allclose(w, want_w, atol=1e-12)
    # each wrong alternative really differs from the right answer (or its hint could mislead)
    right = _attention_by_formula(q, k, v, mask)
    for alternative, hint in checks._attention_alternatives(q, k, v, mask):
        assert not _common.close(alternative()[0], right[0]), hint


def _filled_mha(C=12, H=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    lins = {n: nn.Linear(C, C) for n in checks._PROJ}
    for lin in lins.values():
        checks._fill_linear(lin, g, 0.5)
    return lins, g


def test_mha_alternatives_differ_from_pytorchs_mha():
    lins, g = _filled_mha()
    ref = checks._torch_mha(lins, 12, 3)
    x = torch.randn(2, 5, 12, generator=g)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    for mask, kw in ((None, {}), (causal, {"attn_mask": ~causal})):
        with torch.no_grad():
            want = ref(x, x, x, need_weights=False, **kw)[0]
        assert torch.allclose(checks._library_mha(lins, x, mask, 3), want, atol=1e-6)
        for alt, hint in checks._mha_alternatives(lins, x, 3, mask):
            assert not _common.close(alt(), want), hint
    # a query that may attend to no key gets out_proj(0), as the exercise defines it
    none = causal.clone()
    none[0] = False
    y = checks._library_mha(lins, x, none, 3)
    assert torch.allclose(y[:, 0], lins["out_proj"].bias.detach().expand(2, 12))
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_alternatives_differ_from_pytorchs_layer(solution, norm_first):
    g = torch.Generator().manual_seed(5)
    layer = solution["EncoderLayer"](12, 3, 20, dropout=0.1, norm_first=norm_first)
    checks._fill_encoder(layer, g)
    layer.eval()
    ref = checks._torch_encoder(layer, 12, 3, 20, norm_first)
    x = torch.randn(2, 5, 12, generator=g)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    want = checks._run_torch_encoder(ref, x, causal, 3)
    with torch.no_grad():
        assert torch.allclose(layer(x, causal), want, atol=1e-5)
    for alt, hint in checks._encoder_alternatives(layer, x, 3, causal, norm_first):
        assert not _common.close(alt(), want), hint


def test_causal_mask_reference_is_the_lower_triangle():
    for T in (1, 4, 6):
        assert torch.equal(checks._library_causal(T), torch.ones(T, T, dtype=torch.bool).tril())


def _stored(probe):
    return checks.expected.case("transformer", probe)


def test_stored_values_are_the_solutions(solution):
    """The stored file is what the probes give on this solution now (not stale)."""
    from autograder import expected

    fresh = expected.generate(checks.PROBES, solution)
    stored = {f"{name}/{field}": value for name in checks.PROBES
              for field, value in _stored(name).items()}
    assert set(fresh) == set(stored)
    for key, value in fresh.items():
        # within the tolerance the checks grade float32 with: another CPU's kernels (AVX2
        # against AVX-512) sum in another order, and the values pass through several layers
        atol, rtol = (checks.ATOL, checks.RTOL) if value.dtype == torch.float32 else (1e-12, 0)
        assert torch.allclose(value.double(), stored[key].double(), atol=atol, rtol=rtol, equal_nan=True), key


def test_stored_heads_are_feature_blocks():
    for B, T, C, H in checks._HEADS_CASES:
        got = _stored(f"heads/{B}x{T}x{C}/{H}")
        D = C // H
        for h in range(H):
            assert torch.equal(got["heads"][:, h], got["x"][..., h * D:(h + 1) * D])


def test_stored_positions_are_the_formula_and_the_alternatives_are_wrong():
    for n, d in checks._POSITIONS_CASES:
        pe = _stored(f"positions/{n}x{d}")["table"]
        for t in range(min(n, 10)):
            for i in range(d // 2):
                angle = t / 10000 ** (2 * i / d)
                assert math.isclose(pe[t, 2 * i].item(), math.sin(angle), abs_tol=1e-6)
                assert math.isclose(pe[t, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-6)
        if n > 1 and d >= 4:  # for d = 2 some wrong formulas coincide with the right one
            for alt, hint in checks._pe_alternatives(pe):
                assert not _common.close(alt(), pe), hint


def test_stored_lm_alternatives_differ_from_the_logits():
    for key, (norm_first, _) in checks._LM_CONFIGS.items():
        stored = _stored(f"causal_lm/{key}")
        names = {k[2:] for k in stored if k.startswith("w/")}
        assert names == set(checks._lm_shapes(*checks._LM_CONFIGS[key]))
        bugs = [bug for bug, _ in checks._LM_ALTERNATIVES if f"alt/{bug}" in stored]
        assert ("final_norm" in bugs) == norm_first and len(bugs) >= 6
        for bug in bugs:
            assert not _common.close(stored[f"alt/{bug}"], stored["logits"]), (key, bug)


def test_linear_reference_is_transformers_schedule():
    from transformers import get_linear_schedule_with_warmup

    for warmup, total in checks._LINEAR_CASES:
        stored = _stored(f"schedules/linear/{warmup}_{total}")
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = get_linear_schedule_with_warmup(opt, warmup, total)
        for step, value in zip(stored["steps"].tolist(), stored["values"].tolist()):
            assert math.isclose(opt.param_groups[0]["lr"], value, abs_tol=1e-12), (warmup, step)
            opt.step()
            sched.step()


def test_noam_reference_is_vaswanis_formula():
    for d, w, steps in checks._NOAM_CASES:
        stored = _stored(f"schedules/noam/{d}_{w}")
        assert stored["steps"].tolist() == list(steps)
        for s, value in zip(steps, stored["values"].tolist()):
            assert math.isclose(value, d ** -0.5 * min(s ** -0.5, s * w ** -1.5), rel_tol=1e-12)
        at = [{k: v[i].item() for k, v in stored.items()} for i in range(len(steps))]
        for alt, hint in checks._NOAM_ALTERNATIVES:
            assert any(not checks._agree(checks._value_or_nan(alt, s, d, w, a), a["values"])
                       for s, a in zip(steps, at)), hint


# ----------------------------------------------------------------- shortcut guards

def test_guards_restore_the_library_and_the_learners_names(solution):
    import torch.nn.functional as F

    from tests.mutants import apply

    originals = (F.scaled_dot_product_attention, torch._C._nn.scaled_dot_product_attention,
                 nn.MultiheadAttention.forward, nn.TransformerEncoderLayer.forward)
    (mutant,) = [m for m in MUTANTS if m.id == "attention/library_imported_by_name"]
    namespace = apply(mutant, solution)
    with pytest.raises(AssertionError, match="your code calls"):
        checks.check_attention(namespace["scaled_dot_product_attention"])
    assert namespace["sdpa"] is originals[0]
    assert (F.scaled_dot_product_attention, torch._C._nn.scaled_dot_product_attention,
            nn.MultiheadAttention.forward, nn.TransformerEncoderLayer.forward) == originals
    checks.check_attention(solution["scaled_dot_product_attention"])  # still passes after


def test_the_library_function_itself_is_named():
    import torch.nn.functional as F

    with pytest.raises(AssertionError, match="(?s)^scaled_dot_product_attention.*itself"):
        checks.check_attention(F.scaled_dot_product_attention)


def test_checks_run_on_one_thread_and_restore_the_setting(solution):
    import inspect

    threads = torch.get_num_threads()
    seen = []

    def spy(step, warmup_steps, total_steps):
        seen.append(torch.get_num_threads())
        return solution["linear_warmup_decay"](step, warmup_steps, total_steps)

    torch.set_num_threads(2)
    try:
        checks.check_schedules(spy, solution["inverse_sqrt_schedule"])
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    # the decorator keeps the signature the notebooks and docs show
    assert list(inspect.signature(checks.check_causal_lm).parameters) == [
        "causal_mask", "CausalTransformerLM"]


def test_checks_leave_the_learners_model_settings_alone(solution):
    """A check builds its own modules: the learner's classes and global state are untouched."""
    mode = torch.is_grad_enabled()
    checks.check_encoder_layer(solution["EncoderLayer"])
    assert torch.is_grad_enabled() == mode
    assert torch.get_default_dtype() == torch.float32
