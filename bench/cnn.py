"""One CNN training step (batch 64, float32): the engine against torch CPU, for three models.

The models are the ones the course's source articles train: the CIFAR-10 CNN (conv 3→6 5×5,
pool, conv 6→16 5×5, pool, fc 400-120-84-10), PyTorch's MNIST example Net (conv 1→32 3×3,
conv 32→64 3×3, max-pool, Dropout2d, fc 9216-128-10, log_softmax) and LeNet-5 (conv 1→6 5×5,
pool, conv 6→16 5×5, pool, fc 256-120-84-10). Both sides start from the same weights and see the
same batch; a step is ``zero_grad(); loss(model(x), y).backward(); step()`` with SGD (lr 0.01,
momentum 0.9). The engine's convolutions are matrix products, so the table also says how
close the whole step gets to numpy's float32 matrix-product peak, measured in the same run.

    python -m bench.cnn [--quick] [--profile] [--threads N] [--blas-threads N]
                        [--allocator-default]
"""

import os
import sys
import time
import warnings

import numpy as np

from .common import (
    allocator_env,
    allocator_line,
    environment,
    markdown_table,
    measure,
    measure_clocks,
    median,
    profile_engine,
    setup_torch,
)

BATCH = 64


def cifar_cnn(lib):
    nn, F = lib.nn, lib.nn.functional

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = x.view(-1, 16 * 5 * 5)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    return CNN()


def mnist_net(lib):
    nn, F = lib.nn, lib.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout2d(0.25)
            self.dropout2 = nn.Dropout2d(0.5)  # as in the article; on (N, 128) torch warns
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.conv2(F.relu(self.conv1(x))))
            x = self.dropout1(F.max_pool2d(x, 2))
            x = self.dropout2(F.relu(self.fc1(x.flatten(1))))
            return F.log_softmax(self.fc2(x), dim=1)

    return Net()


def lenet5(lib):
    nn, F = lib.nn, lib.nn.functional

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 4 * 4, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = F.relu(self.fc2(F.relu(self.fc1(x.view(-1, 16 * 4 * 4)))))
            return F.log_softmax(self.fc3(x), dim=1)

    return LeNet()


#: name → (model factory, input shape of one image, loss on the model's output)
MODELS = {
    "CIFAR-10 CNN": (cifar_cnn, (3, 32, 32), "cross_entropy"),
    "MNIST Net": (mnist_net, (1, 28, 28), "nll_loss"),
    "LeNet-5": (lenet5, (1, 28, 28), "nll_loss"),
}


def layer_shapes(torch, model, x):
    """(kind, weight shape, output shape) of each conv and linear layer, in order, recorded by
    forward hooks on the torch model."""
    shapes = []

    def hook(module, inputs, out):
        kind = "conv" if isinstance(module, torch.nn.Conv2d) else "linear"
        shapes.append((kind, tuple(module.weight.shape), tuple(out.shape)))

    layers = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    handles = [m.register_forward_hook(hook) for m in layers]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return shapes


def product_flops(shapes):
    """FLOPs of one training step's matrix products: 2 per multiply-add, for the forward
    product of every conv and linear layer and the two backward ones (dW and dx; the first
    layer needs no dx). Each output value is a dot product with one weight row."""
    flops = [2 * int(np.prod(w[1:])) * int(np.prod(out)) for _, w, out in shapes]
    return 3 * sum(flops) - flops[0]


def products_alone(shapes):
    """A function running the matrix products of one engine step with numpy, on random arrays
    of the engine's shapes and in the engine's operand order: a floor for the engine's step
    (its im2col, col2im, activations and pooling come on top)."""
    from engine.ops.matmul import matmul_2d, matmul_2d_grad_b

    rng = np.random.default_rng(0)
    products = []
    for i, (kind, w_shape, out_shape) in enumerate(shapes):
        oc = w_shape[0]
        k = int(np.prod(w_shape[1:]))
        m = int(np.prod(out_shape)) // oc  # conv: N·OH·OW columns; linear: N rows
        w = rng.standard_normal((oc, k), dtype=np.float32)
        a = rng.standard_normal((k, m) if kind == "conv" else (m, k), dtype=np.float32)
        g = rng.standard_normal((oc, m) if kind == "conv" else (m, oc), dtype=np.float32)
        if kind == "conv":  # as engine/nn/conv.py: W @ cols, (cols @ gᵀ)ᵀ, Wᵀ @ g, here
            # into arrays made once (out=): a floor without allocating or paging in outputs
            outs = [np.empty((oc, m), np.float32), np.empty((k, oc), np.float32),
                    np.empty((k, m), np.float32)]
            layer = [lambda w=w, a=a, o=outs[0]: np.matmul(w, a, out=o),
                     lambda a=a, g=g, o=outs[1]: np.matmul(a, g.T, out=o).T,
                     lambda w=w, g=g, o=outs[2]: np.matmul(w.T, g, out=o)]
        else:  # engine/ops/matmul.py's own functions for x @ W.T, then g @ W for x
            layer = [lambda w=w, a=a: matmul_2d(a, w.T),
                     lambda w=w, a=a, g=g: matmul_2d_grad_b(a, g, w.T),
                     lambda w=w, g=g: g @ w]
        products += layer[:2] if i == 0 else layer  # the first layer's input needs no gradient

    def floor():
        for product in products:
            product()

    return floor


def sgemm_peak(size=2048, repeats=5):
    """numpy's float32 matrix-product speed on a large square product, in FLOP/s."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    seconds = median(measure(lambda: a @ a, repeats=repeats, warmup=2))
    return 2 * size**3 / seconds


def step_fn(lib, model, loss_name, opt, x, y):
    loss_fn = getattr(lib.nn.functional, loss_name)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def twin_models(torch, name, batch=BATCH):
    """The engine's model ``name`` and torch's with the same weights, one seeded batch (x, y)
    as numpy arrays, and the name of the loss in ``nn.functional``."""
    import engine

    factory, image, loss_name = MODELS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *image), dtype=np.float32)
    y = rng.integers(0, 10, size=batch)
    engine.manual_seed(0)
    ours, theirs = factory(engine), factory(torch)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in ours.state_dict().items()})
    return ours, theirs, x, y, loss_name


def bench_model(torch, name, quick):
    import engine

    rounds, repeats, warmup = (2, 2, 1) if quick else (4, 6, 2)
    ours, theirs, x, y, loss_name = twin_models(torch, name)
    e_opt = engine.optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
    t_opt = torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9)
    e_step = step_fn(engine, ours, loss_name, e_opt, engine.tensor(x), engine.tensor(y))
    t_step = step_fn(torch, theirs, loss_name, t_opt, torch.from_numpy(x), torch.from_numpy(y))
    shapes = layer_shapes(torch, theirs, torch.from_numpy(x))
    floor = products_alone(shapes)
    # Blocks, not interleaved steps (see bench/mlp.py: two spinning thread pools alternating
    # slow each other down), in rounds so that a slow spell does not hit only one side; the
    # floor is timed in the same rounds, so that step / floor compares like with like.
    times = {side: ([], []) for side in ("engine", "torch", "floor")}
    for _ in range(rounds):
        for side, fn in (("engine", e_step), ("torch", t_step), ("floor", floor)):
            wall, cpu = measure_clocks(fn, repeats=repeats, warmup=warmup)
            times[side][0].extend(wall)
            times[side][1].extend(cpu)
    return times, product_flops(shapes), e_step


#: issue 16: the engine's step within 1.5× the matrix products it cannot avoid
FLOOR_GOAL = 1.5


def run(torch, quick=False, profile=False):
    peak = sgemm_peak()
    rows, lines, steps = [], [], {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="dropout2d")  # the MNIST Net's 2-D input
        for name in MODELS:
            times, flops, steps[name] = bench_model(torch, name, quick)
            (e, t, f), (ec, tc, fc) = ([median(times[side][i]) for side in times]
                                       for i in (0, 1))
            rows.append([name, f"{e * 1e3:.1f}", f"{t * 1e3:.1f}", f"{f * 1e3:.1f}",
                         f"{e / f:.2f}", f"{e / t:.2f}",
                         f"{min(times['engine'][0]) / min(times['torch'][0]):.2f}",
                         f"{ec / fc:.2f}", f"{ec / tc:.2f}", f"{flops / 1e9:.2f}",
                         f"{flops / e / peak:.0%}"])
            verdict = {True: "met", False: "NOT met"}
            lines.append(f"- {name}: step / floor {e / f:.2f} (CPU time {ec / fc:.2f}); goal <= "
                         f"{FLOOR_GOAL}: {verdict[e / f <= FLOOR_GOAL]} (CPU time: "
                         f"{verdict[ec / fc <= FLOOR_GOAL]}); engine / torch {e / t:.2f}")
        table = markdown_table(["model", "engine ms", "torch ms", "floor ms", "step / floor",
                                "ratio", "ratio of best steps", "step / floor, CPU time",
                                "ratio, CPU time", "GFLOP (products)", "% of sgemm peak"],
                               rows)
        out = [f"## CNN training step: batch {BATCH}, float32, SGD(momentum 0.9)", "",
               "Median step times, measured in rounds of alternating blocks (engine, torch, "
               "floor, ...); ratio = engine / torch (< 1: the engine is faster); the best-steps "
               "ratio compares the fastest step of each. \"Floor\": the matrix products of one "
               "engine step (forward, dW, dx of every conv and linear layer, at the engine's "
               "shapes and operand orders) run by themselves with numpy (the conv products "
               "into arrays made once), in the same rounds; the engine's step cannot be "
               "faster than that. \"CPU time\": the same medians "
               "in this process's CPU time (time.process_time), which leaves out the spells "
               "when other processes hold the core: on a loaded machine the steadier of the "
               "two (it counts every thread, so it compares like with like only with one "
               "thread per library, --threads 1). numpy sgemm peak (2048² float32 product): "
               f"{peak / 1e9:.1f} GFLOP/s.", "", table, "", *lines]
        if profile:
            for name in ("MNIST Net",):
                out += ["", f"cProfile of 5 engine steps, {name} (top by own time):", "```",
                        profile_engine(steps[name], steps=5, top=15).strip(), "```"]
    return "\n".join(out)


def _option(argv, name):
    return int(argv[argv.index(name) + 1]) if name in argv else None


def main(argv=None):
    """``--threads N``: torch's threads (default: every core); ``--blas-threads N``: numpy's
    BLAS threads (default: as --threads). On a small shared machine one BLAS thread can be the
    faster setting: two threads wait for each other whenever another process takes a core."""
    argv = sys.argv[1:] if argv is None else argv
    threads, blas = _option(argv, "--threads"), _option(argv, "--blas-threads")
    blas = blas or threads
    env = {} if "--allocator-default" in argv else allocator_env()  # see bench/common.py
    if blas and os.environ.get("OPENBLAS_NUM_THREADS") != str(blas):
        env["OPENBLAS_NUM_THREADS"] = str(blas)
    if env:
        # numpy's BLAS reads its thread count once, when it loads, and glibc its allocator
        # setting when the process starts: start again with them set.
        os.execve(sys.executable, [sys.executable, "-m", "bench.cnn", *argv],
                  {**os.environ, **env})
    import torch

    if threads:
        torch.set_num_threads(threads)
    else:
        threads = setup_torch(torch)
    t0 = time.perf_counter()
    print(environment(torch))
    print(allocator_line())
    print(f"(torch threads: {threads}; numpy BLAS threads: "
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'default')})\n")
    print(run(torch, quick="--quick" in argv, profile="--profile" in argv))
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
