"""Visible checks, one module per chapter (`autograder.checks.word2vec`, ...).

A graded test cell calls them on the learner's objects, e.g.
`check_build_vocab(build_vocab)`. A check passes silently or raises `AssertionError`
saying where, what was expected, what was got, and the likely bug (see `_common`).
They run inside the learner's kernel, so they import only torch and the standard library.
"""
