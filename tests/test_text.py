import itertools

import pytest
import torch

from course.text import iter_minibatches, pad_batch, similar_lengths, tokenize


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Hello, World!", ["hello", ",", "world", "!"]),
        (
            "Don't stop; it's the 21st century's best.",
            ["don't", "stop", ";", "it's", "the", "21st", "century's", "best", "."],
        ),
        ("great film.<br /><br />Loved it", ["great", "film", ".", "loved", "it"]),
        ("a<BR/>b <br>c", ["a", "b", "c"]),
        ("O’Neill don’t", ["o'neill", "don't"]),
        ("'quoted' words", ["'", "quoted", "'", "words"]),
        ("rock-solid 3.5/10 ...", ["rock", "-", "solid", "3", ".", "5", "/", "10", ".", ".", "."]),
        ("Café naïve", ["café", "naïve"]),
        ("snake_case", ["snake", "case"]),
        ("", []),
        ("   \n\t ", []),
    ],
)
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_tokenize_without_punctuation():
    assert tokenize("Wow!! It's <br />GOOD, really.", punctuation=False) == [
        "wow",
        "it's",
        "good",
        "really",
    ]


def test_pad_batch():
    ids, lengths = pad_batch([[5, 6, 7], [8], []])
    assert ids.dtype == torch.long and lengths.dtype == torch.long
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert lengths.tolist() == [3, 1, 0]


def test_pad_batch_pad_id_max_len_and_tensors():
    ids, lengths = pad_batch([torch.tensor([1, 2, 3, 4]), [9]], pad_id=-1, max_len=2)
    assert ids.tolist() == [[1, 2], [9, -1]]
    assert lengths.tolist() == [2, 1]
    empty, n = pad_batch([])
    assert empty.shape == (0, 0) and n.shape == (0,)


def test_iter_minibatches_covers_every_index_once():
    batches = list(iter_minibatches(10, 4, torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    assert torch.cat(batches).tolist() != list(range(10))


def test_iter_minibatches_is_repeatable_and_can_keep_order():
    a = torch.cat(list(iter_minibatches(50, 8, torch.Generator().manual_seed(3))))
    b = torch.cat(list(iter_minibatches(50, 8, torch.Generator().manual_seed(3))))
    assert torch.equal(a, b)
    ordered = torch.cat(list(iter_minibatches(7, 3, shuffle=False)))
    assert ordered.tolist() == list(range(7))
    with pytest.raises(ValueError, match="batch_size"):
        list(iter_minibatches(5, 0))


def test_tokenize_can_keep_capitals():
    assert tokenize("It's a <br />GREAT film’s", lower=False) == ["It's", "a", "GREAT", "film's"]
    assert [t.lower() for t in tokenize("Paris, PARIS!", lower=False)] == tokenize("Paris, PARIS!")


def test_similar_lengths_pads_less_and_takes_every_row_once_per_pass():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(5, 80, (512,), generator=g)
    passes = list(itertools.islice(similar_lengths(lengths, 16, torch.Generator().manual_seed(1)), 64))
    assert all(len(b) == 16 and b.dtype == torch.long for b in passes)
    for p in (passes[:32], passes[32:]):  # 512 rows in batches of 16: 32 batches a pass
        assert torch.equal(torch.cat(p).sort().values, torch.arange(512))
    grouped = torch.stack([lengths[b].max() for b in passes]).float().mean()
    plain = torch.stack([lengths[b].max() for b in torch.randperm(512, generator=g).split(16)]).float().mean()
    assert grouped < 0.75 * plain, (grouped, plain)  # the point: far less padding per batch
    spread = [int(lengths[b].max() - lengths[b].min()) for b in passes]
    assert max(spread) <= 6 + 5, spread  # a batch's rows are within the noise (and ties) of each other
    first = [lengths[b].float().mean() for b in passes[:32]]
    assert first != sorted(first), "the batches of a pass come in a random order, not shortest first"
    members = [{tuple(sorted(b.tolist())) for b in p} for p in (passes[:32], passes[32:])]
    assert members[0] != members[1], "the noise regroups the rows from pass to pass"
    again = list(itertools.islice(similar_lengths(lengths, 16, torch.Generator().manual_seed(1)), 64))
    assert all(torch.equal(a, b) for a, b in zip(passes, again))


def test_similar_lengths_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        next(similar_lengths([3, 4], 0))
    with pytest.raises(ValueError, match="non-empty"):
        next(similar_lengths([], 4))
