"""The clean re-run of a submission's graded test cells (``python -m autograder.verify``).

Runs inside the sandbox (``autograder.sandbox``), in a fresh Python process that is not
the notebook's kernel, after nbgrader has graded the notebook. It reads one JSON object
on stdin: ``{"token": ..., "timeout": seconds, "cells": [{"kind": "code"|"test",
"grade_id": ..., "source": ...}, ...]}`` (the notebook's code cells in order, the test
cells as the instructor wrote them, hidden tests included). Then:

1. imports what the test cells import (the checks, torch...), and takes a
   ``autograder.tamper.Snapshot`` of everything the checks rely on;
2. walks the cells in order: from a student's cell it runs the statements the loader of
   ``course check`` keeps (``course.loader.kept``: imports, function and class
   definitions, ``NAME = literal`` constants), plus the top-level statements that set a
   name those definitions or the test cells read (``STOP = set(words)``, ``_orig = f``,
   ``VOCAB = build_vocab(corpus)``, and what those read in turn: ``plan``), unless the
   static scan (``autograder.tamper.static_findings``) finds anything in them; any other
   top-level statement never runs. A test cell runs as written, with ``timeout`` seconds;
3. before and after each test cell, compares the snapshot: a patch made by any means
   (a class body, a default argument, a decorator, ``exec``, a function that patches
   when a check calls it) ends the run with a ``tamper`` verdict.

It answers on its original stdout, one JSON object per line, each line starting with
the token (what the student's code prints goes to /dev/null): ``{"event": "test",
"grade_id", "ok", "error"}`` per test cell as it finishes, ``{"event": "tamper",
"what": [...]}``, ``{"event": "done"}``. A verdict the grader did not get (the process
died or was stopped) counts as not passed.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import json
import os
import signal
import symtable
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from course import loader

EXTRA_CELLS = 2  # the top-level statements run for the definitions get this many cell limits


def _imported_modules(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


class _Timeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


@contextlib.contextmanager
def _time_limit(seconds: int, *, skip: bool = False) -> Iterator[None]:
    """At most `seconds` for the block; with `skip`, a block that runs past it is dropped."""
    signal.alarm(seconds)
    try:
        yield
    except _Timeout:
        if not skip:
            raise
    finally:
        signal.alarm(0)


def _describe(e: BaseException) -> str:
    text = " / ".join(ln.strip() for ln in f"{type(e).__name__}: {e}".splitlines() if ln.strip())
    return text[:300]


# ---------------------------------------------------------------------------------------
# what the definitions need from the top level

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _outer_reads(node: ast.AST) -> Iterator[str]:
    """Names a statement reads in its own (module) scope: not inside a function, lambda,
    class body or comprehension (``symtable`` gives those), but their decorators,
    default values, bases and first iterables, which run at the top level."""
    if isinstance(node, ast.Name):
        if isinstance(node.ctx, ast.Load):
            yield node.id
        return
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = node.args
        outer = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
        if not isinstance(node, ast.Lambda):
            outer += [*node.decorator_list, *(a.annotation for a in
                      (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg)
                      if a is not None and a.annotation is not None)]
            outer += [node.returns] if node.returns is not None else []
    elif isinstance(node, ast.ClassDef):
        outer = [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
    elif isinstance(node, _COMPREHENSIONS):
        outer = [node.generators[0].iter]
    else:
        outer = list(ast.iter_child_nodes(node))
    for child in outer:
        yield from _outer_reads(child)


def _scope_reads(table: symtable.SymbolTable) -> Iterator[str]:
    """The global names a function, class or comprehension (and what it nests) reads."""
    for sym in table.get_symbols():
        if sym.is_global() and sym.is_referenced():
            yield sym.get_name()
    for child in table.get_children():
        yield from _scope_reads(child)


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _own_scope(node: ast.AST) -> Iterator[ast.AST]:
    """`node` and what it holds in its own scope: not a function's, lambda's, class's or
    comprehension's body (those bind their own names)."""
    yield node
    if isinstance(node, (*_SCOPES, *_COMPREHENSIONS)):
        return
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (*_SCOPES, *_COMPREHENSIONS)):
            yield child  # its name (a def, a class) is bound here; nothing inside it is
        else:
            yield from _own_scope(child)


def _writes(node: ast.AST, modules: set[str]) -> set[str]:
    """The names a top-level statement binds, or changes in place (``STOP.add(w)``,
    ``VOCAB[w] = i``, ``model.load_state_dict(...)``), not counting imported modules'
    attributes (the static scan's business); a compound statement: its whole body."""
    out: set[str] = set()
    for sub in _own_scope(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            out.add(sub.id)
        elif isinstance(sub, ast.NamedExpr):
            out.add(sub.target.id)
        elif isinstance(sub, (ast.Attribute, ast.Subscript)) and isinstance(sub.ctx, ast.Store):
            root = _root(sub)
            if root is not None and root not in modules:
                out.add(root)
        elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
            root = _root(sub.func)
            if root is not None and root not in modules:
                out.add(root)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in sub.names}
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            out.add(sub.name)
    return out


@dataclass
class Statement:
    """A top-level statement of a learner's cell, as the plan sees it."""

    cell: int  # index in the payload's cells
    index: int  # its place in the cell's body
    text: str  # its first line, to name it in a message
    kept: bool  # one the loader keeps (runs anyway)
    reads: set[str]
    writes: set[str] = field(default_factory=set)
    finding: str = ""  # what the static scan found in it: never run unless kept


@dataclass
class Plan:
    """Which top-level statements the clean re-run runs besides the kept ones."""

    trees: dict[int, ast.Module] = field(default_factory=dict)  # payload index -> parsed cell
    run: dict[int, set[int]] = field(default_factory=dict)  # payload index -> statement indices
    setters: dict[str, list[Statement]] = field(default_factory=dict)  # name -> not-kept setters
    why_not: dict[str, str] = field(default_factory=dict)  # name -> why its setter did not run

    def missing(self, name: str) -> str:
        """Why a name the tests needed was not set in the clean re-run ("" if not known)."""
        setters = self.setters.get(name)
        if not setters:
            return ""
        why = self.why_not.get(name) or "the grader runs only what the graded code reads"
        return (f"{name} is set at top level by `{setters[0].text}`, which the clean re-run "
                f"did not run: {why}")


def _blank_magics(source: str) -> str:
    return "\n".join("" if loader.MAGIC.match(line) else line for line in source.splitlines())


def _statements(n: int, source: str, tree: ast.Module, findings: list) -> list[Statement]:
    """The top-level statements of a learner's cell, with what each reads (its own scope's
    names, and the globals its functions, classes and comprehensions read)."""
    text = _blank_magics(source)
    try:
        scopes = symtable.symtable(text, f"<cell {n}>", "exec").get_children()
    except (SyntaxError, ValueError):
        scopes = []
    out = []
    for j, node in enumerate(tree.body):
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        last = node.end_lineno or node.lineno
        reads = set(_outer_reads(node))
        for t in scopes:
            if first <= t.get_lineno() <= last:
                reads |= set(_scope_reads(t))
        line = (ast.get_source_segment(text, node) or type(node).__name__).strip()
        line = line.splitlines()[0] if line else type(node).__name__
        found = "; ".join(f.what for f in findings if first <= f.line <= last)
        out.append(Statement(n, j, line[:60] + ("..." if len(line) > 60 else ""),
                             loader.kept(node), reads, finding=found))
    return out


def plan(cells: list[dict]) -> Plan:
    """The top-level statements the test cells need: the names a test cell reads, the
    statements that set them (a def, ``STOP = set(words)``, ``_orig = f``), the names those
    read in turn, and so on; found without running anything. The loader's kept statements
    run anyway; of the others, one in which the static scan finds anything (tamper or
    suspect) is never chosen, and neither is one that rebinds what a test cell imports."""
    from autograder.tamper import static_findings

    out = Plan()
    code = [(n, c["source"]) for n, c in enumerate(cells) if c["kind"] == "code"]
    findings: dict[int, list] = {}
    for f in static_findings(code):
        findings.setdefault(f.cell, []).append(f)
    wanted: list[str] = []  # names to find the setters of
    protected: set[str] = set()  # what the test cells import: never the learner's to rebind
    modules: set[str] = set()
    statements: list[Statement] = []
    for n, cell in enumerate(cells):
        try:
            tree = loader.parse(cell["source"])
        except SyntaxError:
            continue
        if cell["kind"] == "test":
            bound = {node.id for node in ast.walk(tree)
                     if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load)}
            imported = {(a.asname or a.name).split(".")[0] for node in ast.walk(tree)
                        if isinstance(node, (ast.Import, ast.ImportFrom)) for a in node.names}
            protected |= imported
            wanted += [node.id for node in ast.walk(tree) if isinstance(node, ast.Name)
                       and isinstance(node.ctx, ast.Load) and node.id not in bound | imported]
            continue
        out.trees[n] = tree
        statements += _statements(n, cell["source"], tree, findings.get(n, []))
        modules |= {(a.asname or a.name).split(".")[0] for node in tree.body
                    if isinstance(node, (ast.Import, ast.ImportFrom)) for a in node.names}
    by_name: dict[str, list[Statement]] = {}
    for s in statements:
        s.writes = _writes(out.trees[s.cell].body[s.index], modules)
        rebound = sorted(s.writes & protected)
        if rebound and not s.kept:
            s.finding = s.finding or f"rebinds what a test cell imports ({', '.join(rebound)})"
        s.writes -= protected
        for name in s.writes:
            by_name.setdefault(name, []).append(s)
            if not s.kept:
                out.setters.setdefault(name, []).append(s)
    seen: set[str] = set()
    chosen: set[tuple[int, int]] = set()
    while wanted:  # what a needed statement reads is needed in turn
        name = wanted.pop()
        if name in seen:
            continue
        seen.add(name)
        for s in by_name.get(name, []):
            if not s.kept:
                if s.finding:
                    out.why_not.setdefault(name, f"the grader does not run code that {s.finding}")
                    continue
                chosen.add((s.cell, s.index))
            wanted += sorted(s.reads - seen)
    for cell, index in chosen:
        out.run.setdefault(cell, set()).add(index)
    return out


def _load(n: int, plan: Plan, ns: dict, timeout: int, extra: list[float]) -> None:
    """Run cell `n`'s kept statements and the ones `plan` chose, in order, in `ns`.

    Each gets at most `timeout` seconds; the chosen ones share `extra` seconds in all (one
    that runs past its share is dropped, like a statement that fails: the test that needs
    it fails, saying why)."""
    tree = plan.trees.get(n)
    if tree is None:
        return
    chosen = plan.run.get(n, set())
    for j, node in enumerate(tree.body):
        kept = loader.kept(node)
        if kept:
            limit = timeout
        elif j in chosen:
            limit = min(timeout, int(extra[0]))
            if limit < 1:
                _not_run(plan, node, "the clean re-run's time for top-level statements "
                                     f"({EXTRA_CELLS} x {timeout} s) was spent")
                continue
        else:
            continue
        code = compile(ast.Module(body=[node], type_ignores=[]), f"<cell {n}>", "exec")
        started = time.monotonic()
        try:
            with _time_limit(limit):
                exec(code, ns)
        except _Timeout:
            if not kept:
                _not_run(plan, node, f"it ran past {limit} s")
        except Exception as e:  # noqa: BLE001 - learner code may raise anything
            if not kept:
                _not_run(plan, node, f"it raised {_describe(e)}")
        except BaseException as e:  # SystemExit, KeyboardInterrupt from a chosen statement
            if kept:
                raise
            _not_run(plan, node, f"it raised {type(e).__name__}")
        finally:
            if not kept:
                extra[0] -= time.monotonic() - started


def _not_run(plan: Plan, node: ast.stmt, why: str) -> None:
    for name, setters in plan.setters.items():
        if any(plan.trees.get(s.cell) is not None and plan.trees[s.cell].body[s.index] is node
               for s in setters):
            plan.why_not.setdefault(name, why)


def _missing_name(e: BaseException, plan: Plan) -> str:
    name = getattr(e, "name", None) if isinstance(e, NameError) else None
    why = plan.missing(name) if name else ""
    return f" ({why})" if why else ""


def rerun(cells: list[dict], timeout: int) -> Iterator[dict]:
    """The clean re-run of `cells` (the payload's list): its events, one at a time."""
    import autograder.tamper as tamper

    for cell in cells:
        if cell["kind"] == "test":
            for name in _imported_modules(cell["source"]):
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001 - the test cell will report it
                    pass
    if "torch" in sys.modules:
        # torch imports torch._dynamo lazily (the first optimizer a check builds imports it),
        # and that import rebinds torch.manual_seed: import it before the snapshot, so that
        # torch's own rebinding is not taken for the learner's
        importlib.import_module("torch._dynamo")
    chosen = plan(cells)  # static: nothing of the learner's has run yet
    snapshot = tamper.Snapshot()
    signal.signal(signal.SIGALRM, _on_alarm)
    ns = loader.namespace()
    extra = [float(EXTRA_CELLS * timeout)]
    # a statement that runs past the limit is skipped; one that fails fails its test later
    for n, cell in enumerate(cells):
        if cell["kind"] != "test":
            _load(n, chosen, ns, timeout, extra)
            continue
        name = cell.get("grade_id") or ""
        changed = snapshot.changes()
        if changed:
            yield {"event": "tamper", "what": changed[:10], "before": name}
            return
        ok, error = True, ""
        try:
            with _time_limit(timeout):
                loader.run_test(cell["source"], ns, f"test {name}")
        except _Timeout:
            ok, error = False, f"ran past {timeout} s"
        except BaseException as e:  # noqa: BLE001 - SystemExit, KeyboardInterrupt: not passed
            ok, error = False, _describe(e) + _missing_name(e, chosen)
        changed = snapshot.changes()
        if changed:
            yield {"event": "tamper", "what": changed[:10], "during": name}
            return
        yield {"event": "test", "grade_id": name, "ok": ok, "error": error}
    yield {"event": "done"}


def main() -> int:
    payload = json.loads(sys.stdin.read())
    token, timeout = payload["token"], int(payload.get("timeout", 60))
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # what the student's code prints goes nowhere
    os.dup2(devnull, 2)
    for event in rerun(payload["cells"], timeout):
        answers.write(f"{token} {json.dumps(event)}\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
