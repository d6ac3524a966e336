"""What a task cell may use: checked on its source (an AST walk) before it is run.

A task asks the learner to *build* a piece of the engine, so a task cell may import only a few
harmless modules and the engine's public names -- not the engine's own implementation of the
piece (``engine.graph``, ``engine.optim``, ``unbroadcast`` ...), not torch, not the grader --
and may not reach around that with ``__import__``, ``exec``, ``open`` or dunder attributes,
nor with the known detours: ``engine`` used other than as ``engine.NAME`` (aliasing,
rebinding, subscripting, passing the module around), ``operator.attrgetter`` /
``methodcaller`` with a string, a module's private or module-valued attributes
(``typing.sys.modules``, ``dataclasses._create_fn``, ``random._os``), ``np.load`` and
``allow_pickle``, strings that spell a dunder or a forbidden name.

This is the first line only: the sandbox (isolation.py) is what holds when a detour is missed
-- no solutions, references or grader code to read there, no unpickling, nothing to write to.
"""

from __future__ import annotations

import ast
import re

ALLOWED_MODULES = {"math", "numpy", "random", "itertools", "functools", "collections",
                   "operator", "typing", "dataclasses", "__future__", "engine"}
# The engine's public API a task cell may use; its submodules (ops, graph, nn, optim,
# testing ...) hold the reference implementations and stay out of reach.
ENGINE_NAMES = {
    "Function", "Tensor", "Value", "no_grad", "enable_grad", "set_grad_enabled",
    "is_grad_enabled", "tensor", "zeros", "zeros_like", "ones", "ones_like", "empty", "full",
    "eye", "arange", "rand", "randn", "randn_like", "randint", "manual_seed",
    "exp", "log", "tanh", "sigmoid", "relu", "sqrt", "abs", "clamp", "where", "matmul",
    "float32", "float64", "int64", "int32", "bool", "float", "double", "long",
}
FORBIDDEN_NAMES = {"__import__", "exec", "eval", "compile", "open", "globals", "locals",
                   "vars", "breakpoint", "input", "getattr", "setattr", "delattr", "memoryview",
                   "torch", "importlib", "sys", "os", "builtins", "gc", "inspect", "subprocess",
                   "ctypes", "course", "__builtins__", "__loader__", "__spec__"}
ALLOWED_DUNDERS = {"__init__", "__name__", "__class__", "__len__"}
# attribute names that lead out of the allowed set whatever they are taken from
FORBIDDEN_ATTRS = FORBIDDEN_NAMES | {
    "modules", "attrgetter", "methodcaller", "ctypeslib", "load", "loads", "allow_pickle",
    "pickle", "f2py", "system", "popen", "fromfile", "memmap", "fromregex", "genfromtxt",
    "loadtxt", "lib_dynload"}


def violations(source: str, forbid: tuple[str, ...] = ()) -> list[str]:
    """What in ``source`` breaks the rules, one line each (empty: fine).

    Raises SyntaxError when the source does not parse (RecursionError/MemoryError when it is
    nested too deeply to).
    """
    tree = ast.parse(source)
    engine_aliases = {"engine"}
    modules = set()  # names bound to an imported module
    found = []

    def bad(node, what):
        found.append(f"line {getattr(node, 'lineno', '?')}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top not in ALLOWED_MODULES or (top == "engine" and alias.name != "engine"):
                    bad(node, f"`import {alias.name}` is not allowed in a task cell")
                elif top == "engine":
                    engine_aliases.add(alias.asname or "engine")
                else:
                    modules.add(alias.asname or top)
        elif isinstance(node, ast.ImportFrom):
            _check_from(node, forbid, bad)
    attribute_of = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id in FORBIDDEN_NAMES or node.id in forbid or node.id in (
                    "attrgetter", "methodcaller", "pickle"):
                bad(node, f"`{node.id}` may not be used in this task cell")
            elif node.id in engine_aliases and id(node) not in attribute_of:
                bad(node, f"`{node.id}` may only be used as {node.id}.NAME with one of the "
                          "engine's public names")
        elif isinstance(node, ast.Attribute):
            _check_attribute(node, forbid, engine_aliases, modules, bad)
        elif isinstance(node, ast.keyword) and node.arg == "allow_pickle":
            bad(node.value, "`allow_pickle` may not be used in a task cell")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                id(node) not in docstrings:
            words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", node.value))
            if "__" in node.value or words & (FORBIDDEN_ATTRS | set(forbid)):
                bad(node, f"the string {node.value[:30]!r} names something a task cell may "
                          "not use")
    return found


def _check_from(node, forbid, bad):
    module = node.module or ""
    if node.level or module.split(".")[0] not in ALLOWED_MODULES or (
            module.startswith("engine") and module != "engine"):
        bad(node, f"`from {'.' * node.level}{module} import ...` is not allowed in a task cell")
    for alias in node.names:
        if module == "engine" and (alias.name not in ENGINE_NAMES or alias.name in forbid):
            bad(node, f"`from engine import {alias.name}` is not allowed here: this task "
                      "builds it")
        elif alias.name.startswith("_") or alias.name in FORBIDDEN_ATTRS or alias.name == "*":
            bad(node, f"`from {module} import {alias.name}` is not allowed in a task cell")


def _check_attribute(node, forbid, engine_aliases, modules, bad):
    attr = node.attr
    on = node.value.id if isinstance(node.value, ast.Name) else None
    if attr.startswith("__") and attr not in ALLOWED_DUNDERS:
        bad(node, f"the attribute `{attr}` may not be used in a task cell")
    elif attr in forbid:
        bad(node, f"`.{attr}` may not be used in this task: it is what you build")
    elif attr.lstrip("_") in FORBIDDEN_ATTRS:
        bad(node, f"the attribute `.{attr}` may not be used in a task cell")
    elif on in engine_aliases and attr not in ENGINE_NAMES:
        bad(node, f"`{on}.{attr}` is not allowed in a task cell: use the engine's public "
                  "names (engine.Tensor, engine.no_grad, ...)")
    elif on in modules and attr.startswith("_"):
        bad(node, f"`{on}.{attr}`: a module's private names may not be used in a task cell")


def _docstrings(tree) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) \
                and node.body and isinstance(node.body[0], ast.Expr) and \
                isinstance(node.body[0].value, ast.Constant):
            found.add(id(node.body[0].value))
    return found


def describe(found: list[str]) -> str:
    more = f" (and {len(found) - 2} more)" if len(found) > 2 else ""
    return ("; ".join(found[:2]) + more + ". Task cells may use math, numpy and the engine's "
            "public names; write the piece yourself")
