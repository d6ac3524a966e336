"""What a task cell may use: checked on its source (an AST walk) before it is run.

A task asks the learner to *build* a piece of the engine, so a task cell may import only a few
harmless modules and the engine's public names -- not the engine's own implementation of the
piece (``engine.graph``, ``engine.optim``, ``unbroadcast`` ...), not torch, not the grader --
and may not reach around that with ``__import__``, ``exec``, ``open`` or dunder attributes.
"""

from __future__ import annotations

import ast

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


def violations(source: str, forbid: tuple[str, ...] = ()) -> list[str]:
    """What in ``source`` breaks the rules, one line each (empty: fine).

    Raises SyntaxError when the source does not parse.
    """
    tree = ast.parse(source)
    engine_aliases = {"engine"}
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
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module.split(".")[0] not in ALLOWED_MODULES or (
                    module.startswith("engine") and module != "engine"):
                bad(node, f"`from {'.' * node.level}{module} import ...` is not allowed in a "
                          "task cell")
            elif module == "engine":
                for alias in node.names:
                    if alias.name not in ENGINE_NAMES or alias.name in forbid:
                        bad(node, f"`from engine import {alias.name}` is not allowed here: "
                                  "this task builds it")
        elif isinstance(node, ast.Name) and (node.id in FORBIDDEN_NAMES or node.id in forbid):
            bad(node, f"`{node.id}` may not be used in this task cell")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("__") and node.attr not in ALLOWED_DUNDERS:
                bad(node, f"the attribute `{node.attr}` may not be used in a task cell")
            elif node.attr in forbid:
                bad(node, f"`.{node.attr}` may not be used in this task: it is what you build")
            elif (isinstance(node.value, ast.Name) and node.value.id in engine_aliases
                  and node.attr not in ENGINE_NAMES):
                bad(node, f"`{node.value.id}.{node.attr}` is not allowed in a task cell: use "
                          "the engine's public names (engine.Tensor, engine.no_grad, ...)")
    return found


def describe(found: list[str]) -> str:
    more = f" (and {len(found) - 2} more)" if len(found) > 2 else ""
    return ("; ".join(found[:2]) + more + ". Task cells may use math, numpy and the engine's "
            "public names; write the piece yourself")
