"""Chapter 1: local derivatives of mul, tanh and power; an iterative topological sort."""

from . import valid, wrong

_ITERATIVE_DFS = '''
def topological_sort(root, parents):
    order, visited = [], set()
    stack = [(root, iter(parents(root)))]
    visited.add(root)
    while stack:
        node, inputs = stack[-1]
        for parent in inputs:
            if parent not in visited:
                visited.add(parent)
                stack.append((parent, iter(parents(parent))))
                break
        else:
            stack.pop()
            order.append(node)
    return order
'''

ANSWERS = {
    "ch1.mul": [
        wrong("derivatives swapped", "def mul(a, b):\n    return a * b, (a, b)\n",
              hint="wrong order"),
        wrong("the sum rule's derivatives", "def mul(a, b):\n    return a * b, (1.0, 1.0)\n"),
        wrong("builds a Value (the thing the task builds)",
              "def mul(a, b):\n    out = Value(a) * Value(b)\n    return out.data, (b, a)\n",
              hint="`Value` may not be used", sandbox=True),
        valid("named locals", """
            def mul(a, b):
                out = a * b
                d_a, d_b = b, a
                return out, (d_a, d_b)
            """),
        valid("a list of derivatives", "def mul(a, b):\n    return a * b, [b, a]\n"),
    ],
    "ch1.tanh": [
        wrong("1 - x**2", "def tanh(x):\n    return math.tanh(x), (1 - x * x,)\n",
              hint="not 1 - x**2"),
        wrong("1 - tanh, unsquared",
              "def tanh(x):\n    t = math.tanh(x)\n    return t, (1 - t,)\n"),
        wrong("no trailing comma: not a tuple",
              "def tanh(x):\n    t = math.tanh(x)\n    return t, (1 - t * t)\n",
              hint="tuple of 1 local derivative"),
        wrong("sech, unsquared", "def tanh(x):\n    return math.tanh(x), (1 / math.cosh(x),)\n"),
        valid("from exponentials, sech squared", """
            def tanh(x):
                e = math.exp(2 * x)
                return (e - 1) / (e + 1), (1 / math.cosh(x) ** 2,)
            """),
        valid("numpy", "def tanh(x):\n    t = float(np.tanh(x))\n    return t, [1.0 - t**2]\n"),
    ],
    "ch1.pow": [
        wrong("the factor n is missing", "def power(x, n):\n    return x**n, (x ** (n - 1),)\n",
              hint="the factor n is missing"),
        wrong("the exponent does not drop", "def power(x, n):\n    return x**n, (n * x**n,)\n",
              hint="the exponent drops by one"),
        wrong("precedence: n * x**n - 1", "def power(x, n):\n    return x**n, (n * x**n - 1,)\n"),
        valid("math.pow",
              "def power(x, n):\n    return math.pow(x, n), (n * math.pow(x, n - 1),)\n"),
        valid("from the output",
              "def power(x, n):\n    out = x**n\n    return out, (n * out / x,)\n"),
    ],
    "ch1.topo_sort": [
        wrong("recursive depth-first search", """
            def topological_sort(root, parents):
                order, seen = [], set()

                def visit(node):
                    if node not in seen:
                        seen.add(node)
                        for p in parents(node):
                            visit(p)
                        order.append(node)

                visit(root)
                return order
            """, hint="explicit stack"),
        wrong("breadth-first from the root, reversed", """
            def topological_sort(root, parents):
                order, seen, queue = [], {root}, [root]
                while queue:
                    node = queue.pop(0)
                    order.append(node)
                    for p in parents(node):
                        if p not in seen:
                            seen.add(p)
                            queue.append(p)
                return order[::-1]
            """, hint="comes before its input"),
        wrong("post-order without a visited set", """
            def topological_sort(root, parents):
                order, stack = [], [(root, False)]
                while stack:
                    node, expanded = stack.pop()
                    if expanded:
                        order.append(node)
                    else:
                        stack.append((node, True))
                        stack.extend((p, False) for p in parents(node))
                return order
            """, hint="appears twice"),
        wrong("pre-order (root first)", """
            def topological_sort(root, parents):
                order, seen, stack = [], set(), [root]
                while stack:
                    node = stack.pop()
                    if node not in seen:
                        seen.add(node)
                        order.append(node)
                        stack.extend(parents(node))
                return order
            """, hint="comes before its input"),
        valid("Kahn's algorithm on the reachable nodes", """
            def topological_sort(root, parents):
                users, seen, stack = {root: 0}, {root}, [root]
                while stack:
                    node = stack.pop()
                    for p in parents(node):
                        users[p] = users.get(p, 0) + 1
                        if p not in seen:
                            seen.add(p)
                            stack.append(p)
                order, ready = [], [root]
                while ready:
                    node = ready.pop()
                    order.append(node)
                    for p in parents(node):
                        users[p] -= 1
                        if users[p] == 0:
                            ready.append(p)
                return order[::-1]
            """),
        valid("iterative DFS with an iterator per node", _ITERATIVE_DFS),
    ],
}
