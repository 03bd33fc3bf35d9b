"""The `course` command line: release, check, grade, run, book, results."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from course import scale as scales
from course.errors import CourseError, Exit


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line instead of usage + traceback-like noise
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="course", description="Transfer Learning for NLP, built from scratch.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("release", help="regenerate chapters/ and book pages from solutions/")
    r.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is stale")
    r.add_argument("--student", type=Path, metavar="OUT",
                   help="also write the student edition to OUT: the stub notebooks and a wheel of "
                   "the runtime library and visible checks, with no solution, hidden test or rubric")

    c = sub.add_parser("check", help="run a chapter's visible checks on your notebook")
    c.add_argument("chapter", help="chapter number, e.g. 1")
    c.add_argument("--notebook", help="notebook to check (default chapters/NN_*.ipynb); any jupytext file")
    c.add_argument("--timeout", type=_positive, default=300, help="seconds before the checks are stopped")

    g = sub.add_parser("grade", help="autograde a folder of submissions with nbgrader")
    g.add_argument("submissions", type=Path, help="folder with one sub-folder per student")
    g.add_argument("--out", type=Path, required=True, help="where the gradebook and feedback go")
    g.add_argument("--timeout", type=_positive, default=120, help="seconds per cell")
    g.add_argument("--workers", type=_positive, default=None, help="students graded in parallel")
    g.add_argument("--resume", action="store_true",
                   help="keep the notebooks an interrupted run in --out already graded")
    g.add_argument("--allow-unisolated", action="store_true",
                   help="grade even where students' code cannot be isolated (it runs as you)")

    n = sub.add_parser("run", help="execute solution chapters and record results")
    n.add_argument("chapters", nargs="*", help="chapter numbers (default: all)")
    n.add_argument("--scale", choices=[*scales.SCALES, "auto"], default="auto")
    n.add_argument("--smoke", action="store_true",
                   help="a handful of steps at this scale's sizes, to prove its path runs "
                   "(results go to build/smoke-results)")

    b = sub.add_parser("book", help="build the book offline with warnings as errors")
    b.add_argument("--no-strict", dest="strict", action="store_false", help="keep going on warnings")
    b.add_argument("--edition", choices=["self-study", "student"], default="self-study",
                   help="self-study: solutions behind toggles; student: exercises as stubs, "
                   "no solutions (default self-study)")

    t = sub.add_parser("pretrain", help="pretrain a chapter's model and ship it as a checkpoint")
    t.add_argument("name", help="checkpoint name, e.g. elmo")
    t.add_argument("--minutes", type=float, default=60.0, help="training time budget (default 60)")
    t.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="write NAME.safetensors and NAME.json to DIR instead of the shipped "
                   "course/checkpoints")

    sub.add_parser("results", help="print the recorded results table")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(_dispatch(args))
    except KeyboardInterrupt:
        print("course: interrupted", file=sys.stderr)
        return Exit.INTERRUPTED
    except CourseError as err:  # meant for a person: one line (see course.errors)
        print(f"course {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # a file or folder that is not there or not ours: one line too
        print(f"course {args.command}: error: {err}", file=sys.stderr)
        return Exit.USAGE


_NEED_SOURCES = {"release", "grade", "run", "book", "pretrain"}  # the instructor's commands


def _dispatch(args) -> int:
    from course import release as releases

    if args.command in _NEED_SOURCES and not releases.has_sources():
        raise CourseError(f"`course {args.command}` needs the course's sources (solutions/): "
                          "this is the student edition, which has `course check` only")
    if args.command == "release":
        from course import release

        code = release.release(check=args.check)
        if args.student is None or code != Exit.OK:
            return code
        if args.check:
            raise CourseError("--student writes an edition; it cannot be combined with --check")
        from course import student

        return student.build(args.student)
    if args.command == "check":
        from course import checker

        return checker.check(args.chapter, args.notebook, timeout=args.timeout)
    if args.command == "grade":
        from autograder import grade

        return grade.grade(args.submissions, args.out, timeout=args.timeout, workers=args.workers,
                           resume=args.resume, allow_unisolated=args.allow_unisolated)
    if args.command == "run":
        from course import runner

        scale = scales.current() if args.scale == "auto" else args.scale  # auto honours COURSE_SCALE
        return runner.run(args.chapters, scale, smoke=args.smoke)
    if args.command == "book":
        from course import book

        html = book.build(strict=args.strict, edition=args.edition)
        print(f"book: {html / 'index.html'}")
        return Exit.OK
    if args.command == "pretrain":
        from course import checkpoints, distributed

        out = {} if args.out is None else {"folder": args.out}
        info = checkpoints.pretrain(args.name, args.minutes, **out)
        if distributed.is_main():  # under torchrun: once, not once per process
            print(json.dumps(info, indent=2, default=float))
        return Exit.OK
    if args.command == "results":
        from course import runner

        runner.print_results()
        return Exit.OK
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
