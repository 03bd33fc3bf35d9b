"""The Chapter 1 visible checks: pass on the solution, reject every mutant, teach.

For each exercise: the check passes on the solution's definitions; every mutant in
`tests/mutants/word2vec.py` is rejected with an AssertionError naming the function;
a stub (raise NotImplementedError) is reported as "not implemented".
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from autograder import expected
from autograder.checks import word2vec as checks
from autograder.checks._common import diagnose
from tests.check_contract import contract_tests
from tests.mutants import stub_function
from tests.mutants.word2vec import MUTANTS

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "01_word2vec.md"

# exercise id -> (check, names of the learner objects it takes, names its messages use)
CHECKS = {
    "vocab": (checks.check_build_vocab, ["build_vocab"], "build_vocab"),
    "subsample": (checks.check_keep_probability, ["keep_probability"], "keep_probability"),
    "pairs": (checks.check_skipgram_pairs, ["skipgram_pairs"], "skipgram_pairs"),
    "noise": (checks.check_noise, ["noise_distribution", "sample_negatives"],
              "noise_distribution|sample_negatives"),
    "loss": (checks.check_sgns_loss, ["sgns_loss"], "sgns_loss"),
    "model": (checks.check_skipgram_model, ["SkipGram"], "SkipGram"),
    "similar": (checks.check_similarity, ["nearest_neighbours", "analogy"],
                "nearest_neighbours|analogy"),
    "classifier": (checks.check_bag_of_embeddings, ["BagOfEmbeddings"], "BagOfEmbeddings"),
}


# A few mutants whose message must point at THE bug (not merely fail somewhere).
DIAGNOSES = {
    "vocab/gt_min_count": "min_count",
    "vocab/counts_sentences": "occurrences",
    "vocab/most_common_ties": "alphabetical",
    "vocab/two_passes": "generator",
    "vocab/float_when_empty": "dtype=torch.long",
    "vocab/gensim_dictionary": "your code calls Dictionary",
    "vocab/gensim_word2vec_vocab": "your code calls Word2Vec",
    "subsample/discard_as_keep": "DISCARD",
    "subsample/no_clip": "clip",
    "subsample/raw_counts": "frequency",
    "pairs/one_sided": "right-hand",
    "pairs/self_pairs": "itself",
    "pairs/fixed_window": "dynamic window",
    "pairs/b_from_zero": "exclusive",
    "pairs/b_below_window": "exclusive",
    "pairs/flipped_pairs": "CENTER",
    "pairs/ignores_generator": "generator",
    "pairs/positions_not_ids": "positions",
    "noise/no_power": "power",
    "noise/not_renormalised": "renormalised",
    "noise/uniform_sampling": "not uniformly",
    "noise/rows_without_replacement": "WITH replacement",
    "noise/multinomial_default": "without replacement",
    "loss/log_of_sigmoid": "logsigmoid",
    "loss/one_minus_sigmoid": "logsigmoid",
    "loss/epsilon_in_log": "epsilon",
    "loss/negative_sign": "sign error",
    "loss/mean_over_k": "averaged over K",
    "loss/sum_over_batch": "mean over the B rows",
    "loss/missing_unsqueeze": "must match",
    "model/shared_table": "TWO tables",
    "model/context_in_embed": "context is looked up in in_embed",
    "model/negatives_in_embed": "negatives are looked up in in_embed",
    "model/negatives_unused": "negatives are not used",
    "model/default_init": "N(0, 1)",
    "model/both_uniform": "zero",
    "model/sparse_ignored": "sparse",
    "model/vectors_out_embed": "input embeddings",
    "model/vectors_not_copied": "copy",
    "similar/nn_dot_product": "dot product",
    "similar/nn_query_included": "query word itself",
    "similar/nn_skips_top_hit": "dropping the top hit is not enough",
    "similar/nn_normalises_in_place": "in place",
    "similar/nn_reversed_order": "wrong order",
    "similar/gensim_most_similar": "your code calls KeyedVectors.most_similar",
    "similar/gensim_analogy": "your code calls KeyedVectors.most_similar",
    "similar/analogy_a_minus_b": "b - a + c",
    "similar/analogy_no_exclusion": "exclude a, b and c",
    "similar/analogy_excludes_c_only": "exclude a, b and c",
    "similar/analogy_dot_product": "normalise the rows",
    "similar/analogy_raw_offset": "raw vectors",
    "classifier/mean_includes_padding": "padding",
    "classifier/assumes_zero_pad_row": "padding row",
    "classifier/sum_not_mean": "sum",
    "classifier/padding_idx_hardcoded": "padding_idx",
    "classifier/freeze_ignored": "freeze=True",
    "classifier/pretrained_ignored": "pretrained",
    "classifier/from_pretrained_default_freeze": "freezes by default",
    "classifier/from_pretrained_shares_memory": "shares its memory",
}

if importlib.util.find_spec("gensim") is None:  # the guard needs gensim (the data extra)
    DIAGNOSES = {k: v for k, v in DIAGNOSES.items() if "gensim" not in k}

# the solution fixture and the generic tests (tests/check_contract.py)
globals().update(contract_tests(CHECKS, MUTANTS, DIAGNOSES, module=checks,
                                solution=SOLUTION))


# ------------------------------------------------------------------------------ stubs


def test_half_done_noise_names_the_missing_function(solution):
    with pytest.raises(AssertionError, match=r"(?s)^sample_negatives.*not implemented"):
        checks.check_noise(solution["noise_distribution"], stub_function)


def test_model_with_stubbed_loss_says_where(solution):
    namespace = dict(solution)
    namespace["sgns_loss"] = stub_function
    source = (
        "import torch.nn as nn\n"
        "class SkipGram(nn.Module):\n"
        "    def __init__(self, vocab_size, dim, sparse=False):\n"
        "        super().__init__()\n"
        "        self.in_embed = nn.Embedding(vocab_size, dim, sparse=sparse)\n"
        "        self.out_embed = nn.Embedding(vocab_size, dim, sparse=sparse)\n"
        "        nn.init.uniform_(self.in_embed.weight, -0.5 / dim, 0.5 / dim)\n"
        "        nn.init.zeros_(self.out_embed.weight)\n"
        "    def forward(self, center, context, negatives):\n"
        "        return sgns_loss(self.in_embed(center), self.out_embed(context),\n"
        "                         self.out_embed(negatives))\n"
    )
    exec(source, namespace)
    with pytest.raises(AssertionError, match=r"not implemented yet \(raised in `stub_function`\)"):
        checks.check_skipgram_model(namespace["SkipGram"])


# ------------------------------------------------------------------- no answers inside


def test_the_checks_carry_no_reference_implementation():
    """The checks compare with values the solution stored at release time, not with their own
    implementation of an exercise (a learner could import it)."""
    gone = ["_keep", "_unigram", "_sgns", "_scores", "_ls", "_with_scores", "_reference_grads",
            "_gradients", "_cosine_neighbours", "_3cos_add", "_topk_excluding", "_best", "_unit",
            "_neighbour_pairs", "_randomise"]
    assert [name for name in gone if hasattr(checks, name)] == []
    assert set(checks.PROBES) >= {"subsample", "pairs", "noise", "model", "similar/neighbours",
                                  "similar/analogy", "loss/0", "loss/extreme-1"}


def test_the_stored_expected_values_are_current():
    fingerprint = expected.fingerprint(SOLUTION, ROOT / "autograder" / "checks" / "word2vec.py")
    assert expected.stored_fingerprint("word2vec") == fingerprint, "run `course release`"


def test_the_stored_values_are_the_solutions(solution):
    """A probe only calls the solution: rerun on it, it gives what is stored."""
    for name, probe in checks.PROBES.items():
        fresh = expected.generate({name: probe}, solution)
        for key, value in fresh.items():
            stored = checks._stored(name)[key.split("/")[-1]]
            assert torch.equal(stored, value), key


def test_the_square_batch_diagnoses_the_broadcast():
    """center (B, D) * negatives (B, K, D) runs when B == K: the stored relation names it."""
    want = checks._stored("loss/1")
    c, o, n = (want[f].double() for f in checks._LOSS_FIELDS)
    assert n.shape[0] == n.shape[1]
    broadcast = -(F.logsigmoid((c * o).sum(-1)) + F.logsigmoid(-(n * c).sum(-1)).sum(-1)).mean()
    assert "broadcasts center over K" in diagnose(checks._loss_bugs(want), broadcast, (c, o, n))


def test_a_dot_product_ranking_is_named_on_the_random_vectors():
    want = checks._stored("similar/neighbours")
    emb, query = want["emb"], want["query"]
    sims = emb[query] @ emb.T
    sims[torch.arange(len(query)), query] = -float("inf")
    by_dot = sims.topk(5, dim=1).indices
    assert not torch.equal(by_dot, want["neighbours"])
    hint = diagnose(checks._neighbour_bugs(want["neighbours"]), by_dot, (emb, query, 5))
    assert hint is not None and "dot product" in hint
    reordered = diagnose(checks._neighbour_bugs(want["neighbours"]), want["neighbours"].flip(1),
                         (emb, query, 5))
    assert reordered is not None and "wrong order" in reordered


@pytest.mark.skipif(importlib.util.find_spec("gensim") is None, reason="gensim not installed")
def test_gensim_works_again_after_a_refused_call(solution):
    from gensim.corpora import Dictionary
    from gensim.models import KeyedVectors, Word2Vec

    from tests.mutants import apply
    from tests.mutants.word2vec import MUTANTS

    before = (KeyedVectors.most_similar, Word2Vec.__init__, Dictionary.__init__)
    (mutant,) = [m for m in MUTANTS if m.id == "similar/gensim_analogy"]
    with pytest.raises(AssertionError, match="your code calls"):
        checks.check_similarity(*[apply(mutant, solution)[n] for n in ("nearest_neighbours",
                                                                         "analogy")])
    assert (KeyedVectors.most_similar, Word2Vec.__init__, Dictionary.__init__) == before
    assert Dictionary([["a", "b", "a"]]).cfs == {0: 2, 1: 1}
