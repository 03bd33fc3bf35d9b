"""Mutants of Chapter 4 (BERT), one module per part of the chapter's checks."""

from .model import DIAGNOSES as _MODEL
from .model import MUTANTS as _MODEL_MUTANTS
from .tokens import DIAGNOSES as _TOKENS
from .tokens import MUTANTS as _TOKEN_MUTANTS
from .training import DIAGNOSES as _TRAINING
from .training import MUTANTS as _TRAINING_MUTANTS

MUTANTS = [*_TOKEN_MUTANTS, *_MODEL_MUTANTS, *_TRAINING_MUTANTS]
DIAGNOSES = {**_TOKENS, **_MODEL, **_TRAINING}
