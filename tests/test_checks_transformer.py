"""The Chapter 3 (Transformer) visible checks: pass on the solution, reject every mutant, teach.

For each exercise: the check passes on the solution's definitions; every mutant in
`tests/mutants/transformer.py` is rejected with an AssertionError naming the function and
the likely bug; a stub (raise NotImplementedError) is reported as "not implemented". The
checks' own float64 references agree with PyTorch (F.scaled_dot_product_attention,
nn.MultiheadAttention, nn.TransformerEncoderLayer) and the linear schedule with
transformers.get_linear_schedule_with_warmup. TRANSFORMER_SOLUTION points the tests at
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
    "causal_lm/mask_triu": "FUTURE",
    "causal_lm/mask_without_diagonal": "diagonal is missing",
    "causal_lm/mask_true_is_blocked": "True = blocked",
    "causal_lm/mask_not_passed": "without the causal mask",
    "causal_lm/no_positions": "no position embeddings",
    "causal_lm/untied_head": "tie the weights",
    "causal_lm/no_final_norm": "final LayerNorm is missing",
    "causal_lm/embeddings_default_init": "normal(0, 0.02)",
    "causal_lm/inline_mask_without_diagonal": "leaves out the diagonal",
    "schedules/warmup_exponent_half": "exponent -1.5",
    "schedules/no_d_model_factor": "d_model^-0.5 is missing",
    "schedules/noam_max_not_min": "min of the two",
    "schedules/linear_off_by_one": "off by one",
    "schedules/decay_ends_at_total_minus_warmup": "reaches 0 at step total_steps - warmup_steps",
    "schedules/no_clamp_after_total": "clamp",
    "schedules/decay_over_total_steps": "divides by total_steps",
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


def test_attention_reference_is_pytorchs():
    q, k, v = _qkv()
    mask = torch.rand(4, 6, generator=torch.Generator().manual_seed(1)) > 0.5
    mask[0] = False  # a query with no key: PyTorch gives 0, and so does the reference
    for m in (None, mask):
        out, w = checks._attn64(q, k, v, m)
        want = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m)
        assert torch.allclose(out, want, atol=1e-12)
        rows = w.sum(-1)  # 1 for every query that may attend to some key, else 0
        allowed = torch.ones(4, dtype=torch.bool) if m is None else m.any(-1)
        assert torch.allclose(rows, allowed.double().expand_as(rows), atol=1e-12)
    # each wrong alternative really differs from the right answer (or its hint could mislead)
    right = checks._attn64(q, k, v, mask)
    for kwargs, hint in checks._attention_alternatives(q, k, v, mask):
        kwargs = dict(kwargs)
        alt = checks._attn64(q, k, v, kwargs.pop("mask", mask), **kwargs)
        assert not _common.close(alt[0], right[0]), hint


def _filled_mha(C=12, H=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    lins = {n: nn.Linear(C, C) for n in checks._PROJ}
    for lin in lins.values():
        checks._fill_linear(lin, g, 0.5)
    return lins, g


def test_mha_reference_is_pytorchs():
    lins, g = _filled_mha()
    ref = checks._torch_mha(lins, 12, 3)
    P = {f"{n}.{p}": getattr(lin, p).detach().double() for n, lin in lins.items()
         for p in ("weight", "bias")}
    x = torch.randn(2, 5, 12, generator=g)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    for mask, kw in ((None, {}), (causal, {"attn_mask": ~causal})):
        with torch.no_grad():
            want = ref(x, x, x, need_weights=False, **kw)[0]
        assert torch.allclose(checks._mha64(x, P, 3, mask).float(), want, atol=1e-5)
        for alt, hint in checks._mha_alternatives(x, P, 3, mask):
            assert not _common.close(alt(), want), hint


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_reference_is_pytorchs(norm_first):
    layer = nn.TransformerEncoderLayer(12, 3, 20, dropout=0.0, batch_first=True,
                                       norm_first=norm_first)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, p in layer.named_parameters():  # LayerNorm gains near 1, the rest near 0
            p.copy_(torch.randn(p.shape, generator=g) * 0.3 + ("norm" in name and "weight" in name))
    layer.eval()
    P = {n.removeprefix("self_attn."): p.detach().double()
         for n, p in layer.named_parameters() if "in_proj" not in n}
    C = 12
    for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
        P[f"{name}.weight"] = layer.self_attn.in_proj_weight[i * C:(i + 1) * C].detach().double()
        P[f"{name}.bias"] = layer.self_attn.in_proj_bias[i * C:(i + 1) * C].detach().double()
    x = torch.randn(2, 5, C, generator=g)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    want = layer(x, src_mask=~causal).detach()
    assert torch.allclose(checks._encoder64(x, P, 3, causal, norm_first).float(), want,
                          atol=1e-5)
    for alt, hint in checks._encoder_alternatives(x, P, 3, causal, norm_first, 1e-5):
        assert not _common.close(alt(), want), hint


def test_positions_reference_is_the_formula():
    pe = checks._pe64(10, 6)
    for t in range(10):
        for i in range(3):
            angle = t / 10000 ** (2 * i / 6)
            assert math.isclose(pe[t, 2 * i].item(), math.sin(angle), abs_tol=1e-12)
            assert math.isclose(pe[t, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-12)
    for alt, hint in checks._pe_alternatives(10, 6):
        assert not _common.close(alt(), pe), hint


def test_lm_reference_is_the_solution_model(solution):
    for norm_first, positions in ((True, "learned"), (False, "sinusoidal")):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = solution["CausalTransformerLM"](23, **dict(checks._LM, norm_first=norm_first,
                                                               positions=positions)).eval()
        ids = torch.randint(0, 23, (2, 7), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            assert torch.allclose(model(ids), checks._lm_ref(model, ids), atol=1e-6)


def test_linear_reference_is_transformers_schedule():
    from transformers import get_linear_schedule_with_warmup

    for warmup, total in ((10, 50), (0, 20), (3, 4), (5, 5), (7, 3)):
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = get_linear_schedule_with_warmup(opt, warmup, total)
        for step in range(total + 8):
            assert math.isclose(opt.param_groups[0]["lr"], checks._linear_ref(step, warmup, total),
                                abs_tol=1e-12), (warmup, total, step)
            opt.step()
            sched.step()


def test_noam_reference_is_vaswanis_formula():
    d, w = 512, 4000
    curve = [checks._noam_ref(s, d, w) for s in range(1, 3 * w)]
    assert max(range(len(curve)), key=curve.__getitem__) + 1 == w  # peak at the warm-up end
    assert math.isclose(checks._noam_ref(w, d, w), (d * w) ** -0.5)  # the branches meet
    assert math.isclose(checks._noam_ref(4 * w, d, w) / checks._noam_ref(w, d, w), 0.5)
    for alt, hint in checks._NOAM_ALTERNATIVES:
        assert any(not checks._agree(alt(s, 64, 10), checks._noam_ref(s, 64, 10))
                   for s in range(1, 41)), hint


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
