"""Find submissions that patch the grading instead of solving the exercises.

Two detectors, both explained in GRADING.md:

- ``static_findings(cells)``: reads the student's code (``ast``, nothing runs) for
  writes to the checks or what they rely on: an attribute of a module from
  ``autograder``/``course``/``torch``/``builtins``/``sys``... set, deleted or ``setattr``'d,
  ``sys.modules`` changed, ``__code__``/``__defaults__``/``__globals__``/``__builtins__``
  touched. Those are ``tamper`` (score 0, flagged). Tools that let code reach around
  the grader (``exec``/``eval``/``compile``, ``importlib``, ``ctypes``, ``gc``, stack frames,
  trace hooks, ``os._exit``) are ``suspect`` (flagged for review, score kept).
- ``Snapshot``: in the clean re-run (``autograder.verify``), the identity of every
  binding the checks depend on (the ``autograder`` modules and their classes and
  functions' code, ``builtins``, ``sys.modules`` entries, ``torch``'s top-level functions
  and ``Tensor``'s methods...) taken before any student code runs, and compared after
  the student's definitions load and after every test cell. Whatever the mechanism
  (a def's default argument, a class body, a decorator, ``exec``, ``importlib``, a
  function that patches when the check calls it), a patch that is still in place when
  the cell ends is found.
"""

from __future__ import annotations

import ast
import sys
import types
from dataclasses import dataclass

# modules whose attributes a submission must never set
GUARDED_ROOTS = ("autograder", "course", "torch", "numpy", "math", "builtins", "sys",
                 "operator", "functools", "inspect", "unittest", "pytest", "nbgrader",
                 "IPython", "ipykernel")
DUNDER_WRITES = {"__code__", "__defaults__", "__kwdefaults__", "__globals__", "__builtins__",
                 "__closure__", "__dict__", "__class__", "__bases__", "__mro__",
                 "__getattribute__", "__setattr__", "__import__"}
SUSPECT_CALLS = {"exec", "eval", "compile", "__import__", "globals", "breakpoint"}
SUSPECT_MODULES = {"importlib", "ctypes", "gc", "inspect", "imp", "runpy", "cffi", "dis",
                   "marshal", "pickle", "code", "codeop", "signal", "socket", "subprocess"}
SUSPECT_ATTRS = {"_getframe", "f_back", "f_locals", "f_globals", "f_builtins", "settrace",
                 "setprofile", "addaudithook", "_exit", "currentframe", "stack", "get_referrers",
                 "get_objects", "reload", "modules", "tb_frame", "gi_frame", "cr_frame"}


@dataclass
class Finding:
    kind: str  # "tamper" | "suspect"
    cell: int  # index of the code cell in the notebook
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.what} (cell {self.cell + 1}, line {self.line})"


def _root(node: ast.AST) -> str | None:
    """The name at the root of an attribute/subscript chain: `a` in `a.b[c].d`."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


class _Scan(ast.NodeVisitor):
    def __init__(self, cell: int, aliases: dict[str, str]):
        self.cell = cell
        self.aliases = aliases  # local name -> module it names (across cells)
        self.found: list[Finding] = []

    def _add(self, kind: str, node: ast.AST, what: str) -> None:
        self.found.append(Finding(kind, self.cell, getattr(node, "lineno", 0), what))

    def _guarded(self, name: str | None) -> str | None:
        if name is None:
            return None
        if name in ("__builtins__", "builtins"):
            return "builtins"
        module = self.aliases.get(name)
        if module and module.split(".")[0] in GUARDED_ROOTS:
            return module
        return None

    # imports: remember aliases, note the suspect modules
    def visit_Import(self, node):
        for a in node.names:
            self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else \
                a.name.split(".")[0]
            if a.name.split(".")[0] in SUSPECT_MODULES:
                self._add("suspect", node, f"imports {a.name}")

    def visit_ImportFrom(self, node):
        mod = node.module or ""
        for a in node.names:
            full = f"{mod}.{a.name}" if mod else a.name
            # `from autograder import checks`: a module; `from x import f`: maybe a function
            self.aliases[a.asname or a.name] = full
            if mod.split(".")[0] in SUSPECT_MODULES or a.name in SUSPECT_MODULES:
                self._add("suspect", node, f"imports {full}")

    def _target(self, target: ast.AST, node: ast.AST, verb: str) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._target(t, node, verb)
            return
        if isinstance(target, ast.Attribute):
            if target.attr in DUNDER_WRITES:
                self._add("tamper", node, f"{verb} {_dotted(target) or target.attr}")
                return
            mod = self._guarded(_root(target))
            if mod:
                self._add("tamper", node, f"{verb} {_dotted(target)} (module {mod})")
        elif isinstance(target, ast.Subscript):
            text = _dotted(target.value)
            if text.endswith("modules") or text.endswith("__dict__") or \
                    self._guarded(_root(target)):
                self._add("tamper", node, f"{verb} an item of {text or 'a guarded object'}")
        elif isinstance(target, ast.Name) and target.id == "__builtins__":
            self._add("tamper", node, f"{verb} __builtins__")

    def visit_Assign(self, node):
        for t in node.targets:
            self._target(t, node, "sets")
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._target(node.target, node, "changes")
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._target(node.target, node, "sets")
        self.generic_visit(node)

    def visit_Delete(self, node):
        for t in node.targets:
            self._target(t, node, "deletes")
        self.generic_visit(node)

    def visit_Global(self, node):
        self.generic_visit(node)

    def visit_Call(self, node):
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if name in ("setattr", "delattr") and node.args:
            target = node.args[0]
            attr = node.args[1] if len(node.args) > 1 else None
            attr_name = attr.value if isinstance(attr, ast.Constant) else None
            if attr_name in DUNDER_WRITES:
                self._add("tamper", node, f"{name}(…, {attr_name!r})")
            elif self._guarded(_root(target)) or (isinstance(target, ast.Call) and
                                                   _dotted(target.func) in ("__import__",)):
                self._add("tamper", node, f"{name} on module {_dotted(target) or '?'}")
            else:
                self._add("suspect", node, f"calls {name}")
        elif isinstance(f, ast.Attribute) and f.attr in ("update", "pop", "clear", "setdefault",
                                                         "__setitem__", "__delitem__",
                                                         "popitem") and \
                (_dotted(f.value).endswith("sys.modules") or _dotted(f.value) == "modules"
                 or _dotted(f.value).endswith("__dict__")
                 or self._guarded(_root(f.value)) == "builtins"):
            self._add("tamper", node, f"changes {_dotted(f.value)}")
        elif name in SUSPECT_CALLS and isinstance(f, ast.Name):
            self._add("suspect", node, f"calls {name}()")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr in SUSPECT_ATTRS:
            base = _dotted(node.value)
            if node.attr != "modules" or base.endswith("sys"):
                if node.attr not in ("stack",) or self.aliases.get(_root(node) or "") == \
                        "inspect":
                    self._add("suspect", node, f"uses {base + '.' if base else ''}{node.attr}")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id == "__builtins__":
            self._add("suspect", node, "uses __builtins__")


def static_findings(cells: list[tuple[int, str]]) -> list[Finding]:
    """Findings in the student's code cells: (index in the notebook, source) pairs."""
    from course import loader

    aliases: dict[str, str] = {}
    found: list[Finding] = []
    for index, source in cells:
        try:
            tree = loader.parse(source)  # what the loader would read (magics blanked)
        except SyntaxError:
            continue
        scan = _Scan(index, aliases)
        scan.visit(tree)
        found.extend(scan.found)
    return found


# -- dynamic: the bindings the checks depend on -------------------------------------------

WATCH_MODULES = ("autograder", "builtins", "math", "operator", "functools", "torch",
                 "torch.testing", "torch.nn.functional", "torch.linalg", "numpy")


def _watched(name: str) -> bool:
    return name in WATCH_MODULES or name.startswith("autograder.")


def _fingerprint(obj) -> tuple:
    """What makes a function or method the same function: the object and its code."""
    fp = [id(obj)]
    target = getattr(obj, "__func__", obj)
    if isinstance(target, types.FunctionType):
        fp += [id(target.__code__), id(target.__defaults__), id(target.__kwdefaults__),
               id(target.__globals__)]
    return tuple(fp)


class Snapshot:
    """Identities of the bindings that checks rely on, to compare later."""

    def __init__(self):
        self.bindings: dict[tuple[str, str], tuple] = {}
        self.modules: dict[str, int] = {}
        for name, module in list(sys.modules.items()):
            if not _watched(name) or not isinstance(module, types.ModuleType):
                continue
            self.modules[name] = id(module)
            self._take(name, vars(module), own=name)
        torch = sys.modules.get("torch")  # imported by the checks: its Tensor methods too
        if torch is not None:
            for cls in (torch.Tensor, torch._C.TensorBase, torch.nn.Module):
                self._take(f"{cls.__module__}.{cls.__qualname__}", dict(vars(cls)), own=None)
        self._keep = list(sys.modules.values())  # keep ids stable (no reuse)

    def _take(self, where: str, namespace: dict, own: str | None) -> None:
        for key, value in list(namespace.items()):
            self.bindings[(where, key)] = _fingerprint(value)
            if own and isinstance(value, type) and getattr(value, "__module__", "") == own:
                for k, v in list(vars(value).items()):
                    self.bindings[(f"{where}.{value.__qualname__}", k)] = _fingerprint(v)

    def changes(self) -> list[str]:
        """What differs from the snapshot (added names are fine; changed or deleted are not)."""
        now = Snapshot.__new__(Snapshot)
        now.bindings, now.modules = {}, {}
        out, gone = [], set()
        for name, ident in self.modules.items():
            module = sys.modules.get(name)
            if module is None or id(module) != ident:
                out.append(f"sys.modules[{name!r}] was replaced or removed")
                gone.add(name)
                continue
            now._take(name, vars(module), own=name)
        torch = sys.modules.get("torch")
        if torch is not None and "torch" not in gone and "torch" in self.modules:
            for cls in (torch.Tensor, torch._C.TensorBase, torch.nn.Module):
                now._take(f"{cls.__module__}.{cls.__qualname__}", dict(vars(cls)), own=None)
        for key, fp in self.bindings.items():
            if any(key[0] == m or key[0].startswith(m + ".") for m in gone):
                continue
            got = now.bindings.get(key)
            if got is None:
                out.append(f"{key[0]}.{key[1]} was deleted")
            elif got != fp:
                out.append(f"{key[0]}.{key[1]} was replaced")
        return out
