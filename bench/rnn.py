"""One training step of a character-level RNN classifier: the engine against torch CPU.

The shape of the names chapter: one-hot letters (57 symbols) over T = 10 time steps, batch 64,
float32; ``nn.RNN(57, 128)``, then ``nn.Linear(128, 18)`` on the last hidden state,
cross-entropy, backward, and an SGD step (lr 0.1). Both sides start from the same weights
(copied by state_dict name) and see the same batch; the first step's losses are compared to
show it is the same computation. The LSTM and GRU rows are the same step with those layers.

"Floor": the matrix products of one engine step of the RNN, LSTM and GRU rows (every step's
x·W_ihᵀ, h·W_hhᵀ, dW_ih, dW_hh and dh, and the Linear's three), run by themselves with numpy at
the engine's shapes and operand orders, in the same rounds as the steps: the engine's step
cannot be faster than that, so floor / torch says how far numpy's BLAS alone allows the ratio
to go.

The last row runs the engine's RNN with its cell composed from engine ops (two matmuls, adds,
tanh: about 6 graph nodes per step, autograd deriving the backward) instead of the fused
``RNNCellFunction`` (one node per step): it measures why the layers use fused cells. The
"batch 1" row is the classic tutorial's loop, one name at a time: there the per-step overhead of
Python and of the graph, not the matrix products, sets the pace.

    python -m bench.rnn [--quick] [--profile]
"""

import argparse
import os

import numpy as np

from .common import (
    environment,
    markdown_table,
    measure,
    measure_blocks,
    median,
    profile_engine,
    setup_torch,
    timed_step,
)

INPUT, HIDDEN, CLASSES, STEPS, BATCH = 57, 128, 18, 10, 64
KINDS = ("RNN", "LSTM", "GRU", "RNN, cell from ops", "RNN, batch 1")
FLOORED = ("RNN", "LSTM", "GRU")  # the rows whose matrix products are timed alone


def make_batch(seed=0):
    """Random letters, one-hot (STEPS, BATCH, INPUT), and random classes (BATCH,)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((STEPS, BATCH, INPUT), dtype=np.float32)
    letters = rng.integers(0, INPUT, size=(STEPS, BATCH))
    x[np.arange(STEPS)[:, None], np.arange(BATCH)[None, :], letters] = 1
    return x, rng.integers(0, CLASSES, size=BATCH).astype(np.int64)


def build(lib, layer):
    """The classifier in the engine or in torch (``lib``), with recurrent ``layer``."""

    class Classifier(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = layer(INPUT, HIDDEN)
            self.fc = lib.nn.Linear(HIDDEN, CLASSES)

        def forward(self, x):
            _, h = self.rnn(x)
            h = h[0] if isinstance(h, tuple) else h  # an LSTM gives (h_n, c_n)
            return self.fc(h[-1])  # the last layer's final hidden state

    return Classifier()


def composed_rnn(engine):
    """nn.RNN with the step written as engine ops: autograd derives the backward."""

    class ComposedRNN(engine.nn.RNN):
        def _step(self, x, h, weights):
            w_ih, w_hh, b_ih, b_hh = weights
            return engine.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)

    return ComposedRNN


def products_alone(kind, batch=BATCH):
    """The matrix products of one engine step of ``kind`` (RNN, LSTM, GRU) by themselves, on
    random float32 arrays, in the operand orders of engine/nn/rnn_ops.py (``_gates``,
    ``_affine_grads``) and of the Linear (engine/ops/matmul.py): per step x·W_ihᵀ and
    h·W_hhᵀ, then dW_ih = dᵀx, dW_hh = dᵀh and dh = d·W_hh (not for h0, which needs no
    gradient); the Linear's forward, dW and dx."""
    from engine.nn.rnn_cells import GATES
    from engine.ops.matmul import matmul_2d, matmul_2d_grad_b

    rng = np.random.default_rng(0)

    def rand(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    gates = GATES[kind] * HIDDEN
    x, h, d = rand(batch, INPUT), rand(batch, HIDDEN), rand(batch, gates)
    w_ih, w_hh = rand(gates, INPUT), rand(gates, HIDDEN)
    w_fc, g_fc = rand(CLASSES, HIDDEN), rand(batch, CLASSES)

    def floor():
        for _ in range(STEPS):
            x @ w_ih.T
            h @ w_hh.T
        for t in range(STEPS):
            np.dot(d.T, x)
            np.dot(d.T, h)
            if t:
                d @ w_hh
        matmul_2d(h, w_fc.T)
        matmul_2d_grad_b(h, g_fc, w_fc.T)
        g_fc @ w_fc

    return floor


def stepper(lib, model, x, y):
    """The table's training step: SGD on cross-entropy, timed by phase."""
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    return timed_step(model, lib.nn.CrossEntropyLoss(), opt, x, y)


def pair(engine, torch, kind, x, y):
    """Engine and torch steps for one row of the table, from the same weights."""
    from course.torchref import copy_weights

    name = kind.split(",")[0]
    theirs = build(torch, getattr(torch.nn, name))
    ours = build(engine, composed_rnn(engine) if "ops" in kind else getattr(engine.nn, name))
    copy_weights(theirs, ours)
    if "batch 1" in kind:
        x, y = x[:, :1].copy(), y[:1].copy()
    return (stepper(engine, ours, engine.tensor(x), engine.tensor(y)),
            stepper(torch, theirs, torch.from_numpy(x), torch.from_numpy(y)))


def run(torch, quick=False, profile=False):
    import engine

    rounds, per_block, warmup = (2, 5, 3) if quick else (5, 30, 10)
    x, y = make_batch()
    rows, phases, ratios, floors, e_profile = [], [], {}, {}, None
    for kind in KINDS:
        e_step, t_step = pair(engine, torch, kind, x, y)
        e_step(), t_step()
        loss_diff = abs(e_step.loss - t_step.loss)  # the first step: the same computation
        floor = products_alone(kind) if kind in FLOORED else None
        e_runs, t_runs, f_runs = [], [], []
        for _ in range(rounds):  # blocks of (engine, torch, floor) per round
            e_block, t_block = measure_blocks(e_step, t_step, 1, per_block, warmup)
            e_runs += e_block
            t_runs += t_block
            if floor:
                f_runs += measure(floor, repeats=per_block, warmup=warmup)
        e_ms, t_ms = median([r[3] for r in e_runs]) * 1e3, median([r[3] for r in t_runs]) * 1e3
        e_best, t_best = min(r[3] for r in e_runs) * 1e3, min(r[3] for r in t_runs) * 1e3
        ratios[kind] = e_ms / t_ms
        f_ms = median(f_runs) * 1e3 if floor else None
        if floor:
            floors[kind] = (f_ms, t_ms, e_ms)
        rows.append([kind, f"{e_ms:.2f}", f"{t_ms:.2f}", f"{e_ms / t_ms:.2f}", f"{e_best:.2f}",
                     f"{t_best:.2f}", f"{e_best / t_best:.2f}",
                     f"{f_ms:.2f}" if floor else "-", f"{f_ms / t_ms:.2f}" if floor else "-",
                     f"{e_ms / f_ms:.2f}" if floor else "-", f"{loss_diff:.1e}"])
        if kind == "RNN":
            for i, phase in enumerate(("forward (zero_grad, model, loss)", "backward",
                                       "optimizer step")):
                e_p = median([r[i] for r in e_runs]) * 1e3
                t_p = median([r[i] for r in t_runs]) * 1e3
                phases.append([phase, f"{e_p:.3f}", f"{t_p:.3f}", f"{e_p / t_p:.2f}"])
            if profile:
                e_profile = profile_engine(e_step, steps=20)
    verdict = {kind: "met" if ratios[kind] <= GOALS[kind] else "NOT met" for kind in GOALS}
    lines = [f"## RNN training step: one-hot {INPUT} → hidden {HIDDEN}, T = {STEPS}, batch "
             f"{BATCH}, Linear {HIDDEN} → {CLASSES}, cross-entropy, SGD; float32", "",
             f"Median (and best) of {rounds * per_block} steps per side, in {rounds} rounds of "
             f"blocks (engine, torch, floor), each block after {warmup} warm-up steps; ratio = "
             "engine time / torch time (< 1: the engine is faster); floor = the matrix "
             "products of one engine step alone (numpy, the engine's shapes and operand "
             "orders), which the engine's step cannot beat; |Δ loss| compares the first "
             "step's losses.", "",
             markdown_table(["layer", "engine ms", "torch ms", "ratio", "engine best",
                             "torch best", "best ratio", "floor ms", "floor / torch",
                             "step / floor", "|Δ loss|"], rows), "",
             "The RNN step by phase (medians):", "",
             markdown_table(["phase", "engine ms", "torch ms", "ratio"], phases), "",
             *(f"- {kind} whole step: ratio {ratios[kind]:.2f} (goal <= {GOALS[kind]}: "
               f"{verdict[kind]})" for kind in GOALS),
             *(floor_line(kind, *floors[kind]) for kind in GOALS if kind in floors),
             f"- fused cell vs cell from ops: {ratios['RNN, cell from ops'] / ratios['RNN']:.1f}x"
             " faster"]
    if e_profile:
        lines += ["", "cProfile of 20 engine RNN steps (top functions by own time):", "```",
                  e_profile.strip(), "```"]
    return "\n".join(lines)


def floor_line(kind, floor_ms, torch_ms, engine_ms):
    """What the goal leaves for everything but the matrix products, against what it takes."""
    left = GOALS[kind] * torch_ms - floor_ms
    room = (f"a ratio of {GOALS[kind]} leaves {left:.2f} ms for everything else" if left >= 0
            else f"they alone exceed a ratio of {GOALS[kind]} by {-left:.2f} ms")
    return (f"- {kind}: the products alone take {floor_ms:.2f} ms, {floor_ms / torch_ms:.2f} of "
            f"torch's whole step; {room} (the engine spends {engine_ms - floor_ms:.2f} ms)")


#: issue 16: <= 0.9 of torch for the RNN (margin for a change of machine), <= 1.2 for the LSTM
GOALS = {"RNN": 0.9, "LSTM": 1.2}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.rnn", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few repeats (a smoke run)")
    parser.add_argument("--profile", action="store_true",
                        help="add a cProfile of the engine's RNN training step")
    args = parser.parse_args(argv)
    import torch

    setup_torch(torch)
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset: one per core")
    print(f"environment: {environment(torch)}")
    print(f"numpy BLAS threads: OPENBLAS_NUM_THREADS={blas_threads}\n")
    print(run(torch, quick=args.quick, profile=args.profile))


if __name__ == "__main__":
    main()
