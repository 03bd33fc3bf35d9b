"""Mutants of Chapter 4 (BERT), tokens: wrong answers a student would really write for
`wordpiece` (basic_tokenize, wordpiece), `pairs` (truncate_pair, encode_pair, pad_batch) and
`token_labels` (encode_words, align_labels, word_predictions).

Each `source` redefines the exercise's function(s) inside a copy of the solution namespace
(`tests.mutants.apply`), with its own imports, so the given helpers (clean_text,
is_punctuation) and the other solution functions are there to call.
"""

from __future__ import annotations

from textwrap import dedent

from .. import Mutant

_IMPORTS = """\
import string
import unicodedata
import torch
"""


def _m(exercise: str, name: str, source: str) -> Mutant:
    return Mutant(exercise, name, _IMPORTS + dedent(source))


# the solution's basic_tokenize with one line changed: `{lower}`, `{accents}`, `{punct}`
_BASIC = """
    def basic_tokenize(text):
        words = []
        for word in {clean}.{lower}split():
            word = {accents}
            piece = ""
            for ch in word:
                if {punct}:
                    if piece:
                        words.append(piece)
                    words.append(ch)
                    piece = ""
                else:
                    piece += ch
            if piece:
                words.append(piece)
        return words
"""
_NFD = ('"".join(c for c in unicodedata.normalize("NFD", word) '
        'if unicodedata.category(c) != "Mn")')


def _basic(clean="clean_text(text)", lower="lower().", accents=_NFD,
           punct="is_punctuation(ch)") -> str:
    return _BASIC.format(clean=clean, lower=lower, accents=accents, punct=punct)


# the solution's wordpiece, with its pieces of logic as parameters
_WORDPIECE = """
    def wordpiece(word, vocab, unk="[UNK]", max_chars=100):
        if len(word) {too_long}:
            return [{unk}]
        pieces, start = [], 0
        while start < len(word):
            {search}
            if end == start:
                {no_piece}
            pieces.append(piece)
            start = end
        return pieces
"""
_LONGEST = """end = len(word)
            while end > start:
                piece = word[start:end] if {first} else "##" + word[start:end]
                if piece in vocab:
                    break
                end -= 1"""


def _wordpiece(too_long="> max_chars", unk="unk", search=None, first="start == 0",
               no_piece="return [unk]") -> str:
    search = search or _LONGEST.format(first=first)
    return _WORDPIECE.format(too_long=too_long, unk=unk, search=search, no_piece=no_piece)


_SHORTEST = """end = start + 1
            while end <= len(word):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in vocab:
                    break
                end += 1
            else:
                end = start"""

_WORDPIECE_MUTANTS = [
    _m("wordpiece", "partial_unk", _wordpiece(
        no_piece="pieces.append(unk)\n                return pieces")),
    _m("wordpiece", "shortest_match", _wordpiece(search=_SHORTEST)),
    _m("wordpiece", "missing_hashes", _wordpiece(first="True")),
    _m("wordpiece", "hashes_on_first", _wordpiece(first="False")),
    _m("wordpiece", "max_chars_ge", _wordpiece(too_long=">= max_chars")),
    _m("wordpiece", "max_chars_fixed", _wordpiece(too_long="> 100")),
    _m("wordpiece", "literal_unk", _wordpiece(unk='"[UNK]"')),
    _m("wordpiece", "no_accent_strip", _basic(accents="word")),
    _m("wordpiece", "nfc_accents", _basic(accents='unicodedata.normalize("NFC", word)')),
    _m("wordpiece", "ascii_ignore", _basic(
        accents='unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()')),
    _m("wordpiece", "no_lowercase", _basic(lower="")),
    _m("wordpiece", "no_punct_split", _basic(punct="False")),
    _m("wordpiece", "unicode_p_only", _basic(
        punct='unicodedata.category(ch).startswith("P")')),
    _m("wordpiece", "ascii_punct_only", _basic(punct="ch in string.punctuation")),
    _m("wordpiece", "no_clean_text", _basic(clean="text")),
    _m("wordpiece", "whitespace_only", """
        def basic_tokenize(text):
            return text.split()
    """),
    _m("wordpiece", "wraps_library", """
        from autograder.checks.bert import _reference as _R

        def wordpiece(word, vocab, unk="[UNK]", max_chars=100):
            return _R.tokenizer().tokenize(word)
    """),
]


# ---------------------------------------------------------------------------------- pairs

# the solution's encode_pair with its lines as parameters
_ENCODE = """
    def encode_pair(ids_a, ids_b, cls_id, sep_id, max_length=512):
        if ids_b is None:
            a, _ = truncate_pair(ids_a, [], max_length - {single})
            return [cls_id] + a + [sep_id], [0] * (len(a) + 2)
        a, b = truncate_pair(ids_a, ids_b, max_length - {pair})
        input_ids = {ids}
        token_type_ids = {types}
        return input_ids, token_type_ids
"""


def _encode(single="2", pair="3", ids="[cls_id] + a + [sep_id] + b + [sep_id]",
            types="[0] * (len(a) + 2) + [1] * (len(b) + 1)") -> str:
    return _ENCODE.format(single=single, pair=pair, ids=ids, types=types)


# the solution's pad_batch with its lines as parameters
_PAD = """
    def pad_batch(encodings, pad_id=0, length=None):
        T = {T}
        B = len(encodings)
        input_ids = torch.full((B, T), {pad}, dtype=torch.long)
        token_type_ids = torch.zeros(B, T, dtype=torch.long)
        attention_mask = torch.{mask}(B, T, dtype=torch.long)
        for i, (ids, types) in enumerate(encodings):
            n = len(ids)
            input_ids[i, {cols}] = torch.tensor(ids)
            token_type_ids[i, {cols}] = torch.tensor(types)
            attention_mask[i, {cols}] = 1
        return {{"input_ids": input_ids, "token_type_ids": token_type_ids,
                "attention_mask": attention_mask}}
"""


def _pad(T="length or max(len(ids) for ids, _ in encodings)", pad="pad_id", mask="zeros",
         cols=":n") -> str:
    return _PAD.format(T=T, pad=pad, mask=mask, cols=cols)


_PAIR_MUTANTS = [
    _m("pairs", "only_second", """
        def truncate_pair(a, b, max_tokens):
            return list(a), list(b)[: max(0, max_tokens - len(a))]
    """),
    _m("pairs", "one_at_a_time_ties_a", """
        def truncate_pair(a, b, max_tokens):
            a, b = list(a), list(b)
            while len(a) + len(b) > max_tokens:
                if len(a) >= len(b):
                    a.pop()
                else:
                    b.pop()
            return a, b
    """),
    _m("pairs", "halves_to_a", """
        def truncate_pair(a, b, max_tokens):
            if len(a) + len(b) <= max_tokens:
                return list(a), list(b)
            short = min(len(a), len(b))
            if 2 * short <= max_tokens:
                n_short, n_long = short, max_tokens - short
            else:
                n_long, n_short = max_tokens // 2, max_tokens - max_tokens // 2
            n_a, n_b = (n_long, n_short) if len(a) > len(b) else (n_short, n_long)
            return list(a[:n_a]), list(b[:n_b])
    """),
    _m("pairs", "odd_token_to_a", """
        def truncate_pair(a, b, max_tokens):
            if len(a) + len(b) <= max_tokens:
                return list(a), list(b)
            if 2 * min(len(a), len(b)) <= max_tokens:  # the shorter fits whole
                n_a = len(a) if len(a) <= len(b) else max_tokens - len(b)
            else:
                n_a = max_tokens - max_tokens // 2
            return list(a[:n_a]), list(b[: max_tokens - n_a])
    """),
    _m("pairs", "cut_from_front", """
        def truncate_pair(a, b, max_tokens):
            if len(a) + len(b) <= max_tokens:
                return list(a), list(b)
            short, long = sorted((len(a), len(b)))
            long = max(short, max_tokens - short)
            if short + long > max_tokens:
                short, long = max_tokens // 2, max_tokens - max_tokens // 2
            n_a, n_b = (long, short) if len(a) > len(b) else (short, long)
            return list(a[len(a) - n_a:]), list(b[len(b) - n_b:])
    """),
    _m("pairs", "missing_final_sep", _encode(ids="[cls_id] + a + [sep_id] + b",
                                             types="[0] * (len(a) + 2) + [1] * len(b)")),
    _m("pairs", "sep_segment_1", _encode(types="[0] * (len(a) + 1) + [1] * (len(b) + 2)")),
    _m("pairs", "no_room_for_specials", _encode(single="0", pair="0")),
    _m("pairs", "types_all_zero", _encode(types="[0] * (len(a) + len(b) + 3)")),
    _m("pairs", "mask_all_ones", _pad(mask="ones")),
    _m("pairs", "pad_left", _pad(cols="T - n:")),
    _m("pairs", "pad_zero_not_pad_id", _pad(pad="0")),
    _m("pairs", "ignores_length", _pad(T="max(len(ids) for ids, _ in encodings)")),
    _m("pairs", "wraps_library", """
        from autograder.checks.bert import _reference as _R

        def pad_batch(encodings, pad_id=0, length=None):
            rows = [{"input_ids": ids, "token_type_ids": types} for ids, types in encodings]
            padding = "max_length" if length else "longest"
            return dict(_R.tokenizer().pad(rows, padding=padding, max_length=length,
                                           return_tensors="pt"))
    """),
]


# --------------------------------------------------------------------------- token labels

# the solution's encode_words with its last lines as parameters
_ENCODE_WORDS = """
    def encode_words(words, tokenize_word, cls_id, sep_id, max_length=128):
        ids, word_ids = [cls_id], [{cls_word}]
        for i, word in enumerate(words):
            pieces = tokenize_word(word)
            ids += pieces
            word_ids += [i{plus}] * len(pieces)
        {cut}
        return ids, word_ids
"""
_CUT = ("ids, word_ids = ids[: max_length - 1] + [sep_id], "
        "word_ids[: max_length - 1] + [{sep_word}]")


def _encode_words(cls_word="None", plus="", cut=_CUT, sep_word="None") -> str:
    return _ENCODE_WORDS.format(cls_word=cls_word, plus=plus, cut=cut.format(sep_word=sep_word))


# the solution's align_labels: `{label}` for a token given w, previous
_ALIGN = """
    def align_labels(word_ids, word_labels):
        labels, previous = [], None
        for w in word_ids:
            labels.append({label})
            previous = w
        return labels
"""

_LABEL_MUTANTS = [
    _m("token_labels", "specials_word_zero", _encode_words(cls_word="0", sep_word="0")),
    _m("token_labels", "word_ids_from_one", _encode_words(plus=" + 1")),
    _m("token_labels", "truncation_drops_sep", _encode_words(
        cut="ids, word_ids = (ids + [sep_id])[:max_length], (word_ids + [None])[:max_length]")),
    _m("token_labels", "truncation_off_by_one", _encode_words(
        cut="ids, word_ids = ids[: max_length - 2] + [sep_id], word_ids[: max_length - 2] + "
            "[None]")),
    _m("token_labels", "label_every_subtoken", _ALIGN.format(
        label="-100 if w is None else word_labels[w]")),
    _m("token_labels", "label_zero_on_specials", _ALIGN.format(
        label="0 if w is None else -100 if w == previous else word_labels[w]")),
    _m("token_labels", "ignore_marker_zero", _ALIGN.format(
        label="0 if w is None or w == previous else word_labels[w]")),
    _m("token_labels", "label_last_subtoken", """
        def align_labels(word_ids, word_labels):
            labels = []
            for p, w in enumerate(word_ids):
                following = word_ids[p + 1] if p + 1 < len(word_ids) else None
                labels.append(-100 if w is None or w == following else word_labels[w])
            return labels
    """),
    _m("token_labels", "predictions_last_subtoken", """
        def word_predictions(word_ids, token_predictions, n_words):
            out = [None] * n_words
            for w, pred in zip(word_ids, token_predictions):
                if w is not None:
                    out[w] = pred  # the last sub-token wins
            return out
    """),
    _m("token_labels", "predictions_skip_cut_words", """
        def word_predictions(word_ids, token_predictions, n_words):
            out, previous = [], None
            for w, pred in zip(word_ids, token_predictions):
                if w is not None and w != previous:
                    out.append(pred)
                previous = w
            return out
    """),
    _m("token_labels", "predictions_zero_for_cut", """
        def word_predictions(word_ids, token_predictions, n_words):
            out, previous = [0] * n_words, None
            for w, pred in zip(word_ids, token_predictions):
                if w is not None and w != previous:
                    out[w] = pred
                previous = w
            return out
    """),
    _m("token_labels", "wraps_library", """
        from autograder.checks.bert import _reference as _R

        def encode_words(words, tokenize_word, cls_id, sep_id, max_length=128):
            enc = _R.tokenizer()(list(words), is_split_into_words=True, truncation=True,
                                 max_length=max_length)
            return enc["input_ids"], enc.word_ids()
    """),
]

MUTANTS: list[Mutant] = [*_WORDPIECE_MUTANTS, *_PAIR_MUTANTS, *_LABEL_MUTANTS]

# mutant id -> text its message must contain (the likely bug named)
DIAGNOSES: dict[str, str] = {
    "wordpiece/partial_unk": "ONE '[UNK]'",
    "wordpiece/shortest_match": "LONGEST match",
    "wordpiece/missing_hashes": "'##' prefix",
    "wordpiece/hashes_on_first": "the first piece has no '##'",
    "wordpiece/max_chars_ge": "not >=",
    "wordpiece/max_chars_fixed": "not a fixed 100",
    "wordpiece/literal_unk": "use the `unk` argument",
    "wordpiece/no_accent_strip": "accents are kept",
    "wordpiece/nfc_accents": "accents are kept",
    "wordpiece/ascii_ignore": "drops every non-ASCII character",
    "wordpiece/no_lowercase": "not lowercased",
    "wordpiece/no_punct_split": "punctuation is not split off",
    "wordpiece/unicode_p_only": "every ASCII symbol",
    "wordpiece/ascii_punct_only": "not only string.punctuation",
    "wordpiece/no_clean_text": "call clean_text(text) first",
    "wordpiece/whitespace_only": "only split on whitespace",
    "wordpiece/wraps_library": "your code calls",
    "pairs/only_second": "truncation='only_second'",
    "pairs/one_at_a_time_ties_a": "each keeps half",
    "pairs/halves_to_a": "each keeps half",
    "pairs/odd_token_to_a": "BertTokenizerLegacy",
    "pairs/cut_from_front": "from the start",
    "pairs/missing_final_sep": "[SEP] is missing at the end",
    "pairs/sep_segment_1": "the first [SEP] closes sentence A",
    "pairs/no_room_for_specials": "counts the special tokens",
    "pairs/types_all_zero": "token_type_id 1",
    "pairs/mask_all_ones": "0 on the padding",
    "pairs/pad_left": "padded on the left",
    "pairs/pad_zero_not_pad_id": "the argument, not 0",
    "pairs/ignores_length": "(batch, length) when it is given",
    "pairs/wraps_library": "your code calls",
    "token_labels/specials_word_zero": "belong to no word",
    "token_labels/word_ids_from_one": "count words from 0",
    "token_labels/truncation_drops_sep": "dropped [SEP]",
    "token_labels/truncation_off_by_one": "fit in max_length",
    "token_labels/label_every_subtoken": "FIRST sub-token carries its label",
    "token_labels/label_zero_on_specials": "not 0, the label 'O'",
    "token_labels/ignore_marker_zero": "0 is a real label",
    "token_labels/label_last_subtoken": "not its last",
    "token_labels/predictions_last_subtoken": "FIRST sub-token",
    "token_labels/predictions_skip_cut_words": "one entry per word",
    "token_labels/predictions_zero_for_cut": "None",
    "token_labels/wraps_library": "your code calls",
}
