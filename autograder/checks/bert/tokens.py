"""Visible checks for Chapter 4, "BERT": from text to the tokens BERT reads.

One check per exercise; each compares the learner's code with the library it re-implements,
MiniLM's `BertTokenizerFast` (`_reference.tokenizer()`, the Rust `tokenizers` library):

    check_wordpiece(basic_tokenize, wordpiece)
        basic_tokenize against the tokenizer's own normalizer + pre-tokenizer, wordpiece
        against its WordPiece model (MiniLM's vocabulary and a toy one, other `unk` and
        `max_chars`), then the two together against `tokenizer().tokenize` on every
        sentence of `_reference.sentences()`.
    check_pair_encoding(truncate_pair, encode_pair, pad_batch)
        against `tokenizer()(a, b, truncation="longest_first", max_length=L)` on sentence
        pairs (both sides cut, odd and even budgets, ties), and batched with
        padding="longest" / "max_length" (and another pad id).
    check_token_labels(encode_words, align_labels, word_predictions)
        against `tokenizer()(words, is_split_into_words=True, truncation=True,
        max_length=L)` on WNUT tweets: its input_ids and word_ids(); the aligned labels and
        the word-level predictions vs the solution's on the library's word_ids(), stored by
        `course release` (`PROBES`); then labels aligned and read back, scored by seqeval.

Diagnoses come from the same library with one setting changed (no lowercasing, accents
kept, a whitespace pre-tokenizer, truncation="only_second", the Python tokenizer's
truncation rule, padding on the left) or from symptoms of the output ("[SEP] is missing at
the end"). Every call of the learner's code runs inside `_reference.no_wrapping`: an answer
that calls the tokenizer fails, saying so. The library's answers are computed outside it.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ... import expected
from ...expected import Probe
from .._common import Bug, Out, call, diagnose, fail, gen, show
from . import _reference as _R

__all__ = ["check_wordpiece", "check_pair_encoding", "check_token_labels"]

CLS, SEP, PAD, MASK = 101, 102, 0, 103
_WHOLE = 24  # token lists up to this long are shown whole in a message


# ----------------------------------------------------------------------------- helpers

class _Raised:
    """A learner call that failed: the AssertionError `call` made of it, raised in turn."""

    def __init__(self, err: AssertionError):
        self.err = err


def _outputs(calls: Sequence[tuple[str, Callable[..., Any], tuple]], name: str,
             asks: str) -> list[Any]:
    """The learner's outputs for `calls` ((where, fn, args) each), all run inside ONE guard
    (it patches dozens of library methods): a failed call is kept and raised by `_take` in turn,
    so the first case still fails first. The library's answers are never computed in here."""
    results: list[Any] = []
    with _R.no_wrapping(name, asks):
        for where, fn, args in calls:
            try:
                results.append(call(fn, *args, where=where))
            except AssertionError as err:  # the learner's failure, reported in its turn
                results.append(_Raised(err))
    return results


def _take(result: Any) -> Any:
    if isinstance(result, _Raised):
        raise result.err
    return result


def _first_difference(a: Sequence, b: Any) -> int:
    if not isinstance(b, (list, tuple)):
        return 0
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _render(seq: Any, other: Any = None) -> str:
    """A list for a message: whole when short, else a window where it differs from `other`."""
    if not isinstance(seq, (list, tuple)):
        return f"{type(seq).__name__}: {show(seq)}"
    items = list(seq)
    if len(items) <= _WHOLE:
        return repr(items)
    k = _first_difference(items, other)
    lo, hi = max(0, k - 4), min(len(items), k + 8)
    body = ", ".join(map(repr, items[lo:hi]))
    return (f"[{'..., ' if lo else ''}{body}{', ...' if hi < len(items) else ''}] "
            f"({len(items)} items; shown from index {lo})")


def _expect_same(where: str, got: Any, want: Any, bugs: Sequence[Bug], args: Sequence[Any],
                 default: str, whole: Any = None) -> None:
    """Exact equality of lists; the message shows both around the first difference. The
    diagnosis table sees `whole` (the entire output) when `got` is a part of it."""
    if got != want:
        fail(where, _render(want, got), _render(got, want),
             diagnose(bugs, got if whole is None else whole, args, default))


def _is_list_of(value: Any, kind: type | tuple[type, ...]) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, kind) for v in value)


def _expect_list_of(where: str, value: Any, kind: type | tuple[type, ...], what: str,
                    hint: str) -> list:
    if not _is_list_of(value, kind):
        fail(where, what, f"{type(value).__name__}: {show(value)}", hint)
    return list(value)


def _int_list(value: Any) -> bool:
    return _is_list_of(value, int) and not any(isinstance(v, bool) for v in value)


# ======================================================================= 1. wordpiece

_ASKS_WORDPIECE = "split text into words and words into WordPiece pieces"


@functools.cache
def _backend():
    """A private copy of MiniLM's Rust tokenizer, padding and truncation off, for settings
    the diagnoses change (the shipped tokenizer.json pads and truncates to 128)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(_R.tokenizer().backend_tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _library_words(text: str, *, lowercase: bool = True, strip_accents: bool | None = None,
                   clean_text: bool = True, split_punctuation: bool = True) -> list[str]:
    """The library's basic tokenization of `text`: BertNormalizer, then BertPreTokenizer
    (MiniLM's own when no setting is changed; a WhitespaceSplit without punctuation)."""
    from tokenizers import normalizers, pre_tokenizers

    backend = _R.tokenizer().backend_tokenizer
    if lowercase and strip_accents is None and clean_text:
        normalizer = backend.normalizer
    else:
        normalizer = normalizers.BertNormalizer(
            clean_text=clean_text, handle_chinese_chars=clean_text,
            strip_accents=strip_accents, lowercase=lowercase)
    pre = backend.pre_tokenizer if split_punctuation else pre_tokenizers.WhitespaceSplit()
    return [w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text))]


# a toy vocabulary (id = position) on which each wrong rule gives another answer
_TOY = ("[UNK]", "<unk>", "un", "aff", "able", "a", "u", "##aff", "##able", "##a", "##b",
        "##e", "##f", "##l", "##n")


@functools.cache
def _wordpiece_model(toy: bool, unk: str, max_chars: int):
    from tokenizers import models

    vocab = {t: i for i, t in enumerate(_TOY)} if toy else _R.vocab()
    return models.WordPiece(vocab, unk_token=unk, max_input_chars_per_word=max_chars)


def _library_pieces(word: str, toy: bool = False, unk: str = "[UNK]",
                    max_chars: int = 100) -> list[str]:
    return [t.value for t in _wordpiece_model(toy, unk, max_chars).tokenize(word)]


def _joined(pieces: Sequence[str]) -> str:
    return "".join(p.removeprefix("##") for p in pieces)


def _stuck(out: list[str], want: list[str]) -> list[str]:
    """Characters the library makes words of their own that sit inside a longer word of yours."""
    alone = {w for w in want if len(w) == 1}
    return sorted({c for w in out if len(w) > 1 for c in w if c in alone})


def _missing_chars(out: list[str], want: list[str]) -> list[str]:
    return sorted(set("".join(want)) - set("".join(out)))


def _has(out: list[str], test: Callable[[str], bool]) -> bool:
    return any(test(c) for w in out for c in w)


def _is_control(c: str) -> bool:
    return unicodedata.category(c).startswith("C")


def _has_accent(w: str) -> bool:
    return any(unicodedata.category(c) == "Mn" for c in unicodedata.normalize("NFD", w))


def _stuck_hint(out: list[str], text: str) -> str:
    chars = _stuck(out, _library_words(text))
    c = chars[0]
    if unicodedata.category(c).startswith("Lo"):
        return (f"the CJK ideograph {c!r} is glued to its neighbours: call clean_text(text) "
                "first, which puts spaces around every CJK character (each is a word)")
    if ord(c) < 128:
        return (f"{c!r} was not split off: BERT counts every ASCII symbol ($, ^, `, +, <, =, "
                "...) as punctuation, not only Unicode category P; use is_punctuation(ch)")
    return (f"{c!r} was not split off: Unicode punctuation (category P*, like '¿', '«', '—', "
            "'…') is split too, not only string.punctuation; use is_punctuation(ch)")


def _missing_hint(out: list[str], text: str) -> str:
    missing = ", ".join(map(repr, _missing_chars(out, _library_words(text))))
    return (f"characters are missing ({missing}): NFKD + encode('ascii', 'ignore') drops every "
            "non-ASCII character; after NFD drop only the combining marks (category 'Mn')")


_PUNCT = ("punctuation is not split off: after whitespace splitting, every punctuation "
          "character (is_punctuation) becomes a word of its own, so \"it's\" is 'it', \"'\", 's'")
_LOWER = "not lowercased: MiniLM is uncased, lowercase the text (str.lower()) before splitting"
_ACCENTS = ("accents are kept: NFD-normalise the word (unicodedata.normalize('NFD', w)) and drop "
            "the combining marks (unicodedata.category(c) == 'Mn'), so 'café' becomes 'cafe'")
_CLEAN = ("call clean_text(text) first: it drops control and zero-width characters, turns "
          "every whitespace into a space and puts spaces around CJK ideographs (each is a word)")

# basic_tokenize(text): symptom -> likely bug
_BASIC_BUGS = [
    Bug(_PUNCT, when=lambda out, text: out == _library_words(text, split_punctuation=False)),
    Bug(_LOWER, when=lambda out, text: out == _library_words(text, lowercase=False,
                                                              strip_accents=True)),
    Bug(_ACCENTS, when=lambda out, text: out == _library_words(text, strip_accents=False)),
    Bug(_CLEAN, when=lambda out, text: out == _library_words(text, clean_text=False)),
    Bug("you only split on whitespace: basic_tokenize also cleans the text (clean_text), "
        "lowercases, strips accents and splits off punctuation",
        when=lambda out, text: out == text.split()),
    Bug(_CLEAN, when=lambda out, text: _has(out, _is_control)),
    Bug(lambda out, text: _stuck_hint(out, text),
        when=lambda out, text: bool(_stuck(out, _library_words(text)))),
    Bug(lambda out, text: _missing_hint(out, text),
        when=lambda out, text: bool(_missing_chars(out, _library_words(text)))),
    Bug(_LOWER, when=lambda out, text: _has(out, str.isupper)),
    Bug(_ACCENTS, when=lambda out, text: any(_has_accent(w) for w in out)
        and not any(_has_accent(w) for w in _library_words(text))),
]
_BASIC_DEFAULT = ("clean_text, lowercase, strip accents (NFD, drop 'Mn'), split on whitespace, "
                  "then split every punctuation character off as a word of its own")

# texts that each isolate one step of basic tokenization
_BASIC_TEXTS = [
    "Héllo naïve café",
    "It's $5^2, `quoted` (ok)... don't!",
    "¿Qué tal? «Bien» — ok… 100% sure",
    "中文字 mixed漢字 ok",
    "zero\u200bwidth\x00 ctrl\x07char\ttab\nnew\u00a0nbsp \ufffd end",
    "ÀÉÎÕÜ and ÇA",
    "",
]


def _wordpiece_bugs(word: str, want: list[str], unk: str, max_chars: int) -> list[Bug]:
    """wordpiece(word, ...): symptom -> likely bug, for one word whose answer is `want`."""
    return [
        Bug(f"use the `unk` argument ({unk!r}), not the literal '[UNK]'",
            when=lambda out, *_: unk != "[UNK]" and "[UNK]" in out),
        Bug(f"a word that cannot be split completely is ONE {unk!r}: when no piece fits, return "
            f"[{unk!r}] for the whole word, dropping the pieces found so far",
            when=lambda out, *_: want == [unk] and unk in out and len(out) > 1),
        Bug(f"a word of exactly max_chars={max_chars} characters is still split: it is {unk!r} "
            "only when len(word) > max_chars (not >=)",
            when=lambda out, *_: len(word) == max_chars and out == [unk]),
        Bug(f"a word longer than max_chars={max_chars} characters is [{unk!r}] without trying to "
            "split it; use the max_chars argument, not a fixed 100",
            when=lambda out, *_: len(word) > max_chars and out != [unk]),
        Bug(f"{word!r} splits into pieces of the vocabulary ({want}): {unk!r} is only for a word "
            "that no sequence of pieces covers, or one longer than max_chars",
            when=lambda out, *_: len(word) <= max_chars and out == [unk] != want),
        Bug("the first piece has no '##': only continuation pieces (start > 0) get the prefix",
            when=lambda out, *_: bool(out) and out[0].startswith("##")),
        Bug("continuation pieces are looked up (and returned) with the '##' prefix: "
            "'##' + word[start:end] whenever start > 0",
            when=lambda out, *_: len(out) > 1 and not any(p.startswith("##") for p in out[1:])),
        Bug("your pieces are shorter than the library's: greedy LONGEST match first, so try "
            "end = len(word) first and shrink it, not the other way round",
            when=lambda out, *_: unk not in want and _joined(out) == word
            and len(out) > len(want)),
    ]


_WORDPIECE_DEFAULT = ("greedy longest-match-first: from `start`, take the longest word[start:end] "
                      "in vocab ('##' + ... after the first piece), then continue from `end`")

# (word, toy vocabulary?, unk, max_chars); None: the argument is left at its default
_WORDS = [
    ("hello", False, None, None),
    ("unaffable", False, None, None),
    ("tokenization", False, None, None),
    ("xyzzyq", False, None, None),
    ("hello\U0001F600", False, None, None),  # an emoji has no piece: the whole word is [UNK]
    ("a" * 100, False, None, None),  # exactly max_chars: still split
    ("a" * 101, False, None, None),  # over max_chars: [UNK]
    ("unaffable", True, None, None),
    ("unax", True, None, None),
    ("unaffable", True, "<unk>", 9),
    ("unaffable", True, "<unk>", 8),
    ("unax", True, "<unk>", 100),
]


def _word_call(word: str, toy: bool, unk: str | None, max_chars: int | None) -> str:
    shown = repr(word) if len(word) < 40 else f"'{word[0]}' * {len(word)}"
    extra = "".join(f", {n}={v!r}" for n, v in (("unk", unk), ("max_chars", max_chars))
                    if v is not None)
    if not toy:
        return f"wordpiece({shown}, vocab{extra})"
    return (f"wordpiece({shown}, toy_vocab{extra}) with toy_vocab = "
            f"{{t: i for i, t in enumerate({_TOY})}}")


def _pieces(basic_tokenize, wordpiece, text: str, vocab: dict) -> list[str]:
    return [p for w in basic_tokenize(text) for p in wordpiece(w, vocab)]


@functools.cache
def _corpus() -> tuple[list[str], ...]:
    """tokenizer().tokenize of every sentence of `_reference.sentences()` (once a kernel)."""
    tokenizer = _R.tokenizer()
    return tuple(tokenizer.tokenize(s) for s in _R.sentences())


def _why_sentence(basic_tokenize, wordpiece, text: str, vocab: dict) -> str:
    """The likely bug behind a mismatching sentence: which function, which word."""
    words = _library_words(text)
    (got,) = _outputs([(f"basic_tokenize({text!r})", basic_tokenize, (text,))],
                      "basic_tokenize", _ASKS_WORDPIECE)
    got = _take(got)
    if not _is_list_of(got, str):
        return f"basic_tokenize(s) gives {_render(got)}: return a list of str (the words)"
    if list(got) != words:
        hint = diagnose(_BASIC_BUGS, list(got), (text,), _BASIC_DEFAULT)
        return (f"basic_tokenize(s) gives {_render(got, words)}, the library's pre-tokenizer "
                f"{_render(words, got)}; {hint}")
    calls = [(f"wordpiece({w!r}, vocab)", wordpiece, (w, vocab)) for w in words]
    for w, out in zip(words, _outputs(calls, "wordpiece", _ASKS_WORDPIECE)):
        out, want = _take(out), _library_pieces(w)
        if list(out) != want:
            hint = diagnose(_wordpiece_bugs(w, want, "[UNK]", 100), list(out), (w,),
                            _WORDPIECE_DEFAULT)
            return f"wordpiece({w!r}, vocab) gives {out!r}, the library {want!r}; {hint}"
    return ("basic_tokenize and wordpiece agree with the library one call at a time but not in "
            "this loop: does your code keep state between calls?")


def check_wordpiece(basic_tokenize, wordpiece) -> None:
    """basic_tokenize + wordpiece == MiniLM's BertTokenizerFast, case by case and on every
    sentence of the course's data."""
    vocab = dict(_R.vocab())  # the learner's code may touch it; the cached one stays clean
    toy_vocab = {t: i for i, t in enumerate(_TOY)}
    # 1. basic tokenization against the library's normalizer + pre-tokenizer
    calls = [(f"basic_tokenize({t!r})", basic_tokenize, (t,)) for t in _BASIC_TEXTS]
    for (where, _, (text,)), out in zip(calls, _outputs(calls, "basic_tokenize", _ASKS_WORDPIECE)):
        out = _expect_list_of(where, _take(out), str, "a list of str (the words)",
                              "return a list of the words, each a str")
        _expect_same(where, out, _library_words(text), _BASIC_BUGS, (text,), _BASIC_DEFAULT)
    # 2. wordpiece against the library's WordPiece model, one word at a time
    calls = []
    for word, toy, unk, max_chars in _WORDS:
        kwargs = {n: v for n, v in (("unk", unk), ("max_chars", max_chars)) if v is not None}
        calls.append((_word_call(word, toy, unk, max_chars),
                      functools.partial(wordpiece, **kwargs), (word, toy_vocab if toy else vocab)))
    for (where, *_), (word, toy, unk, max_chars), out in zip(
            calls, _WORDS, _outputs(calls, "wordpiece", _ASKS_WORDPIECE)):
        out = _expect_list_of(where, _take(out), str, "a list of str (the pieces)",
                              "return the list of pieces, e.g. ['un', '##aff', '##able']")
        unk, max_chars = unk or "[UNK]", max_chars or 100
        want = _library_pieces(word, toy, unk, max_chars)
        _expect_same(where, out, want, _wordpiece_bugs(word, want, unk, max_chars), (word,),
                     _WORDPIECE_DEFAULT)
    # 3. the two together, on every sentence of the course's data, against tokenize
    sentences, corpus = _R.sentences(), _corpus()
    with _R.no_wrapping("wordpiece", _ASKS_WORDPIECE):
        for i, text in enumerate(sentences):
            got = call(_pieces, basic_tokenize, wordpiece, text, vocab,
                       where=f"wordpiece(w, vocab) for w in basic_tokenize(sentences()[{i}])")
            if got != corpus[i]:
                break
        else:
            return
    want = corpus[i]
    fail(f"wordpiece(w, vocab) for w in basic_tokenize(s), s = sentences()[{i}] = {text!r} "
         f"(first difference at token {_first_difference(got, want)})",
         _render(want, got), _render(got, want),
         _why_sentence(basic_tokenize, wordpiece, text, vocab))


# ========================================================================== 2. pairs

_ASKS_PAIRS = "truncate sentence pairs, add [CLS] and [SEP] and pad batches"


@functools.cache
def _ids(i: int) -> tuple[int, ...]:
    """The ids of sentences()[i], no special tokens (the library's tokenization)."""
    return tuple(_R.tokenizer()(_R.sentences()[i], add_special_tokens=False)["input_ids"])


@functools.cache
def _pair_indices() -> tuple[tuple[int, int], ...]:
    """Sentence pairs (i, j) drawn deterministically: a much longer than b, b much longer than
    a, equally long, one sentence twice, one token apart either way."""
    order = torch.randperm(len(_R.sentences()), generator=gen(4)).tolist()
    kinds = [lambda la, lb: la >= 2 * lb + 3, lambda la, lb: lb >= 2 * la + 3,
             lambda la, lb: la == lb, lambda la, lb: la == lb + 1, lambda la, lb: lb == la + 1]
    found: list[tuple[int, int]] = []
    for i, j in zip(order[0::2], order[1::2]):
        la, lb = len(_ids(i)), len(_ids(j))
        if not (4 <= la <= 40 and 4 <= lb <= 40):
            continue
        kind = next((k for k in kinds if k(la, lb)), None)
        if kind is not None:
            found.append((i, j))
            kinds.remove(kind)
            if not kinds:
                break
    found.insert(3, (found[2][0], found[2][0]))  # one sentence as both a and b
    return tuple(found)


def _budgets(la: int, lb: int) -> list[int]:
    """Budgets (longest first) that keep all, cut the longer side, cut both (odd and even)."""
    n, s = la + lb, min(la, lb)
    return sorted({b for b in (n, n - 1, 2 * s + 1, 2 * s, 2 * s - 1, 2 * s - 2, s, 7, 6, 1, 0)
                   if 0 <= b <= n}, reverse=True)


@functools.cache
def _library_pair(i: int, j: int | None, max_length: int | None) -> tuple[list, list, list]:
    """tokenizer()(a, b, truncation="longest_first", max_length=...): input_ids,
    token_type_ids and sequence_ids (0 for a, 1 for b, None for [CLS]/[SEP])."""
    sentences = _R.sentences()
    enc = _R.tokenizer()(sentences[i], None if j is None else sentences[j],
                         truncation="longest_first", max_length=max_length or 512)
    return enc["input_ids"], enc["token_type_ids"], enc.sequence_ids()


@functools.cache
def _legacy():
    """transformers' Python BERT tokenizer (the slow one): another truncation rule."""
    try:  # transformers 5
        from transformers.models.bert.tokenization_bert_legacy import (
            BertTokenizerLegacy as Slow,
        )
    except ImportError:  # transformers 4: BertTokenizer is the Python one
        from transformers import BertTokenizer as Slow

    with _R._quiet():
        return Slow(str(_R.minilm_dir() / "vocab.txt"))


def _legacy_cut(a: list[int], b: list[int], budget: int, strategy: str) -> tuple[list, list]:
    """The Python tokenizer's truncate_sequences(a, b, strategy) down to `budget` tokens."""
    remove = len(a) + len(b) - budget
    if remove <= 0:
        return [*a], [*b]
    with _R._quiet():
        a, b, _ = _legacy().truncate_sequences(list(a), list(b), num_tokens_to_remove=remove,
                                               truncation_strategy=strategy)
    return [*a], [*b]


def _legacy_ids(a: list[int], b: list[int] | None, max_length: int, strategy: str) -> list[int]:
    with _R._quiet():
        return _legacy().prepare_for_model(list(a), None if b is None else list(b),
                                           truncation=strategy, max_length=max_length)["input_ids"]


def _rust(i: int, j: int | None, max_length: int, direction: str) -> list[int]:
    """The Rust tokenizer with truncation from the `direction` side."""
    backend, sentences = _backend(), _R.sentences()
    backend.enable_truncation(max_length, strategy="longest_first", direction=direction)
    try:
        enc = (backend.encode(sentences[i]) if j is None
               else backend.encode(sentences[i], sentences[j]))
    finally:
        backend.no_truncation()
    return enc.ids


def _is_prefix(part: list, whole: Sequence) -> bool:
    return list(whole[: len(part)]) == part


def _is_suffix(part: list, whole: Sequence) -> bool:
    return not part or list(whole[len(whole) - len(part):]) == part


_SPLIT = ("when both are too long, each keeps half: the longer one max_tokens - max_tokens // 2 "
          "(it gets the odd token), the other max_tokens // 2; on a tie b counts as the longer")
_LONGER_FIRST = ("cut the longer side first: the shorter one keeps all its tokens as long as the "
                 "longer can shrink to max_tokens - len(shorter) without becoming the shorter")
_ONLY = ("you cut only the {} sequence (truncation='only_{}'); longest_first cuts the longer one "
         "first, then both")
_LEGACY = ("that is the split of transformers' Python tokenizer (BertTokenizerLegacy), which "
           "always gives the odd token to a; BertTokenizerFast (the Rust tokenizers library) "
           "gives it to the side that was longer, to b on a tie")


def _truncation_bugs(want: tuple[list, list]) -> list[Bug]:
    """truncate_pair(a, b, max_tokens): symptom -> likely bug, for a case whose answer is `want`."""
    both_cut = lambda a, b: len(want[0]) < len(a) and len(want[1]) < len(b)  # noqa: E731
    return [
        # cutting only one side is the symptom when that side is not the longer one
        Bug(_ONLY.format("second", "second"), when=lambda out, a, b, n: len(b) <= len(a)
            and out == _legacy_cut(a, b, n, "only_second")),
        Bug(_ONLY.format("first", "first"), when=lambda out, a, b, n: len(a) < len(b)
            and out == _legacy_cut(a, b, n, "only_first")),
        Bug(lambda out, a, b, n: f"you kept {len(out[0]) + len(out[1])} tokens, more than "
            f"max_tokens={n}: cut until len(a) + len(b) == max_tokens",
            when=lambda out, a, b, n: len(out[0]) + len(out[1]) > n),
        Bug("you cut tokens from the start; cut from the END, keeping a[:n_a] and b[:n_b]",
            when=lambda out, a, b, n: _is_suffix(out[0], a) and _is_suffix(out[1], b)
            and not (_is_prefix(out[0], a) and _is_prefix(out[1], b))),
        Bug("keep the first tokens of each side, in order: a[:n_a] and b[:n_b]",
            when=lambda out, a, b, n: not (_is_prefix(out[0], a) and _is_prefix(out[1], b))),
        Bug(_LEGACY, when=lambda out, a, b, n: out == _legacy_cut(a, b, n, "longest_first")),
        Bug(lambda out, a, b, n: f"you kept {len(out[0]) + len(out[1])} tokens where "
            f"min(len(a) + len(b), max_tokens) = {len(want[0]) + len(want[1])} fit",
            when=lambda out, a, b, n: len(out[0]) + len(out[1]) < len(want[0]) + len(want[1])),
        Bug(_SPLIT, when=lambda out, a, b, n: both_cut(a, b)),
        Bug(_LONGER_FIRST, when=lambda out, a, b, n: True),
    ]


def _pair_call(i: int, j: int | None, max_length: int | None) -> str:
    b = "None" if j is None else f"ids(sentences()[{j}])"
    length = "" if max_length is None else f", max_length={max_length}"
    return f"encode_pair(ids(sentences()[{i}]), {b}, 101, 102{length})"


def _encoding_bugs(i: int, j: int | None, max_length: int | None,
                   want: tuple[list, list]) -> list[Bug]:
    """encode_pair(a, b, cls, sep, max_length): symptom -> likely bug."""
    L = max_length or 512
    first_sep = want[0].index(SEP)
    return [
        Bug(lambda out, *_: f"{len(out[0])} tokens for max_length={L}: the budget counts the "
            "special tokens, so truncate to max_length - 3 (max_length - 2 for one sentence)",
            when=lambda out, *_: len(out[0]) > L),
        Bug("[CLS] comes first", when=lambda out, *_: not out[0] or out[0][0] != CLS),
        Bug("a [SEP] is missing at the end: a pair is [CLS] A [SEP] B [SEP], one sentence "
            "[CLS] A [SEP]", when=lambda out, *_: not out[0] or out[0][-1] != SEP),
        Bug("a [SEP] is missing after A: [CLS] A [SEP] B [SEP]",
            when=lambda out, *_: out[0].count(SEP) < want[0].count(SEP)),
        Bug(_ONLY.format("second", "second"),
            when=lambda out, a, b, *_: b is not None and out[0] != want[0]
            and len(b) <= len(a) and out[0] == _legacy_ids(a, b, L, "only_second")),
        Bug(_ONLY.format("first", "first"),
            when=lambda out, a, b, *_: b is not None and out[0] != want[0]
            and len(a) < len(b) and out[0] == _legacy_ids(a, b, L, "only_first")),
        Bug(_LEGACY, when=lambda out, a, b, *_: b is not None and out[0] != want[0]
            and out[0] == _legacy_ids(a, b, L, "longest_first")),
        Bug("you cut tokens from the start; cut from the END of each sentence",
            when=lambda out, *_: out[0] != want[0] and out[0] == _rust(i, j, L, "left")),
        Bug("the first [SEP] closes sentence A: its token_type_id is 0; the 1s start at B's "
            "first token", when=lambda out, *_: out[0] == want[0] and j is not None
            and out[1][first_sep] == 1),
        Bug("B and the [SEP] after it have token_type_id 1 (A's part, [CLS] A [SEP], has 0)",
            when=lambda out, *_: out[0] == want[0] and j is not None and not any(out[1])),
        Bug("the final [SEP] belongs to B: its token_type_id is 1",
            when=lambda out, *_: out[0] == want[0] and j is not None and out[1][-1] == 0),
        Bug(_SPLIT, when=lambda out, a, b, *_: b is not None and len(out[0]) == len(want[0])),
    ]


def _pad_input(rows: Sequence[tuple[int, int | None]], max_length: int):
    """The library's encodings of `rows` (no padding): [(input_ids, token_type_ids), ...]."""
    return [(list(ids), list(types)) for ids, types, _ in
            (_library_pair(i, j, max_length) for i, j in rows)]


def _library_batch(rows, max_length: int, **padding) -> dict[str, torch.Tensor]:
    """tokenizer()(A, B, truncation="longest_first", max_length, padding=...) as tensors."""
    sentences = _R.sentences()
    a = [sentences[i] for i, _ in rows]
    b = None if rows[0][1] is None else [sentences[j] for _, j in rows]
    enc = _R.tokenizer()(a, b, truncation="longest_first", max_length=max_length,
                         return_tensors="pt", **padding)
    return {k: enc[k] for k in ("input_ids", "token_type_ids", "attention_mask")}


def _library_pad(encodings, length: int, **side) -> dict[str, torch.Tensor]:
    """tokenizer().pad(..., padding="max_length", max_length=length)."""
    enc = _R.tokenizer().pad([{"input_ids": ids, "token_type_ids": types}
                              for ids, types in encodings],
                             padding="max_length", max_length=length, return_tensors="pt", **side)
    return {k: enc[k] for k in ("input_ids", "token_type_ids", "attention_mask")}


def _rust_batch(rows, max_length: int, pad_id: int, pad_token: str) -> dict[str, torch.Tensor]:
    """The Rust tokenizer padding with another pad id."""
    backend, sentences = _backend(), _R.sentences()
    backend.enable_truncation(max_length, strategy="longest_first")
    backend.enable_padding(pad_id=pad_id, pad_token=pad_token)
    try:
        encs = backend.encode_batch([(sentences[i], sentences[j]) for i, j in rows])
    finally:
        backend.no_truncation()
        backend.no_padding()
    return {"input_ids": torch.tensor([e.ids for e in encs]),
            "token_type_ids": torch.tensor([e.type_ids for e in encs]),
            "attention_mask": torch.tensor([e.attention_mask for e in encs])}


_KEYS = ("input_ids", "token_type_ids", "attention_mask")


def _padding_bugs(key: str, want: dict, left: Callable[[], dict], pad_id: int) -> list[Bug]:
    """pad_batch(...)[key]: symptom -> likely bug (the output is that one tensor)."""
    pads = want["attention_mask"] == 0
    return [
        Bug("you padded on the left; BERT pads on the right: the real tokens first, then the "
            "padding", when=lambda out: key in left() and torch.equal(out, left()[key])),
        Bug(f"fill the padding with pad_id ({pad_id}), the argument, not 0",
            when=lambda out: key == "input_ids" and pad_id != 0 and bool((out[pads] == 0).all())),
        Bug(f"the padding positions hold pad_id ({pad_id})",
            when=lambda out: key == "input_ids" and bool((out[pads] != pad_id).any())),
        Bug("attention_mask is 1 on real tokens and 0 on the padding (yours is 1 on the padding)",
            when=lambda out: key == "attention_mask" and bool((out[pads] == 1).any())),
        Bug("padding gets token_type_id 0", when=lambda out: key == "token_type_ids"
            and bool((out[pads] != 0).any())),
    ]


def _pad_call(rows, max_length: int, **kwargs) -> str:
    extra = "".join(f", {k}={v}" for k, v in kwargs.items())
    return f"pad_batch({len(rows)} encodings of max_length={max_length}{extra})"


def _expect_pair_of_lists(where: str, out: Any, what: str, hint: str) -> tuple[list, list]:
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(map(_int_list, out))):
        fail(where, what, f"{type(out).__name__}: {show(out)}", hint)
    return list(out[0]), list(out[1])


def check_pair_encoding(truncate_pair, encode_pair, pad_batch) -> None:
    """[CLS] A [SEP] B [SEP], longest-first truncation and padding == BertTokenizerFast."""
    pairs = _pair_indices()
    # 1. truncate_pair against the library's longest_first, on every budget of each pair
    specs, meta = [], []
    for i, j in pairs:
        a, b = _ids(i), _ids(j)
        for n in _budgets(len(a), len(b)):
            specs.append((f"truncate_pair(a, b, max_tokens={n}) with len(a)={len(a)}, "
                          f"len(b)={len(b)} (a, b = ids of sentences()[{i}], sentences()[{j}])",
                          truncate_pair, (list(a), list(b), n)))
            meta.append((i, j))
    for (where, _, args), (i, j), out in zip(specs, meta,
                                             _outputs(specs, "truncate_pair", _ASKS_PAIRS)):
        out = _expect_pair_of_lists(where, _take(out), "a pair of lists of ids (a, b)",
                                    "return the two truncated lists: `return a[:n_a], b[:n_b]`")
        ids, _, seq = _library_pair(i, j, args[2] + 3)  # + [CLS], [SEP], [SEP]
        want = ([t for t, s in zip(ids, seq) if s == 0], [t for t, s in zip(ids, seq) if s == 1])
        if out != want:
            fail(where, f"a: {_render(want[0], out[0])}, b: {_render(want[1], out[1])}",
                 f"a: {_render(out[0], want[0])}, b: {_render(out[1], want[1])}",
                 diagnose(_truncation_bugs(want), out, args, None))
    # 2. encode_pair against tokenizer()(a, b, truncation="longest_first", max_length=L)
    cases: list[tuple[int, int | None, int | None]] = [(pairs[0][0], pairs[0][1], None),
                                                        (pairs[0][0], None, None)]
    for i, j in pairs[:4]:
        la, lb = len(_ids(i)), len(_ids(j))
        cases += [(i, j, L) for L in sorted({la + lb + 3, la + lb + 2, 2 * min(la, lb) + 4,
                                             2 * min(la, lb) + 2, 16, 9, 4, 3}, reverse=True)]
        cases += [(i, None, L) for L in (la + 2, la + 1, 5, 2)]
    specs = []
    for i, j, L in cases:
        args = (list(_ids(i)), None if j is None else list(_ids(j)), CLS, SEP)
        specs.append((_pair_call(i, j, L), encode_pair, args if L is None else (*args, L)))
    for (where, _, args), (i, j, L), out in zip(specs, cases,
                                                _outputs(specs, "encode_pair", _ASKS_PAIRS)):
        out = _expect_pair_of_lists(where, _take(out), "(input_ids, token_type_ids), two lists",
                                    "return two lists of ints: input_ids, token_type_ids")
        if len(out[0]) != len(out[1]):
            fail(f"{where}: lengths", "one token_type_id per token",
                 f"{len(out[0])} input_ids, {len(out[1])} token_type_ids",
                 "token_type_ids has an entry for every token, [CLS] and [SEP] included")
        ids, types, _ = _library_pair(i, j, L)
        bugs = _encoding_bugs(i, j, L, (ids, types))
        _expect_same(f"{where}: input_ids", out[0], ids, bugs, args, _SPLIT, out)
        _expect_same(f"{where}: token_type_ids", out[1], types, bugs, args,
                     "token_type_ids: 0 for [CLS] A [SEP], 1 for B [SEP]", out)
    # 3. pad_batch against the library's padding
    rows, singles = list(pairs[:5]), [(i, None) for i, _ in pairs[:3]]
    batches = [  # (where, encodings, kwargs, the library's answer, the same padded on the left)
        (_pad_call(rows, 24), _pad_input(rows, 24), {},
         lambda: _library_batch(rows, 24, padding="longest"),
         lambda: _library_batch(rows, 24, padding="longest", padding_side="left")),
        (_pad_call(singles, 24), _pad_input(singles, 24), {},
         lambda: _library_batch(singles, 24, padding="longest"),
         lambda: _library_batch(singles, 24, padding="longest", padding_side="left")),
        (_pad_call(rows, 24, length=40), _pad_input(rows, 24), {"length": 40},
         lambda: _library_pad(_pad_input(rows, 24), 40),
         lambda: _library_pad(_pad_input(rows, 24), 40, padding_side="left")),
        (_pad_call(rows, 24, pad_id=MASK), _pad_input(rows, 24), {"pad_id": MASK},
         lambda: _rust_batch(rows, 24, MASK, "[MASK]"), lambda: {}),
    ]
    specs = [(where, functools.partial(pad_batch, **kw), (enc,))
             for where, enc, kw, _, _ in batches]
    for (where, _, kw, library, left), out in zip(batches,
                                                  _outputs(specs, "pad_batch", _ASKS_PAIRS)):
        out, want = _take(out), library()
        if not (isinstance(out, dict) and all(k in out for k in _KEYS)):
            fail(where, f"a dict with keys {', '.join(_KEYS)}",
                 f"{type(out).__name__}: {show(out)}",
                 "return {'input_ids': ..., 'token_type_ids': ..., 'attention_mask': ...}")
        for key in _KEYS:
            value, expected = out[key], want[key]
            Out(dtype=torch.long, shape=tuple(expected.shape),
                hint="each entry is a torch tensor (torch.full / torch.zeros, then fill rows)",
                dtype_hint="ids and masks are integers: dtype=torch.long",
                shape_hint="(batch, longest sequence) when length is None, (batch, length) when "
                           "it is given").verify(value, f"{where}['{key}']")
            if not torch.equal(value, expected):
                hint = diagnose(_padding_bugs(key, want, left, kw.get("pad_id", PAD)), value, (),
                                f"{key}: row i holds the i-th encoding, then padding")
                row, col = (value != expected).nonzero()[0].tolist()
                want_row, got_row = expected[row].tolist(), value[row].tolist()
                fail(f"{where}['{key}'] (first difference at [{row}, {col}]; row {row} shown)",
                     _render(want_row, got_row), _render(got_row, want_row), hint)


# =================================================================== 3. token labels

_ASKS_LABELS = "map words to sub-tokens and align their labels"
IGNORE = -100  # the label cross_entropy ignores by default (ignore_index)


@functools.cache
def _wnut() -> tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]:
    """Every WNUT tweet: (words, ner tag ids)."""
    from course import data

    wnut = data.load("wnut", verbose=False)
    return tuple((tuple(words), tuple(tags)) for split in wnut.values()
                 for words, tags in zip(split["tokens"], split["ner_tags"]))


@functools.cache
def _tag_names() -> tuple[str, ...]:
    from course import data

    return tuple(data.load("wnut", verbose=False)["train"].features["ner_tags"].feature.names)


@functools.cache
def _word_pieces(k: int) -> tuple[tuple[int, ...], ...]:
    """The library's ids of each word of tweet k, word by word (no special tokens)."""
    words = list(_wnut()[k][0])
    return tuple(map(tuple, _R.tokenizer()(words, add_special_tokens=False)["input_ids"]))


@functools.cache
def _tweets() -> tuple[int, ...]:
    """Tweets drawn deterministically, each with an entity word of several sub-tokens and
    at most 60 tokens: the words whose label only the first sub-token may carry."""
    order = torch.randperm(len(_wnut()), generator=gen(8)).tolist()
    found = []
    for k in order:
        words, tags = _wnut()[k]
        pieces = _word_pieces(k)
        if (sum(map(len, pieces)) <= 60 and all(pieces)
                and any(t != 0 and len(p) >= 2 for t, p in zip(tags, pieces))):
            found.append(k)
            if len(found) == 6:
                break
    return tuple(found)


@functools.cache
def _library_words_enc(k: int, max_length: int | None):
    """tokenizer()(words, is_split_into_words=True, truncation=True, max_length=...)."""
    return _R.tokenizer()(list(_wnut()[k][0]), is_split_into_words=True, truncation=True,
                          max_length=max_length or 128)


def _cut_inside_a_word(k: int) -> int:
    """A max_length that cuts tweet k inside its first multi-piece entity word (its first
    sub-token is kept, the next ones are not)."""
    enc = _library_words_enc(k, None)
    words, tags = _wnut()[k]
    for w, tag in enumerate(tags):
        span = enc.word_to_tokens(w)
        if tag != 0 and span is not None and span.end - span.start >= 2:
            return span.start + 2  # [CLS] ... first piece, then [SEP]
    raise ValueError(k)  # unreachable: _tweets picked tweets with such a word


def _spans(enc, n_words: int) -> list:
    """The library's token span (start, end) of each word; None for a word cut off."""
    return [enc.word_to_tokens(w) for w in range(n_words)]


class _Pieces:
    """The `tokenize_word` the learner's encode_words receives: a word's ids from a table the
    check built beforehand with the library (so the library is not called inside the guard)."""

    def __init__(self, table: dict[str, tuple[int, ...]]):
        self.table = table

    def __call__(self, word: str) -> list[int]:
        return list(self.table[word])

    def __repr__(self) -> str:
        return "tokenize_word"


def _words_call(k: int, max_length: int | None) -> str:
    words = " ".join(_wnut()[k][0])
    length = "" if max_length is None else f", max_length={max_length}"
    return f"encode_words(words, tokenize_word, 101, 102{length}) with words = tweet {words!r}"


def _encode_words_bugs(max_length: int | None, want: tuple[list, list]) -> list[Bug]:
    L = max_length or 128
    cut = len(want[0]) == L
    return [
        Bug(lambda out, *_: f"{len(out[0])} tokens for max_length={L}: truncate to max_length "
            "tokens, [CLS] and [SEP] included", when=lambda out, *_: len(out[0]) > L),
        Bug("the truncation dropped [SEP]: cut the tokens to max_length - 1 ([CLS] included), "
            "then append [SEP] (and its word id None)",
            when=lambda out, *_: cut and bool(out[0]) and out[0][-1] != SEP),
        Bug("[SEP] ends the sequence: [CLS], the pieces, then [SEP]",
            when=lambda out, *_: bool(out[0]) and out[0][-1] != SEP),
        Bug("[CLS] and [SEP] belong to no word: their word id is None, as in the library's "
            "word_ids()", when=lambda out, *_: bool(out[1]) and (out[1][0] is not None
                                                                  or out[1][-1] is not None)),
        Bug("count words from 0: the first word's sub-tokens have word id 0",
            when=lambda out, *_: [w for w in out[1] if w is not None][:1] == [1]),
        Bug(lambda out, *_: f"you kept {len(out[0])} tokens where {len(want[0])} fit in "
            f"max_length={L}", when=lambda out, *_: len(out[0]) < len(want[0])),
    ]


def _first_tokens(spans: list) -> dict[int, int]:
    """position of each word's first sub-token -> the word."""
    return {span.start: w for w, span in enumerate(spans) if span is not None}


def _align_bugs(spans: list, word_ids: list, labels: tuple[int, ...]) -> list[Bug]:
    first = _first_tokens(spans)
    specials = [p for p, w in enumerate(word_ids) if w is None]
    rest = [p for p, w in enumerate(word_ids) if w is not None and p not in first]
    # each multi-piece entity word: (first position, last position, its label)
    entities = [(s.start, s.end - 1, labels[w]) for w, s in enumerate(spans)
                if s is not None and s.end - s.start >= 2 and labels[w] != 0]
    return [
        Bug("0 is a real label (the tag 'O'): mark the positions the loss ignores with -100, "
            "the ignore_index of cross_entropy, not 0",
            when=lambda out, *_: all(out[p] == 0 for p in specials + rest)),
        Bug("[CLS] and [SEP] get -100 (ignored by the loss), not 0, the label 'O'",
            when=lambda out, *_: any(out[p] == 0 for p in specials)),
        Bug("[CLS] and [SEP] get -100, the label the loss ignores",
            when=lambda out, *_: any(out[p] != IGNORE for p in specials)),
        Bug("the label goes on each word's FIRST sub-token, not its last",
            when=lambda out, *_: any(out[start] == IGNORE for start, _, _ in entities)),
        Bug("only a word's FIRST sub-token carries its label; the other sub-tokens get -100",
            when=lambda out, *_: any(out[last] == tag for _, last, tag in entities)),
        Bug("a word's later sub-tokens get -100", when=lambda out, *_: any(out[p] != IGNORE
                                                                         for p in rest)),
    ]


def _prediction_bugs(spans: list, n_words: int) -> list[Bug]:
    cut = [w for w, s in enumerate(spans) if s is None]
    multi = [(w, s) for w, s in enumerate(spans) if s is not None and s.end - s.start >= 2]
    return [
        Bug(lambda out, *_: f"one entry per word: {n_words} words, {len(out)} predictions (None "
            "for a word with no token left after truncation)",
            when=lambda out, *_: len(out) != n_words),
        Bug("a word cut off by truncation has no prediction: None",
            when=lambda out, *_: any(out[w] is not None for w in cut)),
        Bug("read each word's prediction at its FIRST sub-token (where align_labels put its "
            "label), not its last",
            when=lambda out, wids, preds, *_: any(out[w] == preds[s.end - 1] for w, s in multi)),
    ]


def _label_cases() -> list[tuple[int, int | None]]:
    """(tweet, max_length) of each case: each tweet whole, then cut inside an entity word."""
    return [(k, L) for k in _tweets() for L in (None, _cut_inside_a_word(k))]


_NONE = -(2 ** 40)  # None in a stored list of ints (a label may be -100)


def _with_none(values: Sequence[Any]) -> torch.Tensor:
    """A list of ints and Nones as a stored field."""
    return torch.tensor([_NONE if v is None else int(v) for v in values], dtype=torch.long)


def _without_none(field: torch.Tensor) -> list[int | None]:
    return [None if v == _NONE else v for v in field.tolist()]


def _predictions_input(n_tokens: int) -> list[int]:
    """A prediction per token, all different: shows which token was read."""
    return [1000 + p for p in range(n_tokens)]


def _probe_token_labels(align_labels, word_predictions) -> dict[str, Any]:
    out = {}
    for c, (k, L) in enumerate(_label_cases()):
        word_ids = _library_words_enc(k, L).word_ids()
        words, labels = _wnut()[k]
        preds = _predictions_input(len(word_ids))
        out.update({f"case{c}.word_ids": _with_none(word_ids),
                    f"case{c}.aligned": _with_none(align_labels(list(word_ids), list(labels))),
                    f"case{c}.predictions": _with_none(word_predictions(list(word_ids), preds,
                                                                        len(words)))})
    return out


def _stored_labels(c: int, word_ids: Sequence[Any]) -> tuple[list, list]:
    """The solution's aligned labels and word-level predictions of case c (whose word ids
    must be the library's, as when they were stored)."""
    stored = expected.case("bert", "token_labels")
    if _without_none(stored[f"case{c}.word_ids"]) != list(word_ids):
        raise expected.MissingExpected("the stored token-label cases do not match MiniLM's "
                                       "tokenizer and WNUT here: run `course release`")
    return _without_none(stored[f"case{c}.aligned"]), _without_none(stored[f"case{c}.predictions"])


def _tags(ids: Sequence[Any]) -> list[str]:
    names = _tag_names()
    return [names[i] if isinstance(i, int) and 0 <= i < len(names) else "O" for i in ids]


def check_token_labels(encode_words, align_labels, word_predictions) -> None:
    """Word ids, labels on first sub-tokens and word-level predictions == the library's
    word_ids() / word_to_tokens() on WNUT tweets; the round trip scores 1.0 with seqeval."""
    cases = _label_cases()
    # 1. encode_words against the library's input_ids and word_ids()
    specs = []
    for k, L in cases:
        words = list(_wnut()[k][0])
        tokenize_word = _Pieces(dict(zip(words, _word_pieces(k))))
        args = (words, tokenize_word, CLS, SEP)
        specs.append((_words_call(k, L), encode_words, args if L is None else (*args, L)))
    for (where, _, args), (k, L), out in zip(specs, cases,
                                             _outputs(specs, "encode_words", _ASKS_LABELS)):
        out = _take(out)
        if not (isinstance(out, (tuple, list)) and len(out) == 2 and _int_list(out[0])
                and _is_list_of(out[1], (int, type(None)))):
            fail(where, "(ids, word_ids): a list of ints and a list of word ids (None for "
                 "[CLS]/[SEP])", f"{type(out).__name__}: {show(out)}",
                 "return two lists: the token ids and, for each token, its word's index or None")
        out = (list(out[0]), list(out[1]))
        enc = _library_words_enc(k, L)
        want = (enc["input_ids"], enc.word_ids())
        if len(out[0]) != len(out[1]):
            fail(f"{where}: lengths", "one word id per token",
                 f"{len(out[0])} ids, {len(out[1])} word ids",
                 "append a word id for every token, None for [CLS] and [SEP]")
        bugs = _encode_words_bugs(L, want)
        _expect_same(f"{where}: ids", out[0], want[0], bugs, args,
                     "[CLS], then every word's pieces (tokenize_word(word)) in order, then [SEP]",
                     out)
        _expect_same(f"{where}: word_ids", out[1], want[1], bugs, args,
                     "each piece of word i has word id i; [CLS] and [SEP] None", out)
    # 2. align_labels on the library's word_ids()
    specs = []
    for k, L in cases:
        enc = _library_words_enc(k, L)
        specs.append((f"align_labels(word_ids, word_labels) for tweet "
                      f"{' '.join(_wnut()[k][0])!r}" + ("" if L is None else f", max_length={L}"),
                      align_labels, (enc.word_ids(), list(_wnut()[k][1]))))
    aligned = [_take(out) for out in _outputs(specs, "align_labels", _ASKS_LABELS)]
    for c, ((where, _, (word_ids, labels)), (k, L), out) in enumerate(zip(specs, cases, aligned)):
        if not _int_list(out) or len(out) != len(word_ids):
            fail(where, f"a list of {len(word_ids)} ints (one label per token)",
                 f"{type(out).__name__}: {show(out)}",
                 "return one label per token: the word's label or -100")
        spans = _spans(_library_words_enc(k, L), len(labels))
        want = _stored_labels(c, word_ids)[0]
        _expect_same(where, list(out), want, _align_bugs(spans, word_ids, tuple(labels)), (),
                     "the word's label on its first sub-token, -100 everywhere else")
    # 3. word_predictions: a prediction per token (all different), read back per word
    specs = []
    for k, L in cases:
        enc = _library_words_enc(k, L)
        n = len(_wnut()[k][0])
        preds = _predictions_input(len(enc["input_ids"]))
        specs.append((f"word_predictions(word_ids, [1000, 1001, ...], n_words={n}) for tweet "
                      f"{' '.join(_wnut()[k][0])!r}" + ("" if L is None else f", max_length={L}"),
                      word_predictions, (enc.word_ids(), preds, n)))
    for c, ((where, _, (word_ids, preds, n)), (k, L), out) in enumerate(zip(
            specs, cases, _outputs(specs, "word_predictions", _ASKS_LABELS))):
        out = _take(out)
        if not isinstance(out, (list, tuple)):
            fail(where, f"a list of {n} predictions", f"{type(out).__name__}: {show(out)}",
                 "return a list with one prediction per word")
        spans = _spans(_library_words_enc(k, L), n)
        want = _stored_labels(c, word_ids)[1]
        _expect_same(where, list(out), want, _prediction_bugs(spans, n), (word_ids, preds, n),
                     "word w's prediction is the one at its first sub-token")
    # 4. the round trip: labels aligned, then read back per word, score 1.0 with seqeval
    from seqeval.metrics import f1_score

    specs = [(f"word_predictions(word_ids, align_labels(word_ids, word_labels), n_words) for "
              f"tweet {' '.join(_wnut()[k][0])!r}", word_predictions,
              (_library_words_enc(k, None).word_ids(), list(out), len(_wnut()[k][0])))
             for (k, L), out in zip(cases, aligned) if L is None]
    back = [_take(out) for out in _outputs(specs, "word_predictions", _ASKS_LABELS)]
    truth = [_tags(_wnut()[k][1]) for k, L in cases if L is None]
    for (where, *_), k, out in zip(specs, [k for k, L in cases if L is None], back):
        _expect_same(where, list(out), list(_wnut()[k][1]), [], (),
                     "reading the aligned labels back at each word's first sub-token gives the "
                     "word labels back")
    score = f1_score(truth, [_tags(out) for out in back])
    if score != 1.0:
        fail("word_predictions(word_ids, align_labels(...)) scored by seqeval's f1_score",
             1.0, score, "the labels read back are not the words' tags")


PROBES = {"token_labels": Probe(("align_labels", "word_predictions"), _probe_token_labels)}
