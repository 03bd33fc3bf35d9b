"""The course's autograder.

- ``autograder.checks.<chapter>``: the visible checks that graded test cells call
  (and that ``course check`` runs on a learner's notebook).
- ``autograder.grade.grade``: ``course grade`` -- nbgrader autograding of a folder of
  submissions into a CSV gradebook and feedback HTML with the hidden tests stripped.

Importing this package imports nothing heavy: the student's kernel imports
``autograder.checks`` and must start fast.
"""
