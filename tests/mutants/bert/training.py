"""Mutants of Chapter 4 (BERT), masking / pooling / optimizer: wrong answers a student would
really write.

Each `source` redefines the exercise's function(s)/class inside a copy of the solution
namespace (`tests.mutants.apply`), with its own imports so it runs in any namespace.
"""

from __future__ import annotations

import functools
from textwrap import dedent

from .. import Mutant

_IMPORTS = """\
import math
import torch
import torch.nn as nn
import torch.nn.functional as F
"""


def _m(exercise: str, name: str, source: str) -> Mutant:
    return Mutant(exercise, name, _IMPORTS + dedent(source))


@functools.cache
def minilm_sentence_transformer():
    """MiniLM as a SentenceTransformer, loaded once (outside any check's guard) for the
    mutant that wraps SentenceTransformer.encode."""
    from sentence_transformers import SentenceTransformer

    from autograder.checks.bert import _reference as R

    with R._quiet():
        return SentenceTransformer(str(R.minilm_dir()), device="cpu")


# -------------------------------------------------------------------------- masking

def _mask_tokens(body: str) -> str:
    """A mask_tokens whose replacement step is `body` (chosen, labels, roll in scope)."""
    return """
        def mask_tokens(input_ids, special_mask, mask_id, vocab_size, generator, p=0.15):
            probs = torch.full(input_ids.shape, p).masked_fill(special_mask, 0.0)
            chosen = torch.bernoulli(probs, generator=generator).bool()
            labels = input_ids.masked_fill(~chosen, -100)
            roll = torch.rand(input_ids.shape, generator=generator)
            inputs = input_ids.clone()
    """ + body


_MASKING = [
    _m("masking", "masks_specials", """
        def mask_tokens(input_ids, special_mask, mask_id, vocab_size, generator, p=0.15):
            chosen = torch.bernoulli(torch.full(input_ids.shape, p), generator=generator).bool()
            labels = input_ids.masked_fill(~chosen, -100)
            roll = torch.rand(input_ids.shape, generator=generator)
            inputs = input_ids.clone()
            inputs[chosen & (roll < 0.8)] = mask_id
            random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
            swap = chosen & (roll >= 0.8) & (roll < 0.9)
            inputs[swap] = random_ids[swap]
            return inputs, labels
    """),
    _m("masking", "labels_everywhere", _mask_tokens("""
            labels = input_ids.clone()
            inputs[chosen & (roll < 0.8)] = mask_id
            random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
            swap = chosen & (roll >= 0.8) & (roll < 0.9)
            inputs[swap] = random_ids[swap]
            return inputs, labels
    """)),
    _m("masking", "labels_inverted", _mask_tokens("""
            labels = input_ids.masked_fill(chosen, -100)
            inputs[chosen & (roll < 0.8)] = mask_id
            random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
            swap = chosen & (roll >= 0.8) & (roll < 0.9)
            inputs[swap] = random_ids[swap]
            return inputs, labels
    """)),
    _m("masking", "labels_after_replacement", _mask_tokens("""
            inputs[chosen & (roll < 0.8)] = mask_id
            random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
            swap = chosen & (roll >= 0.8) & (roll < 0.9)
            inputs[swap] = random_ids[swap]
            labels = inputs.masked_fill(~chosen, -100)
            return inputs, labels
    """)),
    _m("masking", "all_mask", _mask_tokens("""
            inputs[chosen] = mask_id
            return inputs, labels
    """)),
    _m("masking", "no_unchanged_share", _mask_tokens("""
            inputs[chosen & (roll < 0.8)] = mask_id
            random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
            swap = chosen & (roll >= 0.8)
            inputs[swap] = random_ids[swap]
            return inputs, labels
    """)),
    _m("masking", "replace_everywhere", _mask_tokens("""
            inputs[roll < 0.8] = mask_id
            random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
            swap = (roll >= 0.8) & (roll < 0.9)
            inputs[swap] = random_ids[swap]
            return inputs, labels
    """)),
    _m("masking", "exact_share_of_row", """
        def mask_tokens(input_ids, special_mask, mask_id, vocab_size, generator, p=0.15):
            B, T = input_ids.shape
            chosen = torch.zeros(B, T, dtype=torch.bool)
            for row in range(B):
                chosen[row, torch.randperm(T, generator=generator)[: round(p * T)]] = True
            labels = input_ids.masked_fill(~chosen, -100)
            roll = torch.rand(input_ids.shape, generator=generator)
            inputs = input_ids.clone()
            inputs[chosen & (roll < 0.8)] = mask_id
            random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
            swap = chosen & (roll >= 0.8) & (roll < 0.9)
            inputs[swap] = random_ids[swap]
            return inputs, labels
    """),
    _m("masking", "random_from_global_rng", _mask_tokens("""
            inputs[chosen & (roll < 0.8)] = mask_id
            random_ids = torch.randint(vocab_size, input_ids.shape)
            swap = chosen & (roll >= 0.8) & (roll < 0.9)
            inputs[swap] = random_ids[swap]
            return inputs, labels
    """)),
    _m("masking", "p_ignored", """
        def mask_tokens(input_ids, special_mask, mask_id, vocab_size, generator, p=0.15):
            probs = torch.full(input_ids.shape, 0.15).masked_fill(special_mask, 0.0)
            chosen = torch.bernoulli(probs, generator=generator).bool()
            labels = input_ids.masked_fill(~chosen, -100)
            roll = torch.rand(input_ids.shape, generator=generator)
            inputs = input_ids.clone()
            inputs[chosen & (roll < 0.8)] = mask_id
            random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
            swap = chosen & (roll >= 0.8) & (roll < 0.9)
            inputs[swap] = random_ids[swap]
            return inputs, labels
    """),
    _m("masking", "in_place", """
        def mask_tokens(input_ids, special_mask, mask_id, vocab_size, generator, p=0.15):
            probs = torch.full(input_ids.shape, p).masked_fill(special_mask, 0.0)
            chosen = torch.bernoulli(probs, generator=generator).bool()
            labels = input_ids.masked_fill(~chosen, -100)
            roll = torch.rand(input_ids.shape, generator=generator)
            inputs = input_ids
            inputs[chosen & (roll < 0.8)] = mask_id
            random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
            swap = chosen & (roll >= 0.8) & (roll < 0.9)
            inputs[swap] = random_ids[swap]
            return inputs, labels
    """),
    _m("masking", "random_below_mask_id", _mask_tokens("""
            inputs[chosen & (roll < 0.8)] = mask_id
            random_ids = torch.randint(mask_id, input_ids.shape, generator=generator)
            swap = chosen & (roll >= 0.8) & (roll < 0.9)
            inputs[swap] = random_ids[swap]
            return inputs, labels
    """)),
    _m("masking", "random_excludes_last", _mask_tokens("""
            inputs[chosen & (roll < 0.8)] = mask_id
            random_ids = torch.randint(0, vocab_size - 1, input_ids.shape, generator=generator)
            swap = chosen & (roll >= 0.8) & (roll < 0.9)
            inputs[swap] = random_ids[swap]
            return inputs, labels
    """)),
    _m("masking", "wraps_collator", """
        from transformers import DataCollatorForLanguageModeling
        from autograder.checks.bert import _reference as _R

        def mask_tokens(input_ids, special_mask, mask_id, vocab_size, generator, p=0.15):
            collator = DataCollatorForLanguageModeling(_R.tokenizer(), mlm_probability=p)
            return collator.torch_mask_tokens(input_ids.clone(), special_tokens_mask=special_mask)
    """),
]

# -------------------------------------------------------------------------- pooling

_CLASSIFIER_INIT = """
        class SentenceClassifier(nn.Module):
            def __init__(self, bert, hidden, n_classes, pooling="mean", dropout=0.1):
                super().__init__()
                self.bert, self.pooling = bert, pooling
                self.dropout = nn.Dropout(dropout)
                self.head = nn.Linear(hidden, n_classes)
"""


def _classifier(forward: str) -> str:
    return _CLASSIFIER_INIT + forward


_POOLING = [
    _m("pooling", "mean_counts_padding", """
        def mean_pool(hidden, attention_mask):
            return hidden.mean(1)
    """),
    _m("pooling", "sum_not_mean", """
        def mean_pool(hidden, attention_mask):
            return (hidden * attention_mask.unsqueeze(-1)).sum(1)
    """),
    _m("pooling", "divide_by_T", """
        def mean_pool(hidden, attention_mask):
            return (hidden * attention_mask.unsqueeze(-1)).sum(1) / hidden.shape[1]
    """),
    _m("pooling", "mask_not_unsqueezed", """
        def mean_pool(hidden, attention_mask):
            mask = attention_mask.unsqueeze(1).float()
            return (hidden * mask).sum(1) / mask.sum(-1)
    """),
    _m("pooling", "mean_normalises", """
        def mean_pool(hidden, attention_mask):
            mask = attention_mask.unsqueeze(-1).float()
            return F.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    """),
    _m("pooling", "cls_last", """
        def cls_pool(hidden, attention_mask=None):
            return hidden[:, -1]
    """),
    _m("pooling", "mean_wraps_pooling_module", """
        from sentence_transformers.sentence_transformer.modules import Pooling

        def mean_pool(hidden, attention_mask):
            features = {"token_embeddings": hidden, "attention_mask": attention_mask}
            return Pooling(hidden.shape[-1], pooling_mode="mean")(features)["sentence_embedding"]
    """),
    _m("pooling", "classifier_ignores_pooling", _classifier("""
            def forward(self, input_ids, token_type_ids=None, attention_mask=None):
                h = self.bert(input_ids, token_type_ids, attention_mask)
                return self.head(self.dropout(mean_pool(h, attention_mask)))
    """)),
    _m("pooling", "classifier_detaches_body", _classifier("""
            def forward(self, input_ids, token_type_ids=None, attention_mask=None):
                h = self.bert(input_ids, token_type_ids, attention_mask).detach()
                pool = mean_pool if self.pooling == "mean" else cls_pool
                return self.head(self.dropout(pool(h, attention_mask)))
    """)),
    _m("pooling", "classifier_no_dropout", _classifier("""
            def forward(self, input_ids, token_type_ids=None, attention_mask=None):
                h = self.bert(input_ids, token_type_ids, attention_mask)
                pool = mean_pool if self.pooling == "mean" else cls_pool
                return self.head(pool(h, attention_mask))
    """)),
    _m("pooling", "classifier_body_without_mask", _classifier("""
            def forward(self, input_ids, token_type_ids=None, attention_mask=None):
                h = self.bert(input_ids, token_type_ids)
                pool = mean_pool if self.pooling == "mean" else cls_pool
                return self.head(self.dropout(pool(h, attention_mask)))
    """)),
    _m("pooling", "classifier_wraps_encode", """
        from autograder.checks.bert import _reference as _R
        from tests.mutants.bert.training import minilm_sentence_transformer

        _ST = minilm_sentence_transformer()
    """ + _classifier("""
            def forward(self, input_ids, token_type_ids=None, attention_mask=None):
                texts = _R.tokenizer().batch_decode(input_ids, skip_special_tokens=True)
                return self.head(self.dropout(_ST.encode(texts, convert_to_tensor=True)))
    """)),
]

# ------------------------------------------------------------------------ optimizer

def _groups(rule: str, *, frozen: bool = False, wd: str = "weight_decay",
            no_decay_key: bool = True) -> str:
    """A param_groups whose no-decay test is `rule` (name, param in scope)."""
    skip = "" if frozen else "\n                if not param.requires_grad:\n                    continue"
    second = '{"params": no_decay, "weight_decay": 0.0}' if no_decay_key else '{"params": no_decay}'
    return f"""
        def param_groups(model, weight_decay):
            decay, no_decay = [], []
            for name, param in model.named_parameters():{skip}
                (no_decay if {rule} else decay).append(param)
            return [{{"params": decay, "weight_decay": {wd}}}, {second}]
    """


_OPTIMIZER = [
    _m("optimizer", "layernorm_decayed", _groups('name.endswith("bias")')),
    _m("optimizer", "layernorm_by_name", _groups(
        'any(nd in name for nd in ("bias", "LayerNorm.weight"))')),
    _m("optimizer", "one_group", """
        def param_groups(model, weight_decay):
            params = [p for p in model.parameters() if p.requires_grad]
            return [{"params": params, "weight_decay": weight_decay}]
    """),
    _m("optimizer", "embeddings_excluded", _groups('param.ndim < 2 or "embeddings" in name')),
    _m("optimizer", "frozen_included", _groups("param.ndim < 2", frozen=True)),
    _m("optimizer", "hardcoded_weight_decay", _groups("param.ndim < 2", wd="0.01")),
    _m("optimizer", "no_decay_group_default", _groups("param.ndim < 2", no_decay_key=False)),
    # the shortcuts: transformers' own choice of the decayed parameters
    _m("optimizer", "groups_from_trainer", """
        def param_groups(model, weight_decay):
            from transformers import Trainer

            decay = set(Trainer.get_decay_parameter_names(None, model))
            named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            return [{"params": [p for n, p in named if n in decay], "weight_decay": weight_decay},
                    {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0}]
    """),
    _m("optimizer", "groups_from_get_parameter_names", """
        def param_groups(model, weight_decay):
            from transformers.trainer_pt_utils import get_parameter_names

            decay = set(get_parameter_names(model, [nn.LayerNorm], ["bias"]))
            named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            return [{"params": [p for n, p in named if n in decay], "weight_decay": weight_decay},
                    {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0}]
    """),
    _m("optimizer", "warmup_plus_one", """
        def warmup_linear(step, warmup_steps, total_steps):
            if step < warmup_steps:
                return (step + 1) / warmup_steps
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    """),
    _m("optimizer", "decay_to_total_plus_warmup", """
        def warmup_linear(step, warmup_steps, total_steps):
            if step < warmup_steps:
                return step / warmup_steps
            return max(0.0, (total_steps + warmup_steps - step) / total_steps)
    """),
    _m("optimizer", "negative_after_total", """
        def warmup_linear(step, warmup_steps, total_steps):
            if step < warmup_steps:
                return step / warmup_steps
            return (total_steps - step) / max(1, total_steps - warmup_steps)
    """),
    _m("optimizer", "wraps_schedule", """
        def warmup_linear(step, warmup_steps, total_steps):
            from transformers import get_linear_schedule_with_warmup

            opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
            return get_linear_schedule_with_warmup(opt, warmup_steps, total_steps).lr_lambdas[0](step)
    """),
    _m("optimizer", "wraps_schedule_imported_early", """
        from transformers import get_linear_schedule_with_warmup

        def warmup_linear(step, warmup_steps, total_steps):
            opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
            return get_linear_schedule_with_warmup(opt, warmup_steps, total_steps).lr_lambdas[0](step)
    """),
]

MUTANTS: list[Mutant] = _MASKING + _POOLING + _OPTIMIZER

# mutant id -> text its message must contain (the likely bug named)
DIAGNOSES = {
    "masking/masks_specials": "never chosen",
    "masking/labels_everywhere": "labels are the input ids everywhere",
    "masking/labels_inverted": "inverted",
    "masking/labels_after_replacement": "REPLACED ids",
    "masking/all_mask": "every chosen position became [MASK]",
    "masking/no_unchanged_share": "only half of them",
    "masking/replace_everywhere": "applied to every position",
    "masking/exact_share_of_row": "round(p * T)",
    "masking/random_from_global_rng": "global seed",
    "masking/p_ignored": "hard-coded 0.15",
    "masking/in_place": "in place",
    "masking/random_below_mask_id": "below mask_id",
    "masking/random_excludes_last": "upper bound is exclusive",
    "masking/wraps_collator": "your code calls DataCollatorForLanguageModeling.torch_mask_tokens",
    "pooling/mean_counts_padding": "padding was averaged in",
    "pooling/sum_not_mean": "masked SUM",
    "pooling/divide_by_T": "divided by T",
    "pooling/mask_not_unsqueezed": "(B, T, 1)",
    "pooling/mean_normalises": "must not normalise",
    "pooling/cls_last": "LAST position",
    "pooling/mean_wraps_pooling_module": "your code calls Pooling.forward",
    "pooling/classifier_ignores_pooling": "by self.pooling",
    "pooling/classifier_detaches_body": "the body got no gradient",
    "pooling/classifier_no_dropout": "apply self.dropout",
    "pooling/classifier_body_without_mask": "pass attention_mask to the body",
    "pooling/classifier_wraps_encode": "your code calls",
    "optimizer/layernorm_decayed": "LayerNorm weights are decayed",
    "optimizer/layernorm_by_name": "not by 'LayerNorm' in its name",
    "optimizer/one_group": "everything is decayed",
    "optimizer/embeddings_excluded": "embedding table",
    "optimizer/frozen_included": "frozen",
    "optimizer/hardcoded_weight_decay": "weight_decay argument",
    "optimizer/no_decay_group_default": "AdamW's default",
    "optimizer/warmup_plus_one": "don't add 1",
    "optimizer/decay_to_total_plus_warmup": "total_steps + warmup_steps",
    "optimizer/negative_after_total": "clamp it at 0",
    "optimizer/wraps_schedule": "your code calls",
    "optimizer/wraps_schedule_imported_early": "your code calls",
    "optimizer/groups_from_trainer": "your code calls Trainer.get_decay_parameter_names",
    "optimizer/groups_from_get_parameter_names": "your code calls",
}
