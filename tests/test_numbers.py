"""The drift test: no number in a chapter's prose is typed by hand (DESIGN.md).

Every number a chapter's markdown states must be a value of its results record
(`results/NN_slug.quick.json`, the run the book shows) or be declared under `course: quoted:`
in the source's front matter with where it comes from (a paper, a fixed fact of the design).
The book pages are generated from these sources, so their prose is the same text.
"""

import json
from pathlib import Path

import pytest

from course import numbers, release

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted((REPO / "solutions").glob("[0-9][0-9]_*.md"))


def _record(source: Path) -> dict | None:
    path = REPO / "results" / f"{source.stem}.quick.json"
    return json.loads(path.read_text()) if path.is_file() else None


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_no_number_in_the_prose_is_typed_by_hand(source):
    record = _record(source)
    assert record is not None, (f"{source.stem} has no results/{source.stem}.quick.json: run "
                                f"`course run {source.stem[:2]} --scale quick`")
    bad = numbers.unsupported(source, record)
    assert not bad, (
        f"{len(bad)} number(s) in the prose of solutions/{source.name} are neither in "
        f"results/{source.stem}.quick.json nor declared under `course: quoted:` in its front matter "
        "(print a measured number from the run; declare a paper's number or a fixed fact with its source):\n"
        + "\n".join(f"  line {n.line}: {n.text!r} in: {n.context}" for n in bad))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_declared_number_is_used_and_says_where_it_comes_from(source):
    text = source.read_text()
    body = text.split("\n---", 1)[1].replace(",", "")  # after the front matter, separators dropped
    for number, origin in numbers.quoted(text).items():
        assert origin.strip(), f"{source.name}: quoted number {number!r} needs its source"
        assert number in body, f"{source.name}: quoted number {number!r} is not in the text any more: drop it"


PAGE = """---
course:
  quoted:
    "4.6": Howard & Ruder 2018, IMDb test error
---

# A chapter

With 100 labels the pretrained arm reaches 0.612 and random init 0.540, a gap of 7.2%;
the test set holds 1,916 sentences and the model 5.4M parameters. The paper: 4.6% error.

Ignored: exercise 12, Chapter 10, Table 11, 2018, 3 seeds, word2vec, CoNLL-2003, bf16,
`steps=400`, $d_k = 64$, [a link](https://example.org/2024/123).

```{code-cell} ipython3
print(0.999)
```

$$
x = 10000
$$

## References

- A. (2019). Title. 123(4), 567-890.
"""
RECORD = {"metrics": {"labels": [100, 300], "acc": [0.6118, 0.7], "random": 0.5403, "gap": 0.072,
                      "test": 1916, "params": 5431088}}


def _page(tmp_path, text):
    path = tmp_path / "07_demo.md"
    path.write_text(text)
    return path


def test_the_check_finds_numbers_the_run_does_not_hold(tmp_path):
    assert numbers.unsupported(_page(tmp_path, PAGE), RECORD) == []
    drifted = numbers.unsupported(_page(tmp_path, PAGE.replace("0.612", "0.613")), RECORD)
    assert [(n.text, n.line) for n in drifted] == [("0.613", 9)]
    typed = numbers.unsupported(_page(tmp_path, PAGE.replace("1,916 sentences", "1,917 sentences")), RECORD)
    assert [n.text for n in typed] == ["1,917"]
    undeclared = numbers.unsupported(_page(tmp_path, PAGE.replace('"4.6"', '"4.7"')), RECORD)
    assert [n.text for n in undeclared] == ["4.6%"]
    assert [n.text for n in numbers.unsupported(_page(tmp_path, PAGE), {"metrics": {}})] == [
        "100", "0.612", "0.540", "7.2%", "1,916", "5.4M"]


def test_the_check_reads_precision_percent_and_units():
    n = numbers.numbers("about 0.25 and 25% and 5.4M and 12,000 and 3.10")
    assert [x.text for x in n] == ["0.25", "25%", "5.4M", "12,000", "3.10"]
    assert numbers.matches(n[0], [0.2504]) and not numbers.matches(n[0], [0.256])
    assert numbers.matches(n[1], [0.25]) and numbers.matches(n[1], [25.0])
    assert numbers.matches(n[2], [5_431_088]) and not numbers.matches(n[2], [5_551_088])
    assert numbers.matches(n[3], [12000]) and numbers.matches(n[4], [3.1])


def test_real_sources_have_prose_to_check():
    assert SOURCES and {s.stem for s in SOURCES} == {ch.slug for ch in release.chapters()}
    assert all(numbers.numbers(s.read_text()) for s in SOURCES), "a chapter whose prose has no numbers at all?"
