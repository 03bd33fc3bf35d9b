"""Plausible wrong implementations of the exercises ("mutants"), one module per chapter.

A mutant is Python source that redefines an exercise's function(s) or class. It is
executed in a COPY of the solution's namespace (see `apply`), so it may call the other
solution functions (a SkipGram mutant may call the solution's `sgns_loss`). Every
mutant must be rejected by its exercise's visible check and graded test cell: a check
that no mutant fails is not a check.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class Mutant:
    exercise: str  # the exercise id, e.g. "vocab" (`:exercise: vocab` in the solution)
    name: str      # short slug naming the bug, e.g. "gt_min_count"
    source: str    # Python source redefining the exercise's function(s)/class

    @property
    def id(self) -> str:
        return f"{self.exercise}/{self.name}"


def apply(mutant: Mutant, namespace: dict) -> dict:
    """A copy of `namespace` (the solution's definitions) with the mutant's source run in it."""
    mutated = dict(namespace)
    exec(compile(mutant.source, f"<mutant {mutant.id}>", "exec"), mutated)
    return mutated


def stub_function(*args, **kwargs):
    """What a released stub does: the tests use it to stand in for an unfinished exercise."""
    raise NotImplementedError()


class StubModule(nn.Module):
    """A released stub class: its constructor raises like the notebook's stub."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        raise NotImplementedError()
