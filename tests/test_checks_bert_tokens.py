"""The Chapter 4 visible checks for tokens (wordpiece, pairs, token_labels): pass on the
solution, reject every mutant, teach; the hidden-test blocks pass on the solution and each
rejects a mutant on its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.checks.bert import tokens as checks
from tests.check_contract import contract_tests, hidden_block_tests
from tests.mutants import Mutant, apply
from tests.mutants.bert.tokens import DIAGNOSES, MUTANTS

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "04_bert.md"

# exercise id -> (check, names of the learner objects it takes, names its messages use)
CHECKS = {
    "wordpiece": (checks.check_wordpiece, ["basic_tokenize", "wordpiece"],
                  "basic_tokenize|wordpiece"),
    "pairs": (checks.check_pair_encoding, ["truncate_pair", "encode_pair", "pad_batch"],
              "truncate_pair|encode_pair|pad_batch"),
    "token_labels": (checks.check_token_labels,
                     ["encode_words", "align_labels", "word_predictions"],
                     "encode_words|align_labels|word_predictions"),
}

# the solution fixture and the generic tests (tests/check_contract.py)
globals().update(contract_tests(CHECKS, MUTANTS, DIAGNOSES, module=checks,
                                solution=SOLUTION, min_mutants=5))
globals().update(hidden_block_tests(CHECKS, solution=SOLUTION))


# ------------------------------------------------------------------ wrapping the library

_WRAPPERS = {
    "wordpiece": """
from autograder.checks.bert import _reference as _R
def basic_tokenize(text):
    return _R.tokenizer().tokenize(text)
""",
    "pairs": """
from autograder.checks.bert import _reference as _R
def encode_pair(ids_a, ids_b, cls_id, sep_id, max_length=512):
    tok = _R.tokenizer()
    enc = tok(tok.decode(ids_a), None if ids_b is None else tok.decode(ids_b),
              truncation="longest_first", max_length=max_length)
    return enc["input_ids"], enc["token_type_ids"]
""",
    "token_labels": """
from autograder.checks.bert import _reference as _R
def align_labels(word_ids, word_labels):
    _R.tokenizer().convert_tokens_to_ids(["[CLS]"])
    labels, previous = [], None
    for w in word_ids:
        labels.append(-100 if w is None or w == previous else word_labels[w])
        previous = w
    return labels
""",
}


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_check_rejects_an_answer_wrapping_the_library(solution, exercise):
    check, names, pattern = CHECKS[exercise]
    namespace = apply(Mutant(exercise, "wrapper", _WRAPPERS[exercise]), solution)
    with pytest.raises(AssertionError, match=rf"^({pattern})") as info:
        check(*[namespace[n] for n in names])
    message = str(info.value)
    assert "your code calls" in message and "likely bug: the exercise asks you to" in message


def test_the_guard_is_lifted_after_a_check(solution):
    """The library works again after a check (even one that failed inside the guard)."""
    from autograder.checks.bert import _reference

    namespace = apply(Mutant("wordpiece", "wrapper", _WRAPPERS["wordpiece"]), solution)
    with pytest.raises(AssertionError):
        checks.check_wordpiece(namespace["basic_tokenize"], namespace["wordpiece"])
    assert _reference.tokenizer().tokenize("Hello") == ["hello"]


def test_a_mismatching_sentence_is_named_with_both_token_lists(solution):
    """A bug the targeted cases miss is caught on the corpus, naming the sentence."""
    namespace = dict(solution)
    exec("def wordpiece(word, vocab, unk='[UNK]', max_chars=100):\n"
         "    out = _wp(word, vocab, unk, max_chars)\n"
         "    return ['[UNK]'] if word == 'movie' else out\n", namespace)
    namespace["_wp"] = solution["wordpiece"]
    with pytest.raises(AssertionError, match=r"^wordpiece\(w, vocab\) for w in basic_tokenize"
                       ) as info:
        checks.check_wordpiece(namespace["basic_tokenize"], namespace["wordpiece"])
    message = str(info.value)
    assert "sentences()[" in message and "'movie'" in message
    assert "expected:" in message and "got:" in message and "wordpiece('movie', vocab)" in message


def test_library_tokenize_matches_the_rust_backend_on_the_corpus():
    """The corpus answers (tokenizer().tokenize) are the Rust tokenizer's, sentence by sentence."""
    from autograder.checks.bert import _reference

    backend = checks._backend()
    sentences = _reference.sentences()
    encs = backend.encode_batch(list(sentences[:2000]), add_special_tokens=False)
    assert [e.tokens for e in encs] == list(checks._corpus()[:2000])


def test_pairs_cover_the_truncation_regimes():
    """Both sides cut, odd and even budgets, a tie; and a mid-word cut for token labels."""
    seen = set()
    for i, j in checks._pair_indices():
        la, lb = len(checks._ids(i)), len(checks._ids(j))
        for n in checks._budgets(la, lb):
            ids, _, seq = checks._library_pair(i, j, n + 3)
            na, nb = seq.count(0), seq.count(1)
            seen.add(("both cut" if na < la and nb < lb else "one cut" if na + nb < la + lb
                      else "none", n % 2, la == lb))
    assert {("both cut", 0, False), ("both cut", 1, False), ("both cut", 1, True),
            ("one cut", 1, False), ("none", 0, True)} <= seen, seen
    for k in checks._tweets():  # the cut keeps the first piece of a multi-piece word only
        words = checks._library_words_enc(k, checks._cut_inside_a_word(k)).word_ids()
        span = checks._library_words_enc(k, None).word_to_tokens(words[-2])
        assert span.start == len(words) - 2 and span.end - span.start >= 2


def test_stored_labels_and_predictions_follow_the_librarys_word_spans():
    """The stored aligned labels and word-level predictions (the solution's) are the rule
    written out here on the library's word_to_tokens(): a word's label on its first sub-token,
    -100 elsewhere; a word's prediction read at its first sub-token, None for a word cut off."""
    for c, (k, L) in enumerate(checks._label_cases()):
        enc = checks._library_words_enc(k, L)
        words, labels = checks._wnut()[k]
        spans = [enc.word_to_tokens(w) for w in range(len(words))]
        first = {s.start: w for w, s in enumerate(spans) if s is not None}
        aligned, predictions = checks._stored_labels(c, enc.word_ids())
        assert aligned == [labels[first[p]] if p in first else -100
                           for p in range(len(enc["input_ids"]))]
        preds = checks._predictions_input(len(enc["input_ids"]))
        assert predictions == [None if s is None else preds[s.start] for s in spans]
