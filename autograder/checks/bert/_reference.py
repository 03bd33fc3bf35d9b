"""The real library the chapter-4 checks compare against: the shipped MiniLM, its
`transformers` tokenizer and model, loaded once per kernel. Nothing here is an answer to
an exercise: every expected value comes from `transformers`/`tokenizers` on MiniLM's
weights, or from `torch.nn`/`torch.optim` on the check's own inputs.

`no_wrapping(where, asks)` guards a learner call: inside it, `transformers`' BERT modules,
tokenizers and schedules raise, so an answer that calls the implementation the exercise
asks the learner to write fails with a message saying what the exercise asks.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

from .._common import forbid

__all__ = ["config", "guarded", "hf_model", "minilm_dir", "no_wrapping", "sentences", "state_dict",
           "tokenizer", "vocab"]


def minilm_dir() -> Path:
    from course.data import minilm_path

    return minilm_path()


@functools.cache
def vocab() -> dict[str, int]:
    with open(minilm_dir() / "vocab.txt", encoding="utf-8") as f:
        return {line.rstrip("\n"): i for i, line in enumerate(f)}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """transformers prints a load report for every model it builds: not for a check."""
    import transformers

    level = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    progress = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(level)
        if progress:
            transformers.utils.logging.enable_progress_bar()


@functools.cache
def tokenizer():
    """MiniLM's `BertTokenizerFast` (the Rust `tokenizers` WordPiece over its vocab.txt)."""
    from transformers import BertTokenizerFast

    with _quiet():
        return BertTokenizerFast.from_pretrained(minilm_dir())


@functools.cache
def config():
    from transformers import BertConfig

    return BertConfig.from_pretrained(minilm_dir())


@functools.cache
def state_dict() -> dict[str, torch.Tensor]:
    """MiniLM's weights, as `transformers` names them (read-only: callers clone)."""
    from safetensors.torch import load_file

    return load_file(minilm_dir() / "model.safetensors")


@functools.cache
def hf_model():
    """`transformers.BertModel` with MiniLM's weights, in eval mode (no pooler)."""
    from transformers import BertModel

    with _quiet():
        model = BertModel.from_pretrained(minilm_dir(), add_pooling_layer=False)
    return model.eval()


@functools.cache
def sentences() -> tuple[str, ...]:
    """Every Rotten Tomatoes sentence and every WNUT tweet (words joined by spaces)."""
    from course import data

    rt = data.load("rotten_tomatoes", verbose=False)
    wnut = data.load("wnut", verbose=False)
    return tuple([t for split in rt.values() for t in split["text"]]
                 + [" ".join(words) for split in wnut.values() for words in split["tokens"]])


def _targets() -> list[tuple[object, str]]:
    """(owner, attribute) pairs that an exercise's answer must not call: transformers' BERT
    modules, tokenizers (and the Rust tokenizer behind them), schedule and masking collator;
    sentence-transformers' pooling, when it is loaded (the pooling check loads it first)."""
    import transformers
    import transformers.optimization as optimization
    from transformers.models.bert import modeling_bert as mb

    found = [(getattr(mb, name), "forward") for name in dir(mb)
             if name.startswith("Bert") and hasattr(getattr(mb, name), "forward")]
    base = transformers.PreTrainedTokenizerBase
    found += [(base, name) for name in ("__call__", "encode", "encode_plus", "batch_encode_plus",
                                        "pad", "convert_tokens_to_ids", "tokenize")]
    fast = transformers.PreTrainedTokenizerFast
    found += [(fast, "tokenize"), (fast, "_batch_encode_plus")]
    found += [(owner, "backend_tokenizer") for owner in fast.__mro__
              if "backend_tokenizer" in owner.__dict__]
    found += [(transformers, "get_linear_schedule_with_warmup"),
              (optimization, "_get_linear_schedule_with_warmup_lr_lambda"),
              (transformers.DataCollatorForLanguageModeling, "torch_mask_tokens")]
    if "sentence_transformers" in sys.modules:
        from sentence_transformers import SentenceTransformer
        try:
            from sentence_transformers.sentence_transformer.modules import Pooling
        except ImportError:  # sentence-transformers < 6
            from sentence_transformers.models import Pooling

        found += [(SentenceTransformer, "encode"), (Pooling, "forward")]
    return found


@contextlib.contextmanager
def no_wrapping(where: str, asks: str) -> Iterator[None]:
    """Inside: any call into the library the checks compare with raises, naming what the
    exercise asks (`asks`: "split words into WordPiece pieces"); on the way out it becomes
    the check's `Verdict`. The library is restored whatever happens."""
    with forbid(_targets(), where, asks):
        yield


def guarded(fn, where: str, asks: str):
    """`fn` wrapped so that every call of it runs inside `no_wrapping(where, asks)`."""
    @functools.wraps(fn)
    def inner(*args, **kwargs):
        with no_wrapping(where, asks):
            return fn(*args, **kwargs)
    return inner
