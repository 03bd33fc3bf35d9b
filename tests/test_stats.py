"""The shared comparison rules (course.stats) and the shared few-label protocol (course.fewlabel)."""

import math

import numpy as np
import pytest
import torch

from course import fewlabel, stats


def test_mean_std_is_the_sample_std_and_zero_for_one_value():
    assert stats.mean_std([0.5, 0.7]) == pytest.approx((0.6, math.sqrt(0.02)))
    assert stats.mean_std([0.42]) == (0.42, 0.0)
    assert stats.fmt([0.5, 0.7]) == "0.600 ± 0.141"
    with pytest.raises(ValueError):
        stats.mean_std([])


def test_a_gap_inside_the_seeds_spread_is_no_difference():
    a, b = [0.60, 0.70, 0.65], [0.58, 0.68, 0.66]
    assert stats.verdict(a, b) == stats.SAME
    assert stats.verdict([0.80, 0.81, 0.82], [0.60, 0.61, 0.62]) == "better"
    assert stats.verdict([0.60, 0.61, 0.62], [0.80, 0.81, 0.82]) == "worse"


def test_the_test_set_noise_counts_for_accuracies():
    # seeds agree to the third decimal, but 400 test sentences measure an accuracy to ±0.025
    a, b = [0.560, 0.561, 0.560], [0.530, 0.531, 0.530]
    assert stats.verdict(a, b) == "better"
    assert stats.verdict(a, b, n_test=400) == stats.SAME
    assert stats.noise(a, b, n_test=400) == pytest.approx(
        2 * math.hypot(math.sqrt(0.5603 * 0.4397 / 400), math.sqrt(0.5303 * 0.4697 / 400)), rel=1e-3)
    assert stats.verdict(a, b, n_test=100_000) == "better"


def test_lower_is_better_for_perplexities():
    assert stats.verdict([120.0, 121.0], [150.0, 151.0], higher_is_better=False) == "better"
    assert stats.verdict([150.0, 151.0], [120.0, 121.0], higher_is_better=False) == "worse"


def test_compare_prints_both_arms_the_verdict_the_gap_and_the_bar():
    line = stats.compare("pretrained", [0.8, 0.81], "random init", [0.6, 0.61], n_test=400)
    assert line.startswith("pretrained 0.805 ± 0.007 against random init 0.605 ± 0.007: better (+0.200; noise ")


def test_chance_bar_is_the_majority_plus_two_standard_errors():
    y = np.array([1] * 60 + [0] * 40)
    majority, bar = stats.chance_bar(y)
    assert majority == pytest.approx(0.6) and bar == pytest.approx(0.6 + 2 * math.sqrt(0.24 / 100))
    assert stats.chance_bar(torch.tensor([0, 0, 1, 1]))[0] == 0.5


def test_the_protocol_is_the_same_subsets_in_every_chapter(monkeypatch):
    monkeypatch.setenv("COURSE_SCALE", "quick")
    proto = fewlabel.protocol()
    assert (proto["pool"], proto["test"], proto["labels"], proto["seeds"]) == (1000, 400, [100, 300, 1000], 3)
    proto["labels"].append(7)  # a copy: a chapter cannot change another chapter's protocol
    assert fewlabel.protocol()["labels"] == [100, 300, 1000]
    # chapter 4's subsets, as it drew them before this module existed
    ch4 = torch.randperm(1000, generator=torch.Generator().manual_seed(100 + 2))[:300].tolist()
    assert fewlabel.subset(1000, 300, 2) == ch4
    assert fewlabel.subset(1000, 100, 2) == ch4[:100]  # nested: 100 labels are the first of 300
    assert fewlabel.subset(1000, 100, 0) != fewlabel.subset(1000, 100, 1)
    monkeypatch.setenv("COURSE_SCALE", "full")
    assert fewlabel.label_counts(fewlabel.protocol(), 8530) == [100, 300, 1000, 8530]


def test_an_arm_known_only_as_mean_and_std_compares_like_its_seeds():
    seeds = [0.70, 0.72, 0.74]
    other = [0.60, 0.61, 0.62]
    summary = stats.Summary(*stats.mean_std(seeds))
    assert stats.verdict(summary, other, n_test=400) == stats.verdict(seeds, other, n_test=400) == "better"
    assert stats.noise(summary, other, n_test=400) == pytest.approx(stats.noise(seeds, other, n_test=400))
    assert stats.fmt(stats.Summary(0.5, 0.01)) == "0.500 ± 0.010"
