"""Dynamic vs static: one training step (forward + backward), eager engine vs traced engine vs
torch eager, on a small MLP at batch 1 and on the course's CIFAR-10 CNN at batch 64.

The traced step is ``trace(lambda x, y: loss_fn(model(x), y), x, y)``, called and then
``.backward()``-ed exactly as the eager one; all sides start from the same weights, and the
traced loss is checked against the eager one first. A second table shows what each optimisation
pass of ``engine.trace.passes`` does to the MLP step: nodes replayed and time per step.

    python -m bench.trace [--quick]
"""

import os
import sys
import time

import numpy as np

from .cnn import cifar_cnn
from .common import environment, markdown_table, median, setup_torch

MLP_SIZES = (32, 64, 64, 10)


def mlp(lib, sizes=MLP_SIZES):
    nn = lib.nn
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def per_step(steps, params, n, rounds, warmup, pick=median):
    """{side: seconds per step}: ``pick`` (the median) of ``rounds`` blocks of ``n`` steps
    (blocks, not single steps: a batch-1 step takes less time than the timer's jitter). The
    sides take turns block by block, so that a busy spell on a shared machine slows all of them,
    not one."""
    def block(side, count):
        step = steps[side]
        t0 = time.perf_counter()
        for _ in range(count):
            for p in params[side]:  # zero_grad, the cheap way: the same on every side
                p.grad = None
            step().backward()
        return (time.perf_counter() - t0) / count

    for side in steps:
        block(side, warmup)
    times = {side: [] for side in steps}
    for _ in range(rounds):
        for side in steps:
            times[side].append(block(side, n))
    return {side: pick(t) for side, t in times.items()}


def sides(torch, factory, x, y, passes_variants=None):
    """{side: step function} for the eager engine, its traces, and torch; plus the params."""
    import engine
    from engine.trace import trace

    engine.manual_seed(0)
    ours, theirs = factory(engine), factory(torch)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in ours.state_dict().items()})
    e_loss, t_loss = engine.nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    ex, ey, tx, ty = engine.tensor(x), engine.tensor(y), torch.from_numpy(x), torch.from_numpy(y)

    def loss(x, y):
        return e_loss(ours(x), y)

    steps = {"engine eager": lambda: loss(ex, ey)}
    for name, passes in (passes_variants or {"engine traced": None}).items():
        traced = trace(loss, ex, ey) if passes is None else trace(loss, ex, ey, passes=passes)
        np.testing.assert_allclose(traced(ex, ey).array, loss(ex, ey).array, rtol=1e-5)
        steps[name] = (lambda t: lambda: t(ex, ey))(traced)
        steps[name].traced = traced
    steps["torch eager"] = lambda: t_loss(theirs(tx), ty)
    return steps, list(ours.parameters()), list(theirs.parameters())


def compare(torch, quick):
    rng = np.random.default_rng(0)
    cases = [("MLP 32-64-64-10", 1, mlp, (32,)), ("CIFAR-10 CNN", 64, cifar_cnn, (3, 32, 32))]
    rows, lines = [], []
    for name, batch, factory, shape in cases:
        x = rng.standard_normal((batch, *shape), dtype=np.float32)
        y = rng.integers(0, 10, size=batch)
        steps, ours, theirs = sides(torch, factory, x, y)
        small = batch == 1
        n, rounds, warmup = ((50, 3, 20) if quick else (50, 30, 200)) if small else \
            ((2, 2, 1) if quick else (8, 5, 3))
        params = {side: theirs if side.startswith("torch") else ours for side in steps}
        t = per_step(steps, params, n, rounds, warmup)
        eager, traced, ref = t["engine eager"], t["engine traced"], t["torch eager"]
        nodes = len(steps["engine traced"].traced.graph.nodes)
        fused = len(steps["engine traced"].traced.optimized.nodes)
        rows.append([f"{name}, batch {batch}", f"{nodes} → {fused}", _time(eager),
                     _time(traced), _time(ref), f"{eager / traced:.2f}", f"{traced / ref:.2f}"])
        goal = f" (goal >= 2: {'met' if eager / traced >= 2 else 'NOT met'})" if small else ""
        lines.append(f"- {name}, batch {batch}: traced is {eager / traced:.2f}x faster than "
                     f"eager{goal}; ratio traced / torch {traced / ref:.2f}")
    table = markdown_table(["model, step = forward + backward", "nodes (recorded → replayed)",
                            "engine eager", "engine traced", "torch eager",
                            "eager / traced", "traced / torch"], rows)
    return ["## One training step: eager vs traced engine vs torch", "",
            "Median time per step (forward, loss, backward; gradients zeroed by setting them "
            "to None), over blocks of steps, the sides taking turns block by block, each after "
            "its own warm-up.", "", table, "", *lines]


def pass_table(torch, quick):
    from engine.trace import passes as P

    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, MLP_SIZES[0]), dtype=np.float32)
    y = rng.integers(0, 10, size=1)
    variants = {
        "as recorded": (),
        "fuse_elementwise": (P.fuse_elementwise,),
        "fuse (products too)": (P.fuse,),
        "all (fold, dce, fuse)": None,
    }

    def frozen(lib):  # fine-tuning: the first layer frozen, its transpose can be folded
        model = mlp(lib)
        model[0].requires_grad_(False)
        return model

    def logging(lib):  # a forward that also computes something nobody uses
        class Logging(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.mlp = mlp(lib)

            def forward(self, x):
                logits = self.mlp(x)
                probs = logits.softmax(dim=1)  # left over from debugging  # noqa: F841
                return logits

        return Logging()

    cases = [("MLP", mlp, variants),
             ("MLP, first layer frozen", frozen, {"as recorded": (),
                                                  "fold_constants": (P.fold_constants,)}),
             ("MLP + unused softmax", logging, {"as recorded": (),
                                                "eliminate_dead_code": (P.eliminate_dead_code,)})]
    n, rounds, warmup = (50, 3, 20) if quick else (30, 40, 200)
    rows = []
    for name, factory, chosen in cases:
        steps, ours, _ = sides(torch, factory, x, y, chosen)
        steps = {variant: steps[variant] for variant in chosen}
        t = per_step(steps, {variant: ours for variant in chosen}, n, rounds, warmup, pick=min)
        for variant, step in steps.items():
            rows.append([name, variant, len(step.traced.optimized.nodes), _time(t[variant])])
    table = markdown_table(["model (batch 1)", "passes", "nodes replayed",
                            "time per step (best block)"], rows)
    return ["## What each pass does (MLP 32-64-64-10, batch 1, forward + backward)", "",
            "Nodes the replay runs, and time per step: the fastest of the blocks, which a busy "
            "machine disturbs least (one node less is a few µs). The numbers computed are the "
            "same in every row (checked against the eager step).", "", table]


def _time(seconds):
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def run(torch, quick=False):
    return "\n".join(compare(torch, quick) + [""] + pass_table(torch, quick))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    import torch

    threads = setup_torch(torch)
    t0 = time.perf_counter()
    print(f"# Tracing: dynamic vs static graphs{' (quick)' if '--quick' in argv else ''}")
    print()
    print(f"environment: {environment(torch)} (torch threads: {threads}); "
          f"load average {os.getloadavg()[0]:.2f} at start")
    print()
    print(run(torch, quick="--quick" in argv))
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
