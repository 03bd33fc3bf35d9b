"""Mutants of Chapter 5 (ULMFiT), one module per part of the chapter's checks."""

from .finetune import DIAGNOSES as _FINETUNE
from .finetune import MUTANTS as _FINETUNE_MUTANTS
from .lm import DIAGNOSES as _LM
from .lm import MUTANTS as _LM_MUTANTS

MUTANTS = [*_LM_MUTANTS, *_FINETUNE_MUTANTS]
DIAGNOSES = {**_LM, **_FINETUNE}
