"""The book builds offline with warnings as errors (`-W -n --keep-going`), maths from a local
MathJax, no external scripts, executed chapter outputs, and a results page that lists results.

The fast tests build a copy of book/ with a small fake chapter page (so they do not depend
on `course release` or on how long Chapter 1 takes); the slow one builds the real Chapter 1
at tiny scale when its page exists.
"""

from __future__ import annotations

import html as html_module
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import jupytext
import nbformat
import pytest

from course import book, leaks, publish, release
from course.release import ROOT

BOOK = ROOT / "book"
CHAPTER = "01_word2vec"

FAKE_PAGE = r"""---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

<!-- a fake chapter page written by tests/test_book.py -->
# Transfer learning and word2vec (test page)

The skip-gram objective with negative sampling maximises

$$
\log \sigma(u_o^\top v_c) + \sum_{k=1}^{K} \log \sigma(-u_{k}^\top v_c).
$$

```{code-cell} ipython3
from course import scale
n = scale.pick({"tiny": 3, "quick": 30, "full": 300})
print("BOOK-TEST-OUTPUT", n * 7)
```

```{code-cell} ipython3
:tags: [hide-input]

import matplotlib.pyplot as plt
from tqdm.auto import tqdm

for _ in tqdm(range(n), desc="epochs"):
    pass
plt.plot([1, 2, 3], [1, 4, 9])
plt.title("a plot")
plt.show()
```

```{code-cell} ipython3
:tags: [hide-input, exercise]

def double(x):
    ### BEGIN SOLUTION
    return x * 2  # SOLUTION-LINE-MARKER
    ### END SOLUTION
```

```{code-cell} ipython3
:tags: [answer-key]

print("ANSWER-KEY-OUTPUT", double(21))
```

+++ {"tags": ["written-answer"]}

````{admonition} A model answer and its rubric (2 points)
:class: dropdown

MODEL-ANSWER-MARKER
````
"""

RECORD = {
    "chapter": CHAPTER, "scale": "quick", "device": "cpu", "hardware": "CPU: 2 cores (x86_64)",
    "torch": "2.13.0", "wall_s": 123.4,
    "metrics": {"analogy_acc": 0.1391, "wordsim353_spearman": 0.4123, "transfer": {"w2v_frozen": 0.68}},
    "notes": "embedded data", "created": "2026-01-01T00:00:00+00:00",
}

_SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc=\"([^\"]+)\"")
_LINK_HREF = re.compile(r"<link\b[^>]*\bhref=\"([^\"]+)\"")


def _book_copy(tmp: Path, page: str | None = FAKE_PAGE) -> Path:
    """book/ copied to tmp/src, with the fake chapter page and a placeholder data page if needed."""
    src = tmp / "src"
    shutil.copytree(BOOK, src, ignore=shutil.ignore_patterns("_build"))
    if page is not None:
        (src / "chapters").mkdir(exist_ok=True)
        (src / "chapters" / f"{CHAPTER}.md").write_text(page)
    if not (src / "data.md").exists():  # written by another helper; a stand-in until then
        (src / "data.md").write_text("# Data sets\n\nPlaceholder written by tests/test_book.py.\n")
    return src


PUBLISHED = publish.Publish(repository="https://github.com/example/course")  # a test fixture


def _build(tmp: Path, src: Path, results: Path, executed: Path | None = None, *,
           edition: str = "self-study", published: publish.Publish = PUBLISHED) -> Path:
    return book.build(strict=True, src=src, staging=tmp / f"stage-{edition}", out=tmp / f"html-{edition}",
                      results_dir=results, executed_dir=executed, log=tmp / "book.log",
                      edition=edition, published=published)


def _external(html_dir: Path) -> list[str]:
    bad = []
    for page in html_dir.rglob("*.html"):
        text = page.read_text()
        for url in _SCRIPT_SRC.findall(text):
            if re.match(r"(https?:)?//", url):
                bad.append(f"{page.name}: <script src={url}>")
        for tag in re.findall(r"<link\b[^>]*>", text):
            href = _LINK_HREF.search(tag)
            if href and "stylesheet" in tag and re.match(r"(https?:)?//", href[1]):
                bad.append(f"{page.name}: <link href={href[1]}>")
    return bad


def _mathjax_file(page: Path) -> Path:
    srcs = [s for s in _SCRIPT_SRC.findall(page.read_text()) if "mathjax" in s.lower()]
    assert len(srcs) == 1, f"expected one MathJax script on {page.name}, got {srcs}"
    assert not re.match(r"(https?:)?//", srcs[0]), f"MathJax comes from the network: {srcs[0]}"
    return Path(os.path.normpath(page.parent / srcs[0].split("?")[0]))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The fake chapter executed at tiny scale during the build, with one quick result."""
    tmp = tmp_path_factory.mktemp("book")
    results = tmp / "results"
    results.mkdir()
    (results / f"{CHAPTER}.quick.json").write_text(json.dumps(RECORD))
    html = _build(tmp, _book_copy(tmp), results)
    return tmp, html


@pytest.fixture(scope="module")
def built_student(tmp_path_factory):
    """The same book in its student edition, with no address published."""
    tmp = tmp_path_factory.mktemp("book-student")
    html = _build(tmp, _book_copy(tmp), tmp / "no-results", edition="student",
                  published=publish.Publish())
    return tmp, html


def test_pages_exist(built):
    _, html = built
    for name in ("index.html", "intro.html", f"chapters/{CHAPTER}.html", "data.html", "results.html"):
        assert (html / name).is_file(), f"{name} was not built"


def test_chapter_executed_at_tiny_with_outputs(built):
    _, html = built
    page = (html / "chapters" / f"{CHAPTER}.html").read_text()
    assert "BOOK-TEST-OUTPUT 21" in page  # 3 * 7: the tiny preset ran
    assert "scale: tiny" in page
    assert "<strong>tiny</strong> scale" in page  # the note saying what produced the outputs
    assert re.search(r'<img [^>]*src="\.\./_images/[^"]+\.png"', page), "the figure is missing"
    assert "epochs: 100%" in page  # a tqdm widget reduced to its final text
    assert "widget-view+json" not in page and "embed-amd" not in page


def test_maths_from_local_mathjax(built):
    _, html = built
    page = html / "chapters" / f"{CHAPTER}.html"
    mathjax = _mathjax_file(page)
    assert mathjax.is_file(), f"MathJax script {mathjax} is not in the build"
    assert mathjax.resolve().is_relative_to(html.resolve())
    assert (mathjax.parent / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    assert r"\sum_{k=1}^{K}" in page.read_text()  # the TeX is there for MathJax to typeset


def test_no_external_scripts(built):
    _, html = built
    assert _external(html) == []


def test_launch_buttons_come_from_the_publish_setting(built, built_student):
    _, html = built
    page = (html / "chapters" / f"{CHAPTER}.html").read_text()
    assert f"colab.research.google.com/github/example/course/blob/main/chapters/{CHAPTER}.ipynb" in page
    assert "mybinder.org/v2/gh/example/course/main" in page
    intro = _text(html / "intro.html")
    assert "git+https://github.com/example/course@main" in intro  # the install command
    _, html = built_student  # nothing published: no buttons, no address at all
    page = (html / "chapters" / f"{CHAPTER}.html").read_text()
    assert "colab.research.google.com" not in page and "mybinder.org" not in page
    assert "github.com" not in page + (html / "intro.html").read_text()
    assert "pip install -e" in _text(html / "intro.html")


def _text(page: Path) -> str:
    return html_module.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def test_no_answer_in_the_student_book(built_student):
    """The real chapters (2 onwards here: the fake page stands in for chapter 1) as the
    student edition shows them: the leak scanner finds no line of any answer."""
    _, html = built_student
    assert len(list((html / "chapters").glob("*.html"))) == len(release.chapters())
    assert leaks.scan([html], leaks.course_secrets(), relative_to=html) == []


def test_editions_show_solutions_behind_toggles_or_not_at_all(built, built_student):
    _, html = built
    page = (html / "chapters" / f"{CHAPTER}.html").read_text()
    text = _text(html / "chapters" / f"{CHAPTER}.html")
    assert "SOLUTION-LINE-MARKER" in text and "BEGIN SOLUTION" not in text
    assert "ANSWER-KEY-OUTPUT 42" in text and "MODEL-ANSWER-MARKER" in text
    assert re.search(r'<details class="[^"]*hide[^"]*above-input', page) or "tag_hide-input" in page
    assert "self-study edition" in _text(html / "intro.html")
    _, html = built_student
    page = (html / "chapters" / f"{CHAPTER}.html").read_text()
    text = _text(html / "chapters" / f"{CHAPTER}.html")
    for secret in ("SOLUTION-LINE-MARKER", "x * 2", "ANSWER-KEY-OUTPUT", "MODEL-ANSWER-MARKER"):
        assert secret not in text, f"the student edition shows {secret!r}"
    assert "raise NotImplementedError()" in text and "def double(x):" in text
    assert "write yours in your notebook" in text
    assert "BOOK-TEST-OUTPUT 21" in text  # narrative outputs stay
    assert "student edition" in _text(html / "intro.html")


def test_results_page_lists_results(built):
    _, html = built
    page = (html / "results.html").read_text()
    for text in ("analogy_acc", "0.1391", "wordsim353_spearman", "0.4123", "transfer.w2v_frozen",
                 "CPU: 2 cores (x86_64)", "quick", "2.1 min"):
        assert text in page, f"{text!r} missing from the results page"


def test_results_markdown_without_results(tmp_path):
    text = book.results_markdown(tmp_path)
    assert "No results have been recorded yet" in text
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / f"{CHAPTER}.full.json").write_text(json.dumps({**RECORD, "scale": "full", "notes": "a|b $x$"}))
    text = book.results_markdown(tmp_path)
    assert "bad.json" in text and "could not be read" in text
    assert "a\\|b \\$x\\$" in text  # table- and maths-safe


def test_executed_notebook_is_used_and_stale_one_is_not(tmp_path):
    """Outputs from `course run` (quick) are shown when their code matches the page."""
    src = _book_copy(tmp_path)
    executed = tmp_path / "executed"
    executed.mkdir()
    nb = jupytext.reads(FAKE_PAGE, fmt="md:myst")
    nb.metadata["course"] = {"chapter": CHAPTER, "scale": "quick"}
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = i + 1
        cell.outputs = [nbformat.v4.new_output(
            "stream", name="stdout", text=f"scale: quick (COURSE_SCALE=quick)\nQUICK-RUN-OUTPUT-{i}\n")]
    nbformat.write(nb, executed / f"{CHAPTER}.ipynb")
    results = tmp_path / "results"
    results.mkdir()
    (results / f"{CHAPTER}.quick.json").write_text(json.dumps(RECORD))
    html = _build(tmp_path, src, results, executed)
    page = (html / "chapters" / f"{CHAPTER}.html").read_text()
    assert "QUICK-RUN-OUTPUT-0" in page and "QUICK-RUN-OUTPUT-1" in page
    assert "BOOK-TEST-OUTPUT 21" not in page  # not re-executed
    assert "<strong>quick</strong> scale on CPU: 2 cores (x86_64)" in page

    (src / "chapters" / f"{CHAPTER}.md").write_text(FAKE_PAGE.replace("n * 7", "n * 11"))
    html = _build(tmp_path, src, results, executed)
    page = (html / "chapters" / f"{CHAPTER}.html").read_text()
    assert "QUICK-RUN-OUTPUT-0" not in page and "BOOK-TEST-OUTPUT 33" in page
    assert "stale" in (tmp_path / "book.log").read_text()


def test_warning_fails_the_build_with_one_line(tmp_path):
    src = _book_copy(tmp_path)
    (src / "intro.md").write_text((src / "intro.md").read_text() + "\nSee {doc}`no_such_page`.\n")
    with pytest.raises(book.BookBuildError) as err:
        _build(tmp_path, src, tmp_path / "no-results")
    message = str(err.value)
    assert "\n" not in message and "no_such_page" in message and "book.log" in message


def test_chapter_page_missing_from_toc_is_an_error(tmp_path):
    src = _book_copy(tmp_path)
    (src / "chapters" / "02_extra.md").write_text(FAKE_PAGE)
    with pytest.raises(book.BookBuildError, match="02_extra.md is not in"):
        _build(tmp_path, src, tmp_path / "no-results")


def _chromium_dom(page: Path, screenshot: Path) -> str:
    """The page's DOM after its scripts ran in headless Chromium, offline (DNS blocked)."""
    if not shutil.which("chromium"):
        pytest.fail("headless chromium is needed: `apt-get install chromium` (scripts/test.sh "
                    "installs it when run as root on Debian)")
    with tempfile.TemporaryDirectory() as profile:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--no-first-run", f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
                 "--virtual-time-budget=5000"]
        dom = subprocess.run(["chromium", *flags, "--dump-dom", page.as_uri()], capture_output=True,
                             text=True, timeout=60).stdout
        subprocess.run(["chromium", *flags, "--window-size=1280,1400", f"--screenshot={screenshot}",
                        page.as_uri()], capture_output=True, timeout=60)
    return dom


_TOGGLE = re.compile(r'<details class="[^"]*\bhide\b[^"]*above-input')


@pytest.mark.parametrize("edition", ["self-study", "student"])
def test_each_edition_in_headless_chromium(built, built_student, edition):
    """Maths typeset by the local MathJax, figures and progress bars drawn, and the solution
    toggles present in the self-study edition only."""
    tmp, html = built if edition == "self-study" else built_student
    page = html / "chapters" / f"{CHAPTER}.html"
    shot = tmp / f"chapter-{edition}.png"
    dom = _chromium_dom(page, shot)
    assert "<mjx-container" in dom, "MathJax did not typeset the maths offline"
    images = re.findall(r'<img [^>]*src="([^"]+\.png)"', dom)
    assert images and all((page.parent / src).stat().st_size > 1000 for src in images), images
    assert "epochs: 100%" in dom, "the progress bar was not drawn"
    assert shot.is_file() and shot.stat().st_size > 10_000, "no screenshot"
    toggles = len(_TOGGLE.findall(dom))
    if edition == "self-study":  # the plot's code and the exercise's solution
        assert toggles == 2 and "A model answer and its rubric" in dom
    else:  # the plot's code only: the exercise is shown as its stub
        assert toggles == 1 and "A model answer" not in dom
        assert "raise NotImplementedError()" in html_module.unescape(re.sub(r"<[^>]+>", "", dom))


@pytest.mark.slow
@pytest.mark.skipif(not (BOOK / "chapters" / f"{CHAPTER}.md").is_file(),
                    reason="book/chapters/01_word2vec.md not generated yet (run `course release`)")
def test_real_book_builds_at_tiny(tmp_path):
    src = _book_copy(tmp_path, page=None)
    html = _build(tmp_path, src, ROOT / "results")
    page = html / "chapters" / f"{CHAPTER}.html"
    assert "cell_output" in page.read_text()
    assert _mathjax_file(page).is_file()
    assert _external(html) == []


def test_the_results_page_puts_every_chapters_rows_in_one_table():
    recs = [
        {"chapter": "01_word2vec", "scale": "quick", "metrics": {
            "labels": [100, 300], "rt_acc_random": [0.51, 0.55], "rt_acc_random_std": [0.01, 0.02],
            "rt_acc_w2v_frozen": [0.58, 0.6], "ner_f1_w2v": 0.2, "ner_f1_w2v_std": 0.01}},
        {"chapter": "04_bert", "scale": "quick", "metrics": {
            "labels": [100, 300], "rt_acc_minilm_fine_tuned": [0.7, 0.75],
            "rt_acc_minilm_fine_tuned_std": [0.03, 0.02], "rt_acc_odd": [0.5]}},  # wrong length: left out
        {"chapter": "05_ulmfit", "scale": "full", "metrics": {"labels": [100], "rt_acc_ulmfit": [0.8]}},
    ]
    text = "\n".join(book.arc_markdown(recs))
    quick = text.split("### Rotten Tomatoes accuracy, quick scale")[1].split("###")[0]
    assert "| 100 labels | 300 labels |" in quick
    assert "| 01\\_word2vec | random | 0.510 ± 0.010 | 0.550 ± 0.020 |" in quick
    assert "| 01\\_word2vec | w2v frozen | 0.580 | 0.600 |" in quick
    assert "| 04\\_bert | minilm fine tuned | 0.700 ± 0.030 | 0.750 ± 0.020 |" in quick
    assert "odd" not in text and "### Rotten Tomatoes accuracy, full scale" in text
    assert "| 01\\_word2vec | w2v | 0.200 ± 0.010 |" in text.split("### WNUT-16 entity F1, quick scale")[1]
    assert book.arc_markdown([{"chapter": "x", "metrics": {"ppl": 3.0}}]) == []
