"""One training step of an MLP 784-256-10 (batch 64, float32): the engine against torch CPU.

Both models start from the same weights (copied by ``state_dict`` name) and see the same
batch; a step is ``zero_grad(); loss = CrossEntropyLoss()(model(x), y); loss.backward();
step()`` with SGD (lr 0.1, momentum 0.9). The step is also timed phase by phase (forward,
backward, optimizer) to show where the time goes.
"""


import numpy as np

from .common import markdown_table, measure, measure_blocks, median, profile_engine, timed_step

SIZES = (784, 256, 10)
BATCH = 64


def make_batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], size=BATCH).astype(np.int64)
    return x, y


def build(lib, optim):
    """The same model, loss and optimizer in the engine or in torch (``lib`` is the module)."""
    nn = lib.nn
    model = nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(), nn.Linear(SIZES[1], SIZES[2]))
    return model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def copy_weights(engine_model, torch_model, torch):
    """Copy the engine's weights into torch, matched by state_dict name."""
    state = {name: torch.from_numpy(np.array(t.detach().numpy(), dtype=np.float32))
             for name, t in engine_model.state_dict().items()}
    torch_model.load_state_dict(state)


def run(torch, quick=False, profile=False):
    import engine
    import engine.nn
    import engine.optim

    rounds, per_block, warmup = (2, 5, 3) if quick else (5, 40, 10)
    x, y = make_batch()
    engine.manual_seed(0)
    e_model, e_loss, e_opt = build(engine, engine.optim)
    t_model, t_loss, t_opt = build(torch, torch.optim)
    copy_weights(e_model, t_model, torch)

    # Same weights and batch: the first losses agree (to float32 rounding).
    first = (e_loss(e_model(engine.tensor(x)), engine.tensor(y)).item(),
             t_loss(t_model(torch.from_numpy(x)), torch.from_numpy(y)).item())
    e_step = timed_step(e_model, e_loss, e_opt, engine.tensor(x), engine.tensor(y))
    t_step = timed_step(t_model, t_loss, t_opt, torch.from_numpy(x), torch.from_numpy(y))
    e_runs, t_runs = measure_blocks(e_step, t_step, rounds, per_block, warmup)
    e_time = [median([r[i] for r in e_runs]) for i in range(4)]
    t_time = [median([r[i] for r in t_runs]) for i in range(4)]
    e_best, t_best = min(r[3] for r in e_runs), min(r[3] for r in t_runs)
    ratio = e_time[3] / t_time[3]

    rows = []
    for i, phase in enumerate(("forward (zero_grad, model, loss)", "backward",
                               "optimizer step", "whole step")):
        rows.append([phase, f"{e_time[i] * 1e3:.3f}", f"{e_time[i] / e_time[3]:.0%}",
                     f"{t_time[i] * 1e3:.3f}", f"{e_time[i] / t_time[i]:.2f}"])
    rows.append(["whole step, best", f"{e_best * 1e3:.3f}", "", f"{t_best * 1e3:.3f}",
                 f"{e_best / t_best:.2f}"])
    table = markdown_table(["phase", "engine ms", "engine share", "torch ms", "ratio"], rows)
    goal = "met" if max(ratio, e_best / t_best) <= 1.0 else "NOT met"
    if quick:
        goal = "not judged on a --quick run"
    lines = [f"## MLP training step: {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, "
             "SGD(lr 0.1, momentum 0.9)", "",
             f"Median of {rounds * per_block} steps per side, in {rounds} rounds of blocks "
             f"(engine, torch), each block after {warmup} warm-up steps; ratio = engine time / "
             "torch time (< 1: the engine is faster). Each phase's median is taken on its own, "
             "so the phases need not add up to the whole step.", "",
             table, "", f"- same workload: first loss {first[0]:.6f} (engine) vs {first[1]:.6f} "
             "(torch), same weights copied by state_dict name",
             f"- whole step: ratio {ratio:.2f} on medians, {e_best / t_best:.2f} on "
             f"best steps (goal <= 1.0: {goal})"]
    sides = (("engine", e_time[3], e_best), ("torch", t_time[3], t_best))
    noisy = [name for name, med, best in sides if med > 1.5 * best]
    if noisy:
        lines.append(f"- NOISY: the median step of {' and '.join(noisy)} is over 1.5x its best "
                     "step, so other processes were competing for the cores (BLAS threads that "
                     "wait for a descheduled sibling are hit hardest). Trust the best-step ratio, "
                     "rerun on a quiet machine, or compare single-threaded: --threads 1.")
    lines += ["", gemm_layouts(torch, quick)]
    if profile:
        lines += ["", "cProfile of 200 engine steps (top functions by own time):", "```",
                  profile_engine(e_step).strip(), "```"]
    return "\n".join(lines)


def gemm_layouts(torch, quick=False):
    """Why MatMul computes x @ W.T as (W @ xᵀ)ᵀ: the two orders of the same product in numpy
    (OpenBLAS), with torch's addmm for reference, at the shapes of Linear and RNN layers."""
    from engine.ops.matmul import matmul_2d

    rng = np.random.default_rng(0)
    rows, diffs = [], []
    for m, k, n in ((64, 784, 256), (64, 256, 10), (64, 128, 512), (64, 57, 128), (1, 784, 256)):
        x = rng.standard_normal((m, k), dtype=np.float32)
        w = rng.standard_normal((n, k), dtype=np.float32)
        ours, numpys = matmul_2d(x, w.T), x @ w.T
        bound = k * np.finfo(np.float32).eps * (np.abs(x) @ np.abs(w).T)  # rounding, any order
        assert np.all(np.abs(ours - numpys) <= bound), "matmul_2d is not numpy's product"
        diffs.append(float(np.abs(ours - numpys).max()))
        times = [median(measure(f, repeats=20 if quick else 200, warmup=5))
                 for f in _three_ways(torch, matmul_2d, x, w)]
        rows.append([f"{m}x{k} @ ({n}x{k})ᵀ", *(f"{t * 1e6:.1f}" for t in times),
                     f"{times[1] / times[0]:.2f}"])
    table = markdown_table(["product", "x @ W.T µs", "(W @ x.T).T µs", "torch addmm µs",
                            "(W @ x.T).T / x @ W.T"], rows)
    return ("Layouts of x @ W.T in numpy: median of repeated products. The two orders may "
            "sum in different orders (different OpenBLAS kernels): results within float32 "
            "rounding of each other (asserted), largest difference here "
            f"{max(diffs):.2g} (0: bit-identical on this machine). The middle column times "
            "the engine's own engine.ops.matmul.matmul_2d, which MatMul calls and which "
            "takes that order for a transposed right operand.\n\n"
            + table)


def _three_ways(torch, matmul_2d, x, w):
    tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.zeros(len(w))
    return (lambda: x @ w.T, lambda: matmul_2d(x, w.T), lambda: torch.addmm(tb, tx, tw.t()))
