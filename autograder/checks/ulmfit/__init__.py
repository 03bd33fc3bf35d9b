"""Visible checks for Chapter 5, "ULMFiT": one check per exercise.

`lm` holds the language-model side (LM batches, AWD-LSTM dropout, the tied language model),
`finetune` the fine-tuning side (slanted triangular rates, discriminative rates, gradual
unfreezing, concat pooling, the classifier and BPT3C). The references are `torch.nn`
(`nn.LSTM` with the same weights), invariances, and the solution's outputs on fixed inputs,
stored by `course release` (`PROBES`, in `autograder/expected/ulmfit.safetensors`); no check
holds an answer.
"""

from .finetune import PROBES as _FINETUNE_PROBES
from .finetune import (
    check_classifier,
    check_concat_pool,
    check_discriminative,
    check_stlr,
    check_unfreezing,
)
from .lm import PROBES as _LM_PROBES
from .lm import check_dropout, check_language_model, check_lm_batches

PROBES = {**_LM_PROBES, **_FINETUNE_PROBES}

__all__ = [
    "check_lm_batches",
    "check_dropout",
    "check_language_model",
    "check_stlr",
    "check_discriminative",
    "check_unfreezing",
    "check_concat_pool",
    "check_classifier",
]
