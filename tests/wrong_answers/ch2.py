"""Chapter 2: the chain rule through a neuron, the backward loop, central differences."""

from . import valid, wrong

_NEURON = '''
def neuron_grads(x1, x2, w1, w2, b):
    n = x1 * w1 + x2 * w2 + b
    do_dn = {do_dn}
    return {{"x1": {x1}, "x2": {x2}, "w1": {w1}, "w2": {w2}, "b": do_dn}}
'''


def _neuron(do_dn="1 - math.tanh(n) ** 2", x1="w1 * do_dn", x2="w2 * do_dn", w1="x1 * do_dn",
            w2="x2 * do_dn"):
    return _NEURON.format(do_dn=do_dn, x1=x1, x2=x2, w1=w1, w2=w2)


_BACKWARD = '''
def backward(root):
    root.grad = {start}
    for node in {order}:
        for child, local in zip(node._prev, node._local_grads):
            child.grad {op} local * node.grad
'''
_REVERSED = "reversed(topological_order(root, lambda n: n._prev))"

ANSWERS = {
    "ch2.chain_rule": [
        wrong("no tanh derivative", _neuron(do_dn="1.0"), hint="chain rule goes through tanh"),
        wrong("the factors of the products swapped",
              _neuron(x1="x1 * do_dn", x2="x2 * do_dn", w1="w1 * do_dn", w2="w2 * do_dn"),
              hint="the *other* factor"),
        wrong("1 - n**2 of the pre-activation", _neuron(do_dn="1 - n ** 2")),
        valid("sech squared", _neuron(do_dn="1 / math.cosh(n) ** 2")),
        valid("one gradient at a time", """
            def neuron_grads(x1, x2, w1, w2, b):
                o = math.tanh(x1 * w1 + x2 * w2 + b)
                grads = {}
                for name, other in (("x1", w1), ("x2", w2), ("w1", x1), ("w2", x2), ("b", 1.0)):
                    grads[name] = (1 - o**2) * other
                return grads
            """),
    ],
    "ch2.backward": [
        wrong("breadth-first from the root (the issue's answer)", """
            def backward(root):
                root.grad = 1.0
                queue, seen = [root], {root}
                while queue:
                    node = queue.pop(0)
                    for child, local in zip(node._prev, node._local_grads):
                        child.grad += local * node.grad
                        if child not in seen:
                            seen.add(child)
                            queue.append(child)
            """),
        wrong("= for +=", _BACKWARD.format(start="1.0", order=_REVERSED, op="="),
              hint="not ="),
        wrong("topological order, not reversed",
              _BACKWARD.format(start="1.0", order="topological_order(root, lambda n: n._prev)",
                               op="+="), hint="*reverse* topological order"),
        wrong("root.grad never set", _BACKWARD.format(start="0.0", order=_REVERSED, op="+="),
              hint="root.grad = 1.0"),
        wrong("depth-first recursion along every path", """
            def backward(root):
                root.grad = 1.0
                stack = [root]
                while stack:
                    node = stack.pop()
                    for child, local in zip(node._prev, node._local_grads):
                        child.grad += local * node.grad
                        stack.append(child)
            """),
        valid("own topological order with an explicit stack", """
            def backward(root):
                order, seen, stack = [], set(), [(root, False)]
                while stack:
                    node, done = stack.pop()
                    if done:
                        order.append(node)
                    elif node not in seen:
                        seen.add(node)
                        stack.append((node, True))
                        stack.extend((c, False) for c in node._prev)
                root.grad = 1.0
                for node in order[::-1]:
                    for child, local in zip(node._prev, node._local_grads):
                        child.grad = child.grad + local * node.grad
            """),
        valid("a node passes its grad on once all its users have", """
            def backward(root):
                users, stack, seen = {}, [root], {root}
                while stack:
                    node = stack.pop()
                    for child in node._prev:
                        users[child] = users.get(child, 0) + 1
                        if child not in seen:
                            seen.add(child)
                            stack.append(child)
                root.grad, ready = 1.0, [root]
                while ready:
                    node = ready.pop()
                    for child, local in zip(node._prev, node._local_grads):
                        child.grad += local * node.grad
                        users[child] -= 1
                        if users[child] == 0:
                            ready.append(child)
            """),
    ],
    "ch2.numerical_grad": [
        wrong("one-sided (forward) difference", """
            def numerical_grad(f, xs, eps=1e-6):
                return [(f(xs[:i] + [x + eps] + xs[i + 1:]) - f(xs)) / eps
                        for i, x in enumerate(xs)]
            """, hint="central"),
        wrong("backward difference", """
            def numerical_grad(f, xs, eps=1e-6):
                return [(f(xs) - f(xs[:i] + [x - eps] + xs[i + 1:])) / eps
                        for i, x in enumerate(xs)]
            """),
        wrong("central, but a step of 1e-2", """
            def numerical_grad(f, xs, eps=1e-2):
                return [(f(xs[:i] + [x + eps] + xs[i + 1:]) - f(xs[:i] + [x - eps] + xs[i + 1:]))
                        / (2 * eps) for i, x in enumerate(xs)]
            """),
        wrong("nudges xs in place and does not restore it", """
            def numerical_grad(f, xs, eps=1e-6):
                grads = []
                for i in range(len(xs)):
                    xs[i] += eps
                    up = f(xs)
                    xs[i] -= 2 * eps
                    grads.append((up - f(xs)) / (2 * eps))
                return grads
            """),
        wrong("divides by eps, not 2 eps", """
            def numerical_grad(f, xs, eps=1e-6):
                return [(f(xs[:i] + [x + eps] + xs[i + 1:]) - f(xs[:i] + [x - eps] + xs[i + 1:]))
                        / eps for i, x in enumerate(xs)]
            """),
        valid("numpy unit vectors, eps 1e-5", """
            def numerical_grad(f, xs, eps=1e-5):
                x = np.array(xs, dtype=float)
                steps = np.eye(len(x)) * eps
                return [(f(list(x + e)) - f(list(x - e))) / (2 * eps) for e in steps]
            """),
        valid("in place, restored", """
            def numerical_grad(f, xs, eps=1e-6):
                xs, grads = list(xs), []
                for i, x in enumerate(xs):
                    xs[i] = x + eps
                    up = f(xs)
                    xs[i] = x - eps
                    grads.append((up - f(xs)) / (2 * eps))
                    xs[i] = x
                return grads
            """),
    ],
}
