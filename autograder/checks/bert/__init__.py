"""Visible checks for Chapter 4, "BERT": one check per exercise, each proving the learner's
code equal to the library it re-implements on MiniLM's real weights and vocabulary
(`_reference`: `transformers`, `tokenizers`, sentence-transformers, `torch.optim`).

    tokens:   check_wordpiece, check_pair_encoding, check_token_labels
    model:    check_embeddings, check_encoder, check_mlm_head, check_export
    training: check_masking, check_pooling, check_optimizer

Where no library computes an exercise's answer (the labels aligned to sub-tokens, the
word-level predictions read back), the expected values are the solution's on the library's
word_ids(), stored by `course release` (`PROBES`, `autograder/expected/bert.safetensors`).

Every learner call runs inside `_reference.no_wrapping`: an answer that calls the library it
is compared with fails, saying what the exercise asks.
"""

from .model import check_embeddings, check_encoder, check_export, check_mlm_head
from .tokens import PROBES
from .tokens import check_pair_encoding, check_token_labels, check_wordpiece
from .training import check_masking, check_optimizer, check_pooling

__all__ = [
    "check_wordpiece",
    "check_pair_encoding",
    "check_embeddings",
    "check_encoder",
    "check_masking",
    "check_mlm_head",
    "check_pooling",
    "check_token_labels",
    "check_optimizer",
    "check_export",
]
