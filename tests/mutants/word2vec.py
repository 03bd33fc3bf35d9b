"""Mutants of Chapter 1 (word2vec): wrong answers a student would really write.

Each `source` redefines the exercise's function(s)/class inside a copy of the solution
namespace (`tests.mutants.apply`), with its own imports so it runs in any namespace.
"""

from __future__ import annotations

from textwrap import dedent

from . import Mutant

_IMPORTS = """\
from collections import Counter
import torch
import torch.nn as nn
import torch.nn.functional as F
"""


def _m(exercise: str, name: str, source: str) -> Mutant:
    return Mutant(exercise, name, _IMPORTS + dedent(source))


# ---------------------------------------------------------------------------- vocab

_VOCAB = [
    _m("vocab", "gt_min_count", """
        def build_vocab(sentences, min_count=5):
            counter = Counter()
            for sentence in sentences:
                counter.update(sentence)
            items = sorted(((w, c) for w, c in counter.items() if c > min_count),
                           key=lambda wc: (-wc[1], wc[0]))
            return [w for w, _ in items], torch.tensor([c for _, c in items], dtype=torch.long)
    """),
    _m("vocab", "unsorted", """
        def build_vocab(sentences, min_count=5):
            counter = Counter()
            for sentence in sentences:
                counter.update(sentence)
            items = [(w, c) for w, c in counter.items() if c >= min_count]
            return [w for w, _ in items], torch.tensor([c for _, c in items], dtype=torch.long)
    """),
    _m("vocab", "most_common_ties", """
        def build_vocab(sentences, min_count=5):
            counter = Counter()
            for sentence in sentences:
                counter.update(sentence)
            items = [(w, c) for w, c in counter.most_common() if c >= min_count]
            return [w for w, _ in items], torch.tensor([c for _, c in items], dtype=torch.long)
    """),
    _m("vocab", "ties_reversed", """
        def build_vocab(sentences, min_count=5):
            counter = Counter()
            for sentence in sentences:
                counter.update(sentence)
            items = sorted(((c, w) for w, c in counter.items() if c >= min_count), reverse=True)
            return [w for _, w in items], torch.tensor([c for c, _ in items], dtype=torch.long)
    """),
    _m("vocab", "counts_sentences", """
        def build_vocab(sentences, min_count=5):
            counter = Counter()
            for sentence in sentences:
                counter.update(set(sentence))
            items = sorted(((w, c) for w, c in counter.items() if c >= min_count),
                           key=lambda wc: (-wc[1], wc[0]))
            return [w for w, _ in items], torch.tensor([c for _, c in items], dtype=torch.long)
    """),
    _m("vocab", "two_passes", """
        def build_vocab(sentences, min_count=5):
            words = sorted({w for sentence in sentences for w in sentence})
            counts = {w: 0 for w in words}
            for sentence in sentences:
                for w in sentence:
                    counts[w] += 1
            items = sorted(((w, c) for w, c in counts.items() if c >= min_count),
                           key=lambda wc: (-wc[1], wc[0]))
            return [w for w, _ in items], torch.tensor([c for _, c in items], dtype=torch.long)
    """),
    # gensim counts the words: the exercise asks for it (the check refuses these)
    _m("vocab", "gensim_dictionary", """
        def build_vocab(sentences, min_count=5):
            from gensim.corpora import Dictionary
            d = Dictionary(sentences)
            kept = sorted(((d[i], n) for i, n in d.cfs.items() if n >= min_count),
                          key=lambda wn: (-wn[1], wn[0]))
            return [w for w, _ in kept], torch.tensor([n for _, n in kept], dtype=torch.long)
    """),
    _m("vocab", "gensim_word2vec_vocab", """
        def build_vocab(sentences, min_count=5):
            from gensim.models import Word2Vec
            model = Word2Vec(min_count=min_count)
            model.build_vocab(sentences)
            kept = sorted(((w, model.wv.get_vecattr(w, "count")) for w in model.wv.index_to_key),
                          key=lambda wn: (-wn[1], wn[0]))
            return [w for w, _ in kept], torch.tensor([n for _, n in kept], dtype=torch.long)
    """),
    _m("vocab", "float_when_empty", """
        def build_vocab(sentences, min_count=5):
            counter = Counter()
            for sentence in sentences:
                counter.update(sentence)
            items = sorted(((w, c) for w, c in counter.items() if c >= min_count),
                           key=lambda wc: (-wc[1], wc[0]))
            return [w for w, _ in items], torch.tensor([c for _, c in items])
    """),
]

# ------------------------------------------------------------------------ subsample

_SUBSAMPLE = [
    _m("subsample", "discard_as_keep", """
        def keep_probability(counts, sample=1e-3):
            f = counts.double() / counts.sum()
            return (1 - torch.sqrt(sample / f)).clamp(min=0.0, max=1.0).float()
    """),
    _m("subsample", "paper_sqrt", """
        def keep_probability(counts, sample=1e-3):
            f = counts.double() / counts.sum()
            return torch.sqrt(sample / f).clamp(max=1.0).float()
    """),
    _m("subsample", "no_clip", """
        def keep_probability(counts, sample=1e-3):
            f = counts.double() / counts.sum()
            return ((torch.sqrt(f / sample) + 1) * sample / f).float()
    """),
    _m("subsample", "raw_counts", """
        def keep_probability(counts, sample=1e-3):
            f = counts.double()
            return ((torch.sqrt(f / sample) + 1) * sample / f).clamp(max=1.0).float()
    """),
    _m("subsample", "swapped_ratio", """
        def keep_probability(counts, sample=1e-3):
            f = counts.double() / counts.sum()
            return ((torch.sqrt(sample / f) + 1) * f / sample).clamp(max=1.0).float()
    """),
]

# ---------------------------------------------------------------------------- pairs

_PAIRS = [
    _m("pairs", "one_sided", """
        def skipgram_pairs(ids, window, generator=None):
            T = ids.numel()
            b = torch.randint(1, window + 1, (T,), generator=generator)
            out = [torch.empty(0, 2, dtype=torch.long)]
            for d in range(1, min(window, T - 1) + 1):
                pos = torch.arange(T - d)
                m = b[: T - d] >= d
                out.append(torch.stack([ids[pos[m]], ids[pos[m] + d]], dim=1))
            return torch.cat(out)
    """),
    _m("pairs", "self_pairs", """
        def skipgram_pairs(ids, window, generator=None):
            T = ids.numel()
            b = torch.randint(1, window + 1, (T,), generator=generator)
            out = [torch.empty(0, 2, dtype=torch.long)]
            for d in range(0, min(window, T - 1) + 1):
                pos = torch.arange(T - d)
                m = b[: T - d] >= d
                out.append(torch.stack([ids[pos[m]], ids[pos[m] + d]], dim=1))
                if d > 0:
                    pos = torch.arange(d, T)
                    m = b[d:] >= d
                    out.append(torch.stack([ids[pos[m]], ids[pos[m] - d]], dim=1))
            return torch.cat(out)
    """),
    _m("pairs", "fixed_window", """
        def skipgram_pairs(ids, window, generator=None):
            T = ids.numel()
            out = [torch.empty(0, 2, dtype=torch.long)]
            for d in range(1, min(window, T - 1) + 1):
                pos = torch.arange(T - d)
                out.append(torch.stack([ids[pos], ids[pos + d]], dim=1))
                out.append(torch.stack([ids[pos + d], ids[pos]], dim=1))
            return torch.cat(out)
    """),
    _m("pairs", "b_from_zero", """
        def skipgram_pairs(ids, window, generator=None):
            T = ids.numel()
            b = torch.randint(0, window, (T,), generator=generator)
            out = [torch.empty(0, 2, dtype=torch.long)]
            for d in range(1, min(window, T - 1) + 1):
                pos = torch.arange(T - d)
                m = b[: T - d] >= d
                out.append(torch.stack([ids[pos[m]], ids[pos[m] + d]], dim=1))
                pos = torch.arange(d, T)
                m = b[d:] >= d
                out.append(torch.stack([ids[pos[m]], ids[pos[m] - d]], dim=1))
            return torch.cat(out)
    """),
    _m("pairs", "b_below_window", """
        def skipgram_pairs(ids, window, generator=None):
            T = ids.numel()
            b = torch.randint(1, window, (T,), generator=generator) if window > 1 else \\
                torch.ones(T, dtype=torch.long)
            out = [torch.empty(0, 2, dtype=torch.long)]
            for d in range(1, min(window, T - 1) + 1):
                pos = torch.arange(T - d)
                m = b[: T - d] >= d
                out.append(torch.stack([ids[pos[m]], ids[pos[m] + d]], dim=1))
                pos = torch.arange(d, T)
                m = b[d:] >= d
                out.append(torch.stack([ids[pos[m]], ids[pos[m] - d]], dim=1))
            return torch.cat(out)
    """),
    _m("pairs", "one_b_per_sequence", """
        def skipgram_pairs(ids, window, generator=None):
            T = ids.numel()
            b = int(torch.randint(1, window + 1, (1,), generator=generator))
            out = [torch.empty(0, 2, dtype=torch.long)]
            for d in range(1, min(b, T - 1) + 1):
                pos = torch.arange(T - d)
                out.append(torch.stack([ids[pos], ids[pos + d]], dim=1))
                out.append(torch.stack([ids[pos + d], ids[pos]], dim=1))
            return torch.cat(out)
    """),
    _m("pairs", "flipped_pairs", """
        def skipgram_pairs(ids, window, generator=None):
            # right-hand pairs with the center's b, then every pair flipped: the left
            # contexts of a center then follow the OTHER word's window
            T = ids.numel()
            b = torch.randint(1, window + 1, (T,), generator=generator)
            out = [torch.empty(0, 2, dtype=torch.long)]
            for d in range(1, min(window, T - 1) + 1):
                pos = torch.arange(T - d)
                m = b[: T - d] >= d
                out.append(torch.stack([ids[pos[m]], ids[pos[m] + d]], dim=1))
            right = torch.cat(out)
            return torch.cat([right, right.flip(1)])
    """),
    _m("pairs", "ignores_generator", """
        def skipgram_pairs(ids, window, generator=None):
            T = ids.numel()
            b = torch.randint(1, window + 1, (T,))
            out = [torch.empty(0, 2, dtype=torch.long)]
            for d in range(1, min(window, T - 1) + 1):
                pos = torch.arange(T - d)
                m = b[: T - d] >= d
                out.append(torch.stack([ids[pos[m]], ids[pos[m] + d]], dim=1))
                pos = torch.arange(d, T)
                m = b[d:] >= d
                out.append(torch.stack([ids[pos[m]], ids[pos[m] - d]], dim=1))
            return torch.cat(out)
    """),
    _m("pairs", "positions_not_ids", """
        def skipgram_pairs(ids, window, generator=None):
            T = ids.numel()
            b = torch.randint(1, window + 1, (T,), generator=generator)
            out = [torch.empty(0, 2, dtype=torch.long)]
            for d in range(1, min(window, T - 1) + 1):
                pos = torch.arange(T - d)
                m = b[: T - d] >= d
                out.append(torch.stack([pos[m], pos[m] + d], dim=1))
                pos = torch.arange(d, T)
                m = b[d:] >= d
                out.append(torch.stack([pos[m], pos[m] - d], dim=1))
            return torch.cat(out)
    """),
    _m("pairs", "empty_cat", """
        def skipgram_pairs(ids, window, generator=None):
            T = ids.numel()
            b = torch.randint(1, window + 1, (T,), generator=generator)
            out = []
            for d in range(1, min(window, T - 1) + 1):
                pos = torch.arange(T - d)
                m = b[: T - d] >= d
                out.append(torch.stack([ids[pos[m]], ids[pos[m] + d]], dim=1))
                pos = torch.arange(d, T)
                m = b[d:] >= d
                out.append(torch.stack([ids[pos[m]], ids[pos[m] - d]], dim=1))
            return torch.cat(out)
    """),
]

# ---------------------------------------------------------------------------- noise

_NOISE = [
    _m("noise", "no_power", """
        def noise_distribution(counts, power=0.75):
            counts = counts.double()
            return (counts / counts.sum()).float()
    """),
    _m("noise", "not_renormalised", """
        def noise_distribution(counts, power=0.75):
            counts = counts.double()
            return ((counts / counts.sum()) ** power).float()
    """),
    _m("noise", "uniform_sampling", """
        def sample_negatives(noise, shape, generator=None):
            return torch.randint(0, noise.numel(), shape, generator=generator)
    """),
    _m("noise", "rows_without_replacement", """
        def sample_negatives(noise, shape, generator=None):
            shape = tuple(shape)
            rows = 1
            for s in shape[:-1]:
                rows *= s
            probs = noise.expand(rows, noise.numel())
            draws = torch.multinomial(probs, shape[-1], replacement=False, generator=generator)
            return draws.reshape(shape)
    """),
    _m("noise", "multinomial_default", """
        def sample_negatives(noise, shape, generator=None):
            n = 1
            for s in shape:
                n *= s
            return torch.multinomial(noise, n, generator=generator).reshape(shape)
    """),
    _m("noise", "ignores_generator", """
        def sample_negatives(noise, shape, generator=None):
            n = 1
            for s in shape:
                n *= s
            return torch.multinomial(noise, n, replacement=True).reshape(shape)
    """),
]

# ----------------------------------------------------------------------------- loss

_LOSS = [
    _m("loss", "log_of_sigmoid", """
        def sgns_loss(center, context, negatives):
            pos = (center * context).sum(-1)
            neg = torch.bmm(negatives, center.unsqueeze(-1)).squeeze(-1)
            return -(torch.log(torch.sigmoid(pos)) + torch.log(torch.sigmoid(-neg)).sum(-1)).mean()
    """),
    _m("loss", "one_minus_sigmoid", """
        def sgns_loss(center, context, negatives):
            pos = (center * context).sum(-1)
            neg = torch.bmm(negatives, center.unsqueeze(-1)).squeeze(-1)
            return -(torch.log(torch.sigmoid(pos))
                     + torch.log(1 - torch.sigmoid(neg)).sum(-1)).mean()
    """),
    _m("loss", "epsilon_in_log", """
        def sgns_loss(center, context, negatives):
            pos = (center * context).sum(-1)
            neg = torch.bmm(negatives, center.unsqueeze(-1)).squeeze(-1)
            eps = 1e-7
            return -(torch.log(torch.sigmoid(pos) + eps)
                     + torch.log(torch.sigmoid(-neg) + eps).sum(-1)).mean()
    """),
    _m("loss", "negative_sign", """
        def sgns_loss(center, context, negatives):
            pos = (center * context).sum(-1)
            neg = torch.bmm(negatives, center.unsqueeze(-1)).squeeze(-1)
            return -(F.logsigmoid(pos) + F.logsigmoid(neg).sum(-1)).mean()
    """),
    _m("loss", "mean_over_k", """
        def sgns_loss(center, context, negatives):
            pos = (center * context).sum(-1)
            neg = torch.bmm(negatives, center.unsqueeze(-1)).squeeze(-1)
            return -(F.logsigmoid(pos) + F.logsigmoid(-neg).mean(-1)).mean()
    """),
    _m("loss", "sum_over_batch", """
        def sgns_loss(center, context, negatives):
            pos = (center * context).sum(-1)
            neg = torch.bmm(negatives, center.unsqueeze(-1)).squeeze(-1)
            return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).sum()
    """),
    _m("loss", "missing_unsqueeze", """
        def sgns_loss(center, context, negatives):
            pos = (center * context).sum(-1)
            neg = (negatives * center).sum(-1)
            return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()
    """),
]

# ---------------------------------------------------------------------------- model


def _skipgram(init: str, forward: str, vectors: str = "return self.in_embed.weight.detach().clone()",
              tables: str = "") -> str:
    tables = tables or """
            self.in_embed = nn.Embedding(vocab_size, dim, sparse=sparse)
            self.out_embed = nn.Embedding(vocab_size, dim, sparse=sparse)"""
    return f"""
    class SkipGram(nn.Module):
        def __init__(self, vocab_size, dim, sparse=False):
            super().__init__(){tables}
            {init}

        def forward(self, center, context, negatives):
            {forward}

        def vectors(self):
            {vectors}
    """


_INIT = ("nn.init.uniform_(self.in_embed.weight, -0.5 / dim, 0.5 / dim); "
         "nn.init.zeros_(self.out_embed.weight)")
_FORWARD = ("return sgns_loss(self.in_embed(center), self.out_embed(context), "
            "self.out_embed(negatives))")

_MODEL = [
    _m("model", "shared_table", _skipgram(
        "nn.init.uniform_(self.in_embed.weight, -0.5 / dim, 0.5 / dim)", _FORWARD,
        tables="""
            self.in_embed = nn.Embedding(vocab_size, dim, sparse=sparse)
            self.out_embed = self.in_embed""")),
    _m("model", "context_in_embed", _skipgram(
        _INIT, "return sgns_loss(self.in_embed(center), self.in_embed(context), "
               "self.out_embed(negatives))")),
    _m("model", "negatives_in_embed", _skipgram(
        _INIT, "return sgns_loss(self.in_embed(center), self.out_embed(context), "
               "self.in_embed(negatives))")),
    _m("model", "negatives_unused", _skipgram(
        _INIT, "return -F.logsigmoid((self.in_embed(center) * self.out_embed(context))"
               ".sum(-1)).mean()")),
    _m("model", "default_init", _skipgram("pass", _FORWARD)),
    _m("model", "both_uniform", _skipgram(
        "nn.init.uniform_(self.in_embed.weight, -0.5 / dim, 0.5 / dim); "
        "nn.init.uniform_(self.out_embed.weight, -0.5 / dim, 0.5 / dim)", _FORWARD)),
    _m("model", "sparse_ignored", _skipgram(_INIT, _FORWARD, tables="""
            self.in_embed = nn.Embedding(vocab_size, dim)
            self.out_embed = nn.Embedding(vocab_size, dim)""")),
    _m("model", "vectors_out_embed", _skipgram(
        _INIT, _FORWARD, vectors="return self.out_embed.weight.detach().clone()")),
    _m("model", "vectors_not_copied", _skipgram(
        _INIT, _FORWARD, vectors="return self.in_embed.weight.detach()")),
]

# ----------------------------------------------------------------------- similarity

_SIMILAR = [
    _m("similar", "nn_dot_product", """
        def nearest_neighbours(emb, query, k):
            sims = emb[query] @ emb.T
            sims[torch.arange(len(query)), query] = -float("inf")
            return sims.topk(k, dim=1).indices
    """),
    _m("similar", "nn_query_included", """
        def nearest_neighbours(emb, query, k):
            unit = F.normalize(emb, dim=1)
            return (unit[query] @ unit.T).topk(k, dim=1).indices
    """),
    _m("similar", "nn_normalises_in_place", """
        def nearest_neighbours(emb, query, k):
            emb /= emb.norm(dim=1, keepdim=True)
            sims = emb[query] @ emb.T
            sims[torch.arange(len(query)), query] = -float("inf")
            return sims.topk(k, dim=1).indices
    """),
    _m("similar", "nn_skips_top_hit", """
        def nearest_neighbours(emb, query, k):
            # "the top hit is always the query itself": not when another row is parallel
            unit = F.normalize(emb, dim=1)
            return (unit[query] @ unit.T).topk(k + 1, dim=1).indices[:, 1:]
    """),
    _m("similar", "nn_reversed_order", """
        def nearest_neighbours(emb, query, k):
            unit = F.normalize(emb, dim=1)
            sims = unit[query] @ unit.T
            sims[torch.arange(len(query)), query] = -float("inf")
            return sims.topk(k, dim=1).indices.flip(1)
    """),
    # gensim's KeyedVectors rank by cosine and answer analogies (3CosAdd) themselves
    _m("similar", "gensim_most_similar", """
        def nearest_neighbours(emb, query, k):
            from gensim.models import KeyedVectors
            kv = KeyedVectors(emb.shape[1])
            kv.add_vectors([str(i) for i in range(len(emb))], emb.detach().float().numpy())
            return torch.tensor([[int(key) for key, _ in kv.most_similar(str(int(q)), topn=k)]
                                 for q in query], dtype=torch.long)
    """),
    _m("similar", "gensim_analogy", """
        def analogy(emb, a, b, c):
            from gensim.models import KeyedVectors
            kv = KeyedVectors(emb.shape[1])
            kv.add_vectors([str(i) for i in range(len(emb))], emb.detach().float().numpy())
            return torch.tensor([int(kv.most_similar(positive=[str(int(y)), str(int(z))],
                                                     negative=[str(int(x))], topn=1)[0][0])
                                 for x, y, z in zip(a, b, c)], dtype=torch.long)
    """),
    _m("similar", "analogy_a_minus_b", """
        def analogy(emb, a, b, c):
            unit = F.normalize(emb, dim=1)
            sims = F.normalize(unit[a] - unit[b] + unit[c], dim=1) @ unit.T
            rows = torch.arange(len(a))
            for q in (a, b, c):
                sims[rows, q] = -float("inf")
            return sims.argmax(dim=1)
    """),
    _m("similar", "analogy_no_exclusion", """
        def analogy(emb, a, b, c):
            unit = F.normalize(emb, dim=1)
            sims = F.normalize(unit[b] - unit[a] + unit[c], dim=1) @ unit.T
            return sims.argmax(dim=1)
    """),
    _m("similar", "analogy_excludes_c_only", """
        def analogy(emb, a, b, c):
            unit = F.normalize(emb, dim=1)
            sims = F.normalize(unit[b] - unit[a] + unit[c], dim=1) @ unit.T
            sims[torch.arange(len(c)), c] = -float("inf")
            return sims.argmax(dim=1)
    """),
    _m("similar", "analogy_dot_product", """
        def analogy(emb, a, b, c):
            sims = (emb[b] - emb[a] + emb[c]) @ emb.T
            rows = torch.arange(len(a))
            for q in (a, b, c):
                sims[rows, q] = -float("inf")
            return sims.argmax(dim=1)
    """),
    _m("similar", "analogy_raw_offset", """
        def analogy(emb, a, b, c):
            unit = F.normalize(emb, dim=1)
            sims = F.normalize(emb[b] - emb[a] + emb[c], dim=1) @ unit.T
            rows = torch.arange(len(a))
            for q in (a, b, c):
                sims[rows, q] = -float("inf")
            return sims.argmax(dim=1)
    """),
]

# ----------------------------------------------------------------------- classifier


def _bag(init: str, forward: str) -> str:
    return f"""
    class BagOfEmbeddings(nn.Module):
        def __init__(self, vocab_size, dim, num_classes, pretrained=None, freeze=False,
                     padding_idx=0):
            super().__init__()
            self.padding_idx = padding_idx
{init}
            self.out = nn.Linear(dim, num_classes)

        def forward(self, ids):
{forward}
    """


_COPY = """\
            self.embed = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
            if pretrained is not None:
                with torch.no_grad():
                    self.embed.weight.copy_(pretrained)
            self.embed.weight.requires_grad_(not freeze)"""
_MEAN = """\
            mask = (ids != self.padding_idx).unsqueeze(-1).float()
            x = (self.embed(ids) * mask).sum(1) / mask.sum(1).clamp(min=1)
            return self.out(x)"""

_CLASSIFIER = [
    _m("classifier", "mean_includes_padding", _bag(_COPY, """\
            return self.out(self.embed(ids).mean(1))""")),
    _m("classifier", "assumes_zero_pad_row", _bag(_COPY, """\
            n = (ids != self.padding_idx).sum(1, keepdim=True).clamp(min=1)
            return self.out(self.embed(ids).sum(1) / n)""")),
    _m("classifier", "sum_not_mean", _bag(_COPY, """\
            mask = (ids != self.padding_idx).unsqueeze(-1).float()
            return self.out((self.embed(ids) * mask).sum(1))""")),
    _m("classifier", "padding_idx_hardcoded", _bag(_COPY, """\
            mask = (ids != 0).unsqueeze(-1).float()
            x = (self.embed(ids) * mask).sum(1) / mask.sum(1).clamp(min=1)
            return self.out(x)""")),
    _m("classifier", "freeze_ignored", _bag("""\
            self.embed = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
            if pretrained is not None:
                with torch.no_grad():
                    self.embed.weight.copy_(pretrained)""", _MEAN)),
    _m("classifier", "pretrained_ignored", _bag("""\
            self.embed = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
            self.embed.weight.requires_grad_(not freeze)""", _MEAN)),
    _m("classifier", "from_pretrained_default_freeze", _bag("""\
            if pretrained is not None:
                self.embed = nn.Embedding.from_pretrained(pretrained.clone(),
                                                          padding_idx=padding_idx)
            else:
                self.embed = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
                self.embed.weight.requires_grad_(not freeze)""", _MEAN)),
    _m("classifier", "from_pretrained_shares_memory", _bag("""\
            if pretrained is not None:
                self.embed = nn.Embedding.from_pretrained(pretrained, freeze=freeze,
                                                          padding_idx=padding_idx)
            else:
                self.embed = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
                self.embed.weight.requires_grad_(not freeze)""", _MEAN)),
]

MUTANTS: list[Mutant] = (
    _VOCAB + _SUBSAMPLE + _PAIRS + _NOISE + _LOSS + _MODEL + _SIMILAR + _CLASSIFIER
)
