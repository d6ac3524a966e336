"""Chapter 9: dead-code elimination, constant folding, a guard cache over shapes and dtypes."""

import textwrap

from . import valid, wrong

_GUARD = '''
class GuardedCache:
    def __init__(self, trace_fn):
        self.trace_fn = trace_fn
        self.replays = {{}}
        self.hits = self.misses = 0

    def __call__(self, *arrays):
        key = {key}
        replay = self.replays.get(key)
        if replay is None:
            self.misses += 1
            replay = self.replays[key] = self.trace_fn(*arrays)
        else:
            self.hits += 1
        return replay(*arrays)
'''


def _guard(key="tuple((a.shape, a.dtype) for a in arrays)"):
    return _GUARD.format(key=key)


_OPS = '''
OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "neg": operator.neg,
       "relu": lambda a: max(a, 0.0)}


'''


def _fold(source, ops=_OPS):
    return ops + textwrap.dedent(source)

ANSWERS = {
    "ch9.dce": [
        wrong("keeps only the nodes that produce an output", """
            def eliminate_dead_code(nodes, outputs):
                return [node for node in nodes if node[0] in outputs]
            """, hint="only the nodes that produce an output"),
        wrong("live nodes in reverse order", """
            def eliminate_dead_code(nodes, outputs):
                live, kept = set(outputs), []
                for node in reversed(nodes):
                    if node[0] in live:
                        kept.append(node)
                        live.update(node[2])
                return kept
            """, hint="in the wrong order"),
        wrong("returns the names of the live nodes", """
            def eliminate_dead_code(nodes, outputs):
                live, kept = set(outputs), []
                for out, op, args in reversed(nodes):
                    if out in live:
                        kept.append(out)
                        live.update(args)
                return kept[::-1]
            """, hint="each item should be one of the given nodes"),
        wrong("walks forward growing the live set", """
            def eliminate_dead_code(nodes, outputs):
                live, kept = set(outputs), []
                for node in nodes:
                    if node[0] in live:
                        kept.append(node)
                        live.update(node[2])
                return kept
            """),
        valid("a worklist from the outputs, then a filter", """
            def eliminate_dead_code(nodes, outputs):
                producer = {out: args for out, _, args in nodes}
                live, todo = set(), list(outputs)
                while todo:
                    name = todo.pop()
                    if name not in live:
                        live.add(name)
                        todo.extend(producer.get(name, ()))
                return [node for node in nodes if node[0] in live]
            """),
        valid("backward pass, inserted at the front", """
            def eliminate_dead_code(nodes, outputs):
                needed, kept = set(outputs), []
                for i in range(len(nodes) - 1, -1, -1):
                    out, op, args = nodes[i]
                    if out in needed:
                        kept.insert(0, nodes[i])
                        needed |= set(args)
                return kept
            """),
    ],
    "ch9.fold": [
        wrong("folds only nodes whose arguments were constants at the start", _fold("""
            def fold_constants(nodes, constants):
                start, out, kept = dict(constants), dict(constants), []
                for node in nodes:
                    name, op, args = node
                    if all(a in start for a in args):
                        out[name] = float(OPS[op](*[start[a] for a in args]))
                    else:
                        kept.append(node)
                return kept, out
            """), hint="folded just before is constant too"),
        wrong("keeps the folded nodes too", _fold("""
            def fold_constants(nodes, constants):
                constants = dict(constants)
                for name, op, args in nodes:
                    if all(a in constants for a in args):
                        constants[name] = float(OPS[op](*[constants[a] for a in args]))
                return list(nodes), constants
            """), hint="leave the node list"),
        wrong("returns only the folded results", _fold("""
            def fold_constants(nodes, constants):
                known, folded, kept = dict(constants), {}, []
                for node in nodes:
                    name, op, args = node
                    if all(a in known for a in args):
                        known[name] = folded[name] = float(OPS[op](*[known[a] for a in args]))
                    else:
                        kept.append(node)
                return kept, folded
            """), hint="is missing from the returned constants"),
        wrong("relu as abs", _fold(ops=_OPS.replace("max(a, 0.0)", "abs(a)"), source="""
            def fold_constants(nodes, constants):
                constants, kept = dict(constants), []
                for node in nodes:
                    name, op, args = node
                    if all(a in constants for a in args):
                        constants[name] = float(OPS[op](*[constants[a] for a in args]))
                    else:
                        kept.append(node)
                return kept, constants
            """)),
        valid("passes until nothing changes", _fold("""
            def fold_constants(nodes, constants):
                constants, kept = dict(constants), list(nodes)
                changed = True
                while changed:
                    changed = False
                    for node in list(kept):
                        name, op, args = node
                        if all(a in constants for a in args):
                            constants[name] = float(OPS[op](*[constants[a] for a in args]))
                            kept.remove(node)
                            changed = True
                return kept, constants
            """)),
        valid("its own table of operations", """
            def fold_constants(nodes, constants):
                ops = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
                       "mul": lambda a, b: a * b, "neg": lambda a: -a,
                       "relu": lambda a: a if a > 0 else 0.0}
                values, kept = dict(constants), []
                for out, op, args in nodes:
                    if set(args) <= set(values):
                        values[out] = float(ops[op](*(values[a] for a in args)))
                    else:
                        kept.append((out, op, args))
                return kept, values
            """),
    ],
    "ch9.guard": [
        wrong("keyed on shapes only", _guard(key="tuple(a.shape for a in arrays)"),
              hint="needs every argument's dtype"),
        wrong("keyed on the first argument", _guard(key="(arrays[0].shape, arrays[0].dtype)")),
        wrong("traces every call", """
            class GuardedCache:
                def __init__(self, trace_fn):
                    self.trace_fn = trace_fn
                    self.hits = self.misses = 0

                def __call__(self, *arrays):
                    self.misses += 1
                    return self.trace_fn(*arrays)(*arrays)
            """, hint="every call traced again"),
        wrong("counts a hit on a miss too", """
            class GuardedCache:
                def __init__(self, trace_fn):
                    self.trace_fn = trace_fn
                    self.replays = {}
                    self.hits = self.misses = 0

                def __call__(self, *arrays):
                    key = tuple((a.shape, a.dtype) for a in arrays)
                    if key not in self.replays:
                        self.misses += 1
                        self.replays[key] = self.trace_fn(*arrays)
                    self.hits += 1
                    return self.replays[key](*arrays)
            """, hint="count a hit when the key is found"),
        valid("dtype names as strings", _guard(
            key="tuple((tuple(a.shape), str(a.dtype)) for a in arrays)")),
        valid("a flat key of ndim, shape and itemsize", _guard(
            key="tuple(v for a in arrays for v in (a.ndim, *a.shape, a.dtype.str))")),
    ],
}
