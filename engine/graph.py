"""Graph walking shared by the scalar and tensor engines and by the renderer."""


def topological_order(root, parents):
    """Every node reachable from ``root``, each after all of its parents (inputs).

    ``parents(node)`` returns the nodes ``node`` was computed from (any iterable). The walk is
    iterative (an explicit stack, not recursion), so a chain of a million nodes needs no
    recursion limit.
    Reverse the result to visit each node before its inputs, as backpropagation does.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in reversed(tuple(parents(node))):  # reversed: first input visited first
            if id(parent) not in visited:
                stack.append((parent, False))
    return order
